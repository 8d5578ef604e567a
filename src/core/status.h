// One failure convention for the whole core: functions that can fail on user
// input return a Status whose message says what is wrong and what was expected.
// No exceptions: the wasm build runs without exception support (it costs speed).
#pragma once
#include <string>
#include <utility>

namespace wt {

struct Status {
  std::string message;  // empty = ok
  bool ok() const { return message.empty(); }
  static Status Ok() { return {}; }
  static Status Error(std::string m) { return Status{std::move(m)}; }
};

}  // namespace wt
