// BatchNorm2d / BatchNorm1d with PyTorch's semantics (torch.nn.functional.batch_norm
// on CPU): train mode normalizes with the statistics of the WHOLE batch (biased
// variance) and moves the running statistics by `momentum` using the unbiased
// variance; eval mode uses the running statistics.
//
// The batch is spread over chunks (and threads), so train mode runs in steps the
// Network sequences (network.h): every chunk's partial sums (double, in a fixed
// order), their reduction in chunk order (finish_*), then the element-wise pass.
// The results therefore never depend on the thread count.
#include <cmath>
#include <cstring>

#include "core/ops.h"
#include "kernels/kernels.h"

namespace wt {
namespace {

// With `relu_pool`, BatchNorm2d -> ReLU -> MaxPool2d(2) as one op: its output is the
// pooled one, and neither BatchNorm's dense output nor the pool's dense gradient is
// written. A plane at a time, they are made in scratch (in L1), then pooled or summed
// exactly as the separate ops do it (the input gradient straight from the pooled one:
// bn_backward_pooled_f32), so the numbers are the same bit for bit; only the 2 passes
// over the batch's memory that BatchNorm's statistics force remain.
class BatchNorm : public BatchNormOp {
 public:
  BatchNorm(const NetSpec& spec, int layer, bool relu_pool) : pool_(relu_pool) {
    const Layer& l = spec.layers[layer];
    C_ = l.in.c;
    H_ = l.in.h, W_ = l.in.w;
    P_ = l.in.h * l.in.w;
    eps_ = l.eps, momentum_ = l.momentum;
    for (const ParamSpec& p : spec.params)
      if (p.layer == layer) (p.init == Init::Ones ? w_ : b_) = p.offset, affine_ = true;
    for (const BufferSpec& b : spec.buffers)
      if (b.layer == layer) (b.init == 0.f ? rm_ : rv_) = b.offset;
  }
  bool batch_stats() const override { return true; }
  size_t scratch_floats(int) const override { return 2 * (size_t)C_ + (pool_ ? P_ : 0); }
  size_t saved_ints() const override { return pool_ ? (size_t)C_ * (P_ / 4) : 0; }  // the pool's

  void partial_stats(const OpContext&, const float* x, int n, double* sums) const override {
    for (int c = 0; c < C_; ++c) sums[c] = sums[C_ + c] = 0.0;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C_; ++c) {
        double s = 0.0, q = 0.0;
        bn_sums_f64(x + ((size_t)i * C_ + c) * P_, P_, &s, &q);
        sums[c] += s, sums[C_ + c] += q;
      }
  }
  void finish_stats(BatchNormBatch& b, const double* sums, float* running) const override {
    const double M = b.count;
    for (int c = 0; c < C_; ++c) {
      const double mean = sums[c] / M;
      const double var = std::max(0.0, sums[C_ + c] / M - mean * mean);
      b.mean[c] = (float)mean;
      b.invstd[c] = (float)(1.0 / std::sqrt(var + eps_));
      // PyTorch needs more than one value per channel to train; with one, the
      // running variance is left where it is rather than becoming NaN.
      const double unbiased = M > 1 ? var * M / (M - 1) : running[rv_ + c];
      running[rm_ + c] = (float)(momentum_ * mean + (1 - momentum_) * running[rm_ + c]);
      running[rv_ + c] = (float)(momentum_ * unbiased + (1 - momentum_) * running[rv_ + c]);
    }
  }
  void partial_grad(const OpContext& ctx, const OpIO& io, int n, double* sums) const override {
    const BatchNormBatch& b = ctx.bn[index];
    for (int c = 0; c < C_; ++c) sums[c] = sums[C_ + c] = 0.0;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C_; ++c) {
        const size_t o = ((size_t)i * C_ + c) * P_;
        double s = 0.0, d = 0.0;
        bn_grad_sums_f64(plane_dy(io, i, c), io.x + o, b.mean[c], P_, &s, &d);
        sums[c] += s, sums[C_ + c] += d;
      }
  }
  void finish_grad(BatchNormBatch& b, const double* sums, float* grads) const override {
    for (int c = 0; c < C_; ++c) {
      b.sum_dy[c] = sums[c];
      b.sum_dy_xhat[c] = sums[C_ + c];  // sum of dy * (x - mean)
      if (affine_) {
        grads[w_ + c] += (float)(sums[C_ + c] * b.invstd[c]);
        grads[b_ + c] += (float)sums[c];
      }
    }
  }

