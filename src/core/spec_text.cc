// Text for the model spec's messages (spec_text.h).
#include "core/spec_text.h"

#include <cstdio>

namespace wt {
namespace spec_text {

using json = nlohmann::json;

std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

std::string valid_utf8(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
               : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
    if (ok && len >= 3) {  // no overlong forms, surrogates or code points past U+10FFFF
      const unsigned char c1 = (unsigned char)s[i + 1];
      ok = !((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
             (c == 0xF4 && c1 > 0x8F));
    }
    if (ok) {
      r.append(s, i, len);
      i += len;
    } else {
      r += '?';
      ++i;
    }
  }
  return r;
}

std::string quote(const std::string& s) {
  return json(clip(s, 40)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string describe(const json& v) {
  if (v.is_string()) return quote(v.get_ref<const std::string&>());
  if (v.is_object()) return v.empty() ? "{}" : "an object";
  if (v.is_array()) {
    const std::string array = v.size() == 1 ? "an array of 1 value"
                                            : "an array of " + std::to_string(v.size()) + " values";
    if (v.size() > 8) return array;
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_structured()) return array;
      if (i) r += ", ";
      r += describe(v[i]);
    }
    return r + "]";
  }
  return v.dump();  // null, bool, number (floats round-trip)
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string r;
  for (size_t i = 0; i < items.size(); ++i) r += (i ? sep : "") + items[i];
  return r;
}

std::string mib(uint64_t bytes) {
  char b[48];
  snprintf(b, sizeof b, "%.1f MiB", (double)bytes / 1048576.0);
  return b;
}

}  // namespace spec_text
}  // namespace wt
