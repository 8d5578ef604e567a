// Embind glue: the Trainer class of the JS API (wasm-trainer.js) over the core's
// Trainer, and the data a trainer holds for the next one (HeldData).
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

// Data held apart from any trainer (Trainer.holdData in the JS API): keeps a
// trainer's loaded data alive after it is disposed of, for the next trainer to
// share, and checks without a trainer whether that one would take the data and a
// checkpoint.
class HeldData {
 public:
  explicit HeldData(std::shared_ptr<const SharedData> d) : d_(std::move(d)) {}
  const std::shared_ptr<const SharedData>& data() const { return d_; }

  val info() const {
    val o = val::object();
    o.set("trainCount", d_ ? d_->train.count : 0);
    o.set("testCount", d_ ? d_->test.count : 0);
    val shape = val::array();
    if (d_) for (uint32_t d : {d_->train.channels, d_->train.rows, d_->train.cols}) shape.call<void>("push", d);
    o.set("shape", shape);
    return o;
  }

  // A model (preset name or spec JSON) and its view of the data, as share_data checks them.
  std::string check(std::string model, int train_limit, int test_limit, std::string config) const {
    NetSpec spec;
    Status s = spec_from_name_or_json(model, &spec);
    DataConfig c;
    if (s.ok()) s = parse(config, &c);
    if (s.ok()) s = check_share(spec, *d_, (uint32_t)std::max(0, train_limit), (uint32_t)std::max(0, test_limit), c);
    return s.message;
  }

  // A checkpoint on this data as a trainer of its model would take it.
  std::string checkCheckpoint(std::string bytes, int train_limit, int test_limit, std::string config) const {
    DataConfig c;
    Status s = parse(config, &c);
    if (s.ok())
      s = check_resume((const uint8_t*)bytes.data(), bytes.size(), *d_, (uint32_t)std::max(0, train_limit),
                       (uint32_t)std::max(0, test_limit), c);
    return s.message;
  }

 private:
  Status parse(const std::string& config, DataConfig* c) const {
    if (!d_) return Status::Error("no data held");
    return config.empty() ? Status::Ok() : parse_data_config(config, (int)d_->train.channels, c);
  }
  std::shared_ptr<const SharedData> d_;
};

class TrainerBinding {
 public:
  // The spec (canonical JSON from describeModel, or a preset name) is validated
  // here with this batch size's memory limits before anything is allocated. On
  // refusal there is no trainer: error() says why and the JS deletes this object
  // without calling anything else.
  TrainerBinding(std::string spec_json, double seed, double lr, int batch_size, double weight_decay,
                 int threads) {
    SpecLimits limits;
    limits.batch_size = batch_size;
    NetSpec spec;
    const Status s = spec_from_name_or_json(spec_json, &spec, limits);
    if (!s.ok()) {
      error_ = s.message;
      return;
    }
    t_.reset(new Trainer(make_config(seed, lr, batch_size, weight_decay, threads), spec));
  }

  std::string error() const { return error_; }

  val model() const { return model_info(t_->spec(), t_->model_name()); }

  // IDX files; config: the data configuration's JSON (dataset.h), "" for none.
  std::string setData(val ti, val tl, val vi, val vl, int train_limit, int test_limit, std::string config) {
    DataConfig c;
    if (!config.empty()) {
      const Status s = parse_data_config(config, t_->spec().input.c, &c);
      if (!s.ok()) return s.message;
    }
    // The four files are copied in whole (then kept: the pixels start after the
    // IDX header); a copy that cannot be had is refused in words, not aborted.
    // Each is asked for just before it is made (malloc then gives the same block).
    std::string files[4];
    const val* arrays[4] = {&ti, &tl, &vi, &vl};
    const char* names[4] = {"the train images", "the train labels", "the test images", "the test labels"};
    for (int i = 0; i < 4; ++i) {
      const Status room = check_memory((*arrays[i])["length"].as<size_t>(), names[i]);
      if (!room.ok()) return room.message;
      files[i] = bytes_from_js(*arrays[i]);
    }
    return t_->set_data(std::move(files[0]), std::move(files[1]), std::move(files[2]), std::move(files[3]),
                        (uint32_t)std::max(0, train_limit), (uint32_t)std::max(0, test_limit), c)
        .message;
  }

