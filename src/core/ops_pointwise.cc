// Element-wise ops: ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, and Flatten (which
// only renames the shape: its output is its input's memory).
#include <cmath>
#include <cstring>

#include "core/ops.h"
#include "core/rng.h"
#include "kernels/kernels.h"

namespace wt {
namespace {

class ReluOp : public Op {
 public:
  void forward(const OpContext&, const OpIO& io, int n) const override {
    relu_forward_f32(io.y, io.x, (size_t)n * in.numel());
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (io.dx) relu_backward_f32(io.dx, io.dy, io.y, (size_t)n * in.numel());
  }
};

class LeakyReluOp : public Op {
 public:
  explicit LeakyReluOp(float slope) : slope_(slope) {}
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.y[i] = io.x[i] > 0.f ? io.x[i] : io.x[i] * slope_;
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.dx[i] = io.x[i] > 0.f ? io.dy[i] : io.dy[i] * slope_;
  }

 private:
  float slope_;
};

class TanhOp : public Op {
 public:
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.y[i] = std::tanh(io.x[i]);
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.dx[i] = io.dy[i] * (1.f - io.y[i] * io.y[i]);
  }
};

class SigmoidOp : public Op {
 public:
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.y[i] = 1.f / (1.f + std::exp(-io.x[i]));
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.dx[i] = io.dy[i] * (1.f - io.y[i]) * io.y[i];
  }
};

// Train mode: y = x * mask with the mask of (seed, step, layer, position) (rng.h),
// kept for backward; eval mode: y = x.
class DropoutOp : public Op {
 public:
  DropoutOp(int layer, double p)
      : layer_(layer), p_((float)p), scale_((float)(1.0 / (1.0 - p))) {}
  size_t saved_floats() const override { return in.numel(); }
  void forward(const OpContext& c, const OpIO& io, int n) const override {
    const size_t m = in.numel();
    if (!c.train) {
      std::memcpy(io.y, io.x, sizeof(float) * n * m);
      return;
    }
    for (int i = 0; i < n; ++i) {
      SplitMix64 rng = dropout_stream(c.seed, c.step, (uint64_t)layer_, (uint64_t)(c.position + i));
      float* mask = io.saved + (size_t)i * m;
      for (size_t j = 0; j < m; ++j) mask[j] = rng.uniform01() >= p_ ? scale_ : 0.f;
      for (size_t j = 0; j < m; ++j) io.y[(size_t)i * m + j] = io.x[(size_t)i * m + j] * mask[j];
    }
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const size_t m = (size_t)n * in.numel();
    for (size_t i = 0; i < m; ++i) io.dx[i] = io.dy[i] * io.saved[i];
  }

 private:
  int layer_;
  float p_, scale_;
};

class FlattenOp : public Op {
 public:
  bool aliases_input() const override { return true; }
  void forward(const OpContext&, const OpIO&, int) const override {}
  void backward(const OpContext&, const OpIO&, int) const override {}
};

}  // namespace

std::unique_ptr<Op> make_pointwise(const NetSpec& spec, int layer) {
  const Layer& l = spec.layers[layer];
  switch (l.kind) {
    case LayerKind::ReLU: return std::make_unique<ReluOp>();
    case LayerKind::LeakyReLU: return std::make_unique<LeakyReluOp>((float)l.negative_slope);
    case LayerKind::Tanh: return std::make_unique<TanhOp>();
    case LayerKind::Sigmoid: return std::make_unique<SigmoidOp>();
    case LayerKind::Dropout: return std::make_unique<DropoutOp>(layer, l.p);
    default: return std::make_unique<FlattenOp>();
  }
}

}  // namespace wt
