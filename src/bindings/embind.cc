// Embind glue: the only file that includes Emscripten headers. It converts
// between JS values and the core's types, copies every array out (JS-owned
// copies, never views into wasm memory, which growth invalidates) and reports
// failures one way: an `error` string ("" when fine). src/js/wasm-trainer.js
// turns that into thrown Errors.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstring>

#include "core/model.h"
#include "core/safetensors.h"
#include "kernels/kernels.h"
#include "core/trainer.h"

using emscripten::val;
using namespace wt;

namespace {

val f32_copy(const float* p, size_t n) {
  return val::global("Float32Array").new_(emscripten::typed_memory_view(n, p));
}
val u8_copy(const uint8_t* p, size_t n) {
  return val::global("Uint8Array").new_(emscripten::typed_memory_view(n, p));
}

// One copy from a JS Uint8Array straight into a std::string's buffer. (An Embind
// std::string argument copies twice, JS -> malloc -> string: 47 MB of MNIST twice
// would not fit the 128 MiB of the pthreads build.)
std::string bytes_from_js(const val& array) {
  const size_t n = array["length"].as<size_t>();
  std::string s(n, '\0');
  val(emscripten::typed_memory_view(n, (uint8_t*)s.data())).call<void>("set", array);
  return s;
}

class TrainerBinding {
 public:
  TrainerBinding(double seed, double lr, int batch_size, double weight_decay, int threads)
      : t_(make_config(seed, lr, batch_size, weight_decay, threads)) {}

  std::string setData(val ti, val tl, val vi, val vl, int train_limit, int test_limit) {
    return t_.set_data(bytes_from_js(ti), bytes_from_js(tl), bytes_from_js(vi), bytes_from_js(vl),
                       (uint32_t)std::max(0, train_limit), (uint32_t)std::max(0, test_limit))
        .message;
  }

  val trainSteps(int n) {
    losses_.clear();
    StepsResult r = t_.train_steps(n, &losses_);
    val o = progress();
    o.set("error", r.status.message);
    o.set("losses", f32_copy(losses_.data(), losses_.size()));
    o.set("steps", r.steps);
    o.set("epochEnded", r.epoch_ended);
    o.set("epochLoss", r.epoch_loss);
    return o;
  }

  val progress() const {
    const TrainState& s = t_.state();
    val o = val::object();
    o.set("step", (double)s.step);
    o.set("epoch", s.epoch);
    o.set("epochStep", s.epoch_step);
    o.set("stepsPerEpoch", t_.steps_per_epoch());
    o.set("trainCount", t_.train_count());
    o.set("testCount", t_.test_count());
    return o;
  }

  val config() const {
    const TrainerConfig& c = t_.state().config;
    val o = val::object();
    o.set("seed", (double)c.seed);
    o.set("learningRate", c.learning_rate);
    o.set("batchSize", c.batch_size);
    o.set("weightDecay", c.weight_decay);
    o.set("threads", t_.threads());
    return o;
  }

  val evaluateRange(int begin, int count) {
    double loss = 0.0;
    uint32_t correct = 0;
    t_.evaluate_range((uint32_t)begin, (uint32_t)count, &loss, &correct);
    val o = val::object();
    o.set("lossSum", loss);
    o.set("correct", correct);
    return o;
  }

  void recordEpochEval(float loss, float accuracy) { t_.record_epoch_eval(loss, accuracy); }

  // images: n * 784 float32 values as bytes.
  val predict(std::string images) {
    const int in = 784, n = (int)(images.size() / (sizeof(float) * in));
    std::vector<float> x((size_t)n * in);
    std::memcpy(x.data(), images.data(), x.size() * sizeof(float));
    std::vector<uint8_t> labels(n);
    std::vector<float> probs((size_t)n * 10);
    t_.predict(x.data(), n, labels.data(), probs.data());
    val o = val::object();
    o.set("labels", u8_copy(labels.data(), labels.size()));
    o.set("probabilities", f32_copy(probs.data(), probs.size()));
    return o;
  }

  val history() const {
    const TrainState& s = t_.state();
    val o = val::object();
    o.set("stepLoss", f32_copy(s.step_loss.data(), s.step_loss.size()));
    o.set("stepAccuracy", f32_copy(s.step_accuracy.data(), s.step_accuracy.size()));
    o.set("epochLoss", f32_copy(s.epoch_loss.data(), s.epoch_loss.size()));
    o.set("epochTestLoss", f32_copy(s.epoch_test_loss.data(), s.epoch_test_loss.size()));
    o.set("epochTestAccuracy", f32_copy(s.epoch_test_accuracy.data(), s.epoch_test_accuracy.size()));
    return o;
  }

  val saveCheckpoint() const {
    const std::string b = t_.save_checkpoint();
    return u8_copy((const uint8_t*)b.data(), b.size());
  }

