// Highway implementations of kernels.h (static dispatch: one target per build).
//
// GEMM layout choice: the convolutions here are small (conv2 per image is
// M=16, K=72, N=196), so the micro-kernels vectorize along N (output pixels)
// and block MR rows x NV vectors in registers: 4x3 accumulators = 12 vectors,
// plus NV loads and one broadcast, fit the 16 registers of x86 that V8 maps
// wasm SIMD onto.
#include "kernels/kernels.h"

#include <cmath>

#include <hwy/highway.h>

namespace wt {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

namespace {

// C[i..i+MR, j..j+NV*L] (+)= op(A) * B over all K. kTransA: A is stored [K, M].
template <int MR, int NV, bool kTransA>
HWY_INLINE void gemm_block(int K, const float* HWY_RESTRICT A, int lda,
                           const float* HWY_RESTRICT B, int ldb, float* HWY_RESTRICT C,
                           int ldc, bool acc, int i, int j) {
  const DF d;
  const size_t L = hn::Lanes(d);
  VF c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      c[r][v] = acc ? hn::LoadU(d, C + (size_t)(i + r) * ldc + j + v * L) : hn::Zero(d);
  for (int k = 0; k < K; ++k) {
    const float* b = B + (size_t)k * ldb + j;
    VF bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, b + v * L);
    for (int r = 0; r < MR; ++r) {
      const float a = kTransA ? A[(size_t)k * lda + i + r] : A[(size_t)(i + r) * lda + k];
      const VF av = hn::Set(d, a);
      for (int v = 0; v < NV; ++v) c[r][v] = hn::MulAdd(av, bv[v], c[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) hn::StoreU(c[r][v], d, C + (size_t)(i + r) * ldc + j + v * L);
}

template <int MR, bool kTransA>
HWY_INLINE void gemm_rows(int N, int K, const float* A, int lda, const float* B, int ldb,
                          float* C, int ldc, bool acc, int i) {
  const int L = (int)hn::Lanes(DF());
  int j = 0;
  for (; j + 3 * L <= N; j += 3 * L) gemm_block<MR, 3, kTransA>(K, A, lda, B, ldb, C, ldc, acc, i, j);
  for (; j + L <= N; j += L) gemm_block<MR, 1, kTransA>(K, A, lda, B, ldb, C, ldc, acc, i, j);
  for (; j < N; ++j) {  // remainder columns: scalar
    for (int r = 0; r < MR; ++r) {
      float s = acc ? C[(size_t)(i + r) * ldc + j] : 0.f;
      for (int k = 0; k < K; ++k) {
        const float a = kTransA ? A[(size_t)k * lda + i + r] : A[(size_t)(i + r) * lda + k];
        s += a * B[(size_t)k * ldb + j];
      }
      C[(size_t)(i + r) * ldc + j] = s;
    }
  }
}

template <bool kTransA>
void gemm_xn(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
             int ldc, bool acc) {
  int i = 0;
  for (; i + 4 <= M; i += 4) gemm_rows<4, kTransA>(N, K, A, lda, B, ldb, C, ldc, acc, i);
  for (; i < M; ++i) gemm_rows<1, kTransA>(N, K, A, lda, B, ldb, C, ldc, acc, i);
}

}  // namespace

void gemm_nn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  gemm_xn<false>(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

void gemm_tn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  gemm_xn<true>(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

// Dot products along K: one row of A against 4 rows of B shares the A loads;
// 4 independent accumulators also hide the add latency.
void gemm_nt_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  const DF d;
  const int L = (int)hn::Lanes(d);
  for (int i = 0; i < M; ++i) {
    const float* a = A + (size_t)i * lda;
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      const float* b0 = B + (size_t)j * ldb;
      const float* b1 = b0 + ldb;
      const float* b2 = b1 + ldb;
      const float* b3 = b2 + ldb;
      VF s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
      int k = 0;
      for (; k + L <= K; k += L) {
        const VF av = hn::LoadU(d, a + k);
        s0 = hn::MulAdd(av, hn::LoadU(d, b0 + k), s0);
        s1 = hn::MulAdd(av, hn::LoadU(d, b1 + k), s1);
        s2 = hn::MulAdd(av, hn::LoadU(d, b2 + k), s2);
        s3 = hn::MulAdd(av, hn::LoadU(d, b3 + k), s3);
      }
      float r0 = hn::GetLane(hn::SumOfLanes(d, s0)), r1 = hn::GetLane(hn::SumOfLanes(d, s1));
      float r2 = hn::GetLane(hn::SumOfLanes(d, s2)), r3 = hn::GetLane(hn::SumOfLanes(d, s3));
      for (; k < K; ++k) {
        r0 += a[k] * b0[k];
        r1 += a[k] * b1[k];
        r2 += a[k] * b2[k];
        r3 += a[k] * b3[k];
      }
      float* c = C + (size_t)i * ldc + j;
      if (acc) {
        c[0] += r0; c[1] += r1; c[2] += r2; c[3] += r3;
      } else {
        c[0] = r0; c[1] = r1; c[2] = r2; c[3] = r3;
      }
    }
    for (; j < N; ++j) {
      const float* b = B + (size_t)j * ldb;
      VF s = hn::Zero(d);
      int k = 0;
      for (; k + L <= K; k += L) s = hn::MulAdd(hn::LoadU(d, a + k), hn::LoadU(d, b + k), s);
      float r = hn::GetLane(hn::SumOfLanes(d, s));
      for (; k < K; ++k) r += a[k] * b[k];
      float* c = C + (size_t)i * ldc + j;
      *c = acc ? *c + r : r;
    }
  }
}

void relu_forward_f32(float* y, const float* x, size_t n) {
  const DF d;
  const size_t L = hn::Lanes(d);
  const VF zero = hn::Zero(d);
  size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Max(hn::LoadU(d, x + i), zero), d, y + i);
  for (; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
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

void adam_update_f32(float* p, const float* grad, float* m, float* v, size_t n, float b1,
                     float b2, float eps, float weight_decay, float neg_step_size,
                     float bc2_sqrt) {
  const DF d;
  const size_t L = hn::Lanes(d);
  const float c1 = 1.f - b1, c2 = 1.f - b2;
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
