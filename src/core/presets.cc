// The presets and defaults of src/defaults.json (spec.h), compiled in: the one place
// the C++, the JS (through the wasm) and the Python read them from.
#include <nlohmann/json.hpp>

#include "core/spec.h"
#include "defaults_json.h"  // generated from src/defaults.json (CMakeLists.txt)

namespace wt {
namespace {

using ojson = nlohmann::ordered_json;  // the presets keep the file's order

std::string quote(const std::string& s) {
  return nlohmann::json(s.size() > 40 ? s.substr(0, 40) + "..." : s)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string join(const std::vector<std::string>& items) {
  std::string r;
  for (size_t i = 0; i < items.size(); ++i) r += (i ? ", " : "") + items[i];
  return r;
}

// src/defaults.json, parsed once (keys in file order, for the preset list).
const ojson& defaults_doc() {
  static const ojson d = ojson::parse(kDefaultsJson, nullptr, /*allow_exceptions=*/false);
  return d;
}

const ojson* presets() {
  const ojson& d = defaults_doc();
  if (!d.is_object()) return nullptr;
  const auto p = d.find("presets");
  return p != d.end() && p->is_object() ? &*p : nullptr;
}

Status preset(const std::string& name, NetSpec* out, const SpecLimits& limits) {
  const ojson* p = presets();
  if (!p) return Status::Error("the compiled-in src/defaults.json has no \"presets\" object");
  const auto it = p->find(name);
  if (it == p->end())
    return Status::Error("unknown preset " + quote(name) + "; the presets are " +
                         join(preset_names()));
  const Status s = parse_spec(it->dump(), out, limits);
  if (!s.ok()) return Status::Error("preset " + quote(name) + ": " + s.message);
  return s;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  if (const ojson* p = presets())
    for (const auto& kv : p->items()) names.push_back(kv.key());
  return names;
}

Status preset_spec(const std::string& name, NetSpec* out) { return preset(name, out, {}); }

std::string preset_of(const NetSpec& spec) {
  for (const std::string& name : preset_names()) {
    NetSpec p;
    if (preset_spec(name, &p).ok() && p.canonical == spec.canonical) return name;
  }
  return "custom";
}

const std::string& defaults_json() {
  static const std::string s = kDefaultsJson;
  return s;
}

std::string default_preset() {
  const ojson& d = defaults_doc();
  if (d.is_object()) {
    const auto m = d.find("default_model");
    if (m != d.end() && m->is_string()) return m->get<std::string>();
  }
  return "seed";
}

Status spec_from_name_or_json(const std::string& name_or_json, NetSpec* out,
                              const SpecLimits& limits) {
  const size_t b = name_or_json.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return Status::Error("no model given: expected a preset (" + join(preset_names()) +
                         ") or a JSON spec {\"input\": [C, H, W], \"layers\": [...]}");
  // '[' too: a JSON array is a spec with the wrong shape, not a preset's name.
  if (name_or_json[b] == '{' || name_or_json[b] == '[') return parse_spec(name_or_json, out, limits);
  const size_t e = name_or_json.find_last_not_of(" \t\r\n");
  const Status s = preset(name_or_json.substr(b, e - b + 1), out, limits);
  if (!s.ok() && s.message.rfind("unknown preset", 0) == 0)
    return Status::Error(s.message + "; a model can also be a JSON spec {\"input\": [C, H, W], "
                         "\"layers\": [...]}");
  return s;
}

}  // namespace wt