  std::string loadCheckpoint(std::string bytes) {
    return t_.load_checkpoint((const uint8_t*)bytes.data(), bytes.size()).message;
  }

  // ---- reference-test surface (tests/node/fixture.test.js) ----
  val tensors() const {
    const TrainState& s = t_.state();
    val o = val::object();
    for (const ParamSpec& p : t_.spec().params) {
      o.set(p.name, f32_copy(s.params.data() + p.offset, p.size));
      o.set("optimizer." + p.name + ".exp_avg", f32_copy(s.exp_avg.data() + p.offset, p.size));
      o.set("optimizer." + p.name + ".exp_avg_sq", f32_copy(s.exp_avg_sq.data() + p.offset, p.size));
    }
    return o;
  }

  // Sets a parameter or Adam moment from float32 bytes; name as in tensors().
  std::string setTensor(std::string name, std::string bytes) {
    TrainState& s = t_.mutable_state();
    for (const ParamSpec& p : t_.spec().params) {
      std::vector<float>* dst = nullptr;
      if (name == p.name) dst = &s.params;
      if (name == "optimizer." + p.name + ".exp_avg") dst = &s.exp_avg;
      if (name == "optimizer." + p.name + ".exp_avg_sq") dst = &s.exp_avg_sq;
      if (!dst) continue;
      if (bytes.size() != p.size * sizeof(float))
        return "setTensor " + name + ": expected " + std::to_string(p.size) + " floats, got " +
               std::to_string(bytes.size() / 4);
      std::memcpy(dst->data() + p.offset, bytes.data(), bytes.size());
      return "";
    }
    return "setTensor: unknown tensor " + name;
  }

  // Forward + backward of explicit float32 images (n*784) and labels; gradients
  // stay in the trainer for adamStep().
  val forwardBackward(std::string images, std::string labels) {
    const int n = (int)labels.size();
    if (images.size() != (size_t)n * 784 * sizeof(float)) {
      val o = val::object();
      o.set("error", std::string("forwardBackward: images must be n*784 float32 values"));
      return o;
    }
    std::vector<float> x((size_t)n * 784), logits((size_t)n * 10);
    std::memcpy(x.data(), images.data(), images.size());
    const float loss = t_.forward_backward(x.data(), (const uint8_t*)labels.data(), n, logits.data());
    val o = val::object();
    o.set("error", std::string());
    o.set("loss", loss);
    o.set("logits", f32_copy(logits.data(), logits.size()));
    val g = val::object();
    for (const ParamSpec& p : t_.spec().params) g.set(p.name, f32_copy(t_.grads().data() + p.offset, p.size));
    o.set("grads", g);
    return o;
  }

  void adamStep() { t_.adam_step(); }

 private:
  static TrainerConfig make_config(double seed, double lr, int batch, double wd, int threads) {
    TrainerConfig c;
    c.threads = threads;
    c.seed = (uint64_t)seed;
    c.learning_rate = lr;
    c.batch_size = batch;
    c.weight_decay = wd;
    return c;
  }
  Trainer t_;
  std::vector<float> losses_;
};

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
  for (int i = 0; i < LayerProfile::kStages; ++i) o.set(LayerProfile::kNames[i], g_bench_profile.seconds[i]);
  return o;
}
float peakProbe(double iters) { return peak_probe_f32((int64_t)iters); }

}  // namespace

EMSCRIPTEN_BINDINGS(wasm_trainer) {
  emscripten::class_<TrainerBinding>("Trainer")
      .constructor<double, double, int, double, int>()
      .function("setData", &TrainerBinding::setData)
      .function("trainSteps", &TrainerBinding::trainSteps)
      .function("progress", &TrainerBinding::progress)
      .function("config", &TrainerBinding::config)
      .function("evaluateRange", &TrainerBinding::evaluateRange)
      .function("recordEpochEval", &TrainerBinding::recordEpochEval)
      .function("predict", &TrainerBinding::predict)
      .function("history", &TrainerBinding::history)
      .function("saveCheckpoint", &TrainerBinding::saveCheckpoint)
      .function("loadCheckpoint", &TrainerBinding::loadCheckpoint)
      .function("tensors", &TrainerBinding::tensors)
      .function("setTensor", &TrainerBinding::setTensor)
      .function("forwardBackward", &TrainerBinding::forwardBackward)
      .function("adamStep", &TrainerBinding::adamStep);
  emscripten::function("inspectCheckpoint", &inspectCheckpoint);
  emscripten::function("setProfiling", &setProfiling);
  emscripten::function("layerProfile", &layerProfile);
  emscripten::function("peakProbe", &peakProbe);
  emscripten::function("simdLanes", &simd_lanes_f32);
}
