// SIMD kernels of wasm-trainer: plain declarations, no SIMD types leak out.
//
// The implementations (kernels.cc, gemm.cc, winograd.cc, pooled_grad.cc, batchnorm.cc)
// use Google Highway with static dispatch:
// the target is fixed by the compiler flags (-msimd128 -> WASM, 4 f32 lanes, no
// FMA; natively -mavx2 -mfma -mbmi -mbmi2 -mf16c -mpclmul -maes, what Highway 1.0.3
// needs for its AVX2 target, as -march=haswell gives -> AVX2, 8 lanes, FMA; without
// all of them Highway silently stays at SSSE3). The native tests run twice: at AVX2
// and at SSE4 (4 lanes, no FMA, wasm's bits), each checking simd_lanes_f32()
// (CMakeLists.txt, wt_tests and wt_tests_w4). Every kernel is pure: no
// allocation, no threads; matrices are row-major with explicit leading
// dimensions. `acc` = false overwrites C, true adds to it (the llm.c convention
// that backward passes accumulate).
//
// Each kernel has a scalar reference (tests/cpp/reference.h) and a test over
// awkward sizes in tests/cpp/test_kernels.cpp.
#pragma once
#include <cstddef>
#include <cstdint>

namespace wt {

// C[M,N] (+)= A[M,K] * B[K,N]
void gemm_nn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc);
// C[M,N] (+)= A[M,K] * B[K,N] where row k of B is B[k] (a table of row pointers).
void gemm_nn_rows_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                      float* C, int ldc, bool acc);
// C[M,N] = bias + A[M,K] * B[K,N] (row m's bias: bias[m]), the same numbers, bit for
// bit, as filling row m of C with bias[m] and calling gemm_nn_rows_f32 with acc (the
// sums start from the bias), without the fill.
void gemm_nn_rows_bias_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                           const float* bias, float* C, int ldc);
// C[M,N] (+)= A[K,M]^T * B[K,N]
void gemm_tn_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc);
// C[M,N] (+)= A[M,K] * B[N,K]^T
void gemm_nt_f32(int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                 float* C, int ldc, bool acc);

// C[M,N] (+)= A[M,K] * B^T where row n of B ([N,K]) is B[n].
void gemm_nt_rows_f32(int M, int N, int K, const float* A, int lda, const float* const* B,
                      float* C, int ldc, bool acc);

// Row-wise softmax of logits [rows, V]: probs = exp(l - max) / sum; row_max[r] and
// row_sum[r] (the sum of exp(l - max)) are kept for the loss, log(sum) - (l - max).
void softmax_rows_f32(float* probs, float* row_max, float* row_sum, const float* logits,
                      int rows, int V);

// y = max(x, 0), n elements (in place allowed).
void relu_forward_f32(float* y, const float* x, size_t n);
// dx = dy where y > 0, else 0 (PyTorch: threshold_backward on the output).
void relu_backward_f32(float* dx, const float* dy, const float* y, size_t n);

