// Winograd convolution transforms (kernels.h), Highway on fixed 128-bit vectors:
// F(2x2, 3x3), F(4x4, 3x3) (Lavin and Gray, 2016) and F(2x2, 5x5). Vectors hold 4 neighbouring
// tiles of one tile row (for_tile_groups).
#include <algorithm>
#include <cstring>

#include <hwy/highway.h>

#include "kernels/kernels.h"
#include "kernels/simd4_inl.h"

namespace wt {
using namespace simd4;

// Calls f(p, ty, tx) for every plane p of `planes` and tile row ty, with tx the first
// of 4 neighbouring tiles; a last group overlapping the previous one (TW = 7: tiles
// 0-3, 3-6) rewrites equal values instead of a scalar tail.
namespace {
template <class F>
HWY_INLINE void for_tile_groups(int planes, int TH, int TW, F f) {
  for (int p = 0; p < planes; ++p)
    for (int ty = 0; ty < TH; ++ty)
      for (int g = 0; g < TW; g += 4) f(p, ty, g + 4 <= TW ? g : TW - 4);
}
}  // namespace

// ---------------------------------------------------------------- F(2x2, 3x3)
namespace {
// The input transform of one group of 4 neighbouring tiles into v (xi matrices xs
// apart): load(r, a, b, a2, b2) gives patch row r's columns 0-3 and 4-7 (a, b) and
// 2-5 and 6-9 (a2, b2) of the group, counted from its first tile's first column.
template <class Load>
HWY_INLINE void winograd_input_group(float* v, size_t xs, Load load) {
  const D4 d;
  using Vec = decltype(hn::Zero(d));
  Vec e[4][4];  // e[row][nu]: columns transformed, row by row
  for (int r = 0; r < 4; ++r) {
    Vec a, b, a2, b2;
    load(r, a, b, a2, b2);
    const auto d0 = hn::ConcatEven(d, b, a), d1 = hn::ConcatOdd(d, b, a);
    const auto d2 = hn::ConcatEven(d, b2, a2), d3 = hn::ConcatOdd(d, b2, a2);
    e[r][0] = hn::Sub(d0, d2);
    e[r][1] = hn::Add(d1, d2);
    e[r][2] = hn::Sub(d2, d1);
    e[r][3] = hn::Sub(d1, d3);
  }
  for (int nu = 0; nu < 4; ++nu) {
    hn::StoreU(hn::Sub(e[0][nu], e[2][nu]), d, v + (0 + nu) * xs);
    hn::StoreU(hn::Add(e[1][nu], e[2][nu]), d, v + (4 + nu) * xs);
    hn::StoreU(hn::Sub(e[2][nu], e[1][nu]), d, v + (8 + nu) * xs);
    hn::StoreU(hn::Sub(e[1][nu], e[3][nu]), d, v + (12 + nu) * xs);
  }
}
}  // namespace

void winograd_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                        int TH, int TW) {
  const D4 d;
  const size_t T = (size_t)ldt, xs = wino_xi_stride(C, ldt);  // V strides: channel ldt, xi xs
  for_tile_groups(C, TH, TW, [&](int c, int ty, int tx) {
    winograd_input_group(V + (size_t)c * T + (size_t)ty * TW + tx, xs, [&](int r, auto& a, auto& b, auto& a2, auto& b2) {
      const float* p = in + c * in_plane + (size_t)(2 * ty + r) * in_ld + 2 * tx;
      a = hn::LoadU(d, p), b = hn::LoadU(d, p + 4), a2 = hn::LoadU(d, p + 2), b2 = hn::LoadU(d, p + 6);
    });
  });
}

