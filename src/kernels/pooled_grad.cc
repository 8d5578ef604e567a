// The pooled gradients of a stride-1 convolution followed by ReLU + 2x2 max-pool
// (kernels.h): only each window's maximum carries gradient, so the weight and input
// gradients are gathered from those positions, on fixed 128-bit vectors.
#include <algorithm>
#include <cstring>

#include <hwy/highway.h>

#include "kernels/kernels.h"
#include "kernels/simd4_inl.h"

namespace wt {
using namespace simd4;

namespace {
// The windows of a plane that carry gradient (ReLU did not cut them: idx < 4), listed
// without a branch per window (which ReLU makes unpredictable): the offset of each
// maximum in pixels, and its gradient. Windows w0..w1-1, at most kWindowBlock.
constexpr int kWindowBlock = 256;
HWY_INLINE int active_windows(int32_t* pos, float* gw, const float* go, const int32_t* io, int w0,
                              int w1, int PW, int ld) {
  int n = 0, py = w0 / PW, px = w0 - py * PW;
  for (int w = w0; w < w1; ++w) {
    const int k = io[w];
    pos[n] = (2 * py + (k >> 1)) * ld + 2 * px + (k & 1);
    gw[n] = go[w];
    n += k < 4;
    if (++px == PW) px = 0, ++py;
  }
  return n;
}
// Calls f(oc, pos, gw, n) for each plane oc's windows that carry gradient, a block of
// at most kWindowBlock windows at a time, in window order (`alternate`: the even
// columns' windows of the block first, then the odd ones', so that neighbours in the
// list are 4 pixels apart: an input gradient's read-modify-write then seldom reads
// what the previous window just wrote).
template <class F>
HWY_INLINE void for_active_windows(const float* g, const int32_t* idx, int OC, int PH, int PW, int ld, F f,
                                   bool alternate = false) {
  int32_t pos[kWindowBlock];
  float gw[kWindowBlock];
  const int P = PH * PW;
  for (int oc = 0; oc < OC; ++oc)
    for (int w0 = 0; w0 < P; w0 += kWindowBlock) {
      const size_t pg = (size_t)oc * P;
      const int w1 = std::min(P, w0 + kWindowBlock);
      int n = 0;
      if (alternate && PW > 1) {
        for (int parity = 0; parity < 2; ++parity)
          for (int r0 = w0 - w0 % PW; r0 < w1; r0 += PW)  // each row's windows of this parity
            for (int x = parity; x < PW; x += 2)
              if (r0 + x >= w0 && r0 + x < w1)
                n += active_windows(pos + n, gw + n, g + pg, idx + pg, r0 + x, r0 + x + 1, PW, ld);
      } else {
        n = active_windows(pos, gw, g + pg, idx + pg, w0, w1, PW, ld);
      }
      f(oc, pos, gw, n);
    }
}
}  // namespace

void conv3x3_wgrad_pooled_f32(float* dw, const float* in, int ld, int C, const float* g,
                              const int32_t* idx, int OC, int PH, int PW) {
  const D4 d;
  const size_t cs = (size_t)C, rs = (size_t)ld * C;  // tap steps: one column, one row
  for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
    if (C == 1) {
      // One channel (conv1): a kernel row's 3 taps are 3 neighbouring floats, so lanes
      // 0-2 of one load per row; lane 3 reads the next float (inside the padded plane)
      // and is dropped.
      auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d);
      for (int i = 0; i < n; ++i) {
        const float* x = in + pos[i];
        const auto gv = hn::Set(d, gw[i]);
        a0 = hn::MulAdd(gv, hn::LoadU(d, x), a0);
        a1 = hn::MulAdd(gv, hn::LoadU(d, x + ld), a1);
        a2 = hn::MulAdd(gv, hn::LoadU(d, x + 2 * ld), a2);
      }
      HWY_ALIGN float t[3][4];
      hn::Store(a0, d, t[0]);
      hn::Store(a1, d, t[1]);
      hn::Store(a2, d, t[2]);
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw) dw[(size_t)oc * 9 + kh * 3 + kw] += t[kh][kw];
      return;
    }
    for (int q = 0; q < C; q += 4) {  // 4 channels at a time: 9 accumulators
      float* out = dw + (size_t)oc * 9 * C + q;
      decltype(hn::Zero(d)) acc[9];
      for (int t = 0; t < 9; ++t) acc[t] = hn::LoadU(d, out + t * cs);
      for (int i = 0; i < n; ++i) {
        const float* x = in + pos[i] * cs + q;
        const auto gv = hn::Set(d, gw[i]);
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw)
            acc[kh * 3 + kw] = hn::MulAdd(gv, hn::LoadU(d, x + kh * rs + kw * cs), acc[kh * 3 + kw]);
      }
      for (int t = 0; t < 9; ++t) hn::StoreU(acc[t], d, out + t * cs);
    }
  });
}