  // CIFAR-10 binary batches: beginCifar10 with the number of training and test
  // records to keep (the limits applied), then one addCifar10 per file (false for
  // training files, true for test), then finishCifar10. The sets are reserved once
  // at their exact size and each file is read from JS a megabyte at a time, so the
  // pixels are in wasm memory once (a file is never copied in whole). Beginning
  // drops whatever an unfinished load left (beginCifar10(0, 0) just drops it).
  std::string beginCifar10(int train_records, int test_records) {
    pending_train_ = ImageSet(), pending_test_ = ImageSet();
    keep_train_ = (size_t)std::max(0, train_records), keep_test_ = (size_t)std::max(0, test_records);
    Status s = reserve_cifar10(&pending_train_, keep_train_, "train");
    if (s.ok()) s = reserve_cifar10(&pending_test_, keep_test_, "test");
    if (!s.ok()) pending_train_ = ImageSet(), pending_test_ = ImageSet();
    return s.message;
  }
  std::string addCifar10(bool test, val bytes, std::string name) {
    ImageSet* set = test ? &pending_test_ : &pending_train_;
    const size_t cap = test ? keep_test_ : keep_train_;
    const size_t keep = cap == kNoCap ? kNoCap : cap - std::min<size_t>(cap, set->count);
    const ByteReader read = [&bytes](size_t offset, size_t n, uint8_t* dst) {
      val(emscripten::typed_memory_view(n, dst)).call<void>("set", bytes.call<val>("subarray", offset, offset + n));
    };
    const Status s = append_cifar10(bytes["length"].as<size_t>(), name, read, set, keep);
    if (!s.ok()) {  // a refused set is dropped whole
      pending_train_ = ImageSet(), pending_test_ = ImageSet();
      keep_train_ = keep_test_ = kNoCap;
    }
    return s.message;
  }
  // The files added so far become the data (or, on an error, are dropped).
  std::string finishCifar10(int train_limit, int test_limit, std::string config) {
    ImageSet tr = std::move(pending_train_), te = std::move(pending_test_);
    pending_train_ = ImageSet(), pending_test_ = ImageSet();
    keep_train_ = keep_test_ = kNoCap;
    DataConfig c;
    if (!config.empty()) {
      const Status s = parse_data_config(config, t_->spec().input.c, &c);
      if (!s.ok()) return s.message;
    }
    if (tr.count == 0) return "no CIFAR-10 training records (data_batch_1.bin ... data_batch_5.bin)";
    if (te.count == 0) return "no CIFAR-10 test records (test_batch.bin)";
    return t_->set_image_sets(std::move(tr), std::move(te), (uint32_t)std::max(0, train_limit),
                              (uint32_t)std::max(0, test_limit), c)
        .message;
  }

  // The data `other` holds, shared (no copy), with this trainer's limits (0: all
  // that `other` holds) and data configuration ("" for none).
  std::string shareData(const TrainerBinding& other, int train_limit, int test_limit, std::string config) {
    const auto& held = other.t_->shared_data();
    if (!held) return "the other trainer holds no data to share";
    DataConfig c;
    if (!config.empty()) {  // the data's channels: a model that does not take them is the core's message
      const Status s = parse_data_config(config, (int)held->train.channels, &c);
      if (!s.ok()) return s.message;
    }
    return t_->share_data(*other.t_, (uint32_t)std::max(0, train_limit), (uint32_t)std::max(0, test_limit), c).message;
  }

