// SIMD kernels (src/kernels/kernels.h) against scalar references, Highway's and
// XNNPACK's way: sizes around the vector width (1, L-1, L, L+1, primes, the
// model's own 72/196/784), leading dimensions wider than the rows with NaN in
// the padding, pointers misaligned by one float, acc on and off, tolerance
// scaled by epsilon x reduction length. Failures print position, expected,
// actual and every dimension.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernel_build.h"
#include "kernels/kernels.h"
#include "reference.h"

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kEpsF = 1.1920928955078125e-7;  // FLT_EPSILON

// NN_ROWS / NT_ROWS: gemm_nn_rows_f32 / gemm_nt_rows_f32, B given as a table of row
// pointers (the shifted GEMM's rows: overlapping windows of one padded image).
enum class Op { NN, TN, NT, NN_ROWS, NT_ROWS };
const char* op_name(Op op) {
  switch (op) {
    case Op::NN: return "gemm_nn";
    case Op::TN: return "gemm_tn";
    case Op::NT: return "gemm_nt";
    case Op::NN_ROWS: return "gemm_nn_rows";
    case Op::NT_ROWS: return "gemm_nt_rows";
  }
  return "?";
}

// A matrix of `rows` x `cols` stored with leading dimension ld >= cols, in a
// buffer that starts `offset` floats past an allocation; everything outside the
// matrix (padding, the offset) is NaN.
struct Mat {
  std::vector<float> buf;
  int rows, cols, ld, offset;
  Mat(int r, int c, int pad, int off) : rows(r), cols(c), ld(c + pad), offset(off) {
    buf.assign((size_t)off + (size_t)r * ld + 8, kNaN);
  }
  float* p() { return buf.data() + offset; }
  float& at(int i, int j) { return buf[(size_t)offset + (size_t)i * ld + j]; }
  void randomize(ref::Rng& rng) {
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) at(i, j) = rng.uniform(-1.f, 1.f);
  }
};

// Runs one GEMM case and compares every element of C with a double reference.
// Tolerance: (K + 2) * eps * (sum_k |a_ik b_kj| + |c_ij|) -- the standard bound
// for a recursive float sum of K products, with or without FMA.
void check_gemm(Op op, int M, int N, int K, bool acc, int pad, int off, ref::Rng& rng) {
  // Storage shapes: NN A[M,K] B[K,N]; TN A[K,M] B[K,N]; NT A[M,K] B[N,K]; the rows
  // variants take B's rows (K of N floats, or N of K) from a table.
  const bool ta = op == Op::TN, tb = op == Op::NT || op == Op::NT_ROWS;
  const bool rows = op == Op::NN_ROWS || op == Op::NT_ROWS;
  Mat A(ta ? K : M, ta ? M : K, pad, off);
  Mat B(tb ? N : K, tb ? K : N, pad + 1, off);
  Mat C(M, N, pad + 2, off);
  A.randomize(rng);
  B.randomize(rng);
  // The table: each row a window of `len` floats starting anywhere in one pool of
  // random floats (rows overlap, repeat, and are misaligned), the last row ending at
  // the pool's end, NaN after it (a read past a row's end shows).
  const int nrows = tb ? N : K, len = tb ? K : N;
  std::vector<float> pool;
  std::vector<const float*> table;
  if (rows) {
    const int span = len + 2 * nrows + 3;
    pool.assign((size_t)span + 8, kNaN);
    for (int i = 0; i < span; ++i) pool[i] = rng.uniform(-1.f, 1.f);
    for (int r = 0; r < nrows; ++r)
      table.push_back(pool.data() + (r == nrows - 1 ? span - len : rng.below((uint32_t)(span - len + 1))));
  }
  auto bval = [&](int k, int j) -> double {  // B[k, j] (NN, TN) or B[j, k] (NT)
    if (rows) return tb ? table[j][k] : table[k][j];
    return tb ? B.at(j, k) : B.at(k, j);
  };
  std::vector<float> c0((size_t)M * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      // acc = false must not read C: leave NaN there.
      if (acc) C.at(i, j) = rng.uniform(-1.f, 1.f);
      c0[(size_t)i * N + j] = C.at(i, j);
    }
  const std::vector<float> before = C.buf;
  switch (op) {
    case Op::NN: wt::gemm_nn_f32(M, N, K, A.p(), A.ld, B.p(), B.ld, C.p(), C.ld, acc); break;
    case Op::TN: wt::gemm_tn_f32(M, N, K, A.p(), A.ld, B.p(), B.ld, C.p(), C.ld, acc); break;
    case Op::NT: wt::gemm_nt_f32(M, N, K, A.p(), A.ld, B.p(), B.ld, C.p(), C.ld, acc); break;
    case Op::NN_ROWS: wt::gemm_nn_rows_f32(M, N, K, A.p(), A.ld, table.data(), C.p(), C.ld, acc); break;
    case Op::NT_ROWS: wt::gemm_nt_rows_f32(M, N, K, A.p(), A.ld, table.data(), C.p(), C.ld, acc); break;
  }
  std::ostringstream dims;
  dims << op_name(op) << " M=" << M << " N=" << N << " K=" << K << " acc=" << acc
       << " lda=" << A.ld << " ldb=" << B.ld << " ldc=" << C.ld << " offset=" << off;
  int fails = 0;
  for (int i = 0; i < M && fails < 3; ++i)
    for (int j = 0; j < N && fails < 3; ++j) {
      double want = acc ? (double)c0[(size_t)i * N + j] : 0.0;
      double mag = std::fabs(want);
      for (int k = 0; k < K; ++k) {
        const double a = ta ? A.at(k, i) : A.at(i, k);
        const double b = bval(k, j);
        want += a * b;
        mag += std::fabs(a * b);
      }
      const double got = C.at(i, j);
      const double tol = (K + 2) * kEpsF * mag + 1e-30;
      if (!(std::fabs(got - want) <= tol)) {
        ++fails;
        ADD_FAILURE() << dims.str() << ": C[" << i << "," << j << "] expected " << want << ", got "
                      << got << " (allowed error " << tol << ")";
      }
    }
  // Nothing outside C's M x N window may change (padding and offset stay NaN).
  for (size_t t = 0; t < C.buf.size() && fails < 4; ++t) {
    const size_t rel = t - (size_t)off;
    const bool inside = t >= (size_t)off && (int)(rel / C.ld) < M && (int)(rel % C.ld) < N;
    if (!inside && std::memcmp(&C.buf[t], &before[t], sizeof(float)) != 0) {
      ++fails;
      ADD_FAILURE() << dims.str() << ": wrote outside C at buffer index " << t << " (value "
                    << C.buf[t] << ")";
    }
  }
}

const int kSmall[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33};
const int kLarge[] = {1, 5, 17, 72, 196, 784};

class GemmTest : public ::testing::TestWithParam<Op> {};

// Every (M, N, K) from the small sizes: covers 4-row blocks + remainder rows,
// 3-vector / 1-vector / scalar column remainders, dot-product tails.
TEST_P(GemmTest, AllSmallSizesPaddedMisaligned) {
  ref::Rng rng(1 + (int)GetParam());
  int c = 0;
  for (int M : kSmall)
    for (int N : kSmall)
      for (int K : kSmall) {
        const int pad = 1 + c % 3, off = c % 2;  // ld > width always; half misaligned
        check_gemm(GetParam(), M, N, K, (c / 2) % 2 == 1, pad, off, rng);
        ++c;
        if (HasFailure()) return;
      }
}

// Large and model-shaped sizes (conv2 per image is 16 x 196 x 72; fc is 784
// wide), both acc modes, padded, misaligned.
TEST_P(GemmTest, LargeSizesPaddedMisaligned) {
  ref::Rng rng(10 + (int)GetParam());
  int c = 0;
  for (int M : kLarge)
    for (int N : kLarge)
      for (int K : kLarge) {
        if ((double)M * N * K > 4e6) continue;
        for (int acc = 0; acc < 2; ++acc) {
          check_gemm(GetParam(), M, N, K, acc == 1, 3, (c++) % 2, rng);
          if (HasFailure()) return;
        }
      }
  // The exact shapes the model calls.
  for (int acc = 0; acc < 2; ++acc) {
    check_gemm(GetParam(), 16, 196, 72, acc, 0, 1, rng);
    check_gemm(GetParam(), 8, 784, 9, acc, 0, 1, rng);
    check_gemm(GetParam(), 72, 196, 16, acc, 0, 1, rng);
    check_gemm(GetParam(), 16, 72, 196, acc, 0, 1, rng);
    check_gemm(GetParam(), 10, 784, 16, acc, 0, 1, rng);
    check_gemm(GetParam(), 16, 10, 784, acc, 0, 1, rng);
    // Rows of 14 in 15 floats: 210 and 406 columns end in a partial vector.
    check_gemm(GetParam(), 16, 210, 72, acc, 0, 1, rng);
    check_gemm(GetParam(), 8, 210, 144, acc, 0, 1, rng);
    check_gemm(GetParam(), 72, 16, 210, acc, 0, 1, rng);
    check_gemm(GetParam(), 9, 8, 812, acc, 0, 1, rng);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemmTest,
                         ::testing::Values(Op::NN, Op::TN, Op::NT, Op::NN_ROWS, Op::NT_ROWS),
                         [](const ::testing::TestParamInfo<Op>& i) {
                           return std::string(op_name(i.param));
                         });

// Sizes for the elementwise kernels: around 4 (wasm) and 8 (AVX2) lanes, and big.
const size_t kLens[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 72, 196, 784, 1000};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// gemm_nn_f32 over a B too large for the cache goes in column chunks: bit for bit what
// the unchunked kernel gives (gemm_nn_rows_f32 on the same rows), for the Linear input
// gradient's shape and widths that end in partial blocks.
TEST(Kernels, GemmNnColumnChunksChangeNoBits) {
  ref::Rng rng(43);
  for (int N : {3136, 2049 + 1024, 5000 + 3})
    for (bool acc : {false, true}) {
      const int M = 5, K = 130;
      std::vector<float> A((size_t)M * K), B((size_t)K * N), c0((size_t)M * N);
      rng.fill(A, -1.f, 1.f), rng.fill(B, -1.f, 1.f), rng.fill(c0, -1.f, 1.f);
      std::vector<const float*> rows(K);
      for (int k = 0; k < K; ++k) rows[k] = B.data() + (size_t)k * N;
      std::vector<float> want = c0, got = c0;
      wt::gemm_nn_rows_f32(M, N, K, A.data(), K, rows.data(), want.data(), N, acc);
      wt::gemm_nn_f32(M, N, K, A.data(), K, B.data(), N, got.data(), N, acc);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_TRUE(same_bits(got[i], want[i])) << "N=" << N << " acc=" << acc << " at " << i;
    }
}

// gemm_nn_rows_bias_f32 is bit for bit C filled with the bias then gemm_nn_rows_f32 with
// acc (vector blocks, the overlapping tail block, the scalar path of N < lanes, and K
// past one packed slice), and writes nothing outside C.
TEST(Kernels, GemmNnRowsBiasIsFillThenAccumulate) {
  ref::Rng rng(41);
  for (int M : {1, 2, 3, 8, 17})
    for (int N : {1, 3, 7, 12, 14, 33, 210})
      for (int K : {1, 9, 25, 600}) {
        const int ldc = N + 3;
        std::vector<float> A((size_t)M * K), B((size_t)K * N), bias(M);
        rng.fill(A, -1.f, 1.f), rng.fill(B, -1.f, 1.f), rng.fill(bias, -1.f, 1.f);
        std::vector<const float*> rows(K);
        for (int k = 0; k < K; ++k) rows[k] = B.data() + (size_t)k * N;
        std::vector<float> want((size_t)M * ldc + 1, kNaN), got(want);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) want[(size_t)m * ldc + n] = bias[m];
        wt::gemm_nn_rows_f32(M, N, K, A.data(), K, rows.data(), want.data(), ldc, /*acc=*/true);
        wt::gemm_nn_rows_bias_f32(M, N, K, A.data(), K, rows.data(), bias.data(), got.data(), ldc);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_TRUE(same_bits(got[i], want[i])) << "M=" << M << " N=" << N << " K=" << K << " at " << i
                                                  << ": " << got[i] << " vs " << want[i];
      }
}