// The patch of padded row 2 ty + r, column 2 tx is plane row y = 2 ty + r - 1 from
// column 2 tx - 1: rows -1 and H are zero, and of the columns only -1 (the first
// group's a) and W (the last group's b2, tx = TW - 4) lie outside the plane; those two
// loads are shifted by a lane with a zero coming in. Nothing outside the plane is read.
void winograd_input_pad1_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                             int TH, int TW) {
  const D4 d;
  const size_t T = (size_t)ldt, xs = wino_xi_stride(C, ldt);
  const int H = 2 * TH, W = 2 * TW;
  for_tile_groups(C, TH, TW, [&](int c, int ty, int tx) {
    winograd_input_group(V + (size_t)c * T + (size_t)ty * TW + tx, xs, [&](int r, auto& a, auto& b, auto& a2, auto& b2) {
      const int y = 2 * ty + r - 1;
      if (y < 0 || y >= H) {
        a = b = a2 = b2 = hn::Zero(d);
        return;
      }
      const float* p = in + c * in_plane + (size_t)y * in_ld + 2 * tx - 1;  // column 2 tx - 1
      a = tx == 0 ? hn::CombineShiftRightBytes<12>(d, hn::LoadU(d, p + 1), hn::Zero(d)) : hn::LoadU(d, p);
      b = hn::LoadU(d, p + 4), a2 = hn::LoadU(d, p + 2);
      b2 = 2 * tx + 8 == W ? hn::CombineShiftRightBytes<4>(d, hn::Zero(d), hn::LoadU(d, p + 5))
                           : hn::LoadU(d, p + 6);
    });
  });
}

// Calls emit(oc, ty, tx, y00, y01, y10, y11) with (A^T M A) + bias for 4 neighbouring
// tiles at a time (y_ij: position (i, j) of each tile, lane by lane).
namespace {
template <class Emit>
HWY_INLINE void winograd_output_tiles(const float* M, int ldt, const float* bias, int OC, int TH,
                                      int TW, Emit emit) {
  const D4 d;
  const size_t T = (size_t)ldt, xs = wino_xi_stride(OC, ldt);
  for_tile_groups(OC, TH, TW, [&](int oc, int ty, int tx) {
    const auto b = hn::Set(d, bias ? bias[oc] : 0.f);
    const float* m = M + (size_t)oc * T + (size_t)ty * TW + tx;
    decltype(hn::Zero(d)) t0[4], t1[4];  // rows of A^T M
    for (int nu = 0; nu < 4; ++nu) {
      const auto m0 = hn::LoadU(d, m + (0 + nu) * xs), m1 = hn::LoadU(d, m + (4 + nu) * xs);
      const auto m2 = hn::LoadU(d, m + (8 + nu) * xs), m3 = hn::LoadU(d, m + (12 + nu) * xs);
      t0[nu] = hn::Add(hn::Add(m0, m1), m2);
      t1[nu] = hn::Sub(hn::Sub(m1, m2), m3);
    }
    emit(oc, ty, tx, hn::Add(hn::Add(hn::Add(t0[0], t0[1]), t0[2]), b),
         hn::Add(hn::Sub(hn::Sub(t0[1], t0[2]), t0[3]), b),
         hn::Add(hn::Add(hn::Add(t1[0], t1[1]), t1[2]), b),
         hn::Add(hn::Sub(hn::Sub(t1[1], t1[2]), t1[3]), b));
  });
}

}  // namespace

// The 2x2 output tiles are exactly the 2x2 pooling windows: ReLU + max-pool straight
// from the transform, without writing the convolution's output.
void winograd_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                   const float* bias, int OC, int TH, int TW) {
  const size_t P = (size_t)TH * TW;
  winograd_output_tiles(M, ldt, bias, OC, TH, TW, [&](int oc, int ty, int tx, auto y00, auto y01, auto y10, auto y11) {
    const size_t o = oc * P + (size_t)ty * TW + tx;
    relu_max4(y00, y01, y10, y11, pooled + o, idx + o);
  });
}

void winograd_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                         const float* bias, int OC, int TH, int TW) {
  const D4 d;
  winograd_output_tiles(M, ldt, bias, OC, TH, TW, [&](int oc, int ty, int tx, auto y00, auto y01, auto y10, auto y11) {
    float* o = out + oc * out_plane + (size_t)(2 * ty) * out_ld + 2 * tx;
    hn::StoreU(hn::InterleaveLower(d, y00, y01), d, o);
    hn::StoreU(hn::InterleaveUpper(d, y00, y01), d, o + 4);
    hn::StoreU(hn::InterleaveLower(d, y10, y11), d, o + out_ld);
    hn::StoreU(hn::InterleaveUpper(d, y10, y11), d, o + out_ld + 4);
  });
}

