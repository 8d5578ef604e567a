// The network: a plan of ops (plan.h) over a spec, the workspace it needs, and the
// way a batch runs through it.
//
// A batch is cut into fixed chunks of kChunk images. Each chunk's gradients are
// computed on their own and the chunks are summed in chunk order, so the result
// never depends on which thread computed which chunk. Inside a chunk, runs of
// per-image ops go group by group (kGroup images through all of them, so each op
// reads what the previous one just wrote while it is in cache).
//
// BatchNorm in train mode needs the statistics of the whole batch, so a network
// with BatchNorm runs a training batch in phases: the chunks run in parallel up to
// the next BatchNorm, its partial sums are reduced in chunk order, and the chunks
// go on. Such a batch keeps one workspace per chunk (its activations must outlive a
// phase); a network without BatchNorm runs a chunk start to end on one workspace
// per worker.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/spec.h"

namespace wt {

class ThreadPool;

// Activations, saved state and scratch of up to `cap` images; sized once, so a
// training step allocates nothing.
struct Workspace {
  int cap = 0;
  std::vector<float> act, grad, saved, scratch, probs;
  std::vector<int32_t> saved_i;
  std::vector<uint8_t> labels;
};

// One batch for Network::run_batch. The images come from `load`, which fills the
// input rows and labels of images [begin, begin + n) of the batch.
struct BatchJob {
  int images = 0;                 // B
  bool train = true;              // train mode: BatchNorm batch statistics, Dropout
  bool backward = true;           // compute gradients (false: forward only)
  uint64_t seed = 0, step = 0;    // Dropout's masks
  float scale = 1.f;              // gradient scale: 1 / B for the batch mean
  void (*load)(void* user, int begin, int n, float* x, uint8_t* labels) = nullptr;
  void* user = nullptr;
  // Outputs, per chunk c (sized by the caller to chunks(B)): loss sums, correct
  // predictions, and gradients (each chunks's own buffer; summed by the caller).
  double* loss = nullptr;
  int* correct = nullptr;
  float** grads = nullptr;
  float* logits = nullptr;  // optional: B * classes, in batch order
};

class Network {
 public:
  explicit Network(const NetSpec& spec);
  const NetSpec& spec() const { return spec_; }
  const std::vector<std::unique_ptr<Op>>& ops() const { return ops_; }
  // The plan in one line per op, e.g. "conv1: Conv2d+ReLU+MaxPool2d (Winograd, fused)".
  std::string describe() const;
  bool has_batch_stats() const { return !bn_ops_.empty(); }

  void reserve(Workspace& ws, int cap) const;
  static int chunks(int images) { return (images + kChunk - 1) / kChunk; }

  // Runs a batch: forward (and backward) of every chunk, on `threads` workers.
  // ws: one workspace per worker (networks without BatchNorm) or per chunk (with),
  // see workspaces_needed. running: BatchNorm's running statistics (updated in
  // train mode).
  void run_batch(const BatchJob& job, std::vector<Workspace>& ws, int threads,
                 const float* params, float* running) const;
  int workspaces_needed(int images, int threads, bool train) const;

  // Parameter ranges (offset, size) whose gradient is exactly zero in train mode: the
  // bias of a Conv2d or Linear that feeds a BatchNorm directly (BatchNorm subtracts
  // the batch mean, so the bias cancels). Computed, it is float noise (~1e-7) that
  // Adam's first step, g / (|g| + eps), would turn into moves of ~lr; the trainer
  // writes the exact zero instead.
  const std::vector<std::pair<size_t, size_t>>& zero_grad_ranges() const { return zero_grad_; }

  // PyTorch's default initialization (Conv2d, Linear: U(+-1/sqrt(fan_in)) from the
  // seeded stream, in parameter order; BatchNorm: weight 1, bias 0) and the
  // initial running statistics.
  void init(float* params, float* buffers, uint64_t seed) const;

 private:
  struct Region {
    size_t act = 0, grad = 0, size = 0;  // offsets (per image: size floats)
    bool has_grad = false;
  };
  OpIO io(const Workspace& ws, int k, int n0) const;
  void forward(const OpContext& c, Workspace& ws, int n, int a, int b) const;
  void backward(const OpContext& c, Workspace& ws, int n, int a, int b) const;
  void chunk_loss(Workspace& ws, int n, float scale, bool backward, double* loss, int* correct) const;

  NetSpec spec_;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<Region> regions_;  // ops_.size() + 1: the input, then each op's output
  std::vector<size_t> saved_off_, saved_i_off_;  // per op, per image
  std::vector<size_t> prepared_off_;             // per op, into prepared_
  mutable std::vector<float> prepared_;  // Op::prepare's values for the current batch
  size_t act_per_image_ = 0, grad_per_image_ = 0, saved_per_image_ = 0, saved_i_per_image_ = 0;
  std::vector<int> bn_ops_;  // ops needing batch statistics in train mode
  std::vector<std::pair<size_t, size_t>> zero_grad_;
  mutable std::vector<BatchNormBatch> bn_;  // per op (only BatchNorm's are used)
};

// Builds the ops for a spec (plan.cc): the fused and fast paths by pattern and shape.
std::vector<std::unique_ptr<Op>> make_plan(const NetSpec& spec);

// Seconds per stage, accumulated while a profile is set (the benchmark's
// per-layer split): "<op> forward", "<op> backward", "data (u8->f32)",
// "softmax xent", "grad reduce", "adam".
struct LayerProfile {
  std::vector<std::string> names;
  std::vector<double> seconds;
  void add(const char* name, double s);
};
void set_layer_profile(LayerProfile* p);  // nullptr (the default) turns it off
extern LayerProfile* g_profile;

struct ProfileScope {
  const char* name;
  std::chrono::steady_clock::time_point t0;
  explicit ProfileScope(const char* n) : name(n) {
    if (g_profile) t0 = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (g_profile)
      g_profile->add(name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
};

}  // namespace wt