// Softmax rows against a double reference: every probability within a few float ulps
// (Highway's Exp has at most 1 ulp of error), rows whose values would overflow a naive
// exp, one dominant logit (others underflow to 0), and row counts that leave a vector tail.
TEST(Kernels, SoftmaxRowsVsDouble) {
  ref::Rng rng(21);
  for (int rows : {1, 2, 3, 7, 16, 64})
    for (int V : {1, 2, 3, 4, 5, 10, 17}) {
      std::vector<float> logits((size_t)rows * V), probs(logits.size() + 1, kNaN), mx(rows), sum(rows);
      for (size_t i = 0; i < logits.size(); ++i) logits[i] = rng.uniform(-8.f, 8.f);
      if (rows > 1) logits[V] = 300.f;                 // row 1: exp(300) overflows float
      if (rows > 2) logits[2 * V] = logits[2 * V] + 120.f;  // row 2: one logit dominates
      wt::softmax_rows_f32(probs.data(), mx.data(), sum.data(), logits.data(), rows, V);
      for (int r = 0; r < rows; ++r) {
        double m = -INFINITY, s = 0;
        for (int v = 0; v < V; ++v) m = std::max(m, (double)logits[(size_t)r * V + v]);
        for (int v = 0; v < V; ++v) s += std::exp((double)logits[(size_t)r * V + v] - m);
        ASSERT_EQ(mx[r], (float)m) << "rows=" << rows << " V=" << V << " row " << r;
        ASSERT_NEAR(sum[r], s, 8 * kEpsF * s) << "rows=" << rows << " V=" << V << " row " << r;
        for (int v = 0; v < V; ++v) {
          const double want = std::exp((double)logits[(size_t)r * V + v] - m) / s;
          ASSERT_NEAR(probs[(size_t)r * V + v], want, 8 * kEpsF * want + 1e-37)
              << "rows=" << rows << " V=" << V << " at (" << r << "," << v << ")";
        }
      }
      ASSERT_TRUE(std::isnan(probs.back())) << "wrote past the rows";
    }
}

// Where V[xi, c, t] (or M[xi, oc, t]) is (kernels.h), and whether index i of such a
// matrix holds a tile's value (not the padding between tiles or matrices).
size_t wino_at(int xi, int C, int ldt, int c, int t) {
  return xi * wt::wino_xi_stride(C, ldt) + (size_t)c * ldt + t;
}
bool wino_in_tiles(size_t i, int C, int ldt, int T) {
  const size_t r = i % wt::wino_xi_stride(C, ldt);
  return r < (size_t)C * ldt && r % ldt < (size_t)T;
}

// Winograd F(2x2, 3x3) transforms against their matrix definitions in double:
// V = B^T d B per 4x4 patch, y = A^T m A + bias per tile; tile rows of 4, 5, 7, 9
// (the last group of 4 overlaps), V/M rows wider than the tiles (ldt > T), 1, 3 or 4
// channels, bias or none (C = 1 runs without). Tolerance: a float sum of n terms in
// any order is within (n - 1) eps of the sum of their magnitudes: V sums 4 of the
// patch (3 eps), y sums 9 of M and the bias (9 eps).
TEST(Kernels, WinogradTransformsVsMatrices) {
  const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  ref::Rng rng(12);
  for (int C : {3, 1, 4})
  for (int TW : {4, 5, 7, 9})
    for (int TH : {1, 3}) {
      const int T = TH * TW, ldt = T + 5;
      // Input: C planes of (2 TH + 2) x (2 TW + 2), rows padded to in_ld.
      const int in_ld = 2 * TW + 3, rows = 2 * TH + 2;
      const size_t plane = (size_t)rows * in_ld + 1;
      std::vector<float> in(C * plane);
      for (float& v : in) v = rng.uniform(-1.f, 1.f);
      std::vector<float> V(16 * wt::wino_xi_stride(C, ldt), kNaN);
      wt::winograd_input_f32(V.data(), ldt, in.data(), in_ld, plane, C, TH, TW);
      for (int c = 0; c < C; ++c)
        for (int ty = 0; ty < TH; ++ty)
          for (int tx = 0; tx < TW; ++tx)
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) {
                double want = 0, mag = 0;
                for (int i = 0; i < 4; ++i)
                  for (int j = 0; j < 4; ++j) {
                    const double term = BT[a][i] * in[c * plane + (size_t)(2 * ty + i) * in_ld + 2 * tx + j] * BT[b][j];
                    want += term, mag += std::fabs(term);
                  }
                const float got = V[wino_at(4 * a + b, C, ldt, c, ty * TW + tx)];
                ASSERT_NEAR(got, want, 3 * kEpsF * mag + 1e-37)
                    << "input transform C=" << C << " TW=" << TW << " TH=" << TH << " c=" << c
                    << " tile (" << ty << "," << tx << ") xi=" << 4 * a + b;
              }
      for (size_t i = 0; i < V.size(); ++i)
        if (!wino_in_tiles(i, C, ldt, T)) {
          ASSERT_TRUE(std::isnan(V[i])) << "input transform wrote past T at " << i;
        }

      // Output: M[xi, oc, t] -> out planes of 2 TH x 2 TW, rows padded to out_ld.
      const int OC = 2, out_ld = 2 * TW + 1;
      const size_t oplane = (size_t)2 * TH * out_ld + 3;
      std::vector<float> M(16 * wt::wino_xi_stride(OC, ldt)), bias = {0.25f, -0.5f}, out(OC * oplane, kNaN);
      for (float& v : M) v = rng.uniform(-1.f, 1.f);
      const float* b = C == 1 ? nullptr : bias.data();
      wt::winograd_output_f32(out.data(), out_ld, oplane, M.data(), ldt, b, OC, TH, TW);
      for (int oc = 0; oc < OC; ++oc)
        for (int y = 0; y < 2 * TH; ++y)
          for (int x = 0; x < out_ld; ++x) {
            const float got = out[oc * oplane + (size_t)y * out_ld + x];
            if (x >= 2 * TW) {
              ASSERT_TRUE(std::isnan(got)) << "output transform wrote column " << x;
              continue;
            }
            const int t = (y / 2) * TW + x / 2, i = y % 2, j = x % 2;
            double want = b ? b[oc] : 0.0, mag = std::fabs(want);
            for (int a = 0; a < 4; ++a)
              for (int bb = 0; bb < 4; ++bb) {
                const double term = AT[i][a] * M[wino_at(4 * a + bb, OC, ldt, oc, t)] * AT[j][bb];
                want += term, mag += std::fabs(term);
              }
            ASSERT_NEAR(got, want, 9 * kEpsF * mag + 1e-37)
                << "output transform C=" << C << (b ? "" : " (no bias)") << " TW=" << TW << " TH=" << TH
                << " oc=" << oc << " at (" << y << "," << x << ")";
          }
    }
}

// winograd_input_pad1_f32 reads an unpadded plane as if padded by one zero on every
// side: bit for bit winograd_input_f32 of the padded copy. Everything around the
// planes (the row gaps, before and after) is NaN, so a read outside them shows.
TEST(Kernels, WinogradInputPad1IsTheTransformOfThePaddedCopy) {
  ref::Rng rng(31);
  for (int C : {1, 3})
    for (int TW : {4, 5, 7, 8, 9})
      for (int TH : {1, 3, 7})
        for (int gap : {0, 3}) {
          const int H = 2 * TH, W = 2 * TW, ld = W + gap, T = TH * TW, ldt = T + 3;
          const size_t plane = (size_t)H * ld + gap, front = 8;
          std::vector<float> in(front + C * plane + 8, kNaN);
          const int pld = W + 2, prows = H + 2;  // the padded copy
          std::vector<float> padded((size_t)C * prows * pld, 0.f);
          for (int c = 0; c < C; ++c)
            for (int y = 0; y < H; ++y)
              for (int x = 0; x < W; ++x) {
                const float v = rng.uniform(-1.f, 1.f);
                in[front + c * plane + (size_t)y * ld + x] = v;
                padded[((size_t)c * prows + y + 1) * pld + x + 1] = v;
              }
          std::vector<float> want(16 * wt::wino_xi_stride(C, ldt), 7.f), got(want);
          wt::winograd_input_f32(want.data(), ldt, padded.data(), pld, (size_t)prows * pld, C, TH, TW);
          wt::winograd_input_pad1_f32(got.data(), ldt, in.data() + front, ld, plane, C, TH, TW);
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_TRUE(same_bits(got[i], want[i]))
                << got[i] << " vs " << want[i] << ": C=" << C << " TW=" << TW << " TH=" << TH << " gap=" << gap << " at " << i;
        }
}

