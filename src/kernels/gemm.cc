// The GEMM kernels of kernels.h, Highway with static dispatch (one target per build).
//
// Layout choice: the GEMMs here are small (conv1's shifted GEMM is M=8, K=9,
// N=812 per image; conv2's Winograd GEMMs M=16, K=8, N=196 per 4 images), so the
// micro-kernels vectorize along N (output pixels)
// and block MR rows x NV vectors in registers (see kGemmMR below for why 2x4).
#include "kernels/kernels.h"

#include <algorithm>
#include <cstring>

#include <hwy/highway.h>

namespace wt {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

namespace {

// Row k of B: a strided matrix, or a table of row pointers (the shifted rows of a
// padded image, see conv2d_s1_forward in core/layers.cc).
struct StridedRows {
  const float* p;
  int ld;
  HWY_INLINE const float* operator[](int k) const { return p + (size_t)k * ld; }
};
struct TableRows {
  const float* const* r;
  HWY_INLINE const float* operator[](int k) const { return r[k]; }
};

// The MR rows of A that one register block multiplies, element (r, k):
// a packed panel (ap[k * MR + r], so the MR broadcasts of step k come from one
// pointer), or MR row pointers used in place (when packing would copy all of A).
template <int MR>
struct PackedPanel {
  const float* ap;
  HWY_INLINE float operator()(int r, int k) const { return ap[k * MR + r]; }
};

// C[0..MR, j..j+NV*L] (+)= A * B[k0..k0+KC]. With tail > 0 (NV = 1) only the last
// `tail` lanes are written: the block then overlaps columns already done, which
// beats a scalar remainder (14-wide rows of 15 floats leave 2 columns of 210).
// With `bias` (not null: row r's is bias[r]), C = bias + A * B as if C had held the
// bias and acc were set: the sums start from it (the tail adds it to the products'
// sum, as it adds C's old value).
template <int MR, int NV, class Panel, class Rows>
HWY_INLINE void gemm_block(int KC, Panel A, Rows B, int k0, float* HWY_RESTRICT C, int ldc,
                           bool acc, const float* bias, int j, int tail = 0) {
  const DF d;
  const size_t L = hn::Lanes(d);
  VF c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      c[r][v] = tail != 0 ? hn::Zero(d)
                : bias    ? hn::Set(d, bias[r])
                : acc     ? hn::LoadU(d, C + (size_t)r * ldc + j + v * L)
                          : hn::Zero(d);
  for (int k = 0; k < KC; ++k) {
    const float* b = B[k0 + k] + j;
    VF bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, b + v * L);
    for (int r = 0; r < MR; ++r) {
      const VF av = hn::Set(d, A(r, k));
      for (int v = 0; v < NV; ++v) c[r][v] = hn::MulAdd(av, bv[v], c[r][v]);
    }
  }
  if (tail == 0) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) hn::StoreU(c[r][v], d, C + (size_t)r * ldc + j + v * L);
    return;
  }
  HWY_ALIGN float t[MR][HWY_MAX_BYTES / sizeof(float)];
  for (int r = 0; r < MR; ++r) {
    hn::Store(c[r][0], d, t[r]);
    for (int l = (int)L - tail; l < (int)L; ++l) {
      float* out = C + (size_t)r * ldc + j + l;
      *out = bias ? bias[r] + t[r][l] : acc ? *out + t[r][l] : t[r][l];
    }
  }
}

