// The training loop: data, parameters, Adam, position in the data order and
// history, for any network (network.h); checkpoints are checkpoint.h's.
//
// Determinism: a batch is split into fixed chunks of kChunk images whose
// gradients are computed separately and summed in chunk order (network.h), so the
// result does not depend on how many workers compute the chunks. The data order of
// an epoch is a function of (seed, epoch) only, Dropout's masks of (seed, step,
// layer, position). Together these make a resumed run bit-identical to one that
// never stopped.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/idx.h"
#include "core/network.h"
#include "core/pipeline.h"
#include "core/parallel.h"
#include "core/spec.h"
#include "core/status.h"

namespace wt {

struct TrainerConfig {
  uint64_t seed = 0;
  double learning_rate = 1e-3;
  int batch_size = 64;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int threads = 1;  // workers per batch; never changes results, not saved in checkpoints
};

// Everything a checkpoint restores; swapped in whole, so a refused load changes nothing.
struct TrainState {
  TrainerConfig config;
  std::vector<float> params, exp_avg, exp_avg_sq;
  std::vector<float> buffers;     // BatchNorm running statistics (spec.buffers)
  std::vector<int64_t> counters;  // BatchNorm num_batches_tracked (spec.counters)
  uint64_t step = 0;        // Adam steps taken
  uint32_t epoch = 0;       // epochs completed
  uint32_t epoch_step = 0;  // steps into the current epoch
  std::vector<float> step_loss, step_accuracy;  // per optimizer step (train batch)
  std::vector<float> epoch_loss, epoch_test_loss, epoch_test_accuracy;
  std::string train_fingerprint;  // of the data it was trained on ("" = unknown)
  uint32_t train_count = 0;
  DataConfig data;  // the data's name, class names, normalization and augmentation
};

struct StepsResult {
  Status status;
  int steps = 0;             // steps taken by this call
  bool epoch_ended = false;  // this call finished an epoch (and stopped there)
  float epoch_loss = 0.f;    // mean train loss of that epoch
};

class Trainer {
 public:
  explicit Trainer(const TrainerConfig& config);  // the default model (seed)
  Trainer(const TrainerConfig& config, const NetSpec& spec);

  // Takes the four IDX files (bytes); limits > 0 keep only the first N items.
  Status set_data(std::string train_images, std::string train_labels, std::string test_images,
                  std::string test_labels, uint32_t train_limit, uint32_t test_limit,
                  const DataConfig& config = DataConfig());
  // Takes two image sets (any reader: IDX, CIFAR-10) with their configuration. The
  // images must have the model's input shape and labels below its classes.
  Status set_image_sets(ImageSet train, ImageSet test, uint32_t train_limit, uint32_t test_limit,
                        const DataConfig& config);
  // Takes the data `other` holds, without copying it (the sets are shared and
  // immutable; they live as long as a trainer holds them), with this trainer's
  // own limits (of `other`'s sets, not of its limits: 0 takes all they hold) and
  // data configuration, checked as set_image_sets checks them. On an error
  // nothing changes.
  Status share_data(const Trainer& other, uint32_t train_limit, uint32_t test_limit, const DataConfig& config);
  // The same with data held apart from any trainer (shared_data() of one).
  Status share_data(std::shared_ptr<const SharedData> data, uint32_t train_limit, uint32_t test_limit,
                    const DataConfig& config);
  // The data held (null before any), shared with the trainers that took it.
  const std::shared_ptr<const SharedData>& shared_data() const { return data_; }
  const DataConfig& data_config() const { return data_config_; }
  bool has_data() const { return train_count_ > 0; }

  // Up to n optimizer steps, stopping at an epoch end. Step losses are appended to
  // `losses` if given. A non-finite loss stops before that step's update.
  StepsResult train_steps(int n, std::vector<float>* losses);

  // Sums of loss and correct predictions over test images [begin, begin + count).
  void evaluate_range(uint32_t begin, uint32_t count, double* loss_sum, uint32_t* correct);
  // Stores the test result of the last completed epoch in the history.
  void record_epoch_eval(float test_loss, float test_accuracy);
  // images: n * input_size floats in [0, 1]; writes n labels and n * classes
  // probabilities (eval mode).
  void predict(const float* images, int n, uint8_t* labels, float* probs);
  // n * classes logits in eval mode (BatchNorm's running statistics, no Dropout).
  void eval_logits(const float* images, int n, float* logits);

  std::string save_checkpoint() const;
  // Validates the whole file against this model and data before changing anything.
  Status load_checkpoint(const uint8_t* bytes, size_t n);

  // For the reference tests: train-mode forward + backward of explicit inputs as one
  // batch of n (BatchNorm's statistics over all n, running statistics updated;
  // Dropout's masks of step state().step); gradients (mean over n) land in
  // grads(); returns the mean loss.
  float forward_backward(const float* images, const uint8_t* labels, int n, float* logits_out);
  // One Adam update from grads() (step count += 1).
  void adam_step();

  const NetSpec& spec() const { return net_.spec(); }
  const Network& network() const { return net_; }
  // The preset this model is ("seed", ...), or "custom".
  const std::string& model_name() const { return model_name_; }
  const TrainState& state() const { return st_; }
  TrainState& mutable_state() { return st_; }
  std::vector<float>& grads() { return grads_; }
  uint32_t train_count() const { return train_count_; }  // the images this trainer uses (its limits)
  uint32_t test_count() const { return test_count_; }
  uint32_t steps_per_epoch() const;
  int threads() const { return threads_; }

 private:
  void size_buffers(int images, bool train);
  void ensure_permutation();
  // Runs `job` (its gradients into chunk_grads_, summed into grads_ when backward).
  void run(BatchJob& job);
  BatchJob training_job(int B, void (*load)(void*, int, int, float*, uint8_t*), void* user) const;
  double batch_forward_backward(const uint32_t* indices, int B);

  Network net_;
  std::string model_name_;
  TrainState st_;
  std::shared_ptr<const SharedData> data_;  // shared with other trainers; never changed
  uint32_t train_count_ = 0, test_count_ = 0;  // the first images of data_'s sets used
  std::string data_fingerprint_;
  DataConfig data_config_;
  Pipeline pipeline_;
  std::vector<uint32_t> perm_;
  int64_t perm_epoch_ = -1;
  std::vector<float> grads_;
  std::vector<float> saved_buffers_;  // BatchNorm running statistics before a step
  std::vector<std::vector<float>> chunk_grads_;
  std::vector<float*> chunk_grad_ptrs_;
  std::vector<double> chunk_loss_;
  std::vector<int> chunk_correct_;
  int batch_correct_ = 0;  // of the last batch_forward_backward
  std::vector<Workspace> ws_;  // per worker, or per chunk (network.h)
  int threads_ = 1;  // participants of the shared ThreadPool this trainer uses
};

// Checks made without a trainer, whose workspace may not fit next to another's
// (the page replaces a session's trainer only once the new one is sure to work):
// whether a trainer of `spec` would take `data` with these limits and data
// configuration (share_data's checks)...
Status check_share(const NetSpec& spec, const SharedData& data, uint32_t train_limit, uint32_t test_limit,
                   const DataConfig& config);
// ... and whether a trainer of the checkpoint's own model, given that data, would
// then take the checkpoint (load_checkpoint's checks).
Status check_resume(const uint8_t* bytes, size_t n, const SharedData& data, uint32_t train_limit,
                    uint32_t test_limit, const DataConfig& config);

}  // namespace wt