// winograd_output_grad_f32 (the weight gradient's transform of dout) against the
// matrices, dM[xi = 4a + b] = (A dY A^T)[a, b], and as the adjoint of the output
// transform: <A^T M A, dY> = <M, A dY A^T> summed over tiles, in double.
TEST(Kernels, WinogradOutputGradIsTheAdjointOfTheOutputTransform) {
  const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  ref::Rng rng(13);
  for (int TW : {4, 5, 7, 9})
    for (int TH : {1, 2, 3}) {
      const int OC = 3, T = TH * TW, ldt = T + 3, out_ld = 2 * TW + 1;
      const size_t oplane = (size_t)2 * TH * out_ld + 2;
      std::vector<float> dout(OC * oplane, kNaN), dM(16 * wt::wino_xi_stride(OC, ldt), kNaN);
      for (int oc = 0; oc < OC; ++oc)
        for (int y = 0; y < 2 * TH; ++y)
          for (int x = 0; x < 2 * TW; ++x) dout[oc * oplane + (size_t)y * out_ld + x] = rng.uniform(-1.f, 1.f);
      wt::winograd_output_grad_f32(dM.data(), ldt, dout.data(), out_ld, oplane, OC, TH, TW);
      std::vector<float> M(16 * wt::wino_xi_stride(OC, ldt), 0.f), out(OC * oplane, 0.f);
      for (int oc = 0; oc < OC; ++oc)
        for (int t = 0; t < T; ++t)
          for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) {
              const int ty = t / TW, tx = t % TW;
              double want = 0, mag = 0;
              for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j) {
                  const double term = AT[i][a] * dout[oc * oplane + (size_t)(2 * ty + i) * out_ld + 2 * tx + j] * AT[j][b];
                  want += term, mag += std::fabs(term);
                }
              const size_t at = wino_at(4 * a + b, OC, ldt, oc, t);
              ASSERT_NEAR(dM[at], want, 3 * kEpsF * mag + 1e-37)
                  << "TW=" << TW << " TH=" << TH << " oc=" << oc << " tile " << t << " xi=" << 4 * a + b;
              M[at] = rng.uniform(-1.f, 1.f);
            }
      for (size_t i = 0; i < dM.size(); ++i)
        if (!wino_in_tiles(i, OC, ldt, T)) {
          ASSERT_TRUE(std::isnan(dM[i])) << "wrote past T at " << i;
        }
      wt::winograd_output_f32(out.data(), out_ld, oplane, M.data(), ldt, nullptr, OC, TH, TW);
      double lhs = 0, rhs = 0, mag = 0;
      for (int oc = 0; oc < OC; ++oc)
        for (int y = 0; y < 2 * TH; ++y)
          for (int x = 0; x < 2 * TW; ++x) {
            const size_t o = oc * oplane + (size_t)y * out_ld + x;
            lhs += (double)out[o] * dout[o], mag += std::fabs((double)out[o] * dout[o]);
          }
      for (int oc = 0; oc < OC; ++oc)
        for (int xi = 0; xi < 16; ++xi)
          for (int t = 0; t < T; ++t) {
            const size_t at = wino_at(xi, OC, ldt, oc, t);
            rhs += (double)M[at] * dM[at];
          }
      EXPECT_NEAR(lhs, rhs, 1e-5 * mag) << "adjoint identity TW=" << TW << " TH=" << TH;
    }
}

// V from winograd4_input_f32 or winograd25_input_f32 against B^T d B in double (the
// B^T they share), for 6x6 patches at `stride`, and nothing written between tiles or
// matrices. Tolerance: V sums 36 terms of the patch with weights up to 25 (8 eps).
void check_input6(const std::vector<float>& V, int ldt, const std::vector<float>& in, int in_ld,
                  size_t plane, int C, int TH, int TW, int stride) {
  const double BT[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  const int T = TH * TW;
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < T; ++t)
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          const int ty = t / TW, tx = t % TW;
          double want = 0, mag = 0;
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) {
              const double x = in[c * plane + (size_t)(stride * ty + i) * in_ld + stride * tx + j];
              const double term = BT[a][i] * x * BT[b][j];
              want += term, mag += std::fabs(term);
            }
          ASSERT_NEAR(V[wino_at(6 * a + b, C, ldt, c, t)], want, 8 * kEpsF * mag + 1e-37)
              << "input transform (stride " << stride << ") C=" << C << " TW=" << TW << " TH=" << TH
              << " tile " << t << " xi=" << 6 * a + b;
        }
  for (size_t i = 0; i < V.size(); ++i)
    if (!wino_in_tiles(i, C, ldt, T)) {
      ASSERT_TRUE(std::isnan(V[i])) << "input transform (stride " << stride << ") wrote past T at " << i;
    }
}

// F(4x4, 3x3): the input and output transforms against B^T d B and A^T M A in double,
// whole and with the last tiles clipped, and the fused ReLU + pool output bit for bit
// against the output transform followed by relu_maxpool2x2_forward_f32 (its contract
// in kernels.h).
TEST(Kernels, Winograd4TransformsVsMatrices) {
  const double AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  ref::Rng rng(14);
  for (int C : {1, 4})
    for (int TW : {4, 5, 8})
      for (int TH : {1, 2}) {
        const int T = TH * TW, ldt = T + 3;
        // Input planes of (4 TH + 2) rows of 4 TW + 4 columns (the last 2 are read
        // only into discarded lanes), rows padded to in_ld; slack after the plane.
        const int in_ld = 4 * TW + 5, rows = 4 * TH + 2;
        const size_t plane = (size_t)rows * in_ld + 4;
        std::vector<float> in(C * plane);
        for (float& v : in) v = rng.uniform(-1.f, 1.f);
        std::vector<float> V(36 * wt::wino_xi_stride(C, ldt), kNaN);
        wt::winograd4_input_f32(V.data(), ldt, in.data(), in_ld, plane, C, TH, TW);
        check_input6(V, ldt, in, in_ld, plane, C, TH, TW, /*stride=*/4);
        if (HasFatalFailure()) return;

        // The output, whole or with the last tiles clipped (by 2 rows and columns, or by
        // 1 row and 3 columns): nothing past OH x OW is written.
        for (const auto& [ch, cw] : {std::pair{0, 0}, std::pair{2, 2}, std::pair{1, 3}}) {
          const int OC = 3, OH = 4 * TH - ch, OW = 4 * TW - cw, out_ld = 4 * TW + 1;
          const size_t oplane = (size_t)4 * TH * out_ld + 2;
          std::vector<float> M(36 * wt::wino_xi_stride(OC, ldt)), bias = {0.25f, -0.5f, 0.f}, out(OC * oplane, kNaN);
          for (float& v : M) v = rng.uniform(-1.f, 1.f);
          const float* bp = C == 1 ? nullptr : bias.data();
          wt::winograd4_output_f32(out.data(), out_ld, oplane, M.data(), ldt, bp, OC, TH, TW, OH, OW);
          for (size_t i = (size_t)OC * oplane - 2; i < out.size(); ++i) ASSERT_TRUE(std::isnan(out[i]));
          for (int oc = 0; oc < OC; ++oc)
            for (int y = 0; y < 4 * TH; ++y)
              for (int x = 0; x < out_ld; ++x) {
                const float got = out[oc * oplane + (size_t)y * out_ld + x];
                if (x >= OW || y >= OH) {
                  ASSERT_TRUE(std::isnan(got)) << "output transform (" << OH << "x" << OW << ") wrote (" << y << "," << x << ")";
                  continue;
                }
                const int t = (y / 4) * TW + x / 4, i = y % 4, j = x % 4;
                double want = bp ? bp[oc] : 0.0, mag = std::fabs(want);
                for (int a = 0; a < 6; ++a)
                  for (int b = 0; b < 6; ++b) {
                    const double term = AT[i][a] * M[wino_at(6 * a + b, OC, ldt, oc, t)] * AT[j][b];
                    want += term, mag += std::fabs(term);
                  }
                ASSERT_NEAR(got, want, 16 * kEpsF * mag + 1e-37)
                    << "output transform TW=" << TW << " TH=" << TH << " (" << OH << "x" << OW << ") oc=" << oc
                    << " at (" << y << "," << x << ")";
              }
          if (ch % 2 || cw % 2 || OH < 2) continue;

          // Fused ReLU + pool: exactly the output transform, then relu_maxpool2x2.
          const int PH = OH / 2, PW = OW / 2;
          for (size_t i = 0; i < M.size(); i += 7) M[i] = 0.f;  // some ties and cut windows
          std::vector<float> conv((size_t)OC * OH * OW), want((size_t)OC * PH * PW + 1), got(want.size(), kNaN);
          std::vector<int32_t> want_idx(want.size()), got_idx(want.size(), -1);
          wt::winograd4_output_f32(conv.data(), OW, (size_t)OH * OW, M.data(), ldt, bp, OC, TH, TW, OH, OW);
          wt::relu_maxpool2x2_forward_f32(want.data(), want_idx.data(), conv.data(), OC, OH, OW);
          wt::winograd4_output_relu_pool_f32(got.data(), got_idx.data(), M.data(), ldt, bp, OC, TH, TW, PH, PW);
          ASSERT_TRUE(std::isnan(got.back())) << "fused relu-pool wrote past its planes";
          for (size_t i = 0; i + 1 < want.size(); ++i) {
            ASSERT_TRUE(same_bits(got[i], want[i])) << "fused relu-pool TW=" << TW << " TH=" << TH << " PH=" << PH << " at " << i;
            ASSERT_EQ(got_idx[i], want_idx[i]) << "fused relu-pool index TW=" << TW << " TH=" << TH << " at " << i;
          }
        }
      }
}

