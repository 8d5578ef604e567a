// JSON text -> nlohmann document, without exceptions (the wasm core is built
// without them): a syntax error comes back with its line and column, nesting is
// capped, and a key given twice in one object (JSON allows it and nlohmann keeps the
// last silently) is reported with the path of the object holding it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wt {

struct JsonDoc {
  nlohmann::json root;
  std::string error;       // a syntax error: "at line L, column C: ..."
  bool too_deep = false;   // nested deeper than the cap
  bool duplicate = false;  // a key given twice (the first one found)
  std::vector<std::string> dup_path;  // keys / indices of the object holding it ("" for the root)
  std::string dup_key;
};

// False on a syntax error or too deep a document (see out->error / too_deep).
bool read_json_doc(const std::string& text, size_t max_depth, JsonDoc* out);

}  // namespace wt
