// The seed's CNN (shared/seed): conv 1->8 3x3 pad 1 - ReLU - maxpool 2 -
// conv 8->16 3x3 pad 1 - ReLU - maxpool 2 - flatten (C,H,W order) - linear 784->10.
//
// Parameters live in one float buffer carved by a size table (llm.c); gradients
// and Adam's two moments mirror the same layout, so the optimizer is one flat loop.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/layers.h"

namespace wt {

struct ParamSpec {
  std::string name;          // PyTorch state_dict name, e.g. "conv1.weight"
  std::vector<int64_t> shape;
  size_t offset, size;       // into the flat parameter buffer
  int fan_in;                // for PyTorch's default init bound 1/sqrt(fan_in)
};

struct ModelSpec {
  int in_c = 1, in_h = 28, in_w = 28, classes = 10;
  ConvShape conv1{}, conv2{};
  int pool = 2;  // kernel and stride of both max-pools
  int p1_c = 0, p1_h = 0, p1_w = 0, p2_c = 0, p2_h = 0, p2_w = 0, flat = 0;
  std::vector<ParamSpec> params;
  size_t num_params = 0;
  std::string arch;  // a one-line description stored in checkpoints

  static ModelSpec SeedCnn();
  const ParamSpec* find(const std::string& name) const;
};

// Activations and scratch for up to `cap` images of one worker; sized once, so a
// training step does no heap allocation.
struct Workspace {
  int cap = 0;
  // Forward values saved for backward: input, conv outputs (pre-ReLU), pool outputs.
  std::vector<float> x, c1, p1, c2, p2, logits, probs;
  std::vector<int32_t> i1, i2;  // window index of each pool output (4 = cut by ReLU)
  std::vector<float> dlogits, dp2, dc2, dp1, dc1;
  std::vector<float> pad1, pad2;  // padded conv inputs (zero borders), see layers.h
  std::vector<float> conv_scratch;  // both convolutions, forward and backward
  void reserve(const ModelSpec& m, int cap);
};

// PyTorch's default init for Conv2d and Linear (kaiming_uniform_(a=sqrt(5)) for
// weights, U(+-1/sqrt(fan_in)) for biases): both are U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void init_params(const ModelSpec& m, float* params, uint64_t seed);

// Seconds spent per layer, accumulated while set (the benchmark's per-layer split).
struct LayerProfile {
  static constexpr int kStages = 11;
  static const char* const kNames[kStages];
  double seconds[kStages] = {};
};
void set_layer_profile(LayerProfile* p);  // nullptr (the default) turns it off
extern LayerProfile* g_profile;

// Adds the time of its scope to stage `stage` of the active profile, if any.
struct ProfileScope {
  int stage;
  std::chrono::steady_clock::time_point t0;
  explicit ProfileScope(int s) : stage(s) {
    if (g_profile) t0 = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (g_profile)
      g_profile->seconds[stage] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// Forward of ws.x (N images, already scaled to [0,1]) into ws.logits.
void model_forward(const ModelSpec& m, Workspace& ws, const float* params, int N);

// Forward + backward of N images with their labels. Gradients are ACCUMULATED
// into grads with the mean-over-batch factor `scale` = 1 / batch size. Returns the
// sum of the N per-sample losses.
double model_forward_backward(const ModelSpec& m, Workspace& ws, const float* params,
                              float* grads, const uint8_t* labels, int N, float scale);

}  // namespace wt
