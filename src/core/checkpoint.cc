#include "core/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>

#include "core/safetensors.h"
#include "core/trainer.h"

namespace wt {

const char kProducer[] = "wasm-trainer 0.2.0";

namespace {

std::string fmt_double(double v) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty() || s.size() > 40) return false;
  char* end = nullptr;
  double v = strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

uint32_t steps_per_epoch(uint32_t count, int batch) {
  return count == 0 ? 0 : (count + (uint32_t)batch - 1) / (uint32_t)batch;
}

// The spec a parsed file declares: its "spec" metadata, or the seed for version 1.
Status spec_of(const SafetensorsView& f, uint64_t version, NetSpec* out) {
  auto it = f.metadata.find("spec");
  if (it == f.metadata.end()) {
    if (version >= 2) return Status::Error("metadata spec is missing");
    return preset_spec("seed", out);
  }
  Status s = parse_spec(it->second, out);
  if (!s.ok()) return Status::Error("its model spec is invalid: " + s.message);
  return s;
}

}  // namespace

std::string resume_problem(const TrainState& st, const DataBinding& d) {
  if (!d.loaded) return "";
  if (st.step > 0 && st.train_count != 0 && st.train_count != d.count)
    return "it was trained on " + std::to_string(st.train_count) + " images but the loaded training set has " +
           std::to_string(d.count) + ": load the same data to resume";
  const uint32_t spe = steps_per_epoch(d.count, st.config.batch_size);
  if (st.epoch_step >= spe)
    return "its position in the epoch (step " + std::to_string(st.epoch_step) +
           ") is past the end of an epoch of " + std::to_string(spe) + " steps of the loaded data";
  if (st.step > 0 && d.config && !st.data.same_processing(*d.config))
    return "it was trained with " + st.data.processing_str() + " but the loaded data uses " +
           d.config->processing_str() + ": use the same data settings to resume";
  if (st.step > 0 && !st.train_fingerprint.empty() && st.train_fingerprint != d.fingerprint)
    return "it was trained on different data (fingerprint " + st.train_fingerprint + ", " +
           std::to_string(st.train_count) + " images; the loaded data is " + d.fingerprint + ", " +
           std::to_string(d.count) + " images): load the same data to resume";
  return "";
}

std::string encode_checkpoint(const NetSpec& spec, const std::string& model_name, const TrainState& st) {
  std::vector<TensorData> t;
  auto f32 = [&](const std::string& name, const std::vector<int64_t>& shape, const float* p, size_t n) {
    t.push_back(TensorData{name, "F32", shape, p, n * sizeof(float)});
  };
  for (const ParamSpec& p : spec.params) {
    f32(p.name, p.shape, st.params.data() + p.offset, p.size);
    f32("optimizer." + p.name + ".exp_avg", p.shape, st.exp_avg.data() + p.offset, p.size);
    f32("optimizer." + p.name + ".exp_avg_sq", p.shape, st.exp_avg_sq.data() + p.offset, p.size);
  }
  for (const BufferSpec& b : spec.buffers) f32(b.name, b.shape, st.buffers.data() + b.offset, b.size);
  for (size_t i = 0; i < spec.counters.size(); ++i)  // 0-dim I64, as PyTorch stores it
    t.push_back(TensorData{spec.counters[i].name, "I64", {}, &st.counters[i], sizeof(int64_t)});
  auto hist = [&](const char* name, const std::vector<float>& v) {
    f32(name, {(int64_t)v.size()}, v.data(), v.size());
  };
  hist("history.step_loss", st.step_loss);
  hist("history.step_accuracy", st.step_accuracy);
  hist("history.epoch_loss", st.epoch_loss);
  hist("history.epoch_test_loss", st.epoch_test_loss);
  hist("history.epoch_test_accuracy", st.epoch_test_accuracy);
  const TrainerConfig& c = st.config;
  std::map<std::string, std::string> md = {
      {"format", "wasm-trainer-checkpoint"},
      {"format_version", std::to_string(kFormatVersion)},
      {"producer", kProducer},
      {"created", now_iso()},
      {"model", model_name},
      {"spec", spec.canonical},
      {"step", std::to_string(st.step)},
      {"epoch", std::to_string(st.epoch)},
      {"epoch_step", std::to_string(st.epoch_step)},
      {"seed", std::to_string(c.seed)},
      {"batch_size", std::to_string(c.batch_size)},
      {"learning_rate", fmt_double(c.learning_rate)},
      {"beta1", fmt_double(c.beta1)},
      {"beta2", fmt_double(c.beta2)},
      {"eps", fmt_double(c.eps)},
      {"weight_decay", fmt_double(c.weight_decay)},
      {"train_count", std::to_string(st.train_count)},
      {"train_fingerprint", st.train_fingerprint},
      {"data", st.data.to_json()},
  };
  return write_safetensors(std::move(t), std::move(md));
}