// Winograd F(2x2, 3x3) transforms (Lavin and Gray, 2016) for 3x3 stride-1
// convolutions: an output is cut into 2x2 tiles, TH x TW of them (T = TH * TW,
// tile t = ty * TW + tx, TW >= 4), and one tile costs 16 products per channel pair
// instead of 36. With U = G g G^T per (out, in) channel pair and V = B^T d B per
// (in channel, tile), the 16 GEMMs M[xi] = U[xi] V[xi] (xi = 0..15) followed by
// A^T M A give the correlation y = g * d.
//
// The Winograd matrices V and M hold one C x ldt matrix per xi (C channels of ldt
// tiles), wino_xi_stride(C, ldt) floats apart: C * ldt rounded up to an odd number of
// 64-byte lines. A tile's 16 or 36 values are then in 16 or 36 different cache sets;
// at C * ldt floats, a multiple of 4 KiB for cifar-convnet's planes, they all fell in
// one set of the 8-way L1 and the transforms ran 2-3x slower.
inline size_t wino_xi_stride(int C, int ldt) { return (((size_t)C * ldt + 15) / 16 | 1) * 16; }
//
// V[xi, c, t] = (B^T d B)[xi] for the 4x4 patch d of plane c at rows 2ty..2ty+3,
// columns 2tx..2tx+3 of `in` (row stride in_ld, plane stride in_plane); the caller's
// layout supplies the zero padding around the image (patches read columns up to 2 TW + 1).
// V[xi, c, t] is at V[xi * wino_xi_stride(C, ldt) + c * ldt + t] (ldt >= T: several
// images side by side).
void winograd_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                        int TH, int TW);
// The same V from an unpadded plane of 2 TH x 2 TW (rows in_ld apart) read as if
// padded by one zero on every side: what winograd_input_f32 gives for the padded
// copy, bit for bit, without making it (the input gradient's transform of dout).
// Reads only the plane's own 2 TH rows of 2 TW floats.
void winograd_input_pad1_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                             int TH, int TW);
// out[oc, 2ty + i, 2tx + j] = (A^T M[., oc, t] A)[i, j] + bias[oc] (bias may be null), with
// M[xi, oc, t] at M[xi * wino_xi_stride(OC, ldt) + oc * ldt + t]; out has row stride out_ld,
// plane stride out_plane.
void winograd_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                         const float* bias, int OC, int TH, int TW);

// Winograd F(4x4, 3x3): 4x4 output tiles from 6x6 input patches at stride 4, 36
// products per tile and channel pair instead of 144 (F(2x2, 3x3): 64), with
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//          0 4 0 -5 0 1],
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// The same layouts as F(2x2, 3x3) with xi = 0..35: V[xi, c, t] at
// V[xi * wino_xi_stride(C, ldt) + c * ldt + t] for the patch at rows 4 ty.., columns 4 tx.. (TW >= 4; reads columns up to 4 TW + 3),
// and out[oc, 4 ty + i, 4 tx + j] = (A^T M A)[i, j] + bias[oc] for the rows below OH and
// the columns below OW (OH <= 4 TH, OW <= 4 TW: the last tiles may be clipped, their
// patches reading the zero padding beyond the plane).
void winograd4_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                         int TH, int TW);
void winograd4_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                          const float* bias, int OC, int TH, int TW, int OH, int OW);
// winograd4_output_f32 then relu_maxpool2x2_forward_f32, the conv's output never
// written: pooled and idx are [OC, PH, PW] (PH <= 2 TH, PW <= 2 TW: clipped tiles'
// windows beyond them are dropped).
void winograd4_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                    const float* bias, int OC, int TH, int TW, int PH, int PW);

// Winograd F(2x2, 5x5): 2x2 output tiles from 6x6 input patches at stride 2, 36
// products per tile and channel pair instead of 100, with F(4x4, 3x3)'s B^T (the same
// six points 0, 1, -1, 2, -2, infinity) and
//   G = [1/4 0 0 0 0; -1/6 -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6 -1/6;
//        1/24 1/12 1/6 1/3 2/3; 1/24 -1/12 1/6 -1/3 2/3; 0 0 0 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1].
// V[xi, c, t] (xi = 0..35, F(2x2, 3x3)'s layouts) for the patch at rows 2 ty..,
// columns 2 tx.. (TW >= 4; reads columns up to 2 TW + 3), and out[oc, 2 ty + i, 2 tx + j]
// = (A^T M A)[i, j] + bias[oc]; the fused ReLU + pool writes pooled and idx [OC, TH, TW]
// (a 2x2 tile is a pooling window) as winograd_output_relu_pool_f32 does.
void winograd25_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                          int TH, int TW);
void winograd25_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                           const float* bias, int OC, int TH, int TW);
void winograd25_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                     const float* bias, int OC, int TH, int TW);