void conv3x3_dgrad_pooled_f32(float* din, int ld, int C, const float* w, const float* g,
                              const int32_t* idx, int OC, int PH, int PW) {
  const D4 d;
  const size_t cs = (size_t)C, rs = (size_t)ld * C;
  for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
    if (C == 1) {  // scalar: no model layer needs it (conv1 has no input gradient)
      for (int i = 0; i < n; ++i) {
        float* x = din + pos[i];
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) x[kh * ld + kw] += gw[i] * w[(size_t)oc * 9 + kh * 3 + kw];
      }
      return;
    }
    for (int q = 0; q < C; q += 4) {  // 4 channels at a time: 9 weight vectors in registers
      decltype(hn::Zero(d)) wv[9];
      for (int t = 0; t < 9; ++t) wv[t] = hn::LoadU(d, w + ((size_t)oc * 9 + t) * C + q);
      for (int i = 0; i < n; ++i) {
        float* x = din + pos[i] * cs + q;
        const auto gv = hn::Set(d, gw[i]);
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) {
            float* xt = x + kh * rs + kw * cs;
            hn::StoreU(hn::MulAdd(gv, wv[kh * 3 + kw], hn::LoadU(d, xt)), d, xt);
          }
      }
    }
  });
}

namespace {
// One pass of the general pooled gradients: NA vectors of a kernel's rows at once
// (offsets off[j] into a window's run of taps, channels last), over listed windows.
template <int NA>
HWY_INLINE void wgrad_pooled_pass(float* dw, const int* dw_off, const float* in, const int* off,
                                  int C, const int32_t* pos, const float* gw, int n) {
  const D4 d;
  decltype(hn::Zero(d)) acc[NA];
  for (int j = 0; j < NA; ++j) acc[j] = hn::LoadU(d, dw + dw_off[j]);
  for (int i = 0; i < n; ++i) {
    const float* x = in + (size_t)pos[i] * C;
    const auto gv = hn::Set(d, gw[i]);
    for (int j = 0; j < NA; ++j) acc[j] = hn::MulAdd(gv, hn::LoadU(d, x + off[j]), acc[j]);
  }
  for (int j = 0; j < NA; ++j) hn::StoreU(acc[j], d, dw + dw_off[j]);
}
template <int NA>
HWY_INLINE void dgrad_pooled_pass(float* din, const int* off, const int* valid, const float* w,
                                  const int* w_off, int C, const int32_t* pos, const float* gw,
                                  int n) {
  const D4 d;
  decltype(hn::Zero(d)) wv[NA];
  decltype(hn::FirstN(d, 4)) keep[NA];
  for (int j = 0; j < NA; ++j) wv[j] = hn::LoadU(d, w + w_off[j]), keep[j] = hn::FirstN(d, valid[j]);
  for (int i = 0; i < n; ++i) {
    float* x = din + (size_t)pos[i] * C;
    const auto gv = hn::Set(d, gw[i]);
    for (int j = 0; j < NA; ++j) {
      const auto old = hn::LoadU(d, x + off[j]);  // lanes past a row's run are kept as they were
      hn::StoreU(hn::IfThenElse(keep[j], hn::MulAdd(gv, wv[j], old), old), d, x + off[j]);
    }
  }
}
// The vectors of a KH x KW kernel's rows (KW * C floats each, in vectors of 4):
// offsets into a window's run of the input (rows ld * C apart), into the weights
// (rows ldw apart) and how many lanes of each are taps.
constexpr int kPooledPass = 8;  // accumulators per pass (x86 has 16 vector registers)
struct TapVectors {
  int n = 0;
  int in_off[kPooledPass], w_off[kPooledPass], valid[kPooledPass];
};
template <class Pass>
HWY_INLINE void for_tap_vectors(int ld, int C, int KH, int KW, int ldw, Pass pass) {
  const int R = KW * C, NR = (R + 3) / 4;
  TapVectors t;
  for (int kh = 0; kh < KH; ++kh)
    for (int v = 0; v < NR; ++v) {
      t.in_off[t.n] = kh * ld * C + 4 * v;
      t.w_off[t.n] = kh * ldw + 4 * v;
      t.valid[t.n] = std::min(4, R - 4 * v);
      if (++t.n == kPooledPass) pass(t), t.n = 0;
    }
  if (t.n) pass(t);
}
template <template <int> class F, class... Args>
HWY_INLINE void with_count(int n, Args... args) {
  switch (n) {
    case 1: F<1>::run(args...); break;
    case 2: F<2>::run(args...); break;
    case 3: F<3>::run(args...); break;
    case 4: F<4>::run(args...); break;
    case 5: F<5>::run(args...); break;
    case 6: F<6>::run(args...); break;
    case 7: F<7>::run(args...); break;
    default: F<8>::run(args...); break;
  }
}
template <int NA>
struct WgradPass {
  template <class... A>
  static void run(A... a) { wgrad_pooled_pass<NA>(a...); }
};
template <int NA>
struct DgradPass {
  template <class... A>
  static void run(A... a) { dgrad_pooled_pass<NA>(a...); }
};
}  // namespace

