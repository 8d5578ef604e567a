// Stride-1 convolutions (layers.h): the "shifted GEMM" over padded rows, Winograd
// (winograd_conv.h) where it applies, ReLU + max-pool fused into the forward, and
// the backward from the pooled gradient.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/layers.h"
#include "core/winograd_conv.h"
#include "kernels/kernels.h"

namespace wt {

namespace {
// The padded plane's rows and row length before the slack row: Hp x Wp, or as far as
// F(4x4)'s clipped tiles read (their patches read zeros up to m T + 1 both ways).
void padded_extent(const ConvShape& s, int* rows, int* cols) {
  *rows = s.H + 2 * s.pad;
  *cols = s.KW > s.pad ? s.W + s.pad : s.W + 2 * s.pad;
  if (!conv_winograd_applies(s)) return;
  const Wino k = wino_for(s);
  if (!k.clipped()) return;
  *rows = std::max(*rows, k.m * k.TH + 2);
  *cols = std::max(*cols, k.m * k.TW + 2);
}
}  // namespace

int conv_s1_row(const ConvShape& s) {
  int rows, cols;
  padded_extent(s, &rows, &cols);
  return cols;
}
size_t conv_s1_plane(const ConvShape& s) {
  int rows, cols;
  padded_extent(s, &rows, &cols);
  return (size_t)(rows + 1) * cols;  // + one slack row read by the junk columns
}
size_t conv_s1_pad_size(const ConvShape& s) { return (size_t)s.C * conv_s1_plane(s); }

namespace {
// The row-pointer table of a shifted GEMM lives at the end of the conv's scratch
// (sizes count 16 floats of slack for aligning it).
size_t rows_floats(size_t taps) { return (taps * sizeof(const float*) + sizeof(float) - 1) / sizeof(float); }
const float** rows_at(float* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p), al = alignof(const float*);
  return reinterpret_cast<const float**>((a + al - 1) / al * al);
}
// Row k = (c, kh, kw) of the virtual im2col matrix, for a padded image at `base`.
void tap_rows(const float** rows, const float* base, const ConvShape& s) {
  const int Wp = conv_s1_row(s), plane = (int)conv_s1_plane(s);
  for (int c = 0, k = 0; c < s.C; ++c)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) rows[k++] = base + (size_t)c * plane + kh * Wp + kw;
}
// Copies image [C, H, W] into the interior of its padded planes.
void pad_image(float* pad, const float* img, const ConvShape& s) {
  const int Wp = conv_s1_row(s), plane = (int)conv_s1_plane(s);
  for (int c = 0; c < s.C; ++c)
    copy_rows_f32(pad + (size_t)c * plane + (size_t)s.pad * Wp + s.pad, Wp, img + (size_t)c * s.H * s.W,
                  s.W, s.H, s.W, /*zero_tail=*/false);
}
}  // namespace

namespace {
// Whether the forward runs Winograd: 3x3 convs (conv_winograd_applies) always, 5x5 ones
// (conv_wino25_applies) where ReLU and the pool are fused into it.
bool forward_winograd(const ConvShape& s) { return conv_winograd_applies(s) || conv_wino25_applies(s); }
}  // namespace

size_t conv_s1_forward_scratch(const ConvShape& s) {
  const size_t rows = rows_floats((size_t)s.K()) + 16;  // the shifted GEMM's (5x5: unfused)
  return forward_winograd(s) ? std::max(rows, winograd_scratch(s.C, s.OC, wino_for(s))) : rows;
}

namespace {
// The pooled gradients' kernels: the 3x3 ones for the shapes they take (the seed's
// convs: their bits are the seed's), the general ones for any other kernel and C.
bool pooled_3x3(const ConvShape& s) { return s.KH == 3 && s.KW == 3 && (s.C == 1 || s.C % 4 == 0); }
// Floats per kernel row of dw and w, channels last ([OC, KH, ldw]).
int pooled_ldw(const ConvShape& s) { return pooled_3x3(s) ? 3 * s.C : (s.KW * s.C + 3) / 4 * 4; }
size_t pooled_w_floats(const ConvShape& s) { return (size_t)s.OC * s.KH * pooled_ldw(s); }
// w [OC, C, KH, KW] as [OC, KH, ldw]: (oc, kh) rows of KW * C floats, channels last,
// zero-padded to ldw.
void pooled_weights(float* wh, const float* w, const ConvShape& s) {
  const int ldw = pooled_ldw(s), R = s.KW * s.C;
  for (int oc = 0; oc < s.OC; ++oc)
    for (int kh = 0; kh < s.KH; ++kh) {
      float* row = wh + ((size_t)oc * s.KH + kh) * ldw;
      for (int c = 0; c < s.C; ++c) {
        const float* src = w + (((size_t)oc * s.C + c) * s.KH + kh) * s.KW;
        for (int kw = 0; kw < s.KW; ++kw) row[kw * s.C + c] = src[kw];
      }
      std::fill(row + R, row + ldw, 0.f);
    }
}
// The forward's U, then for 3x3 kernels the input gradient's (F(2x2, 3x3)).
size_t winograd_prepared_floats(const ConvShape& s) {
  if (!forward_winograd(s)) return 0;
  const Wino k = wino_for(s);
  return (size_t)(k.xi() + (k.r == 3 ? 16 : 0)) * s.OC * s.C;
}
}  // namespace