  void forward(const OpContext& ctx, const OpIO& io, int n) const override {
    // y = x * alpha + beta per channel, as PyTorch's CPU kernel computes it.
    float* alpha = io.scratch;
    float* beta = alpha + C_;
    for (int c = 0; c < C_; ++c) {
      float mean, invstd;
      if (ctx.train) {
        mean = ctx.bn[index].mean[c], invstd = ctx.bn[index].invstd[c];
      } else {
        mean = ctx.buffers[rm_ + c];
        invstd = (float)(1.0 / std::sqrt((double)ctx.buffers[rv_ + c] + eps_));
      }
      const float w = affine_ ? ctx.params[w_ + c] : 1.f, bb = affine_ ? ctx.params[b_ + c] : 0.f;
      alpha[c] = invstd * w;
      beta[c] = bb - mean * alpha[c];
    }
    float* plane = beta + C_;  // pooled: one plane of the output
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C_; ++c) {
        const size_t o = ((size_t)i * C_ + c) * P_;
        float* y = pool_ ? plane : io.y + o;
        const float a = alpha[c], bb = beta[c];  // (y may be scratch too: not reloaded per value)
        for (int k = 0; k < P_; ++k) y[k] = io.x[o + k] * a + bb;
        if (pool_) {
          const size_t q = ((size_t)i * C_ + c) * (P_ / 4);
          relu_maxpool2x2_forward_f32(io.y + q, io.saved_i + q, plane, 1, H_, W_);
        }
      }
  }
  void backward(const OpContext& ctx, const OpIO& io, int n) const override {
    if (!io.dx) return;
    const BatchNormBatch& b = ctx.bn[index];
    const double M = b.count;
    for (int c = 0; c < C_; ++c) {
      const float invstd = b.invstd[c], mean = b.mean[c];
      const float w = affine_ ? ctx.params[w_ + c] : 1.f;
      const float grad_mean = (float)(b.sum_dy[c] / M);
      const float proj = (float)(b.sum_dy_xhat[c] * invstd * invstd / M);
      for (int i = 0; i < n; ++i) {
        const size_t o = ((size_t)i * C_ + c) * P_;
        if (!pool_) {
          bn_backward_f32(io.dx + o, io.dy + o, io.x + o, P_, mean, grad_mean, proj, invstd, w);
          continue;
        }
        const size_t q = ((size_t)i * C_ + c) * (P_ / 4);
        bn_backward_pooled_f32(io.dx + o, io.dy + q, io.saved_i + q, io.x + o, H_, W_, mean, grad_mean,
                               proj, invstd, w);
      }
    }
  }

 private:
  // The gradient of BatchNorm's output plane (i, c): dy itself, or (pooled) the pool's
  // gradient routed to each window's maximum, made in scratch.
  const float* plane_dy(const OpIO& io, int i, int c) const {
    if (!pool_) return io.dy + ((size_t)i * C_ + c) * P_;
    const size_t q = ((size_t)i * C_ + c) * (P_ / 4);
    float* plane = io.scratch + 2 * C_;
    relu_maxpool2x2_backward_f32(plane, io.dy + q, io.saved_i + q, 1, H_, W_);
    return plane;
  }

  bool pool_;
  int C_ = 0, H_ = 1, W_ = 1, P_ = 1;
  double eps_ = 1e-5, momentum_ = 0.1;
  bool affine_ = false;
  size_t w_ = 0, b_ = 0, rm_ = 0, rv_ = 0;
};

}  // namespace

std::unique_ptr<Op> make_batchnorm(const NetSpec& spec, int layer, bool relu_pool) {
  return std::make_unique<BatchNorm>(spec, layer, relu_pool);
}

}  // namespace wt