void winograd_output_grad_f32(float* dM, int ldt, const float* dout, int out_ld, size_t out_plane,
                              int OC, int TH, int TW) {
  const D4 d;
  const size_t T = (size_t)ldt, xs = wino_xi_stride(OC, ldt);
  for_tile_groups(OC, TH, TW, [&](int oc, int ty, int tx) {
    const float* o = dout + oc * out_plane + (size_t)(2 * ty) * out_ld + 2 * tx;
    const auto t0 = hn::LoadU(d, o), t1 = hn::LoadU(d, o + 4);
    const auto b0 = hn::LoadU(d, o + out_ld), b1 = hn::LoadU(d, o + out_ld + 4);
    // dY = [[a, b], [c, e]] for 4 tiles; rows of A dY are (x, y) pairs.
    const auto a = hn::ConcatEven(d, t1, t0), b = hn::ConcatOdd(d, t1, t0);
    const auto c = hn::ConcatEven(d, b1, b0), e = hn::ConcatOdd(d, b1, b0);
    const decltype(hn::Zero(d)) x[4] = {a, hn::Add(a, c), hn::Sub(a, c), hn::Neg(c)};
    const decltype(hn::Zero(d)) y[4] = {b, hn::Add(b, e), hn::Sub(b, e), hn::Neg(e)};
    float* m = dM + (size_t)oc * T + (size_t)ty * TW + tx;
    for (int r = 0; r < 4; ++r) {
      hn::StoreU(x[r], d, m + (4 * r + 0) * xs);
      hn::StoreU(hn::Add(x[r], y[r]), d, m + (4 * r + 1) * xs);
      hn::StoreU(hn::Sub(x[r], y[r]), d, m + (4 * r + 2) * xs);
      hn::StoreU(hn::Neg(y[r]), d, m + (4 * r + 3) * xs);
    }
  });
}
// ---------------------------------------------------------------- F(4x4, 3x3)
// Input patches are 6x6 at stride 4: for 4 neighbouring tiles, column j of each is
// in[4 tx + 4 k + j], k = 0..3: the columns 0-3 come from transposing the 4 loads at
// 4 tx, 4 tx + 4, .., 4 tx + 12, and columns 4-5 are columns 0-1 of the next tile.
namespace {
// out[nu] = (B^T x)[nu] for the 6 values x of a patch row or column.
template <class V>
HWY_INLINE void bt6(const V x[6], V out[6]) {
  const D4 d;
  const auto four = hn::Set(d, 4.f), five = hn::Set(d, 5.f), two = hn::Set(d, 2.f);
  out[0] = hn::Add(hn::Sub(hn::Mul(four, x[0]), hn::Mul(five, x[2])), x[4]);
  const auto s12 = hn::Add(x[1], x[2]), d12 = hn::Sub(x[2], x[1]);  // x1 + x2, x2 - x1
  const auto s34 = hn::Add(x[3], x[4]), d34 = hn::Sub(x[4], x[3]);  // x3 + x4, x4 - x3
  out[1] = hn::Sub(s34, hn::Mul(four, s12));  // -4 x1 - 4 x2 + x3 + x4
  out[2] = hn::Sub(d34, hn::Mul(four, d12));  // 4 x1 - 4 x2 - x3 + x4
  const auto e = hn::Sub(x[4], x[2]), f = hn::Mul(two, hn::Sub(x[3], x[1]));
  out[3] = hn::Add(e, f);  // -2 x1 - x2 + 2 x3 + x4
  out[4] = hn::Sub(e, f);  // 2 x1 - x2 - 2 x3 + x4
  out[5] = hn::Add(hn::Sub(hn::Mul(four, x[1]), hn::Mul(five, x[3])), x[5]);
}
// out[i] = (A^T m)[i] for the 6 values m of a row or column of M.
template <class V>
HWY_INLINE void at6(const V m[6], V out[4]) {
  const D4 d;
  const auto two = hn::Set(d, 2.f), four = hn::Set(d, 4.f), eight = hn::Set(d, 8.f);
  const auto s12 = hn::Add(m[1], m[2]), d12 = hn::Sub(m[1], m[2]);
  const auto s34 = hn::Add(m[3], m[4]), d34 = hn::Sub(m[3], m[4]);
  out[0] = hn::Add(hn::Add(m[0], s12), s34);
  out[1] = hn::Add(d12, hn::Mul(two, d34));
  out[2] = hn::Add(s12, hn::Mul(four, s34));
  out[3] = hn::Add(hn::Add(d12, hn::Mul(eight, d34)), m[5]);
}
}  // namespace