// prepared: the forward's U, then the input gradient's (F(2x2, 3x3), adjoint), then
// (pooled) the weights channels last.
size_t conv_s1_prepared_floats(const ConvShape& s, bool pooled) {
  return winograd_prepared_floats(s) + (pooled && conv_pooled_backward_fits(s) ? pooled_w_floats(s) : 0);
}
void conv_s1_prepare(float* prepared, const float* w, const ConvShape& s, bool pooled) {
  if (forward_winograd(s)) {
    const Wino k = wino_for(s);
    winograd_weights_for(k, prepared, w, s.OC, s.C, /*adjoint=*/false);
    if (k.r == 3) winograd_weights(prepared + (size_t)k.xi() * s.OC * s.C, w, s.C, s.OC, /*adjoint=*/true);
  }
  if (pooled && conv_pooled_backward_fits(s)) pooled_weights(prepared + winograd_prepared_floats(s), w, s);
}

void conv2d_s1_forward(float* out, float* pad, float* scratch, const float* inp, const float* w,
                       const float* b, int N, const ConvShape& s, const float* prepared, bool dense) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const size_t ps = conv_s1_pad_size(s);
  const size_t isz = (size_t)s.C * s.H * s.W, osz = (size_t)s.OC * P;
  if (conv_winograd_applies(s)) {
    const int out_ld = dense ? s.OW() : Wp;  // the output transform writes rows of either
    const size_t op = (size_t)s.OH() * out_ld, oimg = (size_t)s.OC * op;
    const Wino k = wino_for(s);
    const float* U = prepared;
    if (!U) winograd_weights_for(k, scratch, w, s.OC, s.C, /*adjoint=*/false), U = scratch;
    const size_t plane = conv_s1_plane(s);
    const int GW = wino_group(k.tiles());
    for (int n0 = 0; n0 < N; n0 += GW) {
      const int G = std::min(GW, N - n0);
      for (int n = n0; n < n0 + G; ++n) pad_image(pad + n * ps, inp + n * isz, s);
      winograd_conv(k, out + n0 * oimg, out_ld, op, oimg, pad + n0 * ps, Wp, plane, ps, G, U, b, s.C,
                    s.OC, scratch + (size_t)k.xi() * s.OC * s.C);
    }
    return;
  }
  const float** rows = rows_at(scratch);
  for (int n = 0; n < N; ++n) {
    pad_image(pad + n * ps, inp + n * isz, s);
    tap_rows(rows, pad + n * ps, s);
    gemm_nn_rows_bias_f32(s.OC, P, K, w, K, rows, b, out + n * osz, P);
  }
}

bool conv_relu_pool_fused(const ConvShape& s) { return forward_winograd(s); }

void conv2d_s1_relu_pool_forward(float* pooled, int32_t* idx, float* pad, float* scratch,
                                 const float* inp, const float* w, const float* b, int N,
                                 const ConvShape& s, const float* prepared) {
  const int Wp = conv_s1_row(s);
  const size_t ps = conv_s1_pad_size(s), isz = (size_t)s.C * s.H * s.W;
  const size_t pz = (size_t)s.OC * (s.OH() / 2) * (s.OW() / 2), plane = conv_s1_plane(s);
  const Wino k = wino_for(s);
  const float* U = prepared;
  if (!U) winograd_weights_for(k, scratch, w, s.OC, s.C, /*adjoint=*/false), U = scratch;
  const int GW = wino_group(k.tiles());
  for (int n0 = 0; n0 < N; n0 += GW) {
    const int G = std::min(GW, N - n0);
    for (int n = n0; n < n0 + G; ++n) pad_image(pad + n * ps, inp + n * isz, s);
    winograd_group(k, pad + n0 * ps, Wp, plane, ps, G, U, s.C, s.OC,
                   scratch + (size_t)k.xi() * s.OC * s.C, [&](int g, const float* M, int ldt) {
                     const size_t o = (n0 + g) * pz;
                     if (k.r == 5)
                       winograd25_output_relu_pool_f32(pooled + o, idx + o, M, ldt, b, s.OC, k.TH, k.TW);
                     else if (k.m == 4)
                       winograd4_output_relu_pool_f32(pooled + o, idx + o, M, ldt, b, s.OC, k.TH, k.TW,
                                                      s.OH() / 2, s.OW() / 2);
                     else winograd_output_relu_pool_f32(pooled + o, idx + o, M, ldt, b, s.OC, k.TH, k.TW);
                   });
  }
}

