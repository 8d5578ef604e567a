// Conv2d ops, fastest first (plan.cc picks one by pattern and shape):
//  - ConvReluPool: a stride-1 conv followed by ReLU and a 2x2/2 max-pool (the seed's
//    pattern). Winograd with ReLU+pool taken from the output transform where it
//    applies; the backward from the pooled gradient where it fits (layers.h).
//  - ConvS1: any other stride-1 conv with equal padding on both axes: the shifted
//    GEMM (no im2col), Winograd for 3x3 pad 1.
//  - ConvIm2col: anything else (strides, rectangular padding): im2col + GEMM.
#include <algorithm>
#include <cstring>

#include "core/layers.h"
#include "core/ops.h"
#include "kernels/kernels.h"

namespace wt {
namespace {

ConvShape conv_shape(const Layer& l) {
  ConvShape s{l.in.c, l.in.h, l.in.w, l.out, l.kh, l.kw, l.sh, l.ph};
  if (l.sw != l.sh || l.pw != l.ph) s.stride_w = l.sw, s.pad_w = l.pw;
  return s;
}

// Parameter offsets of a Conv2d or Linear layer; a layer without bias gets a zero
// bias to read and a scratch gradient to write.
struct WeightBias {
  size_t w = 0, b = 0;
  bool has_bias = false;
};
WeightBias find_params(const NetSpec& spec, int layer) {
  WeightBias r;
  for (const ParamSpec& p : spec.params) {
    if (p.layer != layer) continue;
    if (p.name.size() >= 7 && p.name.compare(p.name.size() - 7, 7, ".weight") == 0) r.w = p.offset;
    else r.b = p.offset, r.has_bias = true;
  }
  return r;
}

class ConvBase : public Op {
 public:
  ConvBase(const NetSpec& spec, int layer, bool first)
      : s_(conv_shape(spec.layers[layer])), first_(first), bias_cancelled_(bias_cancelled_by_batchnorm(spec, layer)) {
    pw_ = find_params(spec, layer);
    zeros_.assign(s_.OC, 0.f);
  }

 protected:
  const float* w(const OpContext& c) const { return c.params + pw_.w; }
  const float* b(const OpContext& c) const { return pw_.has_bias ? c.params + pw_.b : zeros_.data(); }
  float* dw(const OpContext& c) const { return c.grads + pw_.w; }
  // Without a bias the bias gradient goes to scratch (the caller's `junk`).
  float* db(const OpContext& c, float* junk) const { return pw_.has_bias ? c.grads + pw_.b : junk; }
  // Null where no one reads the bias gradient: in train mode before a BatchNorm (the
  // trainer writes its exact zero).
  float* db_needed(const OpContext& c, float* junk) const {
    return c.train && bias_cancelled_ ? nullptr : db(c, junk);
  }
  ConvShape s_;
  bool first_;  // the network's first op: no input gradient
  bool bias_cancelled_;
  WeightBias pw_;
  std::vector<float> zeros_;
};

// ---------------------------------------------------------------- im2col + GEMM
class ConvIm2col : public ConvBase {
 public:
  using ConvBase::ConvBase;
  size_t scratch_floats(int) const override { return 2 * (size_t)s_.K() * s_.P() + s_.OC; }
  void forward(const OpContext& c, const OpIO& io, int n) const override {
    conv2d_forward(io.y, io.scratch, io.x, w(c), b(c), n, s_);
  }
  void backward(const OpContext& c, const OpIO& io, int n) const override {
    float* col = io.scratch;
    float* dcol = col + (size_t)s_.K() * s_.P();
    float* junk = dcol + (size_t)s_.K() * s_.P();
    conv2d_backward(io.dx, dw(c), db(c, junk), col, dcol, io.dy, io.x, w(c), n, s_);
  }
};

// ---------------------------------------------------------------- stride 1
// The stride-1 convs' base: Winograd's transformed weights, made once per batch
// (layers.h: conv_s1_prepare) for every call to read.
class ConvS1Base : public ConvBase {
 public:
  using ConvBase::ConvBase;
  size_t prepared_floats() const override { return conv_s1_prepared_floats(s_, pooled_grad()); }
  void prepare(const float* params, float* prepared) const override {
    conv_s1_prepare(prepared, params + pw_.w, s_, pooled_grad());
  }