// F(2x2, 5x5): the input transform (B^T d B over 6x6 patches at stride 2) and the
// output transform (A^T M A, A^T 2x6) against the matrices in double, and the fused
// ReLU + pool bit for bit against the output transform then relu_maxpool2x2_forward_f32.
TEST(Kernels, Winograd25TransformsVsMatrices) {
  const double AT[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};
  ref::Rng rng(15);
  for (int C : {1, 3})
    for (int TW : {4, 5, 7})
      for (int TH : {1, 3}) {
        const int T = TH * TW, ldt = T + 3;
        // Planes of 2 TH + 4 rows of 2 TW + 4 columns, rows padded to in_ld.
        const int in_ld = 2 * TW + 5, rows = 2 * TH + 4;
        const size_t plane = (size_t)rows * in_ld;
        std::vector<float> in(C * plane);
        for (float& v : in) v = rng.uniform(-1.f, 1.f);
        std::vector<float> V(36 * wt::wino_xi_stride(C, ldt), kNaN);
        wt::winograd25_input_f32(V.data(), ldt, in.data(), in_ld, plane, C, TH, TW);
        check_input6(V, ldt, in, in_ld, plane, C, TH, TW, /*stride=*/2);
        if (HasFatalFailure()) return;

        const int OC = 3, out_ld = 2 * TW + 1;
        const size_t oplane = (size_t)2 * TH * out_ld + 2;
        std::vector<float> M(36 * wt::wino_xi_stride(OC, ldt)), bias = {0.25f, -0.5f, 0.f}, out(OC * oplane, kNaN);
        for (float& v : M) v = rng.uniform(-1.f, 1.f);
        const float* bp = C == 1 ? nullptr : bias.data();
        wt::winograd25_output_f32(out.data(), out_ld, oplane, M.data(), ldt, bp, OC, TH, TW);
        for (int oc = 0; oc < OC; ++oc)
          for (int y = 0; y < 2 * TH; ++y)
            for (int x = 0; x < out_ld; ++x) {
              const float got = out[oc * oplane + (size_t)y * out_ld + x];
              if (x >= 2 * TW) {
                ASSERT_TRUE(std::isnan(got)) << "output transform wrote column " << x;
                continue;
              }
              const int t = (y / 2) * TW + x / 2, i = y % 2, j = x % 2;
              double want = bp ? bp[oc] : 0.0, mag = std::fabs(want);
              for (int a = 0; a < 6; ++a)
                for (int b = 0; b < 6; ++b) {
                  const double term = AT[i][a] * M[wino_at(6 * a + b, OC, ldt, oc, t)] * AT[j][b];
                  want += term, mag += std::fabs(term);
                }
              ASSERT_NEAR(got, want, 12 * kEpsF * mag + 1e-37)
                  << "output transform TW=" << TW << " TH=" << TH << " oc=" << oc << " at (" << y << "," << x << ")";
            }

        const int H = 2 * TH, W = 2 * TW;
        for (size_t i = 0; i < M.size(); i += 7) M[i] = 0.f;  // some ties and cut windows
        std::vector<float> conv((size_t)OC * H * W), want((size_t)OC * TH * TW), got(want.size(), kNaN);
        std::vector<int32_t> want_idx(want.size()), got_idx(want.size(), -1);
        wt::winograd25_output_f32(conv.data(), W, (size_t)H * W, M.data(), ldt, bp, OC, TH, TW);
        wt::relu_maxpool2x2_forward_f32(want.data(), want_idx.data(), conv.data(), OC, H, W);
        wt::winograd25_output_relu_pool_f32(got.data(), got_idx.data(), M.data(), ldt, bp, OC, TH, TW);
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_TRUE(same_bits(got[i], want[i])) << "fused relu-pool TW=" << TW << " TH=" << TH << " at " << i;
          ASSERT_EQ(got_idx[i], want_idx[i]) << "fused relu-pool index TW=" << TW << " TH=" << TH << " at " << i;
        }
      }
}

TEST(Kernels, TransposeExact) {
  ref::Rng rng(9);
  for (int rows : {1, 3, 4, 5, 8, 9, 16, 17})
    for (int cols : {1, 2, 4, 7, 8, 13, 210, 812}) {
      const int lds = cols + 3, ldd = rows + 2;
      std::vector<float> src((size_t)rows * lds + 1), dst((size_t)cols * ldd + 1, kNaN);
      for (float& v : src) v = rng.uniform(-1.f, 1.f);
      const std::vector<float> before = dst;
      wt::transpose_f32(dst.data() + 1, ldd, src.data() + 1, lds, rows, cols);  // misaligned
      for (int j = 0; j < cols; ++j)
        for (int i = 0; i < ldd; ++i) {
          const float got = dst[1 + (size_t)j * ldd + i];
          const float want = i < rows ? src[1 + (size_t)i * lds + j] : before[1 + (size_t)j * ldd + i];
          ASSERT_TRUE(same_bits(got, want)) << "rows=" << rows << " cols=" << cols << " at (" << j << "," << i << ")";
        }
      ASSERT_TRUE(std::isnan(dst[0])) << "wrote before dst";
    }
}

// copy_rows_f32: each row's `cols` floats exactly, the tail zeroed or left alone,
// nothing written past a row's ldd floats or before dst.
TEST(Kernels, CopyRowsExact) {
  ref::Rng rng(18);
  for (int cols : {1, 3, 4, 7, 14, 28})
    for (int pad : {0, 2, 5})
      for (bool zero_tail : {false, true}) {
        const int lds = cols + 3, ldd = cols + pad, rows = 5;
        std::vector<float> src((size_t)rows * lds), dst((size_t)rows * ldd + 2, kNaN);
        rng.fill(src, -1.f, 1.f);
        wt::copy_rows_f32(dst.data() + 1, ldd, src.data(), lds, rows, cols, zero_tail);
        ASSERT_TRUE(std::isnan(dst[0])) << "wrote before dst";
        ASSERT_TRUE(std::isnan(dst.back())) << "wrote past the last row";
        for (int r = 0; r < rows; ++r)
          for (int x = 0; x < ldd; ++x) {
            const float got = dst[1 + (size_t)r * ldd + x];
            if (x < cols) ASSERT_TRUE(same_bits(got, src[(size_t)r * lds + x])) << "cols=" << cols << " (" << r << "," << x << ")";
            else if (zero_tail) ASSERT_TRUE(same_bits(got, 0.f)) << "tail not zeroed, cols=" << cols;
            else ASSERT_TRUE(std::isnan(got)) << "tail written, cols=" << cols;
          }
      }
}

TEST(Kernels, ReluForwardBackwardExact) {
  ref::Rng rng(3);
  for (size_t n : kLens)
    for (int off = 0; off < 2; ++off) {
      std::vector<float> x(n + 2), dy(n + 2), y(n + 2, kNaN), dx(n + 2, kNaN);
      for (size_t i = 0; i < n + 2; ++i) {
        const uint32_t r = rng.below(8);
        x[i] = r == 0 ? 0.f : r == 1 ? -0.f : rng.uniform(-2.f, 2.f);
        dy[i] = rng.uniform(-1.f, 1.f);
      }
      wt::relu_forward_f32(y.data() + off, x.data() + off, n);
      wt::relu_backward_f32(dx.data() + off, dy.data() + off, y.data() + off, n);
      for (size_t i = 0; i < n; ++i) {
        const float want = x[off + i] > 0.f ? x[off + i] : 0.f;
        ASSERT_TRUE(same_bits(y[off + i], want))
            << "relu_forward n=" << n << " offset=" << off << " at " << i << ": x=" << x[off + i]
            << " expected " << want << " got " << y[off + i];
        const float wantd = want > 0.f ? dy[off + i] : 0.f;
        ASSERT_TRUE(same_bits(dx[off + i], wantd))
            << "relu_backward n=" << n << " offset=" << off << " at " << i << " expected " << wantd
            << " got " << dx[off + i];
      }
      // Nothing written past n (or before the offset).
      for (size_t i = off + n; i < n + 2; ++i) {
        ASSERT_TRUE(std::isnan(y[i]) && std::isnan(dx[i])) << "wrote past the end, n=" << n;
      }
      if (off) {
        ASSERT_TRUE(std::isnan(y[0]) && std::isnan(dx[0])) << "wrote before the start, n=" << n;
      }
    }
  // In place, as the model calls it.
  std::vector<float> v = {-1.f, 2.f, -3.f, 4.f, 0.f, 5.f, -6.f, 7.f, 8.f, -9.f, 10.f};
  wt::relu_forward_f32(v.data(), v.data(), v.size());
  const std::vector<float> want = {0.f, 2.f, 0.f, 4.f, 0.f, 5.f, 0.f, 7.f, 8.f, 0.f, 10.f};
  EXPECT_EQ(v, want);
}

TEST(Kernels, AddExact) {
  ref::Rng rng(4);
  for (size_t n : kLens)
    for (int off = 0; off < 2; ++off) {
      std::vector<float> a(n + 2), b(n + 2);
      rng.fill(a, -10.f, 10.f);
      rng.fill(b, -10.f, 10.f);
      a[n + 1] = kNaN;  // past the end: untouched
      b[n + 1] = kNaN;
      const std::vector<float> a0 = a;
      wt::add_f32(a.data() + off, b.data() + off, n);
      for (size_t i = 0; i < n + 2; ++i) {
        const bool in = i >= (size_t)off && i < off + n;
        const float want = in ? a0[i] + b[i] : a0[i];
        ASSERT_TRUE(same_bits(a[i], want))
            << "add_f32 n=" << n << " offset=" << off << " at " << i << ": expected " << want
            << " got " << a[i];
      }
    }
}