// The adjoint of winograd_output_f32's transform, for the weight gradient: with dY the
// 2x2 tile of dout at rows 2ty, 2ty+1, columns 2tx, 2tx+1 of plane oc (row stride out_ld,
// plane stride out_plane), dM[xi, oc, t] = (A dY A^T)[xi] at
// dM[xi * wino_xi_stride(OC, ldt) + oc * ldt + t].
// Then dU[xi] = sum over tiles of dM[xi] V[xi]^T, and dw = G^T dU G.
void winograd_output_grad_f32(float* dM, int ldt, const float* dout, int out_ld, size_t out_plane,
                              int OC, int TH, int TW);

// Weight gradient of a 3x3 stride-1 convolution whose output went through the fused
// ReLU + 2x2 max-pool (relu_maxpool2x2_*): only each window's maximum carries
// gradient, so over the PH x PW windows of plane oc with idx < 4 (4: cut by ReLU),
//   dw[oc, kh * 3 + kw, c] += g * in[(p + kh * ld + kw) * C + c],
// p = (2 py + idx / 2) * ld + 2 px + idx % 2, the maximum's position in rows of ld.
// `in` is the padded input with channels last; C = 1 or a multiple of 4 (C = 1 reads
// one float past a kernel row: the padded plane's slack). A quarter of the
// products of the dense GEMM (3/4 of the conv's output gradient is zero), fewer
// still where ReLU cut windows.
void conv3x3_wgrad_pooled_f32(float* dw, const float* in, int ld, int C, const float* g,
                              const int32_t* idx, int OC, int PH, int PW);

// Input gradient of the same convolution from the same windows: for each maximum,
//   din[(p + kh * ld + kw) * C + c] += g * w[oc, kh * 3 + kw, c]
// into the padded input gradient, channels last (its pad positions collect junk).
void conv3x3_dgrad_pooled_f32(float* din, int ld, int C, const float* w, const float* g,
                              const int32_t* idx, int OC, int PH, int PW);

// The same two gradients for any KH x KW kernel and any C (the 3x3 kernels above keep
// the seed's bits; these vectorize along a kernel row's KW * C neighbouring floats,
// channels last, in any order of summation). Rows of the weights are ldw floats
// apart, ldw >= KW * C rounded up to 4 (ldw % 4 == 0):
//   dw[oc, kh, kw * C + c] += g * in[(p + kh * ld + kw) * C + c]
// (dw's lanes KW * C..ldw-1 collect junk), and
//   din[(p + kh * ld + kw) * C + c] += g * w[oc, kh, kw * C + c]
// (only those positions are written). `in` must be readable 3 floats past the last tap.
void conv_wgrad_pooled_f32(float* dw, int ldw, const float* in, int ld, int C, int KH, int KW,
                           const float* g, const int32_t* idx, int OC, int PH, int PW);
void conv_dgrad_pooled_f32(float* din, int ld, int C, int KH, int KW, const float* w, int ldw,
                           const float* g, const int32_t* idx, int OC, int PH, int PW);

// winograd_output_f32 followed by relu_maxpool2x2_forward_f32, without writing the
// convolution's output: a 2x2 tile is a pooling window. pooled and idx are
// [OC, TH, TW] (bias may be null).
void winograd_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                   const float* bias, int OC, int TH, int TW);

// dst[cols, rows] = src[rows, cols]^T (leading dimensions ldd, lds).
void transpose_f32(float* dst, int ldd, const float* src, int lds, int rows, int cols);
// `rows` rows of `cols` floats from src (rows lds apart) to dst (rows ldd apart); with
// zero_tail, columns cols..ldd-1 of dst become 0 (the junk columns of padded rows).
// dst and src must not overlap.
void copy_rows_f32(float* dst, int ldd, const float* src, int lds, size_t rows, int cols, bool zero_tail);