namespace {
// V = B^T d B (B of F(4x4, 3x3), which F(2x2, 5x5) shares) for 4 neighbouring tiles
// at a time: row(c, ty, tx, r, x) gives column j of patch row r of the 4 tiles in x[j].
template <class Row>
HWY_INLINE void winograd6_input(float* V, int ldt, int C, int TH, int TW, Row row) {
  const D4 d;
  const size_t T = (size_t)ldt, xs = wino_xi_stride(C, ldt);
  using Vec = decltype(hn::Zero(d));
  for_tile_groups(C, TH, TW, [&](int c, int ty, int tx) {
    Vec rows[6][6];  // rows[r][nu]: patch row r times B
    for (int r = 0; r < 6; ++r) {
      Vec x[6];
      row(c, ty, tx, r, x);
      bt6(x, rows[r]);
    }
    float* v = V + (size_t)c * T + (size_t)ty * TW + tx;
    for (int nu = 0; nu < 6; ++nu) {
      const Vec col[6] = {rows[0][nu], rows[1][nu], rows[2][nu], rows[3][nu], rows[4][nu], rows[5][nu]};
      Vec out[6];
      bt6(col, out);
      for (int mu = 0; mu < 6; ++mu) hn::StoreU(out[mu], d, v + (size_t)(6 * mu + nu) * xs);
    }
  });
}
}  // namespace

void winograd4_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                         int TH, int TW) {
  const D4 d;
  const hn::Repartition<double, D4> dd;
  winograd6_input(V, ldt, C, TH, TW, [&](int c, int ty, int tx, int r, auto* x) {
    const float* p = in + c * in_plane + (size_t)(4 * ty + r) * in_ld + 4 * tx;
    x[0] = hn::LoadU(d, p), x[1] = hn::LoadU(d, p + 4), x[2] = hn::LoadU(d, p + 8), x[3] = hn::LoadU(d, p + 12);
    const auto q4 = hn::LoadU(d, p + 16);
    const auto l12 = hn::InterleaveLower(d, x[1], x[2]), l34 = hn::InterleaveLower(d, x[3], q4);
    transpose4(x[0], x[1], x[2], x[3]);  // x[j]: column j of the 4 tiles
    x[4] = hn::BitCast(d, hn::InterleaveLower(dd, hn::BitCast(dd, l12), hn::BitCast(dd, l34)));
    x[5] = hn::BitCast(d, hn::InterleaveUpper(dd, hn::BitCast(dd, l12), hn::BitCast(dd, l34)));
  });
}

// F(2x2, 5x5): patches at stride 2, so column j of the 4 tiles is every other float
// from 2 tx + j: the even or odd lanes of two loads 4 apart.
void winograd25_input_f32(float* V, int ldt, const float* in, int in_ld, size_t in_plane, int C,
                          int TH, int TW) {
  const D4 d;
  winograd6_input(V, ldt, C, TH, TW, [&](int c, int ty, int tx, int r, auto* x) {
    const float* p = in + c * in_plane + (size_t)(2 * ty + r) * in_ld + 2 * tx;
    const auto a0 = hn::LoadU(d, p), a2 = hn::LoadU(d, p + 2), a4 = hn::LoadU(d, p + 4);
    const auto a6 = hn::LoadU(d, p + 6), a8 = hn::LoadU(d, p + 8);
    x[0] = hn::ConcatEven(d, a4, a0), x[1] = hn::ConcatOdd(d, a4, a0);
    x[2] = hn::ConcatEven(d, a6, a2), x[3] = hn::ConcatOdd(d, a6, a2);
    x[4] = hn::ConcatEven(d, a8, a4), x[5] = hn::ConcatOdd(d, a8, a4);
  });
}

