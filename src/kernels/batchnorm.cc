// BatchNorm's per-plane kernels (kernels.h): the batch statistics' sums in double, and
// the input gradient on fixed 128-bit vectors.
#include <cstring>

#include <hwy/highway.h>

#include "kernels/kernels.h"
#include "kernels/simd4_inl.h"

namespace wt {
using namespace simd4;

// The sums run in double vectors of 2 lanes (GNU vector extensions: Highway 1.0's
// wasm target has no double arithmetic), 8 chains of additions: element i into chain
// i % 8, the chains combined in a fixed order, then the tail. (One chain waited an
// addition's latency per element.)
namespace {
typedef float F4 __attribute__((vector_size(16)));
typedef double D2 __attribute__((vector_size(16)));
HWY_INLINE F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
HWY_INLINE D2 lo2(F4 v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1), D2); }
HWY_INLINE D2 hi2(F4 v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 2, 3), D2); }
HWY_INLINE double total(D2 a, D2 b, D2 c, D2 e) {
  const D2 t = (a + b) + (c + e);
  return t[0] + t[1];
}
}  // namespace

void bn_sums_f64(const float* x, size_t n, double* s, double* q) {
  D2 s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0, q3 = s0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F4 u = load4(x + i), v = load4(x + i + 4);
    const D2 a = lo2(u), b = hi2(u), c = lo2(v), e = hi2(v);
    s0 += a, s1 += b, s2 += c, s3 += e;
    q0 += a * a, q1 += b * b, q2 += c * c, q3 += e * e;
  }
  double ss = total(s0, s1, s2, s3), qq = total(q0, q1, q2, q3);
  for (; i < n; ++i) ss += x[i], qq += (double)x[i] * x[i];
  *s += ss, *q += qq;
}

void bn_grad_sums_f64(const float* dy, const float* x, float mean, size_t n, double* s, double* p) {
  const F4 m = {mean, mean, mean, mean};
  D2 s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0, p0 = s0, p1 = s0, p2 = s0, p3 = s0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const F4 u = load4(dy + i), v = load4(dy + i + 4);
    const F4 cu = load4(x + i) - m, cv = load4(x + i + 4) - m;  // x - mean in float
    const D2 a = lo2(u), b = hi2(u), c = lo2(v), e = hi2(v);
    s0 += a, s1 += b, s2 += c, s3 += e;
    p0 += a * lo2(cu), p1 += b * hi2(cu), p2 += c * lo2(cv), p3 += e * hi2(cv);
  }
  double ss = total(s0, s1, s2, s3), pp = total(p0, p1, p2, p3);
  for (; i < n; ++i) ss += dy[i], pp += (double)dy[i] * (x[i] - mean);
  *s += ss, *p += pp;
}

namespace {
// dx = (dy - grad_mean - (x - mean) * proj) * invstd * w, each operation in float in
// that order: 4 values at a time, or one.
struct BnInputGrad {
  float mean, grad_mean, proj, invstd, w;
  HWY_INLINE void apply4(hn::Vec<D4> dy, const float* x, float* dx) const {
    const D4 d;
    const auto c = hn::Mul(hn::Sub(hn::LoadU(d, x), hn::Set(d, mean)), hn::Set(d, proj));
    const auto t = hn::Sub(hn::Sub(dy, hn::Set(d, grad_mean)), c);
    hn::StoreU(hn::Mul(hn::Mul(t, hn::Set(d, invstd)), hn::Set(d, w)), d, dx);
  }
  HWY_INLINE float apply1(float dy, float x) const {
    return (dy - grad_mean - (x - mean) * proj) * invstd * w;
  }
};
}  // namespace

void bn_backward_f32(float* dx, const float* dy, const float* x, size_t n, float mean,
                     float grad_mean, float proj, float invstd, float w) {
  const D4 d;
  const BnInputGrad f{mean, grad_mean, proj, invstd, w};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) f.apply4(hn::LoadU(d, dy + i), x + i, dx + i);
  for (; i < n; ++i) dx[i] = f.apply1(dy[i], x[i]);
}

void bn_backward_pooled_f32(float* dx, const float* g, const int32_t* idx, const float* x, int H,
                            int W, float mean, float grad_mean, float proj, float invstd, float w) {
  const D4 d;
  const BnInputGrad f{mean, grad_mean, proj, invstd, w};
  const int OH = H / 2, OW = W / 2;
  for (int oh = 0; oh < OH; ++oh) {
    const size_t top = (size_t)(2 * oh) * W, bot = top + W;
    const float* grow = g + (size_t)oh * OW;
    const int32_t* irow = idx + (size_t)oh * OW;
    if (OW < 4) {  // narrow planes: window by window
      for (int ow = 0; ow < OW; ++ow)
        for (int q = 0; q < 4; ++q) {
          const size_t at = (q < 2 ? top : bot) + 2 * ow + (q & 1);
          const float dy = irow[ow] == q ? grow[ow] : 0.f;
          dx[at] = f.apply1(dy, x[at]);
        }
      continue;
    }
    // 4 windows at a time, the last block overlapping the previous one (it rewrites
    // the same values); the gradient routed as relu_maxpool2x2_backward_f32 does.
    for (int ow0 = 0; ow0 < OW; ow0 += 4) {
      const int ow = ow0 + 4 <= OW ? ow0 : OW - 4;
      hn::Vec<D4> tl, tr, bl, br;
      route4(grow + ow, irow + ow, &tl, &tr, &bl, &br);
      const size_t c = 2 * (size_t)ow;
      f.apply4(hn::InterleaveLower(d, tl, tr), x + top + c, dx + top + c);
      f.apply4(hn::InterleaveUpper(d, tl, tr), x + top + c + 4, dx + top + c + 4);
      f.apply4(hn::InterleaveLower(d, bl, br), x + bot + c, dx + bot + c);
      f.apply4(hn::InterleaveUpper(d, bl, br), x + bot + c + 4, dx + bot + c + 4);
    }
  }
}

}  // namespace wt