 protected:
  // Whether the backward starts from the pooled gradient (and wants the weights
  // channels last).
  virtual bool pooled_grad() const { return false; }
};

// Outputs of the shifted GEMM have rows of Wp floats (layers.h); this op's output
// is dense, so it goes through scratch, unless Winograd applies: its transforms read
// and write dense rows themselves. The padded input is kept for backward.
class ConvS1 : public ConvS1Base {
 public:
  using ConvS1Base::ConvS1Base;
  size_t saved_floats() const override { return conv_s1_pad_size(s_); }
  size_t scratch_floats(int n) const override {
    return rows_floats(n) + s_.OC + std::max(conv_s1_forward_scratch(s_), conv_s1_backward_scratch(s_));
  }
  void forward(const OpContext& c, const OpIO& io, int n) const override {
    float* rows = io.scratch;
    float* sc = rows + rows_floats(n) + s_.OC;
    conv2d_s1_forward(dense() ? io.y : rows, io.saved, sc, io.x, w(c), b(c), n, s_, io.prepared, dense());
    if (!dense())
      copy_rows_f32(io.y, s_.OW(), rows, conv_s1_row(s_), (size_t)n * s_.OC * s_.OH(), s_.OW(), false);
  }
  void backward(const OpContext& c, const OpIO& io, int n) const override {
    // dout with padded rows and zero junk columns, as conv2d_s1_backward wants (or dense).
    float* rows = io.scratch;
    float* junk = rows + rows_floats(n);
    float* sc = junk + s_.OC;
    if (!dense())
      copy_rows_f32(rows, conv_s1_row(s_), io.dy, s_.OW(), (size_t)n * s_.OC * s_.OH(), s_.OW(), true);
    conv2d_s1_backward(first_ ? nullptr : io.dx, dw(c), db_needed(c, junk), io.saved, sc,
                       dense() ? io.dy : rows, w(c), n, s_, nullptr, io.prepared, dense());
  }

 private:
  bool dense() const { return conv_winograd_applies(s_); }
  // The output (or its gradient) with padded rows, unless dense.
  size_t rows_floats(int n) const { return dense() ? 0 : (size_t)n * s_.OC * s_.OH() * conv_s1_row(s_); }
};

// ---------------------------------------------------------------- conv + ReLU + 2x2 max-pool
// Output: the pooled values; saved: the padded input and each window's index.
class ConvReluPool : public ConvS1Base {
 public:
  using ConvS1Base::ConvS1Base;
  size_t pooled() const { return (size_t)s_.OC * (s_.OH() / 2) * (s_.OW() / 2); }
  size_t conv_rows(int n) const { return (size_t)n * s_.OC * s_.OH() * conv_s1_row(s_); }
  bool fused() const { return conv_relu_pool_fused(s_); }
  bool pooled_bwd() const { return conv_pooled_backward_fits(s_); }
  bool pooled_grad() const override { return pooled_bwd(); }
  size_t saved_floats() const override { return conv_s1_pad_size(s_); }
  size_t saved_ints() const override { return pooled(); }
  size_t scratch_floats(int n) const override {
    // The conv's output rows (forward, unless fused) or its gradient (backward,
    // unless from the pooled gradient), then the conv's own scratch.
    const size_t rows = (fused() && pooled_bwd()) ? 0 : conv_rows(n);
    return rows + s_.OC + std::max(conv_s1_forward_scratch(s_), conv_s1_backward_scratch(s_));
  }
  void forward(const OpContext& c, const OpIO& io, int n) const override {
    const size_t rows = (fused() && pooled_bwd()) ? 0 : conv_rows(n);
    float* sc = io.scratch + rows + s_.OC;
    if (fused()) {
      conv2d_s1_relu_pool_forward(io.y, io.saved_i, io.saved, sc, io.x, w(c), b(c), n, s_, io.prepared);
    } else {
      conv2d_s1_forward(io.scratch, io.saved, sc, io.x, w(c), b(c), n, s_, io.prepared);
      relu_maxpool2x2_forward_f32(io.y, io.saved_i, io.scratch, (size_t)n * s_.OC, s_.OH(), s_.OW(),
                                  conv_s1_row(s_));
    }
  }
  void backward(const OpContext& c, const OpIO& io, int n) const override {
    const size_t rows = (fused() && pooled_bwd()) ? 0 : conv_rows(n);
    float* junk = io.scratch + rows;
    float* sc = junk + s_.OC;
    float* dinp = first_ ? nullptr : io.dx;
    const PooledGrad pg{io.dy, io.saved_i};
    if (pooled_bwd()) {
      // The pool's backward folded into the conv's (layers.h, PooledGrad).
      conv2d_s1_backward(dinp, dw(c), db(c, junk), io.saved, sc, nullptr, w(c), n, s_, &pg, io.prepared);
      return;
    }
    relu_maxpool2x2_backward_f32(io.scratch, io.dy, io.saved_i, (size_t)n * s_.OC, s_.OH(), s_.OW(),
                                 conv_s1_row(s_));
    conv2d_s1_backward(dinp, dw(c), db(c, junk), io.saved, sc, io.scratch, w(c), n, s_, nullptr, io.prepared);
  }
};

}  // namespace

bool conv_takes_s1(const Layer& l) { return l.sh == 1 && l.sw == 1 && l.ph == l.pw; }

std::unique_ptr<Op> make_conv(const NetSpec& spec, int layer, bool relu_pool_fused, bool first) {
  const Layer& l = spec.layers[layer];
  if (relu_pool_fused) return std::make_unique<ConvReluPool>(spec, layer, first);
  if (conv_takes_s1(l)) return std::make_unique<ConvS1>(spec, layer, first);
  return std::make_unique<ConvIm2col>(spec, layer, first);
}

}  // namespace wt