TEST(Kernels, U8ToF32DivIsExactDivisionBy255) {
  std::vector<uint8_t> src(1000 + 1);
  for (size_t i = 0; i < src.size(); ++i) src[i] = (uint8_t)(i * 37 + 11);
  for (size_t v = 0; v < 256; ++v) src[v + 1] = (uint8_t)v;  // all 256 values
  for (size_t n : kLens)
    for (int off = 0; off < 2; ++off) {
      std::vector<float> dst(n + 2, kNaN);
      wt::u8_to_f32_div(dst.data() + off, src.data() + off, n, 255.f);
      for (size_t i = 0; i < n; ++i) {
        const float want = (float)src[off + i] / 255.f;
        ASSERT_TRUE(same_bits(dst[off + i], want))
            << "u8_to_f32_div n=" << n << " offset=" << off << " at " << i << ": "
            << (int)src[off + i] << "/255 expected " << want << " got " << dst[off + i];
      }
      ASSERT_TRUE(std::isnan(dst[off + n]));
    }
  // 255 -> exactly 1, 0 -> exactly 0; and x/255.f differs from x*(1/255.f) for
  // some x, so this checks the division was not replaced by a multiplication.
  float one, zero;
  const uint8_t hi = 255, lo = 0;
  wt::u8_to_f32_div(&one, &hi, 1, 255.f);
  wt::u8_to_f32_div(&zero, &lo, 1, 255.f);
  EXPECT_EQ(one, 1.f);
  EXPECT_EQ(zero, 0.f);
  int differ = 0;
  for (int x = 0; x < 256; ++x) differ += (float)x / 255.f != (float)x * (1.f / 255.f);
  EXPECT_GT(differ, 0) << "test premise: multiplication by 1/255 is not exact";
}

// Scalar float reference following kernels.h's formula op by op (no FMA: the
// tests are compiled with -ffp-contract=off like the core).
void adam_ref(float* p, const float* grad, float* m, float* v, size_t n, float b1, float b2,
              float eps, float wd, float neg_step, float bc2_sqrt) {
  const float c1 = 1.f - b1, c2 = 1.f - b2;
  for (size_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (wd != 0.f) g = g + p[i] * wd;
    m[i] = m[i] * b1 + g * c1;
    v[i] = v[i] * b2 + (g * g) * c2;
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] = p[i] + (neg_step * m[i]) / denom;
  }
}

// Note: adam_ref mirrors the kernel's current c1 = 1.f - b1 (see
// test_adam.cpp, OneMinusBetaIsComputedInDoubleLikePyTorch); if the kernel takes
// (1 - beta) from the caller, change c1/c2 here the same way.
TEST(Kernels, AdamUpdateMatchesScalarReferenceBitForBit) {
  ref::Rng rng(5);
  for (float wd : {0.f, 0.01f})
    for (size_t n : kLens)
      for (int off = 0; off < 2; ++off) {
        const size_t len = n + 2;
        std::vector<float> p(len), g(len), m(len), v(len);
        rng.fill(p, -1.f, 1.f);
        rng.fill(m, -0.1f, 0.1f);
        for (float& x : v) x = rng.uniform(0.f, 0.01f);
        std::vector<float> pr = p, mr = m, vr = v;
        // A few steps, with fresh gradients, as the trainer does.
        for (int t = 1; t <= 3; ++t) {
          rng.fill(g, -1.f, 1.f);
          const double bc1 = 1.0 - std::pow(0.9, t), bc2 = 1.0 - std::pow(0.999, t);
          const float neg = (float)(-1e-3 / bc1), bcs = (float)std::sqrt(bc2);
          wt::adam_update_f32(p.data() + off, g.data() + off, m.data() + off, v.data() + off, n,
                              0.9f, 0.999f, 1e-8f, wd, neg, bcs);
          adam_ref(pr.data() + off, g.data() + off, mr.data() + off, vr.data() + off, n, 0.9f,
                   0.999f, 1e-8f, wd, neg, bcs);
        }
        for (size_t i = 0; i < len; ++i) {
          ASSERT_TRUE(same_bits(p[i], pr[i]) && same_bits(m[i], mr[i]) && same_bits(v[i], vr[i]))
              << "adam_update_f32 n=" << n << " offset=" << off << " weight_decay=" << wd
              << " at buffer index " << i << ": p " << pr[i] << " vs " << p[i] << ", m " << mr[i]
              << " vs " << m[i] << ", v " << vr[i] << " vs " << v[i];
        }
      }
}

// The vector body and the scalar tail compute the same bits: the whole array in
// one call against each element alone (n = 1 always takes the tail).
TEST(Kernels, AdamUpdateVectorBodyEqualsScalarTail) {
  ref::Rng rng(6);
  for (float wd : {0.f, 0.05f}) {
    const size_t n = 203;  // 25 x 8 + 3, 50 x 4 + 3
    std::vector<float> p(n + 1), g(n + 1), m(n + 1), v(n + 1);
    rng.fill(p, -1.f, 1.f);
    rng.fill(g, -1.f, 1.f);
    rng.fill(m, -0.1f, 0.1f);
    for (float& x : v) x = rng.uniform(0.f, 0.01f);
    std::vector<float> p1 = p, m1 = m, v1 = v;
    wt::adam_update_f32(p.data() + 1, g.data() + 1, m.data() + 1, v.data() + 1, n, 0.9f, 0.999f,
                        1e-8f, wd, -0.0123f, 0.0447f);
    for (size_t i = 1; i <= n; ++i)
      wt::adam_update_f32(&p1[i], &g[i], &m1[i], &v1[i], 1, 0.9f, 0.999f, 1e-8f, wd, -0.0123f, 0.0447f);
    for (size_t i = 0; i <= n; ++i)
      ASSERT_TRUE(same_bits(p[i], p1[i]) && same_bits(m[i], m1[i]) && same_bits(v[i], v1[i]))
          << "adam_update_f32 weight_decay=" << wd << " element " << i << ": body p=" << p[i]
          << " m=" << m[i] << " v=" << v[i] << ", tail p=" << p1[i] << " m=" << m1[i] << " v=" << v1[i];
  }
}

}  // namespace

namespace {
// PyTorch's relu propagates NaN (torch.relu(torch.tensor(nan)) is nan); the
// model's max-pool follows PyTorch's "a NaN wins" rule, which only matters if
// relu lets NaN through. Checked in the SIMD body (n >= lanes) and the tail.
TEST(Kernels, ReluPropagatesNaNLikePyTorch) {
  std::vector<float> x(19, 1.f), y(19, 0.f);
  x[2] = kNaN;   // inside the first vector
  x[18] = kNaN;  // scalar tail for 4 and 8 lanes
  wt::relu_forward_f32(y.data(), x.data(), x.size());
  EXPECT_TRUE(std::isnan(y[2])) << "relu(NaN) = " << y[2] << " in the vector body";
  EXPECT_TRUE(std::isnan(y[18])) << "relu(NaN) = " << y[18] << " in the scalar tail";
}
}  // namespace

