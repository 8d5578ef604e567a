// What the SIMD kernels of this test binary were built as, measured rather than
// assumed: the lane count (Highway's static target follows the compiler flags) and
// whether the kernels' multiply-adds are fused. The native suite is built twice
// (CMakeLists.txt): wt_tests at AVX2 (8 lanes, FMA) and wt_tests_w4 at SSE4 (4 lanes,
// separate mul and add), which computes the same bits as the wasm build (SIMD128:
// 4 lanes, no FMA). Tests that compare with numbers the wasm build made compare
// bits where kernels_like_wasm() and use a tolerance otherwise.
#pragma once
#include <cstring>

#include "kernels/kernels.h"

namespace kernel_build {

// One GEMM element c + a * b through the vector body (N = lanes, K = 1, acc):
// a = b = 1 + 2^-12, c = -1. a * b = 1 + 2^-11 + 2^-24 is a tie in float that
// rounds to 1 + 2^-11, so mul then add gives 2^-11; fused gives 2^-11 + 2^-24.
inline bool kernels_use_fma() {
  const int L = wt::simd_lanes_f32();
  float a = 1.f + 1.f / 4096.f, b[64], c[64];
  for (int j = 0; j < L; ++j) b[j] = a, c[j] = -1.f;
  wt::gemm_nn_f32(1, L, 1, &a, 1, b, L, c, L, true);
  return c[0] != 1.f / 2048.f;
}

// 4 lanes without FMA: the kernels compute what the wasm build computes.
inline bool kernels_like_wasm() { return wt::simd_lanes_f32() == 4 && !kernels_use_fma(); }

}  // namespace kernel_build