  // The same from data held apart from a trainer.
  std::string shareHeld(const HeldData& held, int train_limit, int test_limit, std::string config) {
    if (!held.data()) return "no data held";
    DataConfig c;
    if (!config.empty()) {
      const Status s = parse_data_config(config, (int)held.data()->train.channels, &c);
      if (!s.ok()) return s.message;
    }
    return t_->share_data(held.data(), (uint32_t)std::max(0, train_limit), (uint32_t)std::max(0, test_limit), c).message;
  }

  // This trainer's data, held apart from it (alive until the handle is deleted).
  HeldData holdData() const { return HeldData(t_->shared_data()); }

  // The images the held data has (all of it, not this trainer's limits): what a
  // trainer sharing it can use.
  val heldData() const {
    val o = val::object();
    const auto& d = t_->shared_data();
    o.set("trainCount", d ? d->train.count : 0);
    o.set("testCount", d ? d->test.count : 0);
    return o;
  }

  // The data's configuration (name, class names, normalization, augmentation) as JSON.
  std::string dataConfig() const { return t_->data_config().to_json(); }

  val trainSteps(int n) {
    losses_.clear();
    StepsResult r = t_->train_steps(n, &losses_);
    val o = progress();
    o.set("error", r.status.message);
    o.set("losses", f32_copy(losses_.data(), losses_.size()));
    o.set("steps", r.steps);
    o.set("epochEnded", r.epoch_ended);
    o.set("epochLoss", r.epoch_loss);
    return o;
  }

  val progress() const {
    const TrainState& s = t_->state();
    val o = val::object();
    o.set("step", (double)s.step);
    o.set("epoch", s.epoch);
    o.set("epochStep", s.epoch_step);
    o.set("stepsPerEpoch", t_->steps_per_epoch());
    o.set("trainCount", t_->train_count());
    o.set("testCount", t_->test_count());
    return o;
  }

  val config() const {
    const TrainerConfig& c = t_->state().config;
    val o = val::object();
    o.set("seed", (double)c.seed);
    o.set("learningRate", c.learning_rate);
    o.set("batchSize", c.batch_size);
    o.set("weightDecay", c.weight_decay);
    o.set("threads", t_->threads());
    return o;
  }

  val evaluateRange(int begin, int count) {
    double loss = 0.0;
    uint32_t correct = 0;
    t_->evaluate_range((uint32_t)begin, (uint32_t)count, &loss, &correct);
    val o = val::object();
    o.set("lossSum", loss);
    o.set("correct", correct);
    return o;
  }

  void recordEpochEval(float loss, float accuracy) { t_->record_epoch_eval(loss, accuracy); }

  // images: n * input_size float32 values as bytes -> {error, labels, probabilities}.
  val predict(std::string images) {
    std::vector<float> x;
    val o = val::object();
    const int n = take_images(images, "predict", &x, &o);
    if (n < 0) return o;
    std::vector<uint8_t> labels(n);
    std::vector<float> probs((size_t)n * t_->spec().classes);
    t_->predict(x.data(), n, labels.data(), probs.data());
    o.set("labels", u8_copy(labels.data(), labels.size()));
    o.set("probabilities", f32_copy(probs.data(), probs.size()));
    return o;
  }

  // Logits in evaluation mode (Dropout off, BatchNorm's running statistics):
  // {error, logits} with n * classes values.
  val evalLogits(std::string images) {
    std::vector<float> x;
    val o = val::object();
    const int n = take_images(images, "evalLogits", &x, &o);
    if (n < 0) return o;
    std::vector<float> logits((size_t)n * t_->spec().classes);
    t_->eval_logits(x.data(), n, logits.data());
    o.set("logits", f32_copy(logits.data(), logits.size()));
    return o;
  }

  val history() const {
    const TrainState& s = t_->state();
    val o = val::object();
    o.set("stepLoss", f32_copy(s.step_loss.data(), s.step_loss.size()));
    o.set("stepAccuracy", f32_copy(s.step_accuracy.data(), s.step_accuracy.size()));
    o.set("epochLoss", f32_copy(s.epoch_loss.data(), s.epoch_loss.size()));
    o.set("epochTestLoss", f32_copy(s.epoch_test_loss.data(), s.epoch_test_loss.size()));
    o.set("epochTestAccuracy", f32_copy(s.epoch_test_accuracy.data(), s.epoch_test_accuracy.size()));
    return o;
  }