namespace {
// Fused ReLU + 2x2/2 max-pool (the model's path) against relu then maxpool of
// reference.h: out exact; idx = position 0..3 in the window of the first
// maximum, 4 where ReLU cut the window (max <= 0); backward routes dout there.
TEST(Kernels, ReluMaxPool2x2FusedMatchesReluThenPool) {
  ref::Rng rng(7);
  struct P { int planes, H, W; };
  for (const P& p : {P{1, 2, 2}, P{3, 4, 6}, P{2, 8, 8}, P{2, 10, 18}, P{3, 14, 14}, P{2, 28, 28}, P{1, 6, 34}}) {
    const int OH = p.H / 2, OW = p.W / 2;
    const size_t nin = (size_t)p.planes * p.H * p.W, nout = (size_t)p.planes * OH * OW;
    std::vector<float> x(nin), dout(nout);
    for (float& v : x) {  // ties, zeros and negatives on purpose
      const uint32_t r = rng.below(6);
      v = r == 0 ? 0.f : r == 1 ? 0.5f : rng.uniform(-1.f, 1.f);
    }
    rng.fill(dout, -1.f, 1.f);
    std::vector<float> out(nout + 1, kNaN), din(nin + 1, kNaN);
    std::vector<int32_t> idx(nout + 1, -7);
    wt::relu_maxpool2x2_forward_f32(out.data(), idx.data(), x.data(), p.planes, p.H, p.W);
    std::vector<float> r(nin), out_r(nout);
    std::vector<int32_t> am(nout);
    ref::relu_forward(r.data(), x.data(), nin);
    ref::maxpool2d_forward(out_r.data(), am.data(), r.data(), 1, p.planes, p.H, p.W, 2, 2);
    std::vector<float> din_r(nin, 0.f);
    for (size_t o = 0; o < nout; ++o) {
      const size_t pl = o / (OH * OW), oh = (o % (OH * OW)) / OW, ow = o % OW;
      const int a = am[o], wi = (a / p.W - 2 * (int)oh) * 2 + (a % p.W - 2 * (int)ow);
      const int want_idx = out_r[o] > 0.f ? wi : 4;
      ASSERT_TRUE(same_bits(out[o], out_r[o]) && idx[o] == want_idx)
          << "relu_maxpool2x2 planes=" << p.planes << " H=" << p.H << " W=" << p.W << " at " << o
          << ": out " << out[o] << " expected " << out_r[o] << ", idx " << idx[o] << " expected " << want_idx;
      if (want_idx < 4) din_r[pl * p.H * p.W + a] += dout[o];
    }
    ASSERT_TRUE(std::isnan(out[nout]) && idx[nout] == -7) << "wrote past the end";
    wt::relu_maxpool2x2_backward_f32(din.data(), dout.data(), idx.data(), p.planes, p.H, p.W);
    for (size_t i = 0; i < nin; ++i)
      ASSERT_TRUE(same_bits(din[i], din_r[i]))
          << "relu_maxpool2x2_backward planes=" << p.planes << " H=" << p.H << " W=" << p.W << " at "
          << i << ": expected " << din_r[i] << " got " << din[i];
    ASSERT_TRUE(std::isnan(din[nin])) << "wrote past the end";

    // Rows `stride` floats apart (the convolutions' padded rows): the junk columns are
    // ignored going forward and come back exactly 0 from a NaN-filled buffer.
    for (int stride : {p.W + 1, p.W + 2}) {
      std::vector<float> xs((size_t)p.planes * p.H * stride, 123.f), dins(xs.size() + 1, kNaN);
      for (size_t row = 0; row < (size_t)p.planes * p.H; ++row)
        for (int c = 0; c < p.W; ++c) xs[row * stride + c] = x[row * p.W + c];
      std::vector<float> outs(nout);
      std::vector<int32_t> idxs(nout);
      wt::relu_maxpool2x2_forward_f32(outs.data(), idxs.data(), xs.data(), p.planes, p.H, p.W, stride);
      ASSERT_TRUE(std::memcmp(outs.data(), out.data(), nout * sizeof(float)) == 0 && idxs == std::vector<int32_t>(idx.begin(), idx.end() - 1))
          << "strided forward differs, stride " << stride;
      wt::relu_maxpool2x2_backward_f32(dins.data(), dout.data(), idxs.data(), p.planes, p.H, p.W, stride);
      for (size_t row = 0; row < (size_t)p.planes * p.H; ++row)
        for (int c = 0; c < stride; ++c) {
          const float want = c < p.W ? din_r[row * p.W + c] : 0.f;
          ASSERT_TRUE(same_bits(dins[row * stride + c], want))
              << "strided backward H=" << p.H << " W=" << p.W << " stride " << stride << " row " << row
              << " col " << c << ": " << dins[row * stride + c] << " expected " << want;
        }
      ASSERT_TRUE(std::isnan(dins.back())) << "strided backward wrote past the end";
    }
  }
}

TEST(Kernels, ReluMaxPool2x2PropagatesNaNLikePyTorch) {
  // Two planes of 2 x 10 (5 windows: 4 in the vector body, 1 in the tail).
  std::vector<float> x(40, 1.f), out(10);
  std::vector<int32_t> idx(10);
  x[0] = kNaN;       // window 0 (vector body)
  x[20 + 18] = kNaN;  // plane 1, window 4 (scalar tail)
  wt::relu_maxpool2x2_forward_f32(out.data(), idx.data(), x.data(), 2, 2, 10);
  EXPECT_TRUE(std::isnan(out[0])) << "relu+maxpool of a window holding NaN gave " << out[0];
  EXPECT_TRUE(std::isnan(out[9])) << "relu+maxpool of a window holding NaN gave " << out[9];
}

TEST(Kernels, SumF32) {
  ref::Rng rng(8);
  for (size_t n : kLens) {
    std::vector<float> x(n + 1);
    rng.fill(x, -1.f, 1.f);
    double want = 0, mag = 0;
    for (size_t i = 1; i <= n; ++i) want += x[i], mag += std::fabs(x[i]);
    const float got = wt::sum_f32(x.data() + 1, n);
    EXPECT_NEAR(got, want, (n + 2) * kEpsF * mag + 1e-30) << "sum_f32 n=" << n << " (misaligned)";
  }
}

// BatchNorm's sums against long double: a double sum of n terms in any order is within
// (n - 1) eps of the sum of their magnitudes. They add to *s and *q, and x - mean is
// a float subtraction (as in PyTorch's kernel), so the reference rounds it to float.
TEST(Kernels, BatchNormSumsVsLongDouble) {
  constexpr double kEpsD = 2.220446049250313e-16;
  ref::Rng rng(15);
  for (size_t n : kLens) {
    std::vector<float> x(n + 1), dy(n + 1);
    rng.fill(x, -1.f, 3.f);
    rng.fill(dy, -1.f, 1.f);
    const float mean = 0.75f;
    long double s = 0, q = 0, g = 0, p = 0, ms = 0, mq = 0, mg = 0, mp = 0;
    for (size_t i = 1; i <= n; ++i) {
      const long double c = (float)(x[i] - mean);
      s += x[i], q += (long double)x[i] * x[i], g += dy[i], p += dy[i] * c;
      ms += std::fabs(x[i]), mq += (long double)x[i] * x[i], mg += std::fabs(dy[i]), mp += std::fabs(dy[i] * c);
    }
    double gs = 0.5, gq = -0.25, gg = 0.5, gp = -0.25;  // accumulates onto these
    wt::bn_sums_f64(x.data() + 1, n, &gs, &gq);  // misaligned
    wt::bn_grad_sums_f64(dy.data() + 1, x.data() + 1, mean, n, &gg, &gp);
    const double tol = (n + 2) * kEpsD;
    EXPECT_NEAR(gs - 0.5, (double)s, tol * (double)ms + 1e-300) << "sum of x, n=" << n;
    EXPECT_NEAR(gq + 0.25, (double)q, tol * (double)mq + 1e-300) << "sum of x^2, n=" << n;
    EXPECT_NEAR(gg - 0.5, (double)g, tol * (double)mg + 1e-300) << "sum of dy, n=" << n;
    EXPECT_NEAR(gp + 0.25, (double)p, tol * (double)mp + 1e-300) << "sum of dy (x - mean), n=" << n;
  }
}

// BatchNorm's input gradient: PyTorch's formula, each operation in float in order,
// bit for bit (vector body and scalar tail alike), in place (dx = dy) too.
TEST(Kernels, BatchNormBackwardExact) {
  ref::Rng rng(16);
  const float mean = 0.3f, gm = -0.01f, proj = 0.7f, invstd = 1.9f, w = -0.6f;
  for (size_t n : kLens) {
    std::vector<float> x(n + 1), dy(n + 1), dx(n + 1, kNaN);
    rng.fill(x, -2.f, 2.f);
    rng.fill(dy, -1.f, 1.f);
    wt::bn_backward_f32(dx.data() + 1, dy.data() + 1, x.data() + 1, n, mean, gm, proj, invstd, w);
    for (size_t i = 1; i <= n; ++i) {
      const float want = (dy[i] - gm - (x[i] - mean) * proj) * invstd * w;
      ASSERT_TRUE(same_bits(dx[i], want)) << "n=" << n << " at " << i - 1;
    }
    ASSERT_TRUE(std::isnan(dx[0])) << "wrote before dx";
    std::vector<float> inplace = dy;
    wt::bn_backward_f32(inplace.data() + 1, inplace.data() + 1, x.data() + 1, n, mean, gm, proj, invstd, w);
    for (size_t i = 1; i <= n; ++i) ASSERT_TRUE(same_bits(inplace[i], dx[i])) << "in place, n=" << n;
  }
}

// The same from the pooled gradient: exactly relu_maxpool2x2_backward_f32 then
// bn_backward_f32, for planes 2, 4, 6 .. 18 wide (the vector blocks, the overlapping
// last one, the narrow planes' scalar path), windows cut by ReLU (idx 4), NaN, and a
// zero grad_mean (0 - 0 is +0, not -0).
TEST(Kernels, BatchNormBackwardPooledExact) {
  ref::Rng rng(17);
  for (float gm : {-0.01f, 0.f})
    for (int W = 2; W <= 18; W += 2)
      for (int H : {2, 6}) {
        const int OH = H / 2, OW = W / 2;
        std::vector<float> x((size_t)H * W), g((size_t)OH * OW), dy((size_t)H * W, kNaN);
        std::vector<int32_t> idx(g.size());
        rng.fill(x, -2.f, 2.f);
        rng.fill(g, -1.f, 1.f);
        for (int32_t& v : idx) v = (int32_t)rng.below(5);
        if (W == 14) g[1] = kNaN, x[3] = kNaN;
        wt::relu_maxpool2x2_backward_f32(dy.data(), g.data(), idx.data(), 1, H, W);
        std::vector<float> want(x.size(), kNaN), got(x.size() + 1, kNaN);
        wt::bn_backward_f32(want.data(), dy.data(), x.data(), x.size(), 0.3f, gm, 0.7f, 1.9f, -0.6f);
        wt::bn_backward_pooled_f32(got.data(), g.data(), idx.data(), x.data(), H, W, 0.3f, gm, 0.7f, 1.9f, -0.6f);
        for (size_t i = 0; i < x.size(); ++i)
          ASSERT_TRUE(same_bits(got[i], want[i])) << "H=" << H << " W=" << W << " gm=" << gm << " at " << i
                                                  << ": " << got[i] << " vs " << want[i];
        ASSERT_TRUE(std::isnan(got[x.size()])) << "wrote past the plane, W=" << W;
      }
}
}  // namespace

namespace {
// ------------------------------------------------------------ the build's width
// The native suite is built twice (CMakeLists.txt): wt_tests at AVX2 (WT_TEST_LANES=8,
// WT_TEST_FMA=1) and wt_tests_w4 at SSE4 (4, 0; wasm's width and rounding). If the
// flags ever leave Highway on another target (as -mavx2 -mfma alone did: SSSE3), every
// test of the binary fails in the global set-up, not only this file's.
class LaneCountEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
#if defined(WT_TEST_LANES) && defined(WT_TEST_FMA)
    ASSERT_EQ(wt::simd_lanes_f32(), WT_TEST_LANES)
        << "the kernels run at the wrong width: this test binary claims " << WT_TEST_LANES
        << " f32 lanes (check the SIMD flags in CMakeLists.txt against hwy/detect_targets.h)";
    ASSERT_EQ(kernel_build::kernels_use_fma(), WT_TEST_FMA != 0)
        << "the kernels' multiply-adds are " << (WT_TEST_FMA ? "not " : "") << "fused, unlike the claim";
#endif
  }
};
const auto* const kLaneEnv = ::testing::AddGlobalTestEnvironment(new LaneCountEnvironment);

TEST(Kernels, LaneCountAndFmaAreWhatTheBuildClaims) {
  std::printf("  kernels: %d f32 lanes, %s\n", wt::simd_lanes_f32(),
              kernel_build::kernels_use_fma() ? "fused multiply-add" : "mul + add");
#if defined(WT_TEST_LANES) && defined(WT_TEST_FMA)
  EXPECT_EQ(wt::simd_lanes_f32(), WT_TEST_LANES);
  EXPECT_EQ(kernel_build::kernels_use_fma(), WT_TEST_FMA != 0);
#else
  GTEST_SKIP() << "this build (e.g. the sanitizers' tests/fuzz) claims no lane count";
#endif
}