// dst[i] += src[i]
void add_f32(float* dst, const float* src, size_t n);
// dst[i] = src[i] * scale (u8 -> f32; ToTensor's x / 255 when scale = 1/255 is not
// exact, so the division is done as PyTorch does: x / 255.f).
void u8_to_f32_div(float* dst, const uint8_t* src, size_t n, float divisor);

// PyTorch's Adam (torch.optim.Adam, 1.13, single-tensor path), one flat loop:
//   g = grad + weight_decay * p
//   m = m * b1 + (1 - b1) * g;  v = v * b2 + (1 - b2) * g * g
//   p = p + (-step_size) * m / (sqrt(v) / bc2_sqrt + eps)
// with step_size = lr / (1 - b1^t) and bc2_sqrt = sqrt(1 - b2^t) computed in double
// by the caller and passed as floats, as PyTorch's scalar arguments are.
void adam_update_f32(float* p, const float* grad, float* m, float* v, size_t n, double beta1,
                     double beta2, float eps, float weight_decay, float neg_step_size,
                     float bc2_sqrt);

}  // namespace wt

namespace wt {

// Fused ReLU + 2x2/stride-2 max-pool over `planes` planes of H x W (H, W even):
//   out = max(0, max of each window); idx = 0..3, the first maximum of the window in
//   scan order (PyTorch's tie rule), or 4 when the window's max is <= 0 (ReLU cut it:
//   no gradient). Exactly relu-then-maxpool: max commutes with the monotone ReLU.
// Input rows are in_stride floats apart (0 = W): conv outputs with padded rows.
void relu_maxpool2x2_forward_f32(float* out, int32_t* idx, const float* in, size_t planes,
                                 int H, int W, int in_stride = 0);
// din[planes, H, din_stride] = dout routed to each window's idx position, zeros
// elsewhere (including columns W..din_stride-1).
void relu_maxpool2x2_backward_f32(float* din, const float* dout, const int32_t* idx,
                                  size_t planes, int H, int W, int din_stride = 0);

// sum of n floats (4 partial sums, then combined in a fixed order).
float sum_f32(const float* x, size_t n);

// BatchNorm (batchnorm.cc), one plane of n values at a time. The sums are in double,
// in a fixed order (8 partial sums, then the tail): the same numbers on any
// run and thread count.
//   bn_sums_f64:      *s += sum of x, *q += sum of x^2;
//   bn_grad_sums_f64: *s += sum of dy, *p += sum of dy * (x - mean), x - mean in float;
//   bn_backward_f32:  dx = (dy - grad_mean - (x - mean) * proj) * invstd * w, each
//                     operation in float in that order (PyTorch's formula).
void bn_sums_f64(const float* x, size_t n, double* s, double* q);
void bn_grad_sums_f64(const float* dy, const float* x, float mean, size_t n, double* s, double* p);
void bn_backward_f32(float* dx, const float* dy, const float* x, size_t n, float mean,
                     float grad_mean, float proj, float invstd, float w);
// bn_backward_f32 on a plane of H x W (both even) whose dy is the gradient of ReLU +
// 2x2 max-pool (relu_maxpool2x2_backward_f32 of g and idx, [H/2, W/2]), without
// writing dy: the same numbers, bit for bit.
void bn_backward_pooled_f32(float* dx, const float* g, const int32_t* idx, const float* x, int H,
                            int W, float mean, float grad_mean, float proj, float invstd, float w);

}  // namespace wt

namespace wt {
// The machine's multiply-add throughput, for the benchmark's "achieved vs peak":
// 8 independent accumulator chains of MulAdd on register-resident vectors (wasm
// SIMD128 has no FMA, so there it is a mul and an add). Performs
// iters * 8 * lanes * 2 FLOP; returns a value that depends on all of them.
float peak_probe_f32(int64_t iters);
int simd_lanes_f32();
}  // namespace wt