// The input gradient is a "full" convolution of dout with the flipped kernel:
//   dinp_pad[c, q] = sum over (oc, kh, kw) of w[oc, c, kh, kw] * dout[oc, q - kh Wp - kw],
// the same shifted GEMM as the forward once dout sits between zero margins of
// (KH - 1) Wp + KW - 1 floats. It replaces dcol = w^T dout plus a scatter-add of
// every tap row (no dcol buffer, no 72 short scatter loops per image).
static inline int s1_margin(const ConvShape& s) { return (s.KH - 1) * conv_s1_row(s) + s.KW - 1; }

bool conv_pooled_backward_fits(const ConvShape& s) {
  return s.stride == 1 && s.OH() % 2 == 0 && s.OW() % 2 == 0;
}

namespace {
size_t pooled_scratch(const ConvShape& s) { return 2 * (conv_s1_pad_size(s) + pooled_w_floats(s)); }
// db[oc] += the gradients of plane oc's windows that ReLU did not cut (idx < 4), in
// window order, as a select rather than a branch (ReLU makes it unpredictable). Four
// planes' sums advance together: each is a chain of dependent additions (written
// out: a template over the count of chains ran 25% slower in wasm).
void pooled_bias_grad(float* db, const float* g, const int32_t* idx, int OC, int P) {
  int oc = 0;
  for (; oc + 4 <= OC; oc += 4) {
    const float *g0 = g + (size_t)oc * P, *g1 = g0 + P, *g2 = g1 + P, *g3 = g2 + P;
    const int32_t *i0 = idx + (size_t)oc * P, *i1 = i0 + P, *i2 = i1 + P, *i3 = i2 + P;
    float a0 = db[oc], a1 = db[oc + 1], a2 = db[oc + 2], a3 = db[oc + 3];
    for (int i = 0; i < P; ++i) {
      const float s0 = a0 + g0[i], s1 = a1 + g1[i], s2 = a2 + g2[i], s3 = a3 + g3[i];
      a0 = i0[i] < 4 ? s0 : a0;
      a1 = i1[i] < 4 ? s1 : a1;
      a2 = i2[i] < 4 ? s2 : a2;
      a3 = i3[i] < 4 ? s3 : a3;
    }
    db[oc] = a0, db[oc + 1] = a1, db[oc + 2] = a2, db[oc + 3] = a3;
  }
  for (; oc < OC; ++oc) {
    const float* go = g + (size_t)oc * P;
    const int32_t* io = idx + (size_t)oc * P;
    float acc = db[oc];
    for (int i = 0; i < P; ++i) {
      const float sum = acc + go[i];
      acc = io[i] < 4 ? sum : acc;
    }
    db[oc] = acc;
  }
}
}  // namespace

namespace {
// The backward's Winograd floats (F(2x2, 3x3), wino_for): the input gradient's U, V
// and M, and before that, in the same floats, the weight gradient's dU, V and dM.
size_t winograd_bwd_scratch(const ConvShape& s) {
  return std::max(winograd_scratch(s.OC, s.C, wino_f2(s.H, s.W)),
                  winograd_scratch(s.OC, s.C, wino_f2(s.OH(), s.OW())));
}
}  // namespace

