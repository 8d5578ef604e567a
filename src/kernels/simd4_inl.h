// Internal to src/kernels: fixed 128-bit vectors (D4) on every target, and PyTorch's
// ReLU + 2x2 max-pool rule, shared by the pooling kernels (kernels.cc) and the Winograd
// output transforms that pool (winograd.cc).
#pragma once
#include <cmath>
#include <cstdint>

#include <hwy/highway.h>

namespace wt {
namespace hn = hwy::HWY_NAMESPACE;
namespace simd4 {
// Pooling works on fixed 128-bit vectors on every target: the even/odd split and the
// interleave it needs are single shuffles there (on AVX2 they would cross 128-bit lanes).
using D4 = hn::FixedTag<float, 4>;
using DI4 = hn::FixedTag<int32_t, 4>;

// PyTorch's max-pool rule: a later value replaces the max if it is greater or NaN;
// torch.relu keeps NaN, so a window holding NaN yields NaN (and routes gradient).
inline int32_t window_index(float a, float b, float c, float e, float* m_out) {
  float m = a;
  int32_t i = 0;
  if (b > m || std::isnan(b)) m = b, i = 1;
  if (c > m || std::isnan(c)) m = c, i = 2;
  if (e > m || std::isnan(e)) m = e, i = 3;
  const bool keep = m > 0.f || std::isnan(m);
  *m_out = keep ? m : 0.f;
  return keep ? i : 4;
}

// ReLU + max of 4 windows at once, lane by lane: a, b, c, e hold each window's
// top-left, top-right, bottom-left and bottom-right values. Writes 4 outputs and
// 4 indices (position of the first maximum, 4 where ReLU cut the window).
HWY_INLINE void relu_max4(hn::Vec<D4> a, hn::Vec<D4> b, hn::Vec<D4> c, hn::Vec<D4> e, float* out,
                          int32_t* idx) {
  const D4 d;
  const DI4 di;
  // NaN is rare (training is about to stop): those blocks take the scalar rule.
  const auto nan = hn::Or(hn::Or(hn::Ne(a, a), hn::Ne(b, b)), hn::Or(hn::Ne(c, c), hn::Ne(e, e)));
  if (!hn::AllFalse(d, nan)) {
    HWY_ALIGN float t[4][4];
    hn::Store(a, d, t[0]);
    hn::Store(b, d, t[1]);
    hn::Store(c, d, t[2]);
    hn::Store(e, d, t[3]);
    for (int l = 0; l < 4; ++l) idx[l] = window_index(t[0][l], t[1][l], t[2][l], t[3][l], &out[l]);
    return;
  }
  const auto m = hn::Max(hn::Max(a, b), hn::Max(c, e));
  // First maximum in scan order: test from last to first so earlier ones win.
  auto i = hn::Set(di, 3);
  i = hn::IfThenElse(hn::RebindMask(di, hn::Eq(c, m)), hn::Set(di, 2), i);
  i = hn::IfThenElse(hn::RebindMask(di, hn::Eq(b, m)), hn::Set(di, 1), i);
  i = hn::IfThenElse(hn::RebindMask(di, hn::Eq(a, m)), hn::Zero(di), i);
  const auto pos = hn::Gt(m, hn::Zero(d));
  i = hn::IfThenElse(hn::RebindMask(di, pos), i, hn::Set(di, 4));
  hn::StoreU(hn::IfThenElseZero(pos, m), d, out);
  hn::StoreU(i, di, idx);
}

// The backward of relu_max4: the gradients g of 4 windows (lanes) routed by their
// indices to the window's top-left, top-right, bottom-left or bottom-right value (0
// elsewhere and where ReLU cut the window). Interleaving tl with tr (bl with br) gives
// the gradient of the top (bottom) row's 8 values.
HWY_INLINE void route4(const float* g, const int32_t* idx, hn::Vec<D4>* tl, hn::Vec<D4>* tr,
                       hn::Vec<D4>* bl, hn::Vec<D4>* br) {
  const D4 d;
  const DI4 di;
  const auto gv = hn::LoadU(d, g);
  const auto iv = hn::LoadU(di, idx);
  *tl = hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(iv, hn::Zero(di))), gv);
  *tr = hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(iv, hn::Set(di, 1))), gv);
  *bl = hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(iv, hn::Set(di, 2))), gv);
  *br = hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(iv, hn::Set(di, 3))), gv);
}

// 4x4 transpose of rows r0..r3 (two rounds of interleaves).
HWY_INLINE void transpose4(hn::Vec<D4>& r0, hn::Vec<D4>& r1, hn::Vec<D4>& r2, hn::Vec<D4>& r3) {
  const D4 d;
  const hn::Repartition<double, D4> dd;
  const auto t0 = hn::InterleaveLower(d, r0, r1), t1 = hn::InterleaveUpper(d, r0, r1);
  const auto t2 = hn::InterleaveLower(d, r2, r3), t3 = hn::InterleaveUpper(d, r2, r3);
  r0 = hn::BitCast(d, hn::InterleaveLower(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2)));
  r1 = hn::BitCast(d, hn::InterleaveUpper(dd, hn::BitCast(dd, t0), hn::BitCast(dd, t2)));
  r2 = hn::BitCast(d, hn::InterleaveLower(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3)));
  r3 = hn::BitCast(d, hn::InterleaveUpper(dd, hn::BitCast(dd, t1), hn::BitCast(dd, t3)));
}

}  // namespace simd4
}  // namespace wt
