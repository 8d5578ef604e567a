// Highway implementations of kernels.h (static dispatch: one target per build): the
// elementwise kernels, softmax, Adam, the fused ReLU + pool, transposes and row copies.
// The GEMMs are in gemm.cc, the Winograd transforms in winograd.cc, the pooled conv
// gradients in pooled_grad.cc, BatchNorm's in batchnorm.cc.
#include "kernels/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include "kernels/simd4_inl.h"

namespace wt {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

void softmax_rows_f32(float* probs, float* row_max, float* row_sum, const float* logits,
                      int rows, int V) {
  // Shift each row by its maximum (scalar: V = 10 is short), then one flat pass of
  // Highway's Exp (max error 1 ulp) over all rows, then the sums in index order.
  const size_t n = (size_t)rows * V;
  for (int r = 0; r < rows; ++r) {
    const float* l = logits + (size_t)r * V;
    float mx = l[0];
    for (int v = 1; v < V; ++v) mx = l[v] > mx ? l[v] : mx;
    row_max[r] = mx;
    for (int v = 0; v < V; ++v) probs[(size_t)r * V + v] = l[v] - mx;
  }
  const DF d;
  const size_t L = hn::Lanes(d);
  size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Exp(d, hn::LoadU(d, probs + i)), d, probs + i);
  if (i < n) {  // the tail through a full vector, so every value takes the same Exp
    HWY_ALIGN float t[HWY_MAX_BYTES / sizeof(float)] = {};
    std::memcpy(t, probs + i, sizeof(float) * (n - i));
    hn::Store(hn::Exp(d, hn::Load(d, t)), d, t);
    std::memcpy(probs + i, t, sizeof(float) * (n - i));
  }
  for (int r = 0; r < rows; ++r) {
    float* p = probs + (size_t)r * V;
    float sum = 0.f;
    for (int v = 0; v < V; ++v) sum += p[v];
    row_sum[r] = sum;
    const float inv = 1.f / sum;
    for (int v = 0; v < V; ++v) p[v] *= inv;
  }
}

void relu_forward_f32(float* y, const float* x, size_t n) {
  const DF d;
  const size_t L = hn::Lanes(d);
  const VF zero = hn::Zero(d);
  size_t i = 0;
  // x <= 0 -> 0, else x: NaN stays NaN, as torch.relu does (Max would drop it on x86).
  for (; i + L <= n; i += L) {
    const VF v = hn::LoadU(d, x + i);
    hn::StoreU(hn::IfThenZeroElse(hn::Ge(zero, v), v), d, y + i);
  }
  for (; i < n; ++i) y[i] = x[i] <= 0.f ? 0.f : x[i];
}

void relu_backward_f32(float* dx, const float* dy, const float* y, size_t n) {
  const DF d;
  const size_t L = hn::Lanes(d);
  const VF zero = hn::Zero(d);
  size_t i = 0;
  for (; i + L <= n; i += L) {
    const auto pos = hn::Gt(hn::LoadU(d, y + i), zero);
    hn::StoreU(hn::IfThenElseZero(pos, hn::LoadU(d, dy + i)), d, dx + i);
  }
  for (; i < n; ++i) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

void add_f32(float* dst, const float* src, size_t n) {
  const DF d;
  const size_t L = hn::Lanes(d);
  size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Add(hn::LoadU(d, dst + i), hn::LoadU(d, src + i)), d, dst + i);
  for (; i < n; ++i) dst[i] += src[i];
}

void u8_to_f32_div(float* dst, const uint8_t* src, size_t n, float divisor) {
  // Scalar on purpose: 784 values per image against ~1.6 MFLOP of training per
  // image; the compiler vectorizes it anyway.
  for (size_t i = 0; i < n; ++i) dst[i] = (float)src[i] / divisor;
}