namespace {
// out[i] = (A^T m)[i] for F(2x2, 5x5)'s A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1].
template <class V>
HWY_INLINE void at2(const V m[6], V out[2]) {
  const D4 d;
  const auto s12 = hn::Add(m[1], m[2]), d12 = hn::Sub(m[1], m[2]);
  const auto s34 = hn::Add(m[3], m[4]), d34 = hn::Sub(m[3], m[4]);
  out[0] = hn::Add(hn::Add(m[0], s12), s34);
  out[1] = hn::Add(hn::Add(d12, hn::Mul(hn::Set(d, 2.f), d34)), m[5]);
}
// Calls emit(oc, ty, tx, y) with y[i][j] = (A^T M A)[i, j] + bias (i, j < m) for 4
// neighbouring tiles at a time (lane k: tile tx + k), M's 36 values per tile and
// at(col, out) the product of A^T (m x 6) with 6 values: F(4x4, 3x3) (at6, m = 4) or
// F(2x2, 5x5) (at2, m = 2).
template <int m, class At, class Emit>
HWY_INLINE void winograd6_output_tiles(const float* M, int ldt, const float* bias, int OC, int TH,
                                       int TW, At at, Emit emit) {
  const D4 d;
  using Vec = decltype(hn::Zero(d));
  const size_t T = (size_t)ldt, xs = wino_xi_stride(OC, ldt);
  for_tile_groups(OC, TH, TW, [&](int oc, int ty, int tx) {
    const auto b = hn::Set(d, bias ? bias[oc] : 0.f);
    const float* mt = M + (size_t)oc * T + (size_t)ty * TW + tx;
    Vec s[m][6];  // s[i][nu] = (A^T M)[i, nu]
    for (int nu = 0; nu < 6; ++nu) {
      Vec col[6], o[m];
      for (int mu = 0; mu < 6; ++mu) col[mu] = hn::LoadU(d, mt + (size_t)(6 * mu + nu) * xs);
      at(col, o);
      for (int i = 0; i < m; ++i) s[i][nu] = o[i];
    }
    Vec y[m][m];
    for (int i = 0; i < m; ++i) {
      at(s[i], y[i]);
      for (int j = 0; j < m; ++j) y[i][j] = hn::Add(y[i][j], b);
    }
    emit(oc, ty, tx, y);
  });
}
template <class Emit>
HWY_INLINE void winograd4_output_tiles(const float* M, int ldt, const float* bias, int OC, int TH,
                                       int TW, Emit emit) {
  winograd6_output_tiles<4>(M, ldt, bias, OC, TH, TW, [](const auto* c, auto* o) { at6(c, o); }, emit);
}
}  // namespace

void winograd25_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                           const float* bias, int OC, int TH, int TW) {
  const D4 d;
  winograd6_output_tiles<2>(M, ldt, bias, OC, TH, TW, [](const auto* c, auto* o) { at2(c, o); },
                            [&](int oc, int ty, int tx, auto (&y)[2][2]) {
    float* o = out + oc * out_plane + (size_t)(2 * ty) * out_ld + 2 * tx;
    hn::StoreU(hn::InterleaveLower(d, y[0][0], y[0][1]), d, o);
    hn::StoreU(hn::InterleaveUpper(d, y[0][0], y[0][1]), d, o + 4);
    hn::StoreU(hn::InterleaveLower(d, y[1][0], y[1][1]), d, o + out_ld);
    hn::StoreU(hn::InterleaveUpper(d, y[1][0], y[1][1]), d, o + out_ld + 4);
  });
}