namespace {
// conv2d_s1_backward from the pooled gradient (layers.h, PooledGrad). scratch: the padded
// input and its gradient channels last, dw and (unless prepared) w as [OC, KH, ldw]
// (pooled_scratch(s) floats).
void backward_from_pooled(float* dinp, float* dw, float* db, const float* pad, float* scratch,
                          const PooledGrad& pooled, const float* w, int N, const ConvShape& s,
                          const float* prepared) {
  const int Wp = conv_s1_row(s);
  const size_t ps = conv_s1_pad_size(s), isz = (size_t)s.C * s.H * s.W;
  float* padh = scratch;
  float* dinh = padh + conv_s1_pad_size(s);
  float* dwh = dinh + conv_s1_pad_size(s);
  const int ldw = pooled_ldw(s);
  float* whs = dwh + (size_t)s.OC * s.KH * ldw;  // the weights channels last, if not prepared
  const int PH = s.OH() / 2, PW = s.OW() / 2;
  const size_t plane = ps / s.C, pg = (size_t)s.OC * PH * PW;
  const bool k3 = pooled_3x3(s);
  // dw and w as [OC, KH, ldw]: (oc, kh) rows of KW * C floats, channels last.
  std::memset(dwh, 0, sizeof(float) * s.OC * s.KH * ldw);
  const float* wh = prepared ? prepared + winograd_prepared_floats(s) : whs;
  if (!prepared) pooled_weights(whs, w, s);
  for (int n = 0; n < N; ++n) {
    const float* g = pooled.g + n * pg;
    const int32_t* ix = pooled.idx + n * pg;
    pooled_bias_grad(db, g, ix, s.OC, PH * PW);
    // Channels last (with one channel, the padded plane already is).
    const float* in = pad + n * ps;
    if (s.C > 1) transpose_f32(padh, s.C, in, (int)plane, s.C, (int)plane), in = padh;
    if (k3) conv3x3_wgrad_pooled_f32(dwh, in, Wp, s.C, g, ix, s.OC, PH, PW);
    else conv_wgrad_pooled_f32(dwh, ldw, in, Wp, s.C, s.KH, s.KW, g, ix, s.OC, PH, PW);
    if (!dinp) continue;
    std::memset(dinh, 0, sizeof(float) * plane * s.C);
    if (k3) conv3x3_dgrad_pooled_f32(dinh, Wp, s.C, wh, g, ix, s.OC, PH, PW);
    else conv_dgrad_pooled_f32(dinh, Wp, s.C, s.KH, s.KW, wh, ldw, g, ix, s.OC, PH, PW);
    for (int y = 0; y < s.H; ++y)  // interior, channels first
      transpose_f32(dinp + n * isz + (size_t)y * s.W, s.H * s.W,
                    dinh + ((size_t)(y + s.pad) * Wp + s.pad) * s.C, s.C, s.W, s.C);
  }
  for (int oc = 0; oc < s.OC; ++oc)  // dw += dwh, back to [OC, C, KH, KW]
    for (int kh = 0; kh < s.KH; ++kh) {
      const float* row = dwh + ((size_t)oc * s.KH + kh) * ldw;
      for (int c = 0; c < s.C; ++c) {
        float* dst = dw + (((size_t)oc * s.C + c) * s.KH + kh) * s.KW;
        for (int kw = 0; kw < s.KW; ++kw) dst[kw] += row[kw * s.C + c];
      }
    }
}
}  // namespace

size_t conv_s1_backward_scratch(const ConvShape& s) {
  const int Wp = conv_s1_row(s), P = s.OH() * Wp, plane = P + 2 * s1_margin(s);
  const bool wino = conv_winograd_applies(s);
  return (size_t)(wino ? 0 : s.OC * plane)  // dout between margins (the shifted GEMM's)
         + (size_t)s.C * s.OC * s.KH * s.KW  // flipped weights
         + (size_t)s.C * s.H * Wp            // input gradient rows (padded columns)
         + (wino ? winograd_bwd_scratch(s) : 0)
         + (conv_pooled_backward_fits(s) ? pooled_scratch(s) : 0)
         + 16 + rows_floats((size_t)std::max(s.K(), s.OC * s.KH * s.KW));  // row-pointer table
}

