#include "core/trainer.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/checkpoint.h"
#include "core/crc32.h"
#include "core/rng.h"
#include "kernels/kernels.h"

namespace wt {

namespace {
NetSpec default_spec() {
  NetSpec s;
  preset_spec(default_preset(), &s);  // compiled in and tested: cannot fail
  return s;
}
}  // namespace

Trainer::Trainer(const TrainerConfig& config) : Trainer(config, default_spec()) {}

Trainer::Trainer(const TrainerConfig& config, const NetSpec& spec) : net_(spec) {
  model_name_ = preset_of(spec);
  st_.config = config;
  if (st_.config.batch_size < 1) st_.config.batch_size = 1;
  st_.params.assign(spec.num_params, 0.f);
  st_.exp_avg.assign(spec.num_params, 0.f);
  st_.exp_avg_sq.assign(spec.num_params, 0.f);
  st_.buffers.assign(spec.num_buffers, 0.f);
  st_.counters.assign(spec.counters.size(), 0);
  net_.init(st_.params.data(), st_.buffers.data(), config.seed);
  grads_.assign(spec.num_params, 0.f);
  threads_ = ThreadPool::shared().ensure(config.threads);
  saved_buffers_.assign(spec.num_buffers, 0.f);
  size_buffers(st_.config.batch_size, true);
}

// Chunk buffers and workspaces for batches of up to `images` (grown, never shrunk):
// gradients only for training batches.
void Trainer::size_buffers(int images, bool train) {
  const int nchunks = Network::chunks(images);
  if ((int)chunk_loss_.size() < nchunks) chunk_loss_.resize(nchunks), chunk_correct_.resize(nchunks);
  if (train && (int)chunk_grads_.size() < nchunks) {
    chunk_grads_.resize(nchunks);
    chunk_grad_ptrs_.resize(nchunks);
    for (int c = 0; c < nchunks; ++c) {
      chunk_grads_[c].resize(spec().num_params);
      chunk_grad_ptrs_[c] = chunk_grads_[c].data();
    }
  }
  const int nws = std::max(net_.workspaces_needed(images, threads_, train), threads_);
  while ((int)ws_.size() < nws) {
    ws_.emplace_back();
    net_.reserve(ws_.back(), kChunk);
  }
}

uint32_t Trainer::steps_per_epoch() const {
  const uint32_t B = (uint32_t)st_.config.batch_size;
  return train_count_ == 0 ? 0 : (train_count_ + B - 1) / B;
}

Status Trainer::set_data(std::string ti, std::string tl, std::string vi, std::string vl,
                         uint32_t train_limit, uint32_t test_limit, const DataConfig& config) {
  ImageSet tr, te;
  Status s = make_image_set(std::move(ti), std::move(tl), "train", train_limit, &tr);
  if (!s.ok()) return s;
  s = make_image_set(std::move(vi), std::move(vl), "test", test_limit, &te);
  if (!s.ok()) return s;
  return set_image_sets(std::move(tr), std::move(te), 0, 0, config);
}

namespace {
// Keeps the first `limit` images (limit 0: all).
void keep_first(ImageSet* set, uint32_t limit) {
  if (limit == 0 || limit >= set->count) return;
  set->count = limit;
  set->image_bytes.resize(set->pixel_offset + (size_t)limit * set->image_size());
  set->image_bytes.shrink_to_fit();
  set->label_bytes.resize(set->label_offset + limit);
  set->label_bytes.shrink_to_fit();
}
}  // namespace

Status Trainer::set_image_sets(ImageSet tr, ImageSet te, uint32_t train_limit, uint32_t test_limit,
                               const DataConfig& config) {
  // Fresh sets keep only what they use (a limit of 1,000 images should not hold 47 MB).
  keep_first(&tr, train_limit);
  keep_first(&te, test_limit);
  const Status s = check_data(tr, tr.count, te, te.count, &spec().input, model_name_, spec().classes, config);
  if (!s.ok()) return s;
  auto data = std::make_shared<SharedData>();
  data->train = std::move(tr);
  data->test = std::move(te);
  return share_data(std::move(data), 0, 0, config);
}

Status Trainer::share_data(const Trainer& other, uint32_t train_limit, uint32_t test_limit, const DataConfig& config) {
  if (!other.data_) return Status::Error("the other trainer holds no data to share");
  return share_data(other.data_, train_limit, test_limit, config);
}

namespace {
uint32_t limited(uint32_t limit, uint32_t count) { return limit > 0 ? std::min(limit, count) : count; }
}  // namespace

Status check_share(const NetSpec& spec, const SharedData& data, uint32_t train_limit, uint32_t test_limit,
                   const DataConfig& config) {
  return check_data(data.train, limited(train_limit, data.train.count), data.test, limited(test_limit, data.test.count),
                    &spec.input, preset_of(spec), spec.classes, config);
}

Status check_resume(const uint8_t* bytes, size_t n, const SharedData& data, uint32_t train_limit,
                    uint32_t test_limit, const DataConfig& config) {
  NetSpec spec;
  Status s = checkpoint_spec(bytes, n, &spec);
  if (!s.ok()) return Status::Error("refused checkpoint: " + s.message);
  s = check_share(spec, data, train_limit, test_limit, config);
  if (!s.ok()) return s;
  const uint32_t tc = limited(train_limit, data.train.count);
  const std::string fingerprint = data.fingerprint(tc);
  TrainState st;
  return decode_checkpoint(bytes, n, spec, DataBinding{true, tc, fingerprint, &config}, &st);
}

Status Trainer::share_data(std::shared_ptr<const SharedData> data, uint32_t train_limit, uint32_t test_limit,
                           const DataConfig& config) {
  if (!data) return Status::Error("no data to share");
  const uint32_t tc = limited(train_limit, data->train.count), vc = limited(test_limit, data->test.count);
  const Status s = check_data(data->train, tc, data->test, vc, &spec().input, model_name_, spec().classes, config);
  if (!s.ok()) return s;
  // The fingerprint identifies the exact training data (the order of a resumed
  // run depends on it): CRC-32 over the pixels, then the labels.
  data_fingerprint_ = data->fingerprint(tc);
  data_ = std::move(data);
  train_count_ = tc;
  test_count_ = vc;
  data_config_ = config;
  pipeline_ = Pipeline(spec().input, config);
  perm_epoch_ = -1;
  perm_.resize(train_count_);  // so that steps never allocate
  if (st_.step == 0) {
    st_.train_fingerprint = data_fingerprint_;
    st_.train_count = train_count_;
    st_.data = config;
  }
  // History grows by one float per step: reserve 100 epochs so steps do not allocate.
  st_.step_loss.reserve((size_t)steps_per_epoch() * 100);
  st_.step_accuracy.reserve((size_t)steps_per_epoch() * 100);
  for (auto* v : {&st_.epoch_loss, &st_.epoch_test_loss, &st_.epoch_test_accuracy}) v->reserve(1000);
  return Status::Ok();
}

void Trainer::ensure_permutation() {
  if (perm_epoch_ == (int64_t)st_.epoch) return;
  epoch_permutation(perm_, train_count_, st_.config.seed, st_.epoch);
  perm_epoch_ = st_.epoch;
}

void Trainer::run(BatchJob& job) {
  size_buffers(job.images, job.train);
  const int nchunks = Network::chunks(job.images);
  job.loss = chunk_loss_.data();
  job.correct = chunk_correct_.data();
  job.grads = job.backward ? chunk_grad_ptrs_.data() : nullptr;
  if (job.backward)
    for (int c = 0; c < nchunks; ++c) std::memset(chunk_grads_[c].data(), 0, sizeof(float) * spec().num_params);
  if (job.train && !st_.counters.empty())
    for (int64_t& n : st_.counters) n += 1;
  net_.run_batch(job, ws_, threads_, st_.params.data(), st_.buffers.data());
  if (!job.backward) return;
  // Fixed reduction order over chunks: the same sums whatever computed them.
  ProfileScope timer("grad reduce");
  std::memcpy(grads_.data(), chunk_grads_[0].data(), sizeof(float) * grads_.size());
  for (int c = 1; c < nchunks; ++c) add_f32(grads_.data(), chunk_grads_[c].data(), grads_.size());
  if (job.train)
    for (const auto& r : net_.zero_grad_ranges()) std::memset(grads_.data() + r.first, 0, sizeof(float) * r.second);
}

namespace {
struct TrainLoad {
  const ImageSet* set;
  const uint32_t* idx;  // null: contiguous from `first`
  uint32_t first;
  size_t in;
  const Pipeline* pipeline;
  uint64_t seed, epoch;
  bool train;  // augment
};
void load_images(void* user, int begin, int n, float* x, uint8_t* labels) {
  ProfileScope timer("data (u8->f32)");
  const TrainLoad& l = *static_cast<const TrainLoad*>(user);
  for (int i = 0; i < n; ++i) {
    const uint32_t k = l.idx ? l.idx[begin + i] : l.first + begin + i;
    const uint8_t* src = l.set->pixels() + (size_t)k * l.in;
    if (l.pipeline->identity())
      u8_to_f32_div(x + (size_t)i * l.in, src, l.in, 255.f);
    else
      l.pipeline->image(src, x + (size_t)i * l.in, l.seed, l.epoch, k, l.train);
    labels[i] = l.set->labels()[k];
  }
}
struct FloatLoad {
  const float* images;
  const uint8_t* labels;  // null: zeros
  size_t in;
};
void load_floats(void* user, int begin, int n, float* x, uint8_t* labels) {
  const FloatLoad& l = *static_cast<const FloatLoad*>(user);
  std::memcpy(x, l.images + (size_t)begin * l.in, sizeof(float) * n * l.in);
  for (int i = 0; i < n; ++i) labels[i] = l.labels ? l.labels[begin + i] : 0;
}
}  // namespace

// A train-mode batch of B images: gradients of the mean loss, Dropout's masks of
// this step.
BatchJob Trainer::training_job(int B, void (*load)(void*, int, int, float*, uint8_t*), void* user) const {
  BatchJob job;
  job.images = B;
  job.seed = st_.config.seed;
  job.step = st_.step;
  job.scale = 1.f / (float)B;
  job.load = load;
  job.user = user;
  return job;
}

double Trainer::batch_forward_backward(const uint32_t* idx, int B) {
  TrainLoad load{&data_->train, idx, 0, spec().input_size(), &pipeline_, st_.config.seed, st_.epoch, true};
  BatchJob job = training_job(B, load_images, &load);
  run(job);
  double loss = 0.0;
  batch_correct_ = 0;
  for (int c = 0; c < Network::chunks(B); ++c) loss += chunk_loss_[c], batch_correct_ += chunk_correct_[c];
  return loss / B;
}

void Trainer::adam_step() {
  ProfileScope timer("adam");
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
  const std::string problem = resume_problem(st_, DataBinding{true, train_count_, data_fingerprint_, &data_config_});
  if (!problem.empty()) {
    r.status = Status::Error("cannot continue this training state: " + problem);
    return r;
  }
  const uint32_t spe = steps_per_epoch();
  const uint32_t B = (uint32_t)st_.config.batch_size;
  for (int s = 0; s < n; ++s) {
    ensure_permutation();
    const uint32_t begin = st_.epoch_step * B;
    const int bsz = (int)std::min<uint32_t>(B, train_count_ - begin);
    // BatchNorm's running statistics move in the forward pass: keep them so a
    // non-finite loss leaves the whole state as it was.
    if (!st_.buffers.empty()) saved_buffers_ = st_.buffers;
    const float loss = (float)batch_forward_backward(perm_.data() + begin, bsz);
    if (!std::isfinite(loss)) {
      if (!st_.buffers.empty()) {
        st_.buffers = saved_buffers_;
        for (int64_t& c : st_.counters) c -= 1;
      }
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
  const uint32_t end = std::min(test_count_, begin + count);
  if (end <= begin) return;
  TrainLoad load{&data_->test, nullptr, begin, spec().input_size(), &pipeline_, 0, 0, false};
  BatchJob job;
  job.images = (int)(end - begin);
  job.train = false;
  job.backward = false;
  job.load = load_images;
  job.user = &load;
  run(job);
  for (int c = 0; c < Network::chunks(job.images); ++c) *loss_sum += chunk_loss_[c], *correct += chunk_correct_[c];
}

void Trainer::record_epoch_eval(float test_loss, float test_accuracy) {
  if (st_.epoch_test_loss.empty()) return;
  st_.epoch_test_loss.back() = test_loss;
  st_.epoch_test_accuracy.back() = test_accuracy;
}

void Trainer::eval_logits(const float* images, int n, float* logits) {
  if (n <= 0) return;
  FloatLoad load{images, nullptr, spec().input_size()};
  BatchJob job;
  job.images = n;
  job.train = false;
  job.backward = false;
  job.load = load_floats;
  job.user = &load;
  job.logits = logits;
  run(job);
}

void Trainer::predict(const float* images, int n, uint8_t* labels, float* probs) {
  const int V = spec().classes;
  std::vector<float> logits((size_t)n * V);
  std::vector<float> x(images, images + (size_t)n * spec().input_size());
  pipeline_.normalize(x.data(), (size_t)n);  // the data's normalization, as in training
  eval_logits(x.data(), n, logits.data());
  for (int i = 0; i < n; ++i) {
    const float* l = logits.data() + (size_t)i * V;
    float mx = l[0];
    int best = 0;
    for (int v = 1; v < V; ++v)
      if (l[v] > mx) mx = l[v], best = v;
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp((double)(l[v] - mx));
    for (int v = 0; v < V; ++v) probs[(size_t)i * V + v] = (float)(std::exp((double)(l[v] - mx)) / sum);
    labels[i] = (uint8_t)best;
  }
}

float Trainer::forward_backward(const float* images, const uint8_t* labels, int n,
                                float* logits_out) {
  FloatLoad load{images, labels, spec().input_size()};
  BatchJob job = training_job(n, load_floats, &load);
  job.logits = logits_out;
  run(job);
  double loss = 0.0;
  for (int c = 0; c < Network::chunks(n); ++c) loss += chunk_loss_[c];
  return (float)(loss / n);
}

std::string Trainer::save_checkpoint() const { return encode_checkpoint(spec(), model_name_, st_); }

Status Trainer::load_checkpoint(const uint8_t* bytes, size_t n) {
  TrainState ns;
  const Status s = decode_checkpoint(bytes, n, spec(), DataBinding{has_data(), train_count_, data_fingerprint_, &data_config_}, &ns);
  if (!s.ok()) return s;
  ns.config.threads = st_.config.threads;
  // Room for the history to grow without allocating in a step.
  ns.step_loss.reserve(std::max(ns.step_loss.size() * 2, (size_t)steps_per_epoch() * 100));
  ns.step_accuracy.reserve(ns.step_loss.capacity());
  for (auto* v : {&ns.epoch_loss, &ns.epoch_test_loss, &ns.epoch_test_accuracy}) v->reserve(ns.epoch + 1000);
  // Everything checked: swap the new state in whole.
  st_ = std::move(ns);
  perm_epoch_ = -1;
  size_buffers(st_.config.batch_size, true);
  return Status::Ok();
}

}  // namespace wt