// ------------------------------------------------------- pooled conv gradients
// The pooled backward of a 3x3 conv + ReLU + 2x2 max-pool (kernels.h), against the
// formulas in double (reference.h). Channels C = 1 (its own code path, reading one
// float past a kernel row) and multiples of 4; PH x PW from a single window to 7 x 7
// and odd shapes; rows of ld = 2 PW + 2 (the padded width) and wider. Everything the
// kernels must not read is NaN: the columns past 2 PW + 1, the slack after the plane
// (C = 1's fourth lane reads it and must drop it). idx is 0..3 or 4 (cut by ReLU), one
// plane entirely cut. Tolerance: a float sum of n terms is within (n + 2) eps of the
// sum of their magnitudes, with or without FMA.
struct PooledCase {
  int C, OC, PH, PW, ld;
};
std::vector<PooledCase> pooled_cases() {
  std::vector<PooledCase> v;
  const int shapes[][2] = {{1, 1}, {1, 3}, {2, 5}, {7, 7}, {3, 9}, {14, 14}};
  for (int C : {1, 4, 8, 16})
    for (int OC : {1, 2, 5})
      for (const auto& sh : shapes)
        for (int extra : {0, 3}) {
          if (C * OC * sh[0] * sh[1] > 8 * 2 * 14 * 14) continue;  // keep the 14 x 14 cases small
          v.push_back({C, OC, sh[0], sh[1], 2 * sh[1] + 2 + extra});
        }
  return v;
}
std::string pooled_dims(const PooledCase& p) {
  std::ostringstream s;
  s << "C=" << p.C << " OC=" << p.OC << " PH=" << p.PH << " PW=" << p.PW << " ld=" << p.ld;
  return s.str();
}
// The padded input (or its gradient), channels last: rows 0..2 PH + 1, columns
// 0..2 PW + 1 random, the rest of each row and 4 floats of slack NaN.
std::vector<float> pooled_plane(const PooledCase& p, ref::Rng& rng) {
  const size_t n = (size_t)(2 * p.PH + 2) * p.ld * p.C;
  std::vector<float> v(n + 4, kNaN);
  for (int y = 0; y < 2 * p.PH + 2; ++y)
    for (int x = 0; x < 2 * p.PW + 2; ++x)
      for (int c = 0; c < p.C; ++c) v[((size_t)y * p.ld + x) * p.C + c] = rng.uniform(-1.f, 1.f);
  return v;
}
void pooled_windows(const PooledCase& p, ref::Rng& rng, std::vector<float>* g, std::vector<int32_t>* idx) {
  const size_t n = (size_t)p.OC * p.PH * p.PW;
  g->resize(n);
  idx->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*g)[i] = rng.uniform(-1.f, 1.f);
    (*idx)[i] = (int32_t)rng.below(5);
  }
  if (p.OC > 1)  // the last plane: every window cut by ReLU
    for (int w = 0; w < p.PH * p.PW; ++w) (*idx)[(size_t)(p.OC - 1) * p.PH * p.PW + w] = 4;
}

TEST(Kernels, Conv3x3WgradPooledVsScalar) {
  ref::Rng rng(31);
  for (const PooledCase& p : pooled_cases()) {
    const std::vector<float> in = pooled_plane(p, rng);
    std::vector<float> g;
    std::vector<int32_t> idx;
    pooled_windows(p, rng, &g, &idx);
    const size_t n = (size_t)p.OC * 9 * p.C;
    std::vector<float> dw(n + 4, kNaN);  // accumulates into dw; NaN past its end
    for (size_t i = 0; i < n; ++i) dw[i] = rng.uniform(-1.f, 1.f);
    const std::vector<float> dw0 = dw;
    wt::conv3x3_wgrad_pooled_f32(dw.data(), in.data(), p.ld, p.C, g.data(), idx.data(), p.OC, p.PH, p.PW);
    std::vector<double> want(n), mag(n);
    ref::conv3x3_wgrad_pooled(want.data(), mag.data(), dw0.data(), in.data(), p.ld, p.C, g.data(), idx.data(),
                              p.OC, p.PH, p.PW);
    for (size_t i = 0; i < n; ++i) {
      const double tol = (p.PH * p.PW + 2) * kEpsF * mag[i];
      ASSERT_TRUE(std::fabs(dw[i] - want[i]) <= tol)
          << "conv3x3_wgrad_pooled " << pooled_dims(p) << ": dw[oc=" << i / (9 * p.C) << ", tap="
          << i / p.C % 9 << ", c=" << i % p.C << "] expected " << want[i] << ", got " << dw[i]
          << " (allowed error " << tol << ")";
      if (p.OC > 1 && i >= (size_t)(p.OC - 1) * 9 * p.C) {  // the plane ReLU cut: untouched
        ASSERT_TRUE(same_bits(dw[i], dw0[i])) << "conv3x3_wgrad_pooled " << pooled_dims(p) << ": a cut window contributed";
      }
    }
    for (size_t i = n; i < dw.size(); ++i)
      ASSERT_TRUE(std::isnan(dw[i])) << "conv3x3_wgrad_pooled " << pooled_dims(p) << ": wrote past dw";
  }
}

TEST(Kernels, Conv3x3DgradPooledVsScalar) {
  ref::Rng rng(32);
  for (const PooledCase& p : pooled_cases()) {
    // din accumulates (its pad positions too); the unread columns and slack are NaN
    // and must stay NaN.
    std::vector<float> din = pooled_plane(p, rng);
    const std::vector<float> din0 = din;
    std::vector<float> w((size_t)p.OC * 9 * p.C + 4, kNaN);
    for (size_t i = 0; i + 4 < w.size(); ++i) w[i] = rng.uniform(-1.f, 1.f);
    std::vector<float> g;
    std::vector<int32_t> idx;
    pooled_windows(p, rng, &g, &idx);
    wt::conv3x3_dgrad_pooled_f32(din.data(), p.ld, p.C, w.data(), g.data(), idx.data(), p.OC, p.PH, p.PW);
    const size_t n = din.size();
    std::vector<double> want(n), mag(n);
    std::vector<int> terms(n);
    ref::conv3x3_dgrad_pooled(want.data(), mag.data(), terms.data(), din0.data(), n, p.ld, p.C, w.data(),
                              g.data(), idx.data(), p.OC, p.PH, p.PW);
    for (size_t i = 0; i < n; ++i) {
      const size_t pos = i / p.C;
      const std::string where = "din[y=" + std::to_string(pos / p.ld) + ", x=" + std::to_string(pos % p.ld) +
                                ", c=" + std::to_string(i % p.C) + "]";
      if (terms[i] == 0) {  // nothing added: unchanged, bit for bit (NaN stays NaN)
        ASSERT_TRUE(same_bits(din[i], din0[i]))
            << "conv3x3_dgrad_pooled " << pooled_dims(p) << ": " << where << " changed from " << din0[i]
            << " to " << din[i] << " though no window reaches it";
        continue;
      }
      const double tol = (terms[i] + 2) * kEpsF * mag[i];
      ASSERT_TRUE(std::fabs(din[i] - want[i]) <= tol)
          << "conv3x3_dgrad_pooled " << pooled_dims(p) << ": " << where << " expected " << want[i]
          << ", got " << din[i] << " (allowed error " << tol << ", " << terms[i] << " products)";
    }
  }
}

// ---------------------------------------------- Winograd output + ReLU + pool
// winograd_output_relu_pool_f32 against (a) the scalar definition in double: each
// 2x2 tile's y = A^T M A + bias (reference.h), then ReLU and PyTorch's max-pool rule,
// and (b) its contract in kernels.h, bit for bit: winograd_output_f32 followed by
// relu_maxpool2x2_forward_f32. Tile rows of 4 (one group), 5, 7, 9, 14 (overlapping
// last groups), 1, 2 or 7 of them, bias or none, M rows wider than T (ldt > T).
// Extra planes make exact ties (a single nonzero M entry at xi = 10 gives
// y = (m, -m, -m, m): idx 0 if m > 0, else 1; m = 0 or an all-zero M gives y = bias)
// and NaN (at xi = 0: only y00; xi = 1: y00 and y01; xi = 15: only y11; xi = 5: all).
// Tolerance of y: a float sum of n = 10 terms (9 of M and the bias) in any order is
// within (n - 1) eps of the sum of their magnitudes: 10 eps with a margin.
TEST(Kernels, WinogradOutputReluPoolVsScalar) {
  ref::Rng rng(33);
  for (int TW : {4, 5, 7, 9, 14})
    for (int TH : {1, 2, 7})
      for (int with_bias = 0; with_bias < 2; ++with_bias) {
        const int OC = 5, T = TH * TW, ldt = T + 3;
        // Planes: 0 and 1 random, 2 the xi = 10 ties, 3 all zero (y = bias), 4 random with NaN.
        std::vector<float> M(16 * wt::wino_xi_stride(OC, ldt), kNaN), bias(OC);
        auto m_at = [&](int xi, int oc, int t) -> float& { return M[wino_at(xi, OC, ldt, oc, t)]; };
        for (int xi = 0; xi < 16; ++xi)
          for (int oc = 0; oc < OC; ++oc)
            for (int t = 0; t < T; ++t) {
              float v = rng.uniform(-1.f, 1.f);
              if (oc == 2) v = xi != 10 ? 0.f : t % 5 == 4 ? 0.f : rng.uniform(-1.f, 1.f);
              if (oc == 3) v = 0.f;
              m_at(xi, oc, t) = v;
            }
        const int nan_xi[4] = {0, 1, 15, 5};
        for (int k = 0; k < 4 && k < T; ++k) m_at(nan_xi[k], 4, (k * 3) % T) = kNaN;
        for (float& b : bias) b = rng.uniform(-0.5f, 0.5f);
        bias[2] = 0.f;                    // the tie plane: y = (m, -m, -m, m) exactly
        bias[3] = with_bias ? 0.25f : 0.f;  // the zero plane: y = bias (kept, idx 0) or 0 (cut)
        const float* b = with_bias ? bias.data() : nullptr;
        std::vector<float> pooled((size_t)OC * T + 1, kNaN);
        std::vector<int32_t> idx((size_t)OC * T + 1, -7);
        wt::winograd_output_relu_pool_f32(pooled.data(), idx.data(), M.data(), ldt, b, OC, TH, TW);
        const std::string dims = "TH=" + std::to_string(TH) + " TW=" + std::to_string(TW) +
                                 (with_bias ? " bias" : " no bias");
        for (int oc = 0; oc < OC; ++oc)
          for (int t = 0; t < T; ++t) {
            double y[2][2], ymag[2][2], out;
            ref::winograd_output_tile(y, ymag, M.data(), wt::wino_xi_stride(OC, ldt), ldt, b, oc, t);
            const double v[4] = {y[0][0], y[0][1], y[1][0], y[1][1]};
            double tol[4];
            for (int k = 0; k < 4; ++k) tol[k] = 10 * kEpsF * ymag[k / 2][k % 2] + 1e-37;
            const int want = ref::relu_pool_window(v, &out);
            const float got = pooled[(size_t)oc * T + t];
            const int gi = idx[(size_t)oc * T + t];
            std::ostringstream at;
            at << "winograd_output_relu_pool " << dims << " oc=" << oc << " tile " << t << " (y = " << v[0] << ", "
               << v[1] << ", " << v[2] << ", " << v[3] << "): got " << got << " idx " << gi << ", expected " << out
               << " idx " << want;
            ASSERT_TRUE(gi >= 0 && gi <= 4) << at.str();
            if (std::isnan(out)) {  // NaN: exactly PyTorch's index, and NaN out
              ASSERT_TRUE(std::isnan(got) && gi == want) << at.str();
              continue;
            }
            if (oc == 2 || oc == 3) {  // exact ties: the index of the first maximum
              ASSERT_TRUE(gi == want && same_bits(got, (float)out)) << at.str();
              continue;
            }
            if (gi == 4) {  // cut: every y <= 0 up to rounding, and 0 out
              ASSERT_TRUE(same_bits(got, 0.f)) << at.str();
              for (int k = 0; k < 4; ++k) ASSERT_LE(v[k], tol[k]) << at.str();
              continue;
            }
            // Kept: the value at idx, which is a maximum up to rounding and positive.
            ASSERT_LE(std::fabs(got - v[gi]), tol[gi]) << at.str();
            ASSERT_GT(got, 0.f) << at.str();
            for (int k = 0; k < 4; ++k) ASSERT_LE(v[k], v[gi] + tol[k] + tol[gi]) << at.str();
          }
        ASSERT_TRUE(std::isnan(pooled.back()) && idx.back() == -7) << "wrote past the end, " << dims;

        // The contract: the unfused pair gives the same bits.
        const int H = 2 * TH, W = 2 * TW;
        std::vector<float> conv((size_t)OC * H * W), pooled2((size_t)OC * T);
        std::vector<int32_t> idx2((size_t)OC * T);
        wt::winograd_output_f32(conv.data(), W, (size_t)H * W, M.data(), ldt, b, OC, TH, TW);
        wt::relu_maxpool2x2_forward_f32(pooled2.data(), idx2.data(), conv.data(), OC, H, W);
        for (size_t i = 0; i < pooled2.size(); ++i)
          ASSERT_TRUE((same_bits(pooled[i], pooled2[i]) || (std::isnan(pooled[i]) && std::isnan(pooled2[i]))) &&
                      idx[i] == idx2[i])
              << "fused and unfused differ, " << dims << " at " << i << ": " << pooled[i] << " idx " << idx[i]
              << " vs " << pooled2[i] << " idx " << idx2[i];
      }
}
}  // namespace