void conv2d_s1_backward(float* dinp, float* dw, float* db, const float* pad, float* scratch,
                        const float* dout, const float* w, int N, const ConvShape& s,
                        const PooledGrad* pooled, const float* prepared, bool dense) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const int dld = dense ? s.OW() : Wp;  // dout's rows (dense: Winograd's shapes only)
  const size_t dplane = (size_t)s.OH() * dld, dsz = (size_t)s.OC * dplane;
  const int margin = s1_margin(s), zplane = P + 2 * margin;
  const int KT = s.OC * s.KH * s.KW;  // taps of the full convolution
  const size_t ps = conv_s1_pad_size(s), osz = (size_t)s.OC * P, isz = (size_t)s.C * s.H * s.W;
  const bool wino = conv_winograd_applies(s);
  // Scratch: dout between margins, flipped weights, gradient rows, Winograd, pooled.
  float* doutz = scratch;
  float* wflip = doutz + (wino ? 0 : (size_t)s.OC * zplane);
  float* drows = wflip + (size_t)s.C * KT;
  float* wsc = drows + (size_t)s.C * s.H * Wp;  // Winograd: U of the input gradient, then V and M
  // Pooled gradients: the padded input and its gradient channels-last, dw and w as [OC, 9, C].
  float* padh = wsc + (wino ? winograd_bwd_scratch(s) : 0);
  const float** rows = rows_at(padh + (conv_pooled_backward_fits(s) ? pooled_scratch(s) : 0));

  // From the pooled gradient (the model's conv2): only each window's maximum carries
  // gradient, so all three gradients come from those positions; dout is not read.
  // wasm-opt inlines that path and its kernels (single callers) into this function,
  // and V8 then compiles them with the rest: keep loops out of here (two row-copy loops
  // added below once cost the seed's conv backwards 30%; copy_rows_f32 is a call).
  if (pooled && conv_pooled_backward_fits(s)) {
    backward_from_pooled(dinp, dw, db, pad, padh, *pooled, w, N, s, prepared);
    return;
  }
  // db (unless null) and dw: junk columns of dout are zero, so they contribute nothing.
  for (int n = 0; db && n < N; ++n)
    for (int oc = 0; oc < s.OC; ++oc) db[oc] += sum_f32(dout + n * dsz + (size_t)oc * dplane, dplane);
  if (wino) {
    winograd_wgrad(dw, pad, dout, dld, N, s, wsc);  // wsc is free until the input gradient
  } else {
    for (int n = 0; n < N; ++n) {
      tap_rows(rows, pad + n * ps, s);
      gemm_nt_rows_f32(s.OC, K, P, dout + n * osz, P, rows, dw, K, /*acc=*/true);
    }
  }
  if (!dinp) return;

  if (wino) {
    // dinp = dout padded by 1 (the transform reads it so, winograd_input_pad1_f32)
    // correlated with the rotated kernels.
    const float* U = prepared ? prepared + (size_t)wino_for(s).xi() * s.OC * s.C : wsc;
    if (!prepared) winograd_weights(wsc, w, s.C, s.OC, /*adjoint=*/true);
    Wino kd = wino_f2(s.H, s.W);
    kd.pad1 = true;
    const int GW = wino_group(kd.tiles());
    for (int n0 = 0; n0 < N; n0 += GW)
      winograd_conv(kd, dinp + n0 * isz, s.W, (size_t)s.H * s.W, isz, dout + n0 * dsz, dld, dplane, dsz,
                    std::min(GW, N - n0), U, nullptr, s.OC, s.C, wsc + (size_t)kd.xi() * s.C * s.OC);
    return;
  }
  // Otherwise the input gradient is the full convolution as a shifted GEMM: dout goes
  // between zero margins (zeroed here, kept zero).
  for (int oc = 0; oc < s.OC; ++oc) {
    std::memset(doutz + (size_t)oc * zplane, 0, sizeof(float) * margin);
    std::memset(doutz + (size_t)oc * zplane + margin + P, 0, sizeof(float) * margin);
  }
  //   dinp_pad[c, q] = sum over (oc, kh, kw) of w[oc, c, kh, kw] * dout[oc, q - kh Wp - kw]
  // wflip[c, (oc, kh, kw)] = w[oc, c, kh, kw].
  for (int c = 0; c < s.C; ++c)
    for (int oc = 0; oc < s.OC; ++oc)
      for (int t = 0; t < s.KH * s.KW; ++t)
        wflip[(size_t)c * KT + oc * s.KH * s.KW + t] = w[((size_t)oc * s.C + c) * s.KH * s.KW + t];
  // Output rows h = 0..H-1 of the padded input (all Wp columns): q = (h + pad) Wp + x.
  const int q0 = s.pad * Wp;
  for (int oc = 0, k = 0; oc < s.OC; ++oc)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw)
        rows[k++] = doutz + (size_t)oc * zplane + margin + q0 - kh * Wp - kw;
  for (int n = 0; n < N; ++n) {
    for (int oc = 0; oc < s.OC; ++oc)  // dout between its margins (rows of Wp: not dense)
      std::memcpy(doutz + (size_t)oc * zplane + margin, dout + n * osz + (size_t)oc * P, sizeof(float) * P);
    gemm_nn_rows_f32(s.C, s.H * Wp, KT, wflip, KT, rows, drows, s.H * Wp, /*acc=*/false);
    float* di = dinp + n * isz;
    for (int c = 0; c < s.C; ++c)
      for (int h = 0; h < s.H; ++h) {
        const float* src = drows + ((size_t)c * s.H + h) * Wp + s.pad;
        float* dst = di + ((size_t)c * s.H + h) * s.W;
        for (int x = 0; x < s.W; ++x) dst[x] = src[x];
      }
  }
}

}  // namespace wt
