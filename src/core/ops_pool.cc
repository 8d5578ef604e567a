// Pooling ops: MaxPool2d and AvgPool2d with any kernel, stride and padding,
// AdaptiveAvgPool2d(1), and ReLU followed by a 2x2/2 max-pool fused into one pass
// (kernels.h: relu_maxpool2x2_*; plan.cc takes it where the sizes are even).
//
// PyTorch's semantics: max-pool pads with -inf and routes the gradient to the first
// maximum in scan order (a NaN wins); avg-pool pads with zeros that count in the
// divisor (count_include_pad=True), so every window divides by kh * kw.
#include <cmath>
#include <cstring>

#include "core/ops.h"
#include "kernels/kernels.h"

namespace wt {
namespace {

struct Window {
  int H, W, OH, OW, kh, kw, sh, sw, ph, pw;
  explicit Window(const Layer& l)
      : H(l.in.h), W(l.in.w), OH(l.out_shape.h), OW(l.out_shape.w), kh(l.kh), kw(l.kw),
        sh(l.sh), sw(l.sw), ph(l.ph), pw(l.pw) {}
};

class MaxPoolOp : public Op {
 public:
  explicit MaxPoolOp(const Layer& l) : g_(l) {}
  size_t saved_ints() const override { return out.numel(); }
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const Window& g = g_;
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      const float* x = io.x + p * g.H * g.W;
      float* y = io.y + p * g.OH * g.OW;
      int32_t* a = io.saved_i + p * g.OH * g.OW;
      for (int oh = 0; oh < g.OH; ++oh)
        for (int ow = 0; ow < g.OW; ++ow) {
          int best = -1;
          float bv = -INFINITY;
          for (int i = 0; i < g.kh; ++i) {
            const int h = oh * g.sh - g.ph + i;
            if (h < 0 || h >= g.H) continue;
            for (int j = 0; j < g.kw; ++j) {
              const int w = ow * g.sw - g.pw + j;
              if (w < 0 || w >= g.W) continue;
              const float v = x[h * g.W + w];
              if (best < 0 || v > bv || (std::isnan(v) && !std::isnan(bv))) bv = v, best = h * g.W + w;
            }
          }
          y[oh * g.OW + ow] = bv;  // padding <= kernel / 2: every window sees the input
          a[oh * g.OW + ow] = best;
        }
    }
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const Window& g = g_;
    std::memset(io.dx, 0, sizeof(float) * n * in.numel());
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      float* dx = io.dx + p * g.H * g.W;
      const float* dy = io.dy + p * g.OH * g.OW;
      const int32_t* a = io.saved_i + p * g.OH * g.OW;
      for (int i = 0; i < g.OH * g.OW; ++i) dx[a[i]] += dy[i];
    }
  }

 private:
  Window g_;
};

class AvgPoolOp : public Op {
 public:
  explicit AvgPoolOp(const Layer& l) : g_(l) {}
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const Window& g = g_;
    const float div = (float)(g.kh * g.kw);
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      const float* x = io.x + p * g.H * g.W;
      float* y = io.y + p * g.OH * g.OW;
      for (int oh = 0; oh < g.OH; ++oh)
        for (int ow = 0; ow < g.OW; ++ow) {
          float s = 0.f;
          for (int i = 0; i < g.kh; ++i) {
            const int h = oh * g.sh - g.ph + i;
            if (h < 0 || h >= g.H) continue;
            for (int j = 0; j < g.kw; ++j) {
              const int w = ow * g.sw - g.pw + j;
              if (w >= 0 && w < g.W) s += x[h * g.W + w];
            }
          }
          y[oh * g.OW + ow] = s / div;
        }
    }
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const Window& g = g_;
    const float div = (float)(g.kh * g.kw);
    std::memset(io.dx, 0, sizeof(float) * n * in.numel());
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      float* dx = io.dx + p * g.H * g.W;
      const float* dy = io.dy + p * g.OH * g.OW;
      for (int oh = 0; oh < g.OH; ++oh)
        for (int ow = 0; ow < g.OW; ++ow) {
          const float d = dy[oh * g.OW + ow] / div;
          for (int i = 0; i < g.kh; ++i) {
            const int h = oh * g.sh - g.ph + i;
            if (h < 0 || h >= g.H) continue;
            for (int j = 0; j < g.kw; ++j) {
              const int w = ow * g.sw - g.pw + j;
              if (w >= 0 && w < g.W) dx[h * g.W + w] += d;
            }
          }
        }
    }
  }

 private:
  Window g_;
};

class GlobalAvgPoolOp : public Op {
 public:
  void forward(const OpContext&, const OpIO& io, int n) const override {
    const size_t P = (size_t)in.h * in.w;
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      float s = 0.f;
      for (size_t i = 0; i < P; ++i) s += io.x[p * P + i];
      io.y[p] = s / (float)P;
    }
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const size_t P = (size_t)in.h * in.w;
    for (size_t p = 0; p < (size_t)n * in.c; ++p) {
      const float d = io.dy[p] / (float)P;
      for (size_t i = 0; i < P; ++i) io.dx[p * P + i] = d;
    }
  }
};

// ReLU then MaxPool2d(2) on even sizes: one pass (exactly relu-then-pool, kernels.h).
class ReluMaxPool2x2Op : public Op {
 public:
  size_t saved_ints() const override { return out.numel(); }
  void forward(const OpContext&, const OpIO& io, int n) const override {
    relu_maxpool2x2_forward_f32(io.y, io.saved_i, io.x, (size_t)n * in.c, in.h, in.w);
  }
  void backward(const OpContext&, const OpIO& io, int n) const override {
    if (io.dx) relu_maxpool2x2_backward_f32(io.dx, io.dy, io.saved_i, (size_t)n * in.c, in.h, in.w);
  }
};

}  // namespace

std::unique_ptr<Op> make_pool(const NetSpec& spec, int layer) {
  const Layer& l = spec.layers[layer];
  switch (l.kind) {
    case LayerKind::MaxPool2d: return std::make_unique<MaxPoolOp>(l);
    case LayerKind::AvgPool2d: return std::make_unique<AvgPoolOp>(l);
    default: return std::make_unique<GlobalAvgPoolOp>();
  }
}

std::unique_ptr<Op> make_relu_maxpool(const NetSpec&, int) { return std::make_unique<ReluMaxPool2x2Op>(); }

}  // namespace wt
