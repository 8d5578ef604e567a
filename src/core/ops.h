// Ops: the forward/backward pairs a network runs (llm.c's layer convention), one
// per layer of the spec or per fused pattern of layers (plan.h chooses them).
//
// Activations are dense row-major [n, C, H, W] (or [n, F]) per image; an op reads
// its input x and writes its output y. Backward passes ACCUMULATE (+=) parameter
// gradients and WRITE (=) the input gradient dx (skipped when dx is null: the first
// op needs none).
//
// An op reports the memory it needs so a workspace is sized once from the plan: per
// image state saved for backward (floats and ints) and scratch for one call. A
// training step then allocates nothing, whatever the spec.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/spec.h"

namespace wt {

constexpr int kChunk = 16;  // images per gradient chunk (fixed: part of the numerics)
constexpr int kGroup = 4;   // images per call of a per-image op (plan.h, Network)

// What one call of an op sees (n images, a group or a chunk).
struct OpIO {
  const float* x = nullptr;  // input  [n, in.numel()]
  float* y = nullptr;        // output [n, out.numel()]
  float* saved = nullptr;    // n * saved_floats(), kept from forward to backward
  int32_t* saved_i = nullptr;  // n * saved_ints()
  float* scratch = nullptr;  // scratch_floats(n) floats, free between calls
  const float* prepared = nullptr;  // prepared_floats(): made by prepare() for this batch
  const float* dy = nullptr;  // backward: gradient of the output
  float* dx = nullptr;        // backward: gradient of the input (null: not needed)
};

// BatchNorm's batch-wide values for the current batch (train mode): the statistics
// of the whole batch, not of a chunk, reduced in a fixed order by the Network.
struct BatchNormBatch {
  std::vector<float> mean, invstd;     // forward
  std::vector<double> sum_dy, sum_dy_xhat;  // backward, over the whole batch
  std::vector<double> part;  // per chunk partial sums: [chunks][2][C]
  int count = 0;             // values per channel in the batch (N * H * W)
};

struct OpContext {
  const float* params = nullptr;  // the whole flat parameter buffer
  float* grads = nullptr;         // the whole flat gradient buffer (this chunk's)
  const float* buffers = nullptr; // BatchNorm running statistics
  bool train = true;
  uint64_t seed = 0, step = 0;  // Dropout's masks: (seed, step, layer, position)
  int position = 0;             // batch position of image 0 of this call
  BatchNormBatch* bn = nullptr; // indexed by op: the op's batch statistics
};

class Op {
 public:
  virtual ~Op() = default;
  Shape in, out;
  int first_layer = 0, last_layer = 0;  // the spec layers this op computes
  std::string label;                     // for profiles: "conv1", "3 Linear"
  std::string fwd_label, bwd_label;      // label + " forward" / " backward"

  // Runs on any subset of a chunk's images independently (in groups of kGroup);
  // otherwise on the whole chunk at once (Linear: one GEMM).
  virtual bool per_image() const { return true; }
  // Output is the input's memory (Flatten): no copy, no buffer.
  virtual bool aliases_input() const { return false; }
  // Needs the whole batch's statistics in train mode (BatchNorm): the network runs
  // it between phases (network.h).
  virtual bool batch_stats() const { return false; }
  virtual size_t saved_floats() const { return 0; }  // per image
  virtual size_t saved_ints() const { return 0; }    // per image
  virtual size_t scratch_floats(int n) const { return 0; }  // one call on n images
  // Values that depend on the parameters alone (Winograd's transformed weights): made
  // once per batch, before any forward or backward call, which then read them.
  virtual size_t prepared_floats() const { return 0; }
  virtual void prepare(const float* params, float* prepared) const {}
  virtual void forward(const OpContext& c, const OpIO& io, int n) const = 0;
  virtual void backward(const OpContext& c, const OpIO& io, int n) const = 0;
};

// BatchNorm's extra steps in train mode (the network calls them around forward
// and backward; forward/backward themselves then read the batch values).
class BatchNormOp : public Op {
 public:
  int index = 0;  // this op's index in the plan (its BatchNormBatch)
  virtual void partial_stats(const OpContext& c, const float* x, int n, double* sums) const = 0;
  virtual void finish_stats(BatchNormBatch& b, const double* sums, float* running) const = 0;
  virtual void partial_grad(const OpContext& c, const OpIO& io, int n, double* sums) const = 0;
  virtual void finish_grad(BatchNormBatch& b, const double* sums, float* grads) const = 0;
  int channels() const { return in.c; }
};

// Whether layer `layer` is a Conv2d or Linear that feeds a BatchNorm directly: in train
// mode its bias gradient is then exactly zero (BatchNorm subtracts the batch mean, so
// the bias cancels). The trainer writes that zero (Network::zero_grad_ranges), and
// the op need not compute the float noise it would otherwise be (plan.cc).
bool bias_cancelled_by_batchnorm(const NetSpec& s, int layer);

// Factories (one file per family).
std::unique_ptr<Op> make_conv(const NetSpec& s, int layer, bool relu_pool_fused, bool first);
std::unique_ptr<Op> make_linear(const NetSpec& s, int layer);
std::unique_ptr<Op> make_pool(const NetSpec& s, int layer);
std::unique_ptr<Op> make_relu_maxpool(const NetSpec& s, int relu_layer);
std::unique_ptr<Op> make_pointwise(const NetSpec& s, int layer);  // activations, Dropout, Flatten
// relu_pool: BatchNorm2d -> ReLU -> MaxPool2d(2) as one op (plan.cc).
std::unique_ptr<Op> make_batchnorm(const NetSpec& s, int layer, bool relu_pool);

}  // namespace wt