// One strip of MR rows of C over all N columns, for the K-slice k0..k0+KC.
template <int MR, int NV, class Panel, class Rows>
HWY_INLINE void gemm_strip(int N, int KC, Panel A, Rows B, int k0, float* C, int ldc, bool acc,
                           const float* bias) {
  const int L = (int)hn::Lanes(DF());
  int j = 0;
  for (; j + NV * L <= N; j += NV * L) gemm_block<MR, NV>(KC, A, B, k0, C, ldc, acc, bias, j);
  if (NV > 2)
    for (; j + 2 * L <= N; j += 2 * L) gemm_block<MR, 2>(KC, A, B, k0, C, ldc, acc, bias, j);
  for (; j + L <= N; j += L) gemm_block<MR, 1>(KC, A, B, k0, C, ldc, acc, bias, j);
  if (j < N && N >= L) {
    gemm_block<MR, 1>(KC, A, B, k0, C, ldc, acc, bias, N - L, N - j);
  } else {
    for (; j < N; ++j)  // fewer than L columns in all: scalar
      for (int r = 0; r < MR; ++r) {
        float s = bias ? bias[r] : acc ? C[(size_t)r * ldc + j] : 0.f;
        for (int k = 0; k < KC; ++k) s += A(r, k) * B[k0 + k][j];
        C[(size_t)r * ldc + j] = s;
      }
  }
}

// Register block of the nn/tn kernels: MR rows x NV vectors. V8 keeps one of x86's
// 16 vector registers as scratch, so a block must fit in 15 with the NV loads, one
// broadcast and one product: 2x4 (8 accumulators) does; 4x3 (12) spilled and ran
// 30% slower (wasm, conv2's shapes, measured with 4x3, 3x3, 4x2, 2x3, 2x4, 1x6).
constexpr int kGemmMR = 2, kGemmNV = 4;
// K is packed in slices of kGemmKC steps (a 4 KiB panel on the stack).
constexpr int kGemmKC = 512;

template <int MR, bool kTransA, class Rows>
HWY_INLINE void gemm_rows(int N, int K, const float* A, int lda, Rows B,
                          float* C, int ldc, bool acc, const float* bias, int i) {
  alignas(16) float ap[MR * kGemmKC];
  for (int k0 = 0; k0 == 0 || k0 < K; k0 += kGemmKC) {  // once when K = 0: C = 0 or C
    const int KC = std::min(kGemmKC, K - k0);
    for (int k = 0; k < KC; ++k)
      for (int r = 0; r < MR; ++r)
        ap[k * MR + r] = kTransA ? A[(size_t)(k0 + k) * lda + i + r] : A[(size_t)(i + r) * lda + k0 + k];
    gemm_strip<MR, kGemmNV>(N, KC, PackedPanel<MR>{ap}, B, k0, C + (size_t)i * ldc, ldc,
                            acc || k0 > 0, k0 == 0 && bias ? bias + i : nullptr);
  }
}

template <bool kTransA, class Rows>
void gemm_xn(int M, int N, int K, const float* A, int lda, Rows B, float* C, int ldc, bool acc,
             const float* bias = nullptr) {
  int i = 0;
  constexpr int MR = kGemmMR;
  for (; i + MR <= M; i += MR) gemm_rows<MR, kTransA>(N, K, A, lda, B, C, ldc, acc, bias, i);
  for (; i < M; ++i) gemm_rows<1, kTransA>(N, K, A, lda, B, C, ldc, acc, bias, i);
}

}  // namespace

// Each strip of C's rows streams all of B. Where B outgrows the L2 cache (bn-cnn's
// Linear input gradient: B = W, 128 x 3136), its columns go in chunks of kGemmNC, each
// chunk's panel of B staying in cache across the strips (in wasm 1.14 -> 0.91 ms for
// that GEMM). Chunks start at multiples of every register block's width and the last
// one is at least kGemmNC wide, so every column is computed by the same block as
// without chunks: the same bits.
constexpr int kGemmNC = 1024;
static_assert(kGemmNC % (kGemmNV * HWY_MAX_BYTES / sizeof(float)) == 0, "chunks of whole blocks");
constexpr size_t kGemmChunkFloats = 128 * 1024;  // B larger than 512 KiB
template <class F>
HWY_INLINE void in_column_chunks(int N, int K, F f) {
  if ((size_t)N * K <= kGemmChunkFloats || N <= 2 * kGemmNC) return f(0, N);
  int j = 0;  // the last chunk takes what is left past a whole one (so it is never short)
  for (; N - j >= 2 * kGemmNC; j += kGemmNC) f(j, kGemmNC);
  f(j, N - j);
}