Status checkpoint_spec(const uint8_t* bytes, size_t n, NetSpec* out) {
  SafetensorsView f;
  Status s = parse_safetensors(bytes, n, /*require_checksum=*/false, &f);
  if (!s.ok()) return s;
  uint64_t ver = 1;
  auto it = f.metadata.find("format_version");
  if (it != f.metadata.end() && !parse_u64(it->second, &ver)) return Status::Error("format_version is not an integer");
  return spec_of(f, ver, out);
}

Status decode_checkpoint(const uint8_t* bytes, size_t n, const NetSpec& spec, const DataBinding& data,
                         TrainState* out) {
  SafetensorsView f;
  Status s = parse_safetensors(bytes, n, /*require_checksum=*/true, &f);
  if (!s.ok()) return Status::Error("refused checkpoint: " + s.message);
  auto err = [](const std::string& m) { return Status::Error("refused checkpoint: " + m); };
  auto md = [&](const char* key, std::string* v) {
    auto it = f.metadata.find(key);
    if (it == f.metadata.end()) return false;
    *v = it->second;
    return true;
  };
  std::string v;
  if (!md("format", &v) || v != "wasm-trainer-checkpoint")
    return err("it is not a wasm-trainer checkpoint (metadata format is \"" + v +
               "\", expected \"wasm-trainer-checkpoint\")");
  uint64_t ver = 0;
  if (!md("format_version", &v) || !parse_u64(v, &ver) || ver < 1)
    return err("format_version is missing or not a positive integer");
  if (ver > (uint64_t)kFormatVersion)
    return err("it was written in format version " + std::to_string(ver) + ", but this " + kProducer +
               " reads up to version " + std::to_string(kFormatVersion) + ": update wasm-trainer");

  // The model: the file's spec must be this trainer's.
  NetSpec file_spec;
  if (!(s = spec_of(f, ver, &file_spec)).ok()) return err(s.message);
  const std::string diff = spec_difference(spec, file_spec);
  if (!diff.empty()) return err("it is for another model: " + diff);

  TrainState ns;
  uint64_t u = 0;
  auto need_u64 = [&](const char* key, uint64_t max, uint64_t* o) -> Status {
    std::string x;
    if (!md(key, &x)) return err(std::string("metadata ") + key + " is missing");
    if (!parse_u64(x, o) || *o > max)
      return err(std::string("metadata ") + key + " = \"" + x + "\" is not an integer in 0.." + std::to_string(max));
    return Status::Ok();
  };
  auto need_double = [&](const char* key, double lo, double hi, double* o) -> Status {
    std::string x;
    if (!md(key, &x)) return err(std::string("metadata ") + key + " is missing");
    if (!parse_double(x, o) || *o < lo || *o > hi)
      return err(std::string("metadata ") + key + " = \"" + x + "\" is not a number in [" + fmt_double(lo) +
                 ", " + fmt_double(hi) + "]");
    return Status::Ok();
  };
  if (!(s = need_u64("step", uint64_t(1) << 40, &ns.step)).ok()) return s;
  if (!(s = need_u64("epoch", 1u << 30, &u)).ok()) return s;
  ns.epoch = (uint32_t)u;
  if (!(s = need_u64("epoch_step", 1u << 30, &u)).ok()) return s;
  ns.epoch_step = (uint32_t)u;
  if (!(s = need_u64("seed", UINT64_MAX, &ns.config.seed)).ok()) return s;
  if (!(s = need_u64("batch_size", 65536, &u)).ok()) return s;
  if (u < 1) return err("metadata batch_size is 0");
  ns.config.batch_size = (int)u;
  if (!(s = need_u64("train_count", 1u << 31, &u)).ok()) return s;
  ns.train_count = (uint32_t)u;
  if (!(s = need_double("learning_rate", 0, 1e300, &ns.config.learning_rate)).ok()) return s;
  if (!(s = need_double("beta1", 0, 0.999999999, &ns.config.beta1)).ok()) return s;
  if (!(s = need_double("beta2", 0, 0.999999999, &ns.config.beta2)).ok()) return s;
  if (!(s = need_double("eps", 1e-30, 1, &ns.config.eps)).ok()) return s;
  if (!(s = need_double("weight_decay", 0, 1e3, &ns.config.weight_decay)).ok()) return s;
  md("train_fingerprint", &ns.train_fingerprint);
  // The data's configuration (absent in version 1 and in imports: none, as MNIST's).
  if (md("data", &v)) {
    if (!(s = parse_data_config(v, spec.input.c, &ns.data)).ok()) return err("metadata data: " + s.message);
  }

  // Tensors: every name expected, with the expected shape and dtype; nothing else.
  size_t expected = 0;
  auto take = [&](const std::string& name, const std::vector<int64_t>& shape, bool fixed_shape,
                  std::vector<float>* dst, size_t offset, bool finite, bool nonneg) -> Status {
    ++expected;
    const TensorInfo* t = f.find(name);
    if (!t) return err("tensor \"" + name + "\" is missing");
    if (t->dtype != "F32") return err("tensor \"" + name + "\" has dtype " + t->dtype + ", expected F32");
    if (fixed_shape && t->shape != shape)
      return err("it is for another architecture: \"" + name + "\" has shape " + shape_str(t->shape) +
                 " but this model expects " + shape_str(shape));
    if (!fixed_shape && t->shape.size() != 1)
      return err("tensor \"" + name + "\" must be 1-dimensional, found " + shape_str(t->shape));
    if (!fixed_shape) dst->resize(t->numel);
    if (t->numel == 0) return Status::Ok();  // (an empty vector's data() may be null)
    float* o = dst->data() + offset;
    std::memcpy(o, f.data + t->begin, t->numel * sizeof(float));
    for (size_t i = 0; i < t->numel; ++i) {
      if (finite && !std::isfinite(o[i]))
        return err("tensor \"" + name + "\" holds a non-finite value at index " + std::to_string(i));
      if (nonneg && o[i] < 0)
        return err("tensor \"" + name + "\" holds a negative value at index " + std::to_string(i));
    }
    return Status::Ok();
  };
  ns.params.assign(spec.num_params, 0.f);
  ns.exp_avg.assign(spec.num_params, 0.f);
  ns.exp_avg_sq.assign(spec.num_params, 0.f);
  for (const ParamSpec& p : spec.params) {
    if (!(s = take(p.name, p.shape, true, &ns.params, p.offset, true, false)).ok()) return s;
    if (!(s = take("optimizer." + p.name + ".exp_avg", p.shape, true, &ns.exp_avg, p.offset, true, false)).ok()) return s;
    if (!(s = take("optimizer." + p.name + ".exp_avg_sq", p.shape, true, &ns.exp_avg_sq, p.offset, true, true)).ok()) return s;
  }
  ns.buffers.assign(spec.num_buffers, 0.f);
  for (const BufferSpec& b : spec.buffers) {
    const bool var = b.init != 0.f;  // running_var: finite and >= 0
    if (!(s = take(b.name, b.shape, true, &ns.buffers, b.offset, true, var)).ok()) return s;
  }
  ns.counters.assign(spec.counters.size(), 0);
  for (size_t i = 0; i < spec.counters.size(); ++i) {
    const std::string& name = spec.counters[i].name;
    ++expected;
    const TensorInfo* t = f.find(name);
    if (!t) return err("tensor \"" + name + "\" is missing");
    if (t->dtype != "I64" || t->numel != 1 || t->shape.size() > 1)
      return err("tensor \"" + name + "\" must be one I64 value (a 0-dim tensor), found " + t->dtype + " " +
                 shape_str(t->shape));
    std::memcpy(&ns.counters[i], f.data + t->begin, sizeof(int64_t));
    if (ns.counters[i] < 0) return err("tensor \"" + name + "\" is negative");
  }
  if (!(s = take("history.step_loss", {}, false, &ns.step_loss, 0, false, false)).ok()) return s;
  // Optional (added after the first files were written; absent means unknown).
  if (f.find("history.step_accuracy")) {
    if (!(s = take("history.step_accuracy", {}, false, &ns.step_accuracy, 0, false, false)).ok()) return s;
  }
  if (!(s = take("history.epoch_loss", {}, false, &ns.epoch_loss, 0, false, false)).ok()) return s;
  if (!(s = take("history.epoch_test_loss", {}, false, &ns.epoch_test_loss, 0, false, false)).ok()) return s;
  if (!(s = take("history.epoch_test_accuracy", {}, false, &ns.epoch_test_accuracy, 0, false, false)).ok()) return s;
  if (f.tensors.size() != expected)
    for (const TensorInfo& t : f.tensors) {
      bool known = t.name.rfind("history.", 0) == 0;
      for (const ParamSpec& p : spec.params)
        known |= t.name == p.name || t.name == "optimizer." + p.name + ".exp_avg" ||
                 t.name == "optimizer." + p.name + ".exp_avg_sq";
      for (const BufferSpec& b : spec.buffers) known |= t.name == b.name;
      for (const CounterSpec& c : spec.counters) known |= t.name == c.name;
      if (!known) return err("unexpected tensor \"" + t.name + "\" (another architecture?)");
    }
  // History is either complete or absent (a checkpoint imported from PyTorch has none).
  if (!ns.step_loss.empty() && ns.step_loss.size() != ns.step)
    return err("history.step_loss has " + std::to_string(ns.step_loss.size()) + " entries but step is " +
               std::to_string(ns.step));
  if (!ns.step_accuracy.empty() && ns.step_accuracy.size() != ns.step)
    return err("history.step_accuracy has " + std::to_string(ns.step_accuracy.size()) + " entries but step is " +
               std::to_string(ns.step));
  const size_t ne = ns.epoch_loss.size();
  if (ns.epoch_test_loss.size() != ne || ns.epoch_test_accuracy.size() != ne || (ne != 0 && ne != ns.epoch))
    return err("the per-epoch history lengths disagree with each other or with epoch = " + std::to_string(ns.epoch));
  // Absent history (PyTorch import): unknown entries are NaN, so lengths stay
  // consistent with step and epoch in every later save. Bounded, so that a small
  // hostile file cannot make us allocate gigabytes.
  constexpr uint64_t kMaxUnknownHistory = 1u << 20;
  if ((ns.step_loss.empty() && ns.step > kMaxUnknownHistory) || (ne == 0 && ns.epoch > kMaxUnknownHistory))
    return err("it has no history but step " + std::to_string(ns.step) + " / epoch " + std::to_string(ns.epoch) +
               " (more than " + std::to_string(kMaxUnknownHistory) + " steps without history is not supported)");
  if (ns.step_loss.empty()) ns.step_loss.assign(ns.step, NAN);
  if (ns.step_accuracy.empty()) ns.step_accuracy.assign(ns.step, NAN);
  if (ne == 0) {
    ns.epoch_loss.assign(ns.epoch, NAN);
    ns.epoch_test_loss.assign(ns.epoch, NAN);
    ns.epoch_test_accuracy.assign(ns.epoch, NAN);
  }
  if (ns.step == 0 && (ns.epoch != 0 || ns.epoch_step != 0)) return err("step is 0 but epoch/epoch_step are not");
  const uint32_t spe = steps_per_epoch(ns.train_count, ns.config.batch_size);
  if (spe && ns.epoch_step >= spe)
    return err("epoch_step " + std::to_string(ns.epoch_step) + " is past the end of an epoch of " +
               std::to_string(spe) + " steps");
  const std::string problem = resume_problem(ns, data);
  if (!problem.empty()) return err(problem);
  if (ns.train_count == 0) ns.train_count = data.count;
  if (ns.train_fingerprint.empty()) ns.train_fingerprint = data.fingerprint;
  if (ns.step == 0 && data.config) ns.data = *data.config;
  *out = std::move(ns);
  return Status::Ok();
}

}  // namespace wt
