// Embind glue shared by the binding files (src/bindings/*.cc, the only files with
// Emscripten headers): JS values from the core's types and back. Arrays are copied
// out (JS-owned copies, never views into wasm memory, which growth invalidates);
// failures are reported one way, an `error` string ("" when fine), which
// src/js/wasm-trainer.js turns into thrown Errors. Every size comes from the spec.
#pragma once
#include <emscripten/val.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/spec.h"

namespace wt {
namespace bind {
using emscripten::val;

inline val f32_copy(const float* p, size_t n) {
  return val::global("Float32Array").new_(emscripten::typed_memory_view(n, p));
}
inline val u8_copy(const uint8_t* p, size_t n) {
  return val::global("Uint8Array").new_(emscripten::typed_memory_view(n, p));
}

// One copy from a JS Uint8Array straight into a std::string's buffer. (An Embind
// std::string argument copies twice, JS -> malloc -> string: 47 MB of MNIST twice
// would not fit the 128 MiB of the pthreads build.)
inline std::string bytes_from_js(const val& array) {
  const size_t n = array["length"].as<size_t>();
  std::string s(n, '\0');
  val(emscripten::typed_memory_view(n, (uint8_t*)s.data())).call<void>("set", array);
  return s;
}

// A shape as a JS array: [c, h, w], or [features] when flat.
inline val shape_array(const Shape& s) {
  val a = val::array();
  a.call<void>("push", s.c);
  if (!s.flat) {
    a.call<void>("push", s.h);
    a.call<void>("push", s.w);
  }
  return a;
}

// A preset name as given, else the preset the document matches (core: preset_of),
// else "custom".
inline std::string model_name(const std::string& name_or_json, const NetSpec& spec) {
  for (const std::string& p : preset_names())
    if (p == name_or_json) return p;
  return preset_of(spec);
}

// What the JS API's Trainer.model holds.
inline val model_info(const NetSpec& spec, const std::string& name) {
  val o = val::object();
  o.set("canonical", spec.canonical);
  o.set("name", name);
  o.set("input", shape_array(spec.input));
  o.set("classes", spec.classes);
  return o;
}


}  // namespace bind
}  // namespace wt
