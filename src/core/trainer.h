// The training loop's state machine: data, parameters, Adam, position in the
// data order, history, and the checkpoint that holds all of it.
//
// Determinism: a batch is split into fixed chunks of kChunk images whose
// gradients are computed separately and summed in chunk order, so the result
// does not depend on how many workers compute the chunks. The data order of an
// epoch is a function of (seed, epoch) only. Together these make a resumed run
// bit-identical to one that never stopped.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/idx.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/status.h"

namespace wt {

constexpr int kChunk = 16;  // images per gradient chunk (fixed: part of the numerics)
extern const char kProducer[];
constexpr int kFormatVersion = 1;

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
  uint64_t step = 0;        // Adam steps taken
  uint32_t epoch = 0;       // epochs completed
  uint32_t epoch_step = 0;  // steps into the current epoch
  std::vector<float> step_loss, step_accuracy;  // per optimizer step (train batch)
  std::vector<float> epoch_loss, epoch_test_loss, epoch_test_accuracy;
  std::string train_fingerprint;  // of the data it was trained on ("" = unknown)
  uint32_t train_count = 0;
};

struct StepsResult {
  Status status;
  int steps = 0;             // steps taken by this call
  bool epoch_ended = false;  // this call finished an epoch (and stopped there)
  float epoch_loss = 0.f;    // mean train loss of that epoch
};

class Trainer {
 public:
  explicit Trainer(const TrainerConfig& config);

  // Takes the four IDX files (bytes); limits > 0 keep only the first N items.
  Status set_data(std::string train_images, std::string train_labels, std::string test_images,
                  std::string test_labels, uint32_t train_limit, uint32_t test_limit);
  bool has_data() const { return train_.count > 0; }

  // Up to n optimizer steps, stopping at an epoch end. Step losses are appended to
  // `losses` if given. A non-finite loss stops before that step's update.
  StepsResult train_steps(int n, std::vector<float>* losses);

  // Sums of loss and correct predictions over test images [begin, begin + count).
  void evaluate_range(uint32_t begin, uint32_t count, double* loss_sum, uint32_t* correct);
  // Stores the test result of the last completed epoch in the history.
  void record_epoch_eval(float test_loss, float test_accuracy);
  // images: n * 784 floats in [0, 1]; writes n labels and n * 10 probabilities.
  void predict(const float* images, int n, uint8_t* labels, float* probs);

  std::string save_checkpoint() const;
  // Validates the whole file against this model and data before changing anything.
  Status load_checkpoint(const uint8_t* bytes, size_t n);

  // For the reference tests: forward + backward of explicit inputs with the current
  // parameters; gradients (mean over n) land in grads(); returns the mean loss.
  float forward_backward(const float* images, const uint8_t* labels, int n, float* logits_out);
  // One Adam update from grads() (step count += 1).
  void adam_step();

  const ModelSpec& spec() const { return spec_; }
  const TrainState& state() const { return st_; }
  TrainState& mutable_state() { return st_; }
  std::vector<float>& grads() { return grads_; }
  uint32_t train_count() const { return train_.count; }
  uint32_t test_count() const { return test_.count; }
  uint32_t steps_per_epoch() const;
  int threads() const { return threads_; }
  const ImageSet& test_set() const { return test_; }

 private:
  void size_buffers();
  void ensure_permutation();
  double batch_forward_backward(const uint32_t* indices, int B);

  ModelSpec spec_;
  TrainState st_;
  ImageSet train_, test_;
  std::string data_fingerprint_;
  std::vector<uint32_t> perm_;
  int64_t perm_epoch_ = -1;
  std::vector<float> grads_;
  std::vector<std::vector<float>> chunk_grads_;
  std::vector<uint8_t> chunk_labels_;
  std::vector<double> chunk_loss_;
  std::vector<int> chunk_correct_;
  int batch_correct_ = 0;  // of the last batch_forward_backward
  std::vector<Workspace> ws_;  // one per worker thread
  int threads_ = 1;  // participants of the shared ThreadPool this trainer uses
};

}  // namespace wt
