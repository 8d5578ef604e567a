// Embind glue (src/bindings/*.cc are the only files with Emscripten headers;
// js_values.h says how values cross): models described and compared, the compiled-in
// defaults, checkpoints inspected, and the benchmark's surface. The Trainer class is
// trainer.cc, data checks data.cc.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/dataset.h"
#include "core/network.h"
#include "core/safetensors.h"
#include "core/spec.h"
#include "core/trainer.h"
#include "bindings/js_values.h"
#include "kernels/kernels.h"

using emscripten::val;
using namespace wt;
using namespace wt::bind;

namespace {

// A model (preset name or spec JSON) validated and described, layer by layer
// (torchinfo's summary): {error, canonical, name, input, classes, params,
// buffers, layers: [{index, name, type, shape, params, flops}], totalParams,
// totalFlops}. Nothing is allocated for training.
val describeModel(std::string name_or_json) {
  NetSpec spec;
  const Status s = spec_from_name_or_json(name_or_json, &spec);
  val o = val::object();
  o.set("error", s.message);
  if (!s.ok()) return o;
  o = model_info(spec, model_name(name_or_json, spec));
  o.set("error", std::string());
  o.set("params", (double)spec.num_params);
  o.set("buffers", (double)spec.num_buffers);
  val layers = val::array();
  double total_params = 0, total_flops = 0;
  for (const LayerRow& r : layer_table(spec)) {
    val l = val::object();
    l.set("index", r.index);
    l.set("name", r.name);
    l.set("type", r.type);
    l.set("shape", shape_array(r.out));
    l.set("params", (double)r.params);
    l.set("flops", (double)r.flops);
    layers.call<void>("push", l);
    total_params += (double)r.params;
    total_flops += (double)r.flops;
  }
  o.set("layers", layers);
  o.set("totalParams", total_params);
  o.set("totalFlops", total_flops);
  return o;
}

// "" when both models are the same network, else a sentence naming the first
// layer that differs. {error, difference}.
val modelDifference(std::string a, std::string b) {
  NetSpec sa, sb;
  Status s = spec_from_name_or_json(a, &sa);
  if (s.ok()) s = spec_from_name_or_json(b, &sb);
  val o = val::object();
  o.set("error", s.message);
  o.set("difference", s.ok() ? spec_difference(sa, sb) : std::string());
  return o;
}

// The text of src/defaults.json (hyperparameters, presets), as compiled in.
std::string presets() { return defaults_json(); }

val inspectCheckpoint(std::string bytes) {
  SafetensorsView v;
  Status s = parse_safetensors((const uint8_t*)bytes.data(), bytes.size(), false, &v);
  val o = val::object();
  o.set("error", s.message);
  if (!s.ok()) return o;
  val md = val::object();
  for (const auto& kv : v.metadata) md.set(kv.first, kv.second);
  val ts = val::array();
  for (const TensorInfo& t : v.tensors) {
    val e = val::object();
    e.set("name", t.name);
    e.set("dtype", t.dtype);
    val shape = val::array();
    for (int64_t d : t.shape) shape.call<void>("push", (double)d);
    e.set("shape", shape);
    ts.call<void>("push", e);
  }
  o.set("metadata", md);
  o.set("tensors", ts);
  return o;
}

// ---- benchmark surface (scripts/bench.js) ----
LayerProfile g_bench_profile;
void setProfiling(bool on) {
  g_bench_profile = LayerProfile();
  set_layer_profile(on ? &g_bench_profile : nullptr);
}
val layerProfile() {
  val o = val::object();
  for (size_t i = 0; i < g_bench_profile.names.size(); ++i) o.set(g_bench_profile.names[i], g_bench_profile.seconds[i]);
  return o;
}
float peakProbe(double iters) { return peak_probe_f32((int64_t)iters); }

}  // namespace

EMSCRIPTEN_BINDINGS(wasm_trainer) {
  emscripten::function("describeModel", &describeModel);
  emscripten::function("modelDifference", &modelDifference);
  emscripten::function("presets", &presets);
  emscripten::function("inspectCheckpoint", &inspectCheckpoint);
  emscripten::function("setProfiling", &setProfiling);
  emscripten::function("layerProfile", &layerProfile);
  emscripten::function("peakProbe", &peakProbe);
  emscripten::function("simdLanes", &simd_lanes_f32);
}
