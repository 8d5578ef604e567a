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

void bn_backward_f32(float* dx, const float* dy, const float* x, size_t n, float mean,
                     float grad_mean, float proj, float invstd, float w) {
  const D4 d;
  const auto vm = hn::Set(d, mean), vg = hn::Set(d, grad_mean), vp = hn::Set(d, proj);
  const auto vi = hn::Set(d, invstd), vw = hn::Set(d, w);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const auto c = hn::Mul(hn::Sub(hn::LoadU(d, x + i), vm), vp);
    const auto t = hn::Sub(hn::Sub(hn::LoadU(d, dy + i), vg), c);
    hn::StoreU(hn::Mul(hn::Mul(t, vi), vw), d, dx + i);
  }
  for (; i < n; ++i) dx[i] = (dy[i] - grad_mean - (x[i] - mean) * proj) * invstd * w;
}

}  // namespace wt