void gemm_nn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  in_column_chunks(N, K, [&](int j, int n) {
    gemm_xn<false>(M, n, K, A, lda, StridedRows{B + j, ldb}, C + j, ldc, acc);
  });
}

void gemm_nn_rows_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                      float* C, int ldc, bool acc) {
  gemm_xn<false>(M, N, K, A, lda, TableRows{B}, C, ldc, acc);
}

void gemm_nn_rows_bias_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                           const float* bias, float* C, int ldc) {
  gemm_xn<false>(M, N, K, A, lda, TableRows{B}, C, ldc, /*acc=*/false, bias);
}

void gemm_tn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  gemm_xn<true>(M, N, K, A, lda, StridedRows{B, ldb}, C, ldc, acc);
}

// Dot products along K. A block of MR rows of A against NC rows of B shares the
// loads: 2x4 needs 6 loads per 8 multiply-adds (1x4 needed 5 per 4), and its 8
// accumulators leave registers for the loads on x86's 16 vector registers. Widths
// that 4 does not divide but 3 does (conv1's 9 taps) take 2x3 blocks: no wasted dots.
namespace {
template <int MR, int NC, class Rows>
HWY_INLINE void nt_block(int K, const float* HWY_RESTRICT A, int lda, Rows B,
                         float* HWY_RESTRICT C, int ldc, bool acc, int i, int j, int NB) {
  const DF d;
  const int L = (int)hn::Lanes(d);
  VF s[MR][NC];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NC; ++c) s[r][c] = hn::Zero(d);
  const float* a[MR];
  const float* b[NC];
  for (int r = 0; r < MR; ++r) a[r] = A + (size_t)(i + r) * lda;
  for (int c = 0; c < NC; ++c) b[c] = B[j + (c < NB ? c : 0)];
  int k = 0;
  for (; k + L <= K; k += L) {
    VF bv[NC];
    for (int c = 0; c < NC; ++c) bv[c] = hn::LoadU(d, b[c] + k);
    for (int r = 0; r < MR; ++r) {
      const VF av = hn::LoadU(d, a[r] + k);
      for (int c = 0; c < NC; ++c) s[r][c] = hn::MulAdd(av, bv[c], s[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NB; ++c) {
      float v = hn::GetLane(hn::SumOfLanes(d, s[r][c]));
      for (int kk = k; kk < K; ++kk) v += a[r][kk] * b[c][kk];
      float* out = C + (size_t)(i + r) * ldc + j + c;
      *out = acc ? *out + v : v;
    }
}
template <int MR, int NC, class Rows>
HWY_INLINE void nt_rows(int N, int K, const float* A, int lda, Rows B, float* C, int ldc,
                        bool acc, int i) {
  for (int j = 0; j < N; j += NC) nt_block<MR, NC>(K, A, lda, B, C, ldc, acc, i, j, std::min(NC, N - j));
}
template <int NC, class Rows>
void gemm_nt_nc(int M, int N, int K, const float* A, int lda, Rows B, float* C, int ldc, bool acc) {
  int i = 0;
  for (; i + 2 <= M; i += 2) nt_rows<2, NC>(N, K, A, lda, B, C, ldc, acc, i);
  for (; i < M; ++i) nt_rows<1, NC>(N, K, A, lda, B, C, ldc, acc, i);
}
template <class Rows>
void gemm_nt(int M, int N, int K, const float* A, int lda, Rows B, float* C, int ldc, bool acc) {
  if (N % 4 != 0 && N % 3 == 0) gemm_nt_nc<3>(M, N, K, A, lda, B, C, ldc, acc);
  else gemm_nt_nc<4>(M, N, K, A, lda, B, C, ldc, acc);
}
}  // namespace

void gemm_nt_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc) {
  gemm_nt(M, N, K, A, lda, StridedRows{B, ldb}, C, ldc, acc);
}

void gemm_nt_rows_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                      float* C, int ldc, bool acc) {
  gemm_nt(M, N, K, A, lda, TableRows{B}, C, ldc, acc);
}

}  // namespace wt