void adam_update_f32(float* p, const float* grad, float* m, float* v, size_t n, double beta1,
                     double beta2, float eps, float weight_decay, float neg_step_size,
                     float bc2_sqrt) {
  const DF d;
  const size_t L = hn::Lanes(d);
  // PyTorch passes beta and (1 - beta) as Python doubles, each rounded to float once:
  // 1.f - 0.999f would be 1.3e-5 (relative) off 0.001f.
  const float b1 = (float)beta1, b2 = (float)beta2;
  const float c1 = (float)(1.0 - beta1), c2 = (float)(1.0 - beta2);
  const VF vb1 = hn::Set(d, b1), vb2 = hn::Set(d, b2), vc1 = hn::Set(d, c1), vc2 = hn::Set(d, c2);
  const VF veps = hn::Set(d, eps), vwd = hn::Set(d, weight_decay);
  const VF vstep = hn::Set(d, neg_step_size), vbc2 = hn::Set(d, bc2_sqrt);
  size_t i = 0;
  // Separate mul and add (no MulAdd) so that AVX2 FMA contraction does not make
  // the native numbers drift from PyTorch's, which computes each op rounded.
  for (; i + L <= n; i += L) {
    const VF pv = hn::LoadU(d, p + i);
    VF g = hn::LoadU(d, grad + i);
    if (weight_decay != 0.f) g = hn::Add(g, hn::Mul(pv, vwd));
    const VF mv = hn::Add(hn::Mul(hn::LoadU(d, m + i), vb1), hn::Mul(g, vc1));
    const VF vv = hn::Add(hn::Mul(hn::LoadU(d, v + i), vb2), hn::Mul(hn::Mul(g, g), vc2));
    const VF denom = hn::Add(hn::Div(hn::Sqrt(vv), vbc2), veps);
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(vstep, mv), denom)), d, p + i);
  }
  for (; i < n; ++i) {
    float g = grad[i];
    if (weight_decay != 0.f) g = g + p[i] * weight_decay;
    m[i] = m[i] * b1 + g * c1;
    v[i] = v[i] * b2 + (g * g) * c2;
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] = p[i] + (neg_step_size * m[i]) / denom;
  }
}

}  // namespace wt

namespace wt {
using namespace simd4;

void relu_maxpool2x2_forward_f32(float* out, int32_t* idx, const float* in, size_t planes,
                                 int H, int W, int in_stride) {
  const D4 d;
  const int OH = H / 2, OW = W / 2;
  if (in_stride == 0) in_stride = W;
  for (size_t pl = 0; pl < planes; ++pl) {
    const float* src = in + pl * H * in_stride;
    float* o = out + pl * OH * OW;
    int32_t* ix = idx + pl * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      const float* top = src + (2 * oh) * in_stride;
      const float* bot = top + in_stride;
      float* orow = o + oh * OW;
      int32_t* irow = ix + oh * OW;
      // Rows of 7 or 14 outputs: a last block overlapping the previous one (same
      // values written twice) beats a scalar tail of 3.
      for (int ow0 = 0; ow0 < OW && OW >= 4; ow0 += 4) {
        const int ow = ow0 + 4 <= OW ? ow0 : OW - 4;
        const auto t0 = hn::LoadU(d, top + 2 * ow), t1 = hn::LoadU(d, top + 2 * ow + 4);
        const auto b0 = hn::LoadU(d, bot + 2 * ow), b1 = hn::LoadU(d, bot + 2 * ow + 4);
        const auto a = hn::ConcatEven(d, t1, t0), b = hn::ConcatOdd(d, t1, t0);
        const auto c = hn::ConcatEven(d, b1, b0), e = hn::ConcatOdd(d, b1, b0);
        relu_max4(a, b, c, e, orow + ow, irow + ow);
      }
      if (OW < 4)
        for (int ow = 0; ow < OW; ++ow)
          irow[ow] = window_index(top[2 * ow], top[2 * ow + 1], bot[2 * ow], bot[2 * ow + 1], &orow[ow]);
    }
  }
}

void relu_maxpool2x2_backward_f32(float* din, const float* dout, const int32_t* idx,
                                  size_t planes, int H, int W, int din_stride) {
  const D4 d;
  const int OH = H / 2, OW = W / 2;
  if (din_stride == 0) din_stride = W;
  // Positions no window covers (odd edges, and columns W.. of strided rows) get 0.
  // Clearing only the junk columns of strided rows measured slower (native and wasm):
  // the whole-buffer memset brings the lines in as one stream before the scattered
  // stores of the windows.
  if (((H | W) & 1) || din_stride != W) std::memset(din, 0, sizeof(float) * planes * H * din_stride);
  for (size_t pl = 0; pl < planes; ++pl) {
    float* dst = din + pl * H * din_stride;
    const float* g = dout + pl * OH * OW;
    const int32_t* ix = idx + pl * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      float* top = dst + (2 * oh) * din_stride;
      float* bot = top + din_stride;
      const float* grow = g + oh * OW;
      const int32_t* irow = ix + oh * OW;
      for (int ow0 = 0; ow0 < OW && OW >= 4; ow0 += 4) {
        const int ow = ow0 + 4 <= OW ? ow0 : OW - 4;  // overlapping last block, as forward
        hn::Vec<D4> tl, tr, bl, br;
        route4(grow + ow, irow + ow, &tl, &tr, &bl, &br);
        hn::StoreU(hn::InterleaveLower(d, tl, tr), d, top + 2 * ow);
        hn::StoreU(hn::InterleaveUpper(d, tl, tr), d, top + 2 * ow + 4);
        hn::StoreU(hn::InterleaveLower(d, bl, br), d, bot + 2 * ow);
        hn::StoreU(hn::InterleaveUpper(d, bl, br), d, bot + 2 * ow + 4);
      }
      for (int ow = 0; ow < OW && OW < 4; ++ow) {
        const int32_t i = irow[ow];
        top[2 * ow] = i == 0 ? grow[ow] : 0.f;
        top[2 * ow + 1] = i == 1 ? grow[ow] : 0.f;
        bot[2 * ow] = i == 2 ? grow[ow] : 0.f;
        bot[2 * ow + 1] = i == 3 ? grow[ow] : 0.f;
      }
    }
  }
}