namespace {
// Kernel rows of at most 8 vectors (KW * C <= 32 floats, channels last: lenet5's 5x5
// convs): a pass takes RB whole rows of NR vectors at once, so every load is at a
// constant offset from the window's first tap (one pointer per row, no table of
// offsets), RB * NR <= 8 accumulators.
template <int NR, int RB>
HWY_INLINE void wgrad_rows_pass(float* dw, int ldw, const float* in, size_t row_step, int C,
                                const int32_t* pos, const float* gw, int n) {
  const D4 d;
  decltype(hn::Zero(d)) acc[RB][NR];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NR; ++v) acc[r][v] = hn::LoadU(d, dw + (size_t)r * ldw + 4 * v);
  for (int i = 0; i < n; ++i) {
    const float* x = in + (size_t)pos[i] * C;
    const auto gv = hn::Set(d, gw[i]);
    for (int r = 0; r < RB; ++r)
      for (int v = 0; v < NR; ++v)
        acc[r][v] = hn::MulAdd(gv, hn::LoadU(d, x + r * row_step + 4 * v), acc[r][v]);
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NR; ++v) hn::StoreU(acc[r][v], d, dw + (size_t)r * ldw + 4 * v);
}
// All KH rows of one plane's kernel, in passes of up to 8 / NR rows.
template <int NR>
void wgrad_rows(float* dw, int ldw, const float* in, size_t row_step, int C, int KH,
                const int32_t* pos, const float* gw, int n) {
  constexpr int RB = 8 / NR;
  int kh = 0;
  for (; kh + RB <= KH; kh += RB)
    wgrad_rows_pass<NR, RB>(dw + (size_t)kh * ldw, ldw, in + kh * row_step, row_step, C, pos, gw, n);
  for (; kh < KH; ++kh)
    wgrad_rows_pass<NR, 1>(dw + (size_t)kh * ldw, ldw, in + kh * row_step, row_step, C, pos, gw, n);
}
// The whole-row kernels are called through tables of pointers: wasm-opt inlines a
// function that has one caller into it, and these would land, with their callers,
// in conv2d_s1_backward, next to the seed's 3x3 kernels, which V8 then compiled 30%
// slower (measured: the seed's conv2 backward 0.84 ms instead of 0.65).
using WgradRows = void (*)(float*, int, const float*, size_t, int, int, const int32_t*, const float*, int);
constexpr WgradRows kWgradRows[8] = {wgrad_rows<1>, wgrad_rows<2>, wgrad_rows<3>, wgrad_rows<4>,
                                     wgrad_rows<5>, wgrad_rows<6>, wgrad_rows<7>, wgrad_rows<8>};
}  // namespace