  val saveCheckpoint() const {
    const std::string b = t_->save_checkpoint();
    return u8_copy((const uint8_t*)b.data(), b.size());
  }

  std::string loadCheckpoint(std::string bytes) {
    return t_->load_checkpoint((const uint8_t*)bytes.data(), bytes.size()).message;
  }

  // ---- reference-test surface (tests/node/fixture.test.js) ----
  // Parameters, Adam's moments and BatchNorm's running statistics by state name.
  val tensors() const {
    const TrainState& s = t_->state();
    val o = val::object();
    for (const ParamSpec& p : t_->spec().params) {
      o.set(p.name, f32_copy(s.params.data() + p.offset, p.size));
      o.set("optimizer." + p.name + ".exp_avg", f32_copy(s.exp_avg.data() + p.offset, p.size));
      o.set("optimizer." + p.name + ".exp_avg_sq", f32_copy(s.exp_avg_sq.data() + p.offset, p.size));
    }
    for (const BufferSpec& b : t_->spec().buffers) o.set(b.name, f32_copy(s.buffers.data() + b.offset, b.size));
    return o;
  }

  // BatchNorm's num_batches_tracked counters by name, as numbers (int64 in the core).
  val counters() const {
    val o = val::object();
    const NetSpec& spec = t_->spec();
    for (size_t i = 0; i < spec.counters.size(); ++i)
      o.set(spec.counters[i].name, (double)t_->state().counters[i]);
    return o;
  }

  std::string setCounter(std::string name, double value) {
    const NetSpec& spec = t_->spec();
    for (size_t i = 0; i < spec.counters.size(); ++i) {
      if (spec.counters[i].name != name) continue;
      if (!(value >= 0) || value > 9007199254740992.0 || value != (double)(int64_t)value)
        return "setCounter " + name + ": expected a non-negative integer";
      t_->mutable_state().counters[i] = (int64_t)value;
      return "";
    }
    return "setCounter: unknown counter " + name;
  }

  // Sets a parameter, an Adam moment or a running statistic from float32 bytes;
  // name as in tensors().
  std::string setTensor(std::string name, std::string bytes) {
    TrainState& s = t_->mutable_state();
    const NetSpec& spec = t_->spec();
    std::vector<float>* dst = nullptr;
    size_t offset = 0, size = 0;
    for (const ParamSpec& p : spec.params) {
      if (name == p.name) dst = &s.params;
      else if (name == "optimizer." + p.name + ".exp_avg") dst = &s.exp_avg;
      else if (name == "optimizer." + p.name + ".exp_avg_sq") dst = &s.exp_avg_sq;
      else continue;
      offset = p.offset, size = p.size;
      break;
    }
    for (const BufferSpec& b : spec.buffers) {
      if (dst || name != b.name) continue;
      dst = &s.buffers, offset = b.offset, size = b.size;
    }
    if (!dst) return "setTensor: unknown tensor " + name;
    if (bytes.size() != size * sizeof(float))
      return "setTensor " + name + ": expected " + std::to_string(size) + " floats, got " +
             std::to_string(bytes.size() / 4);
    std::memcpy(dst->data() + offset, bytes.data(), bytes.size());
    return "";
  }