void transpose_f32(float* dst, int ldd, const float* src, int lds, int rows, int cols) {
  const D4 d;
  const hn::Repartition<double, D4> dd;
  // Four rows of dst at a time, written from start to end, each in 16-byte pieces that
  // complete its cache lines in turn. (Four rows of src at a time left 16 bytes of every
  // dst row per pass: the pooled backward's dinp, planes of 4 KiB, then kept 32 rows in
  // one L1 set, and every store missed.)
  int j = 0;
  for (; j + 4 <= cols; j += 4) {
    float* d0 = dst + (size_t)j * ldd;
    int i = 0;
    for (; i + 4 <= rows; i += 4) {  // 4x4 block: two rounds of interleaves
      const float* s0 = src + (size_t)i * lds + j;
      const auto r0 = hn::LoadU(d, s0), r1 = hn::LoadU(d, s0 + lds);
      const auto r2 = hn::LoadU(d, s0 + 2 * lds), r3 = hn::LoadU(d, s0 + 3 * lds);
      const auto t0 = hn::InterleaveLower(d, r0, r1), t1 = hn::InterleaveUpper(d, r0, r1);
      const auto t2 = hn::InterleaveLower(d, r2, r3), t3 = hn::InterleaveUpper(d, r2, r3);
      hn::StoreU(hn::BitCast(d, hn::InterleaveLower(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2))), d, d0 + i);
      hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2))), d, d0 + ldd + i);
      hn::StoreU(hn::BitCast(d, hn::InterleaveLower(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3))), d, d0 + 2 * ldd + i);
      hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3))), d, d0 + 3 * ldd + i);
    }
    for (; i < rows; ++i)
      for (int c = j; c < j + 4; ++c) dst[(size_t)c * ldd + i] = src[(size_t)i * lds + c];
  }
  for (; j < cols; ++j)
    for (int i = 0; i < rows; ++i) dst[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
}

void copy_rows_f32(float* dst, int ldd, const float* src, int lds, size_t rows, int cols, bool zero_tail) {
  const D4 d;
  for (size_t r = 0; r < rows; ++r) {
    float* o = dst + r * ldd;
    const float* in = src + r * lds;
    int x = 0;
    for (; x + 4 <= cols; x += 4) hn::StoreU(hn::LoadU(d, in + x), d, o + x);
    if (x < cols && cols >= 4) {  // the last 4 columns again, overlapping: no scalar tail
      hn::StoreU(hn::LoadU(d, in + cols - 4), d, o + cols - 4);
      x = cols;
    }
    for (; x < cols; ++x) o[x] = in[x];
    if (zero_tail)
      for (; x < ldd; ++x) o[x] = 0.f;
  }
}

float sum_f32(const float* x, size_t n) {
  const D4 d;
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = hn::Add(s0, hn::LoadU(d, x + i));
    s1 = hn::Add(s1, hn::LoadU(d, x + i + 4));
  }
  for (; i + 4 <= n; i += 4) s0 = hn::Add(s0, hn::LoadU(d, x + i));
  float r = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
  for (; i < n; ++i) r += x[i];
  return r;
}

}  // namespace wt

namespace wt {
float peak_probe_f32(int64_t iters) {
  const DF d;
  VF a0 = hn::Set(d, 0.1f), a1 = hn::Set(d, 0.2f), a2 = hn::Set(d, 0.3f), a3 = hn::Set(d, 0.4f);
  VF a4 = hn::Set(d, 0.5f), a5 = hn::Set(d, 0.6f), a6 = hn::Set(d, 0.7f), a7 = hn::Set(d, 0.8f);
  const VF m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c); a1 = hn::MulAdd(a1, m, c); a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c); a4 = hn::MulAdd(a4, m, c); a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c); a7 = hn::MulAdd(a7, m, c);
  }
  const VF s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
  return hn::GetLane(hn::SumOfLanes(d, s));
}
int simd_lanes_f32() { return (int)hn::Lanes(DF()); }
}  // namespace wt