namespace {
// The pooled gradients for any KH x KW and any C (conv_wgrad_pooled_f32 /
// conv_dgrad_pooled_f32) against the same formulas in double. Kernel rows of KW * C
// floats that 4 divides or not (C = 1, 2, 3, 5, 16; KW = 1, 2, 3, 5), ldw the run
// rounded up to 4 or wider, input rows ld = 2 PW + KW - 1 (the padded width) or wider.
// Unread positions of the input are NaN (they may only reach dw's junk lanes
// KW * C..ldw-1, which are not checked), with the 3 floats of slack the contract asks
// for; din positions no window reaches must keep their bits. Tolerance as above.
struct GenPooledCase {
  int C, KH, KW, OC, PH, PW, ld, ldw;
};
std::string gen_dims(const GenPooledCase& p) {
  std::ostringstream s;
  s << "C=" << p.C << " KH=" << p.KH << " KW=" << p.KW << " OC=" << p.OC << " PH=" << p.PH << " PW=" << p.PW
    << " ld=" << p.ld << " ldw=" << p.ldw;
  return s.str();
}
std::vector<GenPooledCase> gen_pooled_cases() {
  std::vector<GenPooledCase> v;
  const int kernels[][2] = {{1, 1}, {3, 3}, {5, 5}, {2, 3}, {3, 1}, {1, 2}};
  const int pools[][2] = {{1, 1}, {2, 5}, {7, 7}, {3, 4}, {16, 17}};  // 16x17: windows in two blocks of 256, split in a row
  int i = 0;
  for (int C : {1, 2, 3, 5, 6, 16})  // kernel rows of 1..8 vectors (whole-row passes) and 12
    for (const auto& k : kernels)
      for (const auto& pl : pools) {
        const int run = k[1] * C, ldw = (run + 3) / 4 * 4 + (i % 3 == 2 ? 4 : 0);
        const int ld = 2 * pl[1] + k[1] - 1 + (i % 2 ? 3 : 0);
        const int OC = 1 + i % 3;
        v.push_back({C, k[0], k[1], OC, pl[0], pl[1], ld, ldw});
        ++i;
      }
  return v;
}
// Rows 0..2 PH + KH - 2 of ld positions, columns 0..2 PW + KW - 2 random, the rest NaN.
std::vector<float> gen_plane(const GenPooledCase& p, ref::Rng& rng) {
  const int rows = 2 * p.PH + p.KH - 1, cols = 2 * p.PW + p.KW - 1;
  std::vector<float> v((size_t)rows * p.ld * p.C + 3, kNaN);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      for (int c = 0; c < p.C; ++c) v[((size_t)y * p.ld + x) * p.C + c] = rng.uniform(-1.f, 1.f);
  return v;
}

TEST(Kernels, ConvWgradPooledAnyKernelVsScalar) {
  ref::Rng rng(34);
  for (const GenPooledCase& p : gen_pooled_cases()) {
    const std::vector<float> in = gen_plane(p, rng);
    const PooledCase pc{p.C, p.OC, p.PH, p.PW, p.ld};
    std::vector<float> g;
    std::vector<int32_t> idx;
    pooled_windows(pc, rng, &g, &idx);
    const size_t n = (size_t)p.OC * p.KH * p.ldw;
    std::vector<float> dw(n + 4, kNaN);
    for (size_t i = 0; i < n; ++i) dw[i] = rng.uniform(-1.f, 1.f);
    const std::vector<float> dw0 = dw;
    wt::conv_wgrad_pooled_f32(dw.data(), p.ldw, in.data(), p.ld, p.C, p.KH, p.KW, g.data(), idx.data(), p.OC,
                              p.PH, p.PW);
    std::vector<double> want(n), mag(n);
    ref::conv_wgrad_pooled(want.data(), mag.data(), dw0.data(), p.ldw, in.data(), p.ld, p.C, p.KH, p.KW, g.data(),
                           idx.data(), p.OC, p.PH, p.PW);
    for (size_t i = 0; i < n; ++i) {
      const int col = (int)(i % p.ldw);
      if (col >= p.KW * p.C) continue;  // junk lanes
      const double tol = (p.PH * p.PW + 2) * kEpsF * mag[i];
      ASSERT_TRUE(std::fabs(dw[i] - want[i]) <= tol)
          << "conv_wgrad_pooled " << gen_dims(p) << ": dw[oc=" << i / ((size_t)p.KH * p.ldw) << ", kh="
          << i / p.ldw % p.KH << ", kw=" << col / p.C << ", c=" << col % p.C << "] expected " << want[i]
          << ", got " << dw[i] << " (allowed error " << tol << ")";
    }
    for (size_t i = n; i < dw.size(); ++i)
      ASSERT_TRUE(std::isnan(dw[i])) << "conv_wgrad_pooled " << gen_dims(p) << ": wrote past dw";
  }
}

TEST(Kernels, ConvDgradPooledAnyKernelVsScalar) {
  ref::Rng rng(35);
  for (const GenPooledCase& p : gen_pooled_cases()) {
    std::vector<float> din = gen_plane(p, rng);
    const std::vector<float> din0 = din;
    std::vector<float> w((size_t)p.OC * p.KH * p.ldw + 4, kNaN);
    for (size_t i = 0; i + 4 < w.size(); ++i)
      if ((int)(i % p.ldw) < p.KW * p.C) w[i] = rng.uniform(-1.f, 1.f);  // junk lanes NaN
    const PooledCase pc{p.C, p.OC, p.PH, p.PW, p.ld};
    std::vector<float> g;
    std::vector<int32_t> idx;
    pooled_windows(pc, rng, &g, &idx);
    wt::conv_dgrad_pooled_f32(din.data(), p.ld, p.C, p.KH, p.KW, w.data(), p.ldw, g.data(), idx.data(), p.OC,
                              p.PH, p.PW);
    const size_t n = din.size();
    std::vector<double> want(n), mag(n);
    std::vector<int> terms(n);
    ref::conv_dgrad_pooled(want.data(), mag.data(), terms.data(), din0.data(), n, p.ld, p.C, p.KH, p.KW, w.data(),
                           p.ldw, g.data(), idx.data(), p.OC, p.PH, p.PW);
    for (size_t i = 0; i < n; ++i) {
      const size_t pos = i / p.C;
      const std::string where = "din[y=" + std::to_string(pos / p.ld) + ", x=" + std::to_string(pos % p.ld) +
                                ", c=" + std::to_string(i % p.C) + "]";
      if (terms[i] == 0) {
        ASSERT_TRUE(same_bits(din[i], din0[i]))
            << "conv_dgrad_pooled " << gen_dims(p) << ": " << where << " changed from " << din0[i] << " to "
            << din[i] << " though no window reaches it";
        continue;
      }
      const double tol = (terms[i] + 2) * kEpsF * mag[i];
      ASSERT_TRUE(std::fabs(din[i] - want[i]) <= tol)
          << "conv_dgrad_pooled " << gen_dims(p) << ": " << where << " expected " << want[i] << ", got " << din[i]
          << " (allowed error " << tol << ", " << terms[i] << " products)";
    }
  }
}
}  // namespace