void conv_wgrad_pooled_f32(float* dw, int ldw, const float* in, int ld, int C, int KH, int KW,
                           const float* g, const int32_t* idx, int OC, int PH, int PW) {
  const int NR = (KW * C + 3) / 4;
  const size_t row_step = (size_t)ld * C;
  if (NR <= 8) {
    const WgradRows rows = kWgradRows[NR - 1];
    for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
      rows(dw + (size_t)oc * KH * ldw, ldw, in, row_step, C, KH, pos, gw, n);
    });
    return;
  }
  for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
    float* dwo = dw + (size_t)oc * KH * ldw;
    for_tap_vectors(ld, C, KH, KW, ldw, [&](const TapVectors& t) {
      with_count<WgradPass>(t.n, dwo, t.w_off, in, t.in_off, C, pos, gw, n);
    });
  });
}

namespace {
// The input gradient's passes over whole kernel rows (wgrad_rows_pass): RB rows of NR
// vectors of weights in registers; a row's last vector keeps the lanes past its
// tail floats (taps: KW * C of each row) as they were.
template <int NR, int RB>
HWY_INLINE void dgrad_rows_pass(float* din, size_t row_step, int C, const float* w, int ldw, int tail,
                                const int32_t* pos, const float* gw, int n) {
  const D4 d;
  decltype(hn::Zero(d)) wv[RB][NR];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NR; ++v) wv[r][v] = hn::LoadU(d, w + (size_t)r * ldw + 4 * v);
  const auto keep = hn::FirstN(d, tail);
  for (int i = 0; i < n; ++i) {
    float* x = din + (size_t)pos[i] * C;
    const auto gv = hn::Set(d, gw[i]);
    for (int r = 0; r < RB; ++r) {
      float* xr = x + r * row_step;
      for (int v = 0; v + 1 < NR; ++v)
        hn::StoreU(hn::MulAdd(gv, wv[r][v], hn::LoadU(d, xr + 4 * v)), d, xr + 4 * v);
      float* xl = xr + 4 * (NR - 1);
      const auto old = hn::LoadU(d, xl);
      hn::StoreU(hn::IfThenElse(keep, hn::MulAdd(gv, wv[r][NR - 1], old), old), d, xl);
    }
  }
}
template <int NR>
void dgrad_rows(float* din, size_t row_step, int C, int KH, const float* w, int ldw, int tail,
                const int32_t* pos, const float* gw, int n) {
  constexpr int RB = 8 / NR;
  int kh = 0;
  for (; kh + RB <= KH; kh += RB)
    dgrad_rows_pass<NR, RB>(din + kh * row_step, row_step, C, w + (size_t)kh * ldw, ldw, tail, pos, gw, n);
  for (; kh < KH; ++kh)
    dgrad_rows_pass<NR, 1>(din + kh * row_step, row_step, C, w + (size_t)kh * ldw, ldw, tail, pos, gw, n);
}
using DgradRows = void (*)(float*, size_t, int, int, const float*, int, int, const int32_t*, const float*, int);
constexpr DgradRows kDgradRows[8] = {dgrad_rows<1>, dgrad_rows<2>, dgrad_rows<3>, dgrad_rows<4>,
                                     dgrad_rows<5>, dgrad_rows<6>, dgrad_rows<7>, dgrad_rows<8>};
}  // namespace

void conv_dgrad_pooled_f32(float* din, int ld, int C, int KH, int KW, const float* w, int ldw,
                           const float* g, const int32_t* idx, int OC, int PH, int PW) {
  const int NR = (KW * C + 3) / 4, tail = KW * C - 4 * (NR - 1);
  const size_t row_step = (size_t)ld * C;
  if (NR <= 8) {
    const DgradRows rows = kDgradRows[NR - 1];
    for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
      rows(din, row_step, C, KH, w + (size_t)oc * KH * ldw, ldw, tail, pos, gw, n);
    }, /*alternate=*/true);
    return;
  }
  for_active_windows(g, idx, OC, PH, PW, ld, [&](int oc, const int32_t* pos, const float* gw, int n) {
    const float* wo = w + (size_t)oc * KH * ldw;
    for_tap_vectors(ld, C, KH, KW, ldw, [&](const TapVectors& t) {
      with_count<DgradPass>(t.n, din, t.in_off, t.valid, wo, t.w_off, C, pos, gw, n);
    });
  }, /*alternate=*/true);
}

}  // namespace wt