void winograd25_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                     const float* bias, int OC, int TH, int TW) {
  const size_t P = (size_t)TH * TW;
  winograd6_output_tiles<2>(M, ldt, bias, OC, TH, TW, [](const auto* c, auto* o) { at2(c, o); },
                            [&](int oc, int ty, int tx, auto (&y)[2][2]) {
    const size_t o = oc * P + (size_t)ty * TW + tx;
    relu_max4(y[0][0], y[0][1], y[1][0], y[1][1], pooled + o, idx + o);
  });
}

namespace {
// Stores lanes 0..n-1 of v (n < 4) at p, touching no float after p[n - 1].
template <class V>
HWY_INLINE void store_first(V v, int n, float* p) {
  const hn::Half<D4> dh;
  if (n >= 2) hn::StoreU(hn::LowerHalf(dh, v), dh, p);
  if (n == 1) *p = hn::GetLane(v);
  if (n == 3) p[2] = hn::GetLane(hn::UpperHalf(dh, v));
}
}  // namespace

// Rows from OH and columns from OW on are not written (the last tiles clipped: an
// output side that is not a multiple of 4); a tile's row that OW cuts is stored
// through a buffer, lane by lane, so no float past the row is touched (the next
// image's plane may be another thread's).
void winograd4_output_f32(float* out, int out_ld, size_t out_plane, const float* M, int ldt,
                          const float* bias, int OC, int TH, int TW, int OH, int OW) {
  const D4 d;
  winograd4_output_tiles(M, ldt, bias, OC, TH, TW, [&](int oc, int ty, int tx, auto (&y)[4][4]) {
    const int rows = std::min(4, OH - 4 * ty), cols = OW - 4 * tx;  // cols: of the 4 tiles' 16
    for (int i = 0; i < rows; ++i) {
      decltype(hn::Zero(d)) r[4] = {y[i][0], y[i][1], y[i][2], y[i][3]};
      transpose4(r[0], r[1], r[2], r[3]);  // r[k]: row i of tile tx + k
      float* o = out + oc * out_plane + (size_t)(4 * ty + i) * out_ld + 4 * tx;
      for (int k = 0; k < 4; ++k) {
        if (cols >= 4 * k + 4) {
          hn::StoreU(r[k], d, o + 4 * k);
        } else if (cols > 4 * k) {
          store_first(r[k], cols - 4 * k, o + 4 * k);
        }
      }
    }
  });
}

// A 4x4 output tile holds 2x2 pooling windows: window (a, b) of tile tx + k is pooled
// output (2 ty + a, 2 (tx + k) + b), written where it lies inside PH x PW.
void winograd4_output_relu_pool_f32(float* pooled, int32_t* idx, const float* M, int ldt,
                                    const float* bias, int OC, int TH, int TW, int PH, int PW) {
  const size_t P = (size_t)PH * PW;
  winograd4_output_tiles(M, ldt, bias, OC, TH, TW, [&](int oc, int ty, int tx, auto (&y)[4][4]) {
    for (int a = 0; a < 2 && 2 * ty + a < PH; ++a) {
      HWY_ALIGN float m[2][4];
      HWY_ALIGN int32_t ix[2][4];
      for (int b = 0; b < 2; ++b)
        relu_max4(y[2 * a][2 * b], y[2 * a][2 * b + 1], y[2 * a + 1][2 * b], y[2 * a + 1][2 * b + 1], m[b], ix[b]);
      const size_t o = oc * P + (size_t)(2 * ty + a) * PW + 2 * tx;
      const int n = PW - 2 * tx;  // windows of this row inside the plane (< 8: clipped)
      if (n >= 8) {
        for (int k = 0; k < 4; ++k)
          for (int b = 0; b < 2; ++b) pooled[o + 2 * k + b] = m[b][k], idx[o + 2 * k + b] = ix[b][k];
      } else {
        for (int j = 0; j < n; ++j) pooled[o + j] = m[j & 1][j >> 1], idx[o + j] = ix[j & 1][j >> 1];
      }
    }
  });
}

}  // namespace wt
