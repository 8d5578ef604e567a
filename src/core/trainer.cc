#include "core/trainer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/crc32.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "kernels/kernels.h"

namespace wt {

const char kProducer[] = "wasm-trainer 0.1.0";

namespace {

// Index of the largest of v[0..n) (the first one on ties).
int argmax(const float* v, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

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
#if defined(_WIN32)
  gmtime_s(&tm, &t);
#else
  gmtime_r(&t, &tm);
#endif
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Trainer::Trainer(const TrainerConfig& config) : spec_(ModelSpec::SeedCnn()) {
  st_.config = config;
  if (st_.config.batch_size < 1) st_.config.batch_size = 1;
  st_.params.assign(spec_.num_params, 0.f);
  st_.exp_avg.assign(spec_.num_params, 0.f);
  st_.exp_avg_sq.assign(spec_.num_params, 0.f);
  init_params(spec_, st_.params.data(), config.seed);
  grads_.assign(spec_.num_params, 0.f);
  threads_ = ThreadPool::shared().ensure(config.threads);
  ws_.resize(threads_);
  for (Workspace& w : ws_) w.reserve(spec_, kChunk);
  size_buffers();
}

void Trainer::size_buffers() {
  const int B = st_.config.batch_size;
  const int nchunks = (B + kChunk - 1) / kChunk;
  chunk_grads_.assign(nchunks, std::vector<float>(spec_.num_params, 0.f));
  chunk_labels_.assign((size_t)nchunks * kChunk, 0);
  chunk_loss_.assign(nchunks, 0.0);
  chunk_correct_.assign(nchunks, 0);
}

uint32_t Trainer::steps_per_epoch() const {
  const uint32_t B = (uint32_t)st_.config.batch_size;
  return train_.count == 0 ? 0 : (train_.count + B - 1) / B;
}

Status Trainer::set_data(std::string ti, std::string tl, std::string vi, std::string vl,
                         uint32_t train_limit, uint32_t test_limit) {
  ImageSet tr, te;
  Status s = make_image_set(std::move(ti), std::move(tl), "train", train_limit, &tr);
  if (!s.ok()) return s;
  s = make_image_set(std::move(vi), std::move(vl), "test", test_limit, &te);
  if (!s.ok()) return s;
  const int in = spec_.in_c * spec_.in_h * spec_.in_w;
  for (const ImageSet* set : {&tr, &te})
    if ((int)(set->rows * set->cols) != in || set->rows != (uint32_t)spec_.in_h)
      return Status::Error(std::string(set == &tr ? "train" : "test") + " images are " +
                           std::to_string(set->rows) + "x" + std::to_string(set->cols) +
                           " but this model takes " + std::to_string(spec_.in_h) + "x" +
                           std::to_string(spec_.in_w) + " images");
  // The fingerprint identifies the exact training data (the order of a resumed
  // run depends on it): CRC-32 over the pixels, then the labels.
  uint32_t c = crc32(tr.pixels(), (size_t)tr.count * in);
  c = crc32(tr.labels(), tr.count, c);
  char buf[16];
  snprintf(buf, sizeof buf, "crc32:%08x", c);
  train_ = std::move(tr);
  test_ = std::move(te);
  data_fingerprint_ = buf;
  perm_epoch_ = -1;
  perm_.resize(train_.count);  // so that steps never allocate
  if (st_.step == 0) {
    st_.train_fingerprint = data_fingerprint_;
    st_.train_count = train_.count;
  }
  // History grows by one float per step: reserve 100 epochs so steps do not allocate.
  st_.step_loss.reserve((size_t)steps_per_epoch() * 100);
  st_.step_accuracy.reserve((size_t)steps_per_epoch() * 100);
  for (auto* v : {&st_.epoch_loss, &st_.epoch_test_loss, &st_.epoch_test_accuracy}) v->reserve(1000);
  return Status::Ok();
}

void Trainer::ensure_permutation() {
  if (perm_epoch_ == (int64_t)st_.epoch) return;
  epoch_permutation(perm_, train_.count, st_.config.seed, st_.epoch);
  perm_epoch_ = st_.epoch;
}

double Trainer::batch_forward_backward(const uint32_t* idx, int B) {
  const int in = spec_.in_c * spec_.in_h * spec_.in_w;
  const float scale = 1.f / (float)B;
  const int nchunks = (B + kChunk - 1) / kChunk;
  // Each chunk starts from zero gradients in its own buffer; which worker runs
  // it does not matter (its workspace is scratch, fully overwritten).
  // The task captures one pointer, so std::function keeps it inline: no heap
  // allocation in a training step (tests/cpp/test_no_alloc.cpp checks).
  struct Ctx {
    Trainer* self;
    const uint32_t* idx;
    int B, in;
    float scale;
  } ctx{this, idx, B, in, scale};
  const Ctx* cx = &ctx;
  ThreadPool::shared().run(threads_, nchunks, [cx](int c, int worker) {
    Trainer& t = *cx->self;
    const uint32_t* idx = cx->idx;
    const int B = cx->B, in = cx->in;
    const float scale = cx->scale;
    Workspace& ws = t.ws_[worker];
    const int b0 = c * kChunk, n = std::min(kChunk, B - b0);
    uint8_t* labels = t.chunk_labels_.data() + b0;
    {
      ProfileScope timer(8);
      for (int i = 0; i < n; ++i) {
        const uint32_t k = idx[b0 + i];
        u8_to_f32_div(ws.x.data() + (size_t)i * in, t.train_.pixels() + (size_t)k * in, in, 255.f);
        labels[i] = t.train_.labels()[k];
      }
    }
    std::vector<float>& g = t.chunk_grads_[c];
    std::memset(g.data(), 0, sizeof(float) * g.size());
    t.chunk_loss_[c] = model_forward_backward(t.spec_, ws, t.st_.params.data(), g.data(), labels, n, scale);
    int correct = 0;
    for (int i = 0; i < n; ++i)
      correct += argmax(ws.logits.data() + (size_t)i * t.spec_.classes, t.spec_.classes) == labels[i];
    t.chunk_correct_[c] = correct;
  });
  double loss = 0.0;
  batch_correct_ = 0;
  for (int c = 0; c < nchunks; ++c) loss += chunk_loss_[c], batch_correct_ += chunk_correct_[c];
  // Fixed reduction order over chunks: the same sums whatever computed them.
  ProfileScope timer(9);
  std::memcpy(grads_.data(), chunk_grads_[0].data(), sizeof(float) * grads_.size());
  for (int c = 1; c < nchunks; ++c) add_f32(grads_.data(), chunk_grads_[c].data(), grads_.size());
  return loss / B;
}

void Trainer::adam_step() {
  ProfileScope timer(10);
  TrainerConfig& c = st_.config;
  st_.step += 1;
  // PyTorch computes these in Python doubles and passes them as scalars.
  const double bc1 = 1.0 - std::pow(c.beta1, (double)st_.step);
  const double bc2 = 1.0 - std::pow(c.beta2, (double)st_.step);
  const double step_size = c.learning_rate / bc1;
  adam_update_f32(st_.params.data(), grads_.data(), st_.exp_avg.data(), st_.exp_avg_sq.data(),
                  st_.params.size(), c.beta1, c.beta2, (float)c.eps,
                  (float)c.weight_decay, (float)-step_size, (float)std::sqrt(bc2));
}

StepsResult Trainer::train_steps(int n, std::vector<float>* losses) {
  StepsResult r;
  if (!has_data()) {
    r.status = Status::Error("no training data: call setData first");
    return r;
  }
  // A resumed run must see the data it was trained on (the order depends on it),
  // whichever of set_data and load_checkpoint came first; and its position must lie
  // inside an epoch of this data (a hostile file may say anything).
  if (st_.step > 0 && st_.train_count != 0 && st_.train_count != train_.count) {
    r.status = Status::Error("this training state was made on " + std::to_string(st_.train_count) +
                             " training images but the loaded data has " + std::to_string(train_.count) +
                             ": load the same data to resume");
    return r;
  }
  if (st_.epoch_step >= steps_per_epoch()) {
    r.status = Status::Error("the position in the epoch (step " + std::to_string(st_.epoch_step) +
                             ") is past the end of an epoch of " + std::to_string(steps_per_epoch()) +
                             " steps of this data");
    return r;
  }
  if (st_.step > 0 && !st_.train_fingerprint.empty() && st_.train_fingerprint != data_fingerprint_) {
    r.status = Status::Error("this training state was made on different training data (fingerprint " +
                             st_.train_fingerprint + ", " + std::to_string(st_.train_count) +
                             " images); the loaded data is " + data_fingerprint_ + ", " +
                             std::to_string(train_.count) + " images: load the same data to resume");
    return r;
  }
  const uint32_t spe = steps_per_epoch();
  const uint32_t B = (uint32_t)st_.config.batch_size;
  for (int s = 0; s < n; ++s) {
    ensure_permutation();
    const uint32_t begin = st_.epoch_step * B;
    const int bsz = (int)std::min<uint32_t>(B, train_.count - begin);
    const float loss = (float)batch_forward_backward(perm_.data() + begin, bsz);
    if (!std::isfinite(loss)) {
      r.status = Status::Error("the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                               " at step " + std::to_string(st_.step + 1) +
                               "; training stopped before applying it (try a lower learning rate)");
      return r;
    }
    adam_step();
    st_.step_loss.push_back(loss);
    st_.step_accuracy.push_back((float)batch_correct_ / (float)bsz);
    if (losses) losses->push_back(loss);
    ++r.steps;
    if (++st_.epoch_step == spe) {
      // Mean over this epoch's steps; NaN entries stand for steps taken before an
      // import without history (a PyTorch checkpoint) and are left out.
      double sum = 0.0;
      uint32_t k = 0;
      for (size_t i = st_.step_loss.size() - spe; i < st_.step_loss.size(); ++i)
        if (std::isfinite(st_.step_loss[i])) sum += st_.step_loss[i], ++k;
      r.epoch_loss = k ? (float)(sum / k) : NAN;
      st_.epoch_loss.push_back(r.epoch_loss);
      st_.epoch_test_loss.push_back(NAN);
      st_.epoch_test_accuracy.push_back(NAN);
      st_.epoch += 1;
      st_.epoch_step = 0;
      r.epoch_ended = true;
      break;
    }
  }
  return r;
}

void Trainer::evaluate_range(uint32_t begin, uint32_t count, double* loss_sum, uint32_t* correct) {
  const int in = spec_.in_c * spec_.in_h * spec_.in_w;
  const uint32_t end = std::min(test_.count, begin + count);
  for (uint32_t b = begin; b < end; b += kChunk) {
    const int n = (int)std::min<uint32_t>(kChunk, end - b);
    u8_to_f32_div(ws_[0].x.data(), test_.pixels() + (size_t)b * in, (size_t)n * in, 255.f);
    model_forward(spec_, ws_[0], st_.params.data(), n);
    const uint8_t* labels = test_.labels() + b;
    *loss_sum += softmax_xent_forward(ws_[0].probs.data(), ws_[0].logits.data(), labels, n, spec_.classes);
    for (int i = 0; i < n; ++i)
      *correct += argmax(ws_[0].logits.data() + (size_t)i * spec_.classes, spec_.classes) == labels[i];
  }
}

void Trainer::record_epoch_eval(float test_loss, float test_accuracy) {
  if (st_.epoch_test_loss.empty()) return;
  st_.epoch_test_loss.back() = test_loss;
  st_.epoch_test_accuracy.back() = test_accuracy;
}

void Trainer::predict(const float* images, int n, uint8_t* labels, float* probs) {
  const int in = spec_.in_c * spec_.in_h * spec_.in_w, V = spec_.classes;
  static const uint8_t zeros[kChunk] = {};
  for (int b = 0; b < n; b += kChunk) {
    const int m = std::min(kChunk, n - b);
    std::memcpy(ws_[0].x.data(), images + (size_t)b * in, sizeof(float) * m * in);
    model_forward(spec_, ws_[0], st_.params.data(), m);
    softmax_xent_forward(ws_[0].probs.data(), ws_[0].logits.data(), zeros, m, V);
    for (int i = 0; i < m; ++i) {
      const float* p = ws_[0].probs.data() + (size_t)i * V;
      labels[b + i] = (uint8_t)argmax(p, V);
      std::memcpy(probs + (size_t)(b + i) * V, p, sizeof(float) * V);
    }
  }
}

float Trainer::forward_backward(const float* images, const uint8_t* labels, int n,
                                float* logits_out) {
  const int in = spec_.in_c * spec_.in_h * spec_.in_w, V = spec_.classes;
  std::fill(grads_.begin(), grads_.end(), 0.f);
  double loss = 0.0;
  for (int b = 0; b < n; b += kChunk) {
    const int m = std::min(kChunk, n - b);
    std::memcpy(ws_[0].x.data(), images + (size_t)b * in, sizeof(float) * m * in);
    loss += model_forward_backward(spec_, ws_[0], st_.params.data(), grads_.data(), labels + b, m,
                                   1.f / (float)n);
    if (logits_out) std::memcpy(logits_out + (size_t)b * V, ws_[0].logits.data(), sizeof(float) * m * V);
  }
  return (float)(loss / n);
}

// ---------------------------------------------------------------- checkpoints

std::string Trainer::save_checkpoint() const {
  std::vector<TensorData> t;
  auto f32 = [&](const std::string& name, const std::vector<int64_t>& shape, const float* p, size_t n) {
    t.push_back(TensorData{name, "F32", shape, p, n * sizeof(float)});
  };
  for (const ParamSpec& p : spec_.params) {
    f32(p.name, p.shape, st_.params.data() + p.offset, p.size);
    f32("optimizer." + p.name + ".exp_avg", p.shape, st_.exp_avg.data() + p.offset, p.size);
    f32("optimizer." + p.name + ".exp_avg_sq", p.shape, st_.exp_avg_sq.data() + p.offset, p.size);
  }
  auto hist = [&](const char* name, const std::vector<float>& v) {
    f32(name, {(int64_t)v.size()}, v.data(), v.size());
  };
  hist("history.step_loss", st_.step_loss);
  hist("history.step_accuracy", st_.step_accuracy);
  hist("history.epoch_loss", st_.epoch_loss);
  hist("history.epoch_test_loss", st_.epoch_test_loss);
  hist("history.epoch_test_accuracy", st_.epoch_test_accuracy);
  const TrainerConfig& c = st_.config;
  std::map<std::string, std::string> md = {
      {"format", "wasm-trainer-checkpoint"},
      {"format_version", std::to_string(kFormatVersion)},
      {"producer", kProducer},
      {"created", now_iso()},
      {"arch", spec_.arch},
      {"step", std::to_string(st_.step)},
      {"epoch", std::to_string(st_.epoch)},
      {"epoch_step", std::to_string(st_.epoch_step)},
      {"seed", std::to_string(c.seed)},
      {"batch_size", std::to_string(c.batch_size)},
      {"learning_rate", fmt_double(c.learning_rate)},
      {"beta1", fmt_double(c.beta1)},
      {"beta2", fmt_double(c.beta2)},
      {"eps", fmt_double(c.eps)},
      {"weight_decay", fmt_double(c.weight_decay)},
      {"train_count", std::to_string(st_.train_count)},
      {"train_fingerprint", st_.train_fingerprint},
  };
  return write_safetensors(std::move(t), std::move(md));
}

Status Trainer::load_checkpoint(const uint8_t* bytes, size_t n) {
  SafetensorsView f;
  Status s = parse_safetensors(bytes, n, /*require_checksum=*/true, &f);
  if (!s.ok()) return Status::Error("refused checkpoint: " + s.message);
  auto err = [](const std::string& m) { return Status::Error("refused checkpoint: " + m); };
  auto md = [&](const char* key, std::string* out) {
    auto it = f.metadata.find(key);
    if (it == f.metadata.end()) return false;
    *out = it->second;
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
    return err("it was written in format version " + std::to_string(ver) + ", but this " +
               kProducer + " reads up to version " + std::to_string(kFormatVersion) +
               ": update wasm-trainer");

  TrainState ns;
  uint64_t u = 0;
  auto need_u64 = [&](const char* key, uint64_t max, uint64_t* out) -> Status {
    std::string x;
    if (!md(key, &x)) return err(std::string("metadata ") + key + " is missing");
    if (!parse_u64(x, out) || *out > max)
      return err(std::string("metadata ") + key + " = \"" + x + "\" is not an integer in 0.." +
                 std::to_string(max));
    return Status::Ok();
  };
  auto need_double = [&](const char* key, double lo, double hi, double* out) -> Status {
    std::string x;
    if (!md(key, &x)) return err(std::string("metadata ") + key + " is missing");
    if (!parse_double(x, out) || *out < lo || *out > hi)
      return err(std::string("metadata ") + key + " = \"" + x + "\" is not a number in [" +
                 fmt_double(lo) + ", " + fmt_double(hi) + "]");
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

  // Tensors: every name expected, with the expected shape and dtype; nothing else.
  size_t expected_tensors = 0;
  auto take = [&](const std::string& name, const std::vector<int64_t>& shape, bool fixed_shape,
                  std::vector<float>* dst, size_t offset, bool finite, bool nonneg) -> Status {
    ++expected_tensors;
    const TensorInfo* t = f.find(name);
    if (!t) return err("tensor \"" + name + "\" is missing");
    if (t->dtype != "F32") return err("tensor \"" + name + "\" has dtype " + t->dtype + ", expected F32");
    if (fixed_shape && t->shape != shape)
      return err("it is for another architecture: \"" + name + "\" has shape " + shape_str(t->shape) +
                 " but this model (" + spec_.arch + ") expects " + shape_str(shape));
    if (!fixed_shape && t->shape.size() != 1)
      return err("tensor \"" + name + "\" must be 1-dimensional, found " + shape_str(t->shape));
    if (!fixed_shape) dst->resize(t->numel);
    if (t->numel == 0) return Status::Ok();  // (an empty vector's data() may be null)
    float* out = dst->data() + offset;
    std::memcpy(out, f.data + t->begin, t->numel * sizeof(float));
    for (size_t i = 0; i < t->numel; ++i) {
      if (finite && !std::isfinite(out[i]))
        return err("tensor \"" + name + "\" holds a non-finite value at index " + std::to_string(i));
      if (nonneg && out[i] < 0)
        return err("tensor \"" + name + "\" holds a negative value at index " + std::to_string(i));
    }
    return Status::Ok();
  };
  ns.params.assign(spec_.num_params, 0.f);
  ns.exp_avg.assign(spec_.num_params, 0.f);
  ns.exp_avg_sq.assign(spec_.num_params, 0.f);
  for (const ParamSpec& p : spec_.params) {
    if (!(s = take(p.name, p.shape, true, &ns.params, p.offset, true, false)).ok()) return s;
    if (!(s = take("optimizer." + p.name + ".exp_avg", p.shape, true, &ns.exp_avg, p.offset, true, false)).ok()) return s;
    if (!(s = take("optimizer." + p.name + ".exp_avg_sq", p.shape, true, &ns.exp_avg_sq, p.offset, true, true)).ok()) return s;
  }
  if (!(s = take("history.step_loss", {}, false, &ns.step_loss, 0, false, false)).ok()) return s;
  // Optional (added after the first files were written; absent means unknown).
  if (f.find("history.step_accuracy")) {
    if (!(s = take("history.step_accuracy", {}, false, &ns.step_accuracy, 0, false, false)).ok()) return s;
  }
  if (!(s = take("history.epoch_loss", {}, false, &ns.epoch_loss, 0, false, false)).ok()) return s;
  if (!(s = take("history.epoch_test_loss", {}, false, &ns.epoch_test_loss, 0, false, false)).ok()) return s;
  if (!(s = take("history.epoch_test_accuracy", {}, false, &ns.epoch_test_accuracy, 0, false, false)).ok()) return s;
  if (f.tensors.size() != expected_tensors)
    for (const TensorInfo& t : f.tensors) {
      bool known = false;
      for (const ParamSpec& p : spec_.params)
        known |= t.name == p.name || t.name == "optimizer." + p.name + ".exp_avg" ||
                 t.name == "optimizer." + p.name + ".exp_avg_sq";
      known |= t.name.rfind("history.", 0) == 0;
      if (!known) return err("unexpected tensor \"" + t.name + "\" (another architecture?)");
    }
  // History is either complete or absent (a checkpoint imported from PyTorch has none).
  if (!ns.step_loss.empty() && ns.step_loss.size() != ns.step)
    return err("history.step_loss has " + std::to_string(ns.step_loss.size()) + " entries but step is " +
               std::to_string(ns.step));
  if (!ns.step_accuracy.empty() && ns.step_accuracy.size() != ns.step)
    return err("history.step_accuracy has " + std::to_string(ns.step_accuracy.size()) +
               " entries but step is " + std::to_string(ns.step));
  const size_t ne = ns.epoch_loss.size();
  if (ns.epoch_test_loss.size() != ne || ns.epoch_test_accuracy.size() != ne || (ne != 0 && ne != ns.epoch))
    return err("the per-epoch history lengths disagree with each other or with epoch = " +
               std::to_string(ns.epoch));
  // Absent history (PyTorch import): unknown entries are NaN, so lengths stay
  // consistent with step and epoch in every later save. Bounded, so that a small
  // hostile file cannot make us allocate gigabytes (a complete history is paid
  // for by the file's own size).
  constexpr uint64_t kMaxUnknownHistory = 1u << 20;  // 1,048,576 steps: 1,100 MNIST epochs
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
  if (ns.step == 0 && (ns.epoch != 0 || ns.epoch_step != 0))
    return err("step is 0 but epoch/epoch_step are not");
  const uint32_t spe = ns.train_count ? (ns.train_count + ns.config.batch_size - 1) / ns.config.batch_size : 0;
  if (spe && ns.epoch_step >= spe)
    return err("epoch_step " + std::to_string(ns.epoch_step) + " is past the end of an epoch of " +
               std::to_string(spe) + " steps");
  if (has_data()) {
    const uint32_t spe_now = (train_.count + ns.config.batch_size - 1) / ns.config.batch_size;
    if (ns.epoch_step >= spe_now)
      return err("epoch_step " + std::to_string(ns.epoch_step) + " is past the end of an epoch of " +
                 std::to_string(spe_now) + " steps of the loaded data");
  }
  if (has_data() && ns.step > 0) {
    if (ns.train_count != 0 && ns.train_count != train_.count)
      return err("it was trained on " + std::to_string(ns.train_count) + " images but the loaded training set has " +
                 std::to_string(train_.count) + ": load the same data to resume");
    if (!ns.train_fingerprint.empty() && ns.train_fingerprint != data_fingerprint_)
      return err("it was trained on different data (fingerprint " + ns.train_fingerprint +
                 ", loaded data " + data_fingerprint_ + "): load the same data to resume");
  }
  if (ns.train_count == 0) ns.train_count = train_.count;
  if (ns.train_fingerprint.empty()) ns.train_fingerprint = data_fingerprint_;
  ns.step_loss.reserve(std::max(ns.step_loss.size() * 2, (size_t)steps_per_epoch() * 100));
  ns.step_accuracy.reserve(ns.step_loss.capacity());
  for (auto* v : {&ns.epoch_loss, &ns.epoch_test_loss, &ns.epoch_test_accuracy}) v->reserve(ns.epoch + 1000);

  // Everything checked: swap the new state in whole.
  const bool resize = ns.config.batch_size != st_.config.batch_size;
  st_ = std::move(ns);
  perm_epoch_ = -1;
  if (resize) size_buffers();
  return Status::Ok();
}

}  // namespace wt
