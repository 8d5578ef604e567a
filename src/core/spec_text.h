// Text for the model spec's messages (spec_text.cc): quoting values from a document
// that may be broken or hostile, short and always valid UTF-8. Internal to src/core.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wt {
namespace spec_text {

// Keeps at most `max` bytes without cutting a UTF-8 sequence, marking a cut with "...".
std::string clip(const std::string& s, size_t max);
// Messages end up in JS strings and terminals, so they must be valid UTF-8 even
// when they quote a broken document (nlohmann's "last read" excerpt quotes raw
// bytes). Invalid bytes become '?'.
std::string valid_utf8(const std::string& s);
// A string from the document as a JSON literal, clipped: "conv.1".
std::string quote(const std::string& s);
// A value from the document, short: scalars as JSON, small flat arrays in full,
// anything bigger by its kind (never recursive: documents may nest deeply).
std::string describe(const nlohmann::json& v);
std::string join(const std::vector<std::string>& items, const char* sep = ", ");
std::string mib(uint64_t bytes);  // "12.3 MiB"

}  // namespace spec_text
}  // namespace wt