  // Forward + backward of explicit float32 images (n * input_size) and labels;
  // gradients stay in the trainer for adamStep().
  val forwardBackward(std::string images, std::string labels) {
    const NetSpec& spec = t_->spec();
    const int n = (int)labels.size();
    val o = val::object();
    if (images.size() != (size_t)n * spec.input_size() * sizeof(float)) {
      o.set("error", "forwardBackward: images must be n*" + std::to_string(spec.input_size()) +
                         " float32 values (the model's input " + spec.input.str() + ") for " +
                         std::to_string(n) + " labels");
      return o;
    }
    std::vector<float> x((size_t)n * spec.input_size()), logits((size_t)n * spec.classes);
    std::memcpy(x.data(), images.data(), images.size());
    const float loss = t_->forward_backward(x.data(), (const uint8_t*)labels.data(), n, logits.data());
    o.set("error", std::string());
    o.set("loss", loss);
    o.set("logits", f32_copy(logits.data(), logits.size()));
    val g = val::object();
    for (const ParamSpec& p : spec.params) g.set(p.name, f32_copy(t_->grads().data() + p.offset, p.size));
    o.set("grads", g);
    return o;
  }

  void adamStep() { t_->adam_step(); }

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

  // Copies float32 image bytes into *x; returns the image count, or -1 with
  // o.error set when the size is not a multiple of the model's input.
  int take_images(const std::string& bytes, const char* what, std::vector<float>* x, val* o) const {
    const NetSpec& spec = t_->spec();
    const size_t per = spec.input_size() * sizeof(float);
    if (bytes.size() % per != 0) {
      o->set("error", std::string(what) + ": expected n*" + std::to_string(spec.input_size()) +
                          " float32 values (the model's input " + spec.input.str() + "), got " +
                          std::to_string(bytes.size() / sizeof(float)));
      return -1;
    }
    o->set("error", std::string());
    x->resize(bytes.size() / sizeof(float));
    std::memcpy(x->data(), bytes.data(), bytes.size());
    return (int)(bytes.size() / per);
  }

  std::unique_ptr<Trainer> t_;  // null when the spec was refused (see error())
  ImageSet pending_train_, pending_test_;  // CIFAR-10 files added, not yet finished
  static constexpr size_t kNoCap = SIZE_MAX;
  size_t keep_train_ = kNoCap, keep_test_ = kNoCap;  // records to keep (beginCifar10), else all
  std::string error_;
  std::vector<float> losses_;
};

}  // namespace

EMSCRIPTEN_BINDINGS(wasm_trainer_classes) {
  emscripten::class_<HeldData>("HeldData")
      .function("info", &HeldData::info)
      .function("check", &HeldData::check)
      .function("checkCheckpoint", &HeldData::checkCheckpoint);
  emscripten::class_<TrainerBinding>("Trainer")
      .constructor<std::string, double, double, int, double, int>()
      .function("error", &TrainerBinding::error)
      .function("model", &TrainerBinding::model)
      .function("setData", &TrainerBinding::setData)
      .function("beginCifar10", &TrainerBinding::beginCifar10)
      .function("addCifar10", &TrainerBinding::addCifar10)
      .function("finishCifar10", &TrainerBinding::finishCifar10)
      .function("shareData", &TrainerBinding::shareData)
      .function("heldData", &TrainerBinding::heldData)
      .function("shareHeld", &TrainerBinding::shareHeld)
      .function("holdData", &TrainerBinding::holdData)
      .function("dataConfig", &TrainerBinding::dataConfig)
      .function("trainSteps", &TrainerBinding::trainSteps)
      .function("progress", &TrainerBinding::progress)
      .function("config", &TrainerBinding::config)
      .function("evaluateRange", &TrainerBinding::evaluateRange)
      .function("recordEpochEval", &TrainerBinding::recordEpochEval)
      .function("predict", &TrainerBinding::predict)
      .function("evalLogits", &TrainerBinding::evalLogits)
      .function("history", &TrainerBinding::history)
      .function("saveCheckpoint", &TrainerBinding::saveCheckpoint)
      .function("loadCheckpoint", &TrainerBinding::loadCheckpoint)
      .function("tensors", &TrainerBinding::tensors)
      .function("counters", &TrainerBinding::counters)
      .function("setCounter", &TrainerBinding::setCounter)
      .function("setTensor", &TrainerBinding::setTensor)
      .function("forwardBackward", &TrainerBinding::forwardBackward)
      .function("adamStep", &TrainerBinding::adamStep);
}
