#include "core/layers.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

namespace wt {

// Output columns [ow0, ow1) whose input column ow*stride - pad + kw is inside 0..W-1.
static inline void valid_cols(const ConvShape& s, int kw, int OW, int* ow0, int* ow1) {
  const int sw = s.SW(), pw = s.PW();
  const int lo = pw - kw;  // need ow*stride >= lo
  *ow0 = lo <= 0 ? 0 : (lo + sw - 1) / sw;
  const int hi = s.W - 1 + pw - kw;  // need ow*stride <= hi
  *ow1 = hi < 0 ? 0 : std::min(OW, hi / sw + 1);
  if (*ow1 < *ow0) *ow1 = *ow0;
}

void im2col(float* col, const float* inp, const ConvShape& s) {
  const int OH = s.OH(), OW = s.OW();
  for (int c = 0; c < s.C; ++c)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        float* row = col + (size_t)((c * s.KH + kh) * s.KW + kw) * OH * OW;
        const float* plane = inp + (size_t)c * s.H * s.W;
        int ow0, ow1;
        valid_cols(s, kw, OW, &ow0, &ow1);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * s.stride - s.pad + kh;
          float* r = row + (size_t)oh * OW;
          if (ih < 0 || ih >= s.H) {
            std::memset(r, 0, sizeof(float) * OW);
            continue;
          }
          // Input column of output column ow: ow * stride + base (>= 0 for ow >= ow0).
          const float* src = plane + (size_t)ih * s.W;
          const int base = kw - s.PW(), sw = s.SW();
          for (int ow = 0; ow < ow0; ++ow) r[ow] = 0.f;
          if (sw == 1) {
            // An inline loop, not memcpy: rows are 14-28 floats, and a call per row
            // costs more than the copy in wasm.
            const float* sp = src + ow0 + base;
            for (int ow = ow0; ow < ow1; ++ow) r[ow] = sp[ow - ow0];
          } else {
            for (int ow = ow0; ow < ow1; ++ow) r[ow] = src[ow * sw + base];
          }
          for (int ow = ow1; ow < OW; ++ow) r[ow] = 0.f;
        }
      }
}

void col2im(float* dinp, const float* dcol, const ConvShape& s) {
  const int OH = s.OH(), OW = s.OW();
  std::memset(dinp, 0, sizeof(float) * s.C * s.H * s.W);
  for (int c = 0; c < s.C; ++c)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) {
        const float* row = dcol + (size_t)((c * s.KH + kh) * s.KW + kw) * OH * OW;
        float* plane = dinp + (size_t)c * s.H * s.W;
        int ow0, ow1;
        valid_cols(s, kw, OW, &ow0, &ow1);
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.H) continue;
          const float* r = row + (size_t)oh * OW;
          float* dst = plane + (size_t)ih * s.W;
          const int base = kw - s.PW(), sw = s.SW();
          if (sw == 1) {
            add_f32(dst + ow0 + base, r + ow0, (size_t)(ow1 - ow0));
          } else {
            for (int ow = ow0; ow < ow1; ++ow) dst[ow * sw + base] += r[ow];
          }
        }
      }
}

void conv2d_forward(float* out, float* col, const float* inp, const float* w, const float* b,
                    int N, const ConvShape& s) {
  const int K = s.K(), P = s.P();
  for (int n = 0; n < N; ++n) {
    float* o = out + (size_t)n * s.OC * P;
    im2col(col, inp + (size_t)n * s.C * s.H * s.W, s);
    // Start from the bias so the GEMM accumulates onto it.
    for (int oc = 0; oc < s.OC; ++oc)
      for (int p = 0; p < P; ++p) o[(size_t)oc * P + p] = b[oc];
    gemm_nn_f32(s.OC, P, K, w, K, col, P, o, P, /*acc=*/true);
  }
}

void conv2d_backward(float* dinp, float* dw, float* db, float* col, float* dcol,
                     const float* dout, const float* inp, const float* w, int N,
                     const ConvShape& s) {
  const int K = s.K(), P = s.P();
  for (int n = 0; n < N; ++n) {
    const float* d = dout + (size_t)n * s.OC * P;
    // db: out = ... + b
    for (int oc = 0; oc < s.OC; ++oc) db[oc] += sum_f32(d + (size_t)oc * P, P);
    // dw: out = w * col  ->  dw += dout * col^T (col recomputed: cheaper than storing it)
    im2col(col, inp + (size_t)n * s.C * s.H * s.W, s);
    gemm_nt_f32(s.OC, K, P, d, P, col, P, dw, K, /*acc=*/true);
    if (dinp) {
      // dcol = w^T * dout, then scatter the receptive fields back.
      gemm_tn_f32(K, P, s.OC, w, K, d, P, dcol, P, /*acc=*/false);
      col2im(dinp + (size_t)n * s.C * s.H * s.W, dcol, s);
    }
  }
}

size_t conv_s1_pad_size(const ConvShape& s) {
  const size_t Hp = s.H + 2 * s.pad, Wp = conv_s1_row(s);
  return (size_t)s.C * (Hp + 1) * Wp;  // + one slack row read by the junk columns
}

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
  const int Wp = conv_s1_row(s), plane = (s.H + 2 * s.pad + 1) * Wp;
  for (int c = 0, k = 0; c < s.C; ++c)
    for (int kh = 0; kh < s.KH; ++kh)
      for (int kw = 0; kw < s.KW; ++kw) rows[k++] = base + (size_t)c * plane + kh * Wp + kw;
}
// Copies image [C, H, W] into the interior of its padded planes.
void pad_image(float* pad, const float* img, const ConvShape& s) {
  const int Wp = conv_s1_row(s), plane = (s.H + 2 * s.pad + 1) * Wp;
  for (int c = 0; c < s.C; ++c)
    for (int h = 0; h < s.H; ++h) {
      float* dst = pad + (size_t)c * plane + (size_t)(h + s.pad) * Wp + s.pad;
      const float* src = img + ((size_t)c * s.H + h) * s.W;
      for (int w = 0; w < s.W; ++w) dst[w] = src[w];
    }
}
}  // namespace

// ---- Winograd F(2x2, 3x3) (kernels.h): 16 products per 2x2 tile and channel pair
// instead of 36. Used for conv2's forward and input gradient, the two biggest GEMMs;
// not for conv1 (one input channel: its GEMMs would be 1 deep; measured 1.8x slower).
bool conv_winograd_applies(const ConvShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride == 1 && s.pad == 1 && s.OH() % 2 == 0 &&
         s.OW() % 2 == 0 && s.OW() >= 8 && s.C >= 4 && s.OC >= 4;
}

namespace {
// Images per Winograd GEMM: 4 images of 7x7 tiles make 196-wide GEMMs (1 image's
// 49 left the 2x4 blocks 8 steps deep for every few columns), but a 32x32 image's
// 256 tiles are wide enough alone, and 4 of them (V and M 2 MiB each at 32
// channels) no longer stay in cache. A column's sum is the same in any group.
int wino_group(int tiles) { return std::max(1, std::min(4, 256 / tiles)); }

// The forward's Winograd variant for an output plane of OH x OW: F(4x4, 3x3) where its
// sides are multiples of 4 and it is 16 or more wide (cifar-convnet's 32x32 and 16x16
// planes), 36 products per 16 outputs instead of F(2x2, 3x3)'s 64; else F(2x2, 3x3)
// (the seed's 14x14). The gradients keep F(2x2, 3x3): F(4x4)'s larger rounding in the
// input gradient, which Adam's first step magnifies where a gradient is near 0, took
// cifar-convnet's weights beyond PyTorch's tolerance (tests/cpp/test_fixture_presets).
// m: the output tile's side; xi: the products per tile, (m + 2)^2.
struct Wino {
  int m, xi, TH, TW;
  int tiles() const { return TH * TW; }
};
Wino wino_f2(int OH, int OW) { return {2, 16, OH / 2, OW / 2}; }
Wino wino_for(int OH, int OW) {
  const int m = (OH % 4 == 0 && OW % 4 == 0 && OW >= 16) ? 4 : 2;
  return {m, (m + 2) * (m + 2), OH / m, OW / m};
}
// U, then a group's V and M.
size_t winograd_scratch(int cin, int cout, const Wino& k) {
  return k.xi * ((size_t)cout * cin + (size_t)(cin + cout) * wino_group(k.tiles()) * k.tiles());
}
// U[xi, o, i] = (G g G^T)[xi] for the 3x3 kernel g = w[o, i] (or, with `adjoint`,
// g = w[i, o] rotated 180 degrees: the kernel of the input gradient).
void winograd_weights(float* U, const float* w, int cout, int cin, bool adjoint) {
  for (int o = 0; o < cout; ++o)
    for (int i = 0; i < cin; ++i) {
      float g[3][3];
      for (int u = 0; u < 3; ++u)
        for (int v = 0; v < 3; ++v)
          g[u][v] = adjoint ? w[((size_t)i * cout + o) * 9 + (2 - u) * 3 + (2 - v)]
                            : w[((size_t)o * cin + i) * 9 + u * 3 + v];
      float gg[4][3];  // G g
      for (int v = 0; v < 3; ++v) {
        gg[0][v] = g[0][v];
        gg[1][v] = 0.5f * (g[0][v] + g[1][v] + g[2][v]);
        gg[2][v] = 0.5f * (g[0][v] - g[1][v] + g[2][v]);
        gg[3][v] = g[2][v];
      }
      for (int r = 0; r < 4; ++r) {  // (G g) G^T
        float* u = U + ((size_t)(4 * r) * cout + o) * cin + i;
        const size_t xs = (size_t)cout * cin;
        u[0 * xs] = gg[r][0];
        u[1 * xs] = 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]);
        u[2 * xs] = 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]);
        u[3 * xs] = gg[r][2];
      }
    }
}
// The same for F(4x4, 3x3): U[xi, o, i] = (G g G^T)[xi] with G of kernels.h, 6x3.
void winograd4_weights(float* U, const float* w, int cout, int cin, bool adjoint) {
  auto gt = [](const float g[3], float out[6]) {  // G times a 3-vector
    constexpr float k6 = 1.f / 6, k12 = 1.f / 12, k24 = 1.f / 24;
    const float s = g[0] + g[2], a = g[0] * k24 + g[2] * k6, b = g[1] * k12;
    out[0] = 0.25f * g[0];
    out[1] = -(s + g[1]) * k6;
    out[2] = -(s - g[1]) * k6;
    out[3] = a + b;
    out[4] = a - b;
    out[5] = g[2];
  };
  const size_t xs = (size_t)cout * cin;
  constexpr int kBlock = 16;  // input channels per pass: 36 rows of 16 floats, not 36 scattered stores
  float tile[36][kBlock];
  for (int o = 0; o < cout; ++o)
    for (int i0 = 0; i0 < cin; i0 += kBlock) {
      const int nb = std::min(kBlock, cin - i0);
      for (int b = 0; b < nb; ++b) {
        const int i = i0 + b;
        float g[3][3], gg[6][3];  // the kernel, then G g (column by column)
        for (int u = 0; u < 3; ++u)
          for (int v = 0; v < 3; ++v)
            g[u][v] = adjoint ? w[((size_t)i * cout + o) * 9 + (2 - u) * 3 + (2 - v)]
                              : w[((size_t)o * cin + i) * 9 + u * 3 + v];
        for (int v = 0; v < 3; ++v) {
          const float col[3] = {g[0][v], g[1][v], g[2][v]};
          float out[6];
          gt(col, out);
          for (int r = 0; r < 6; ++r) gg[r][v] = out[r];
        }
        for (int r = 0; r < 6; ++r) {  // (G g) G^T, row by row
          float out[6];
          gt(gg[r], out);
          for (int nu = 0; nu < 6; ++nu) tile[6 * r + nu][b] = out[nu];
        }
      }
      for (int xi = 0; xi < 36; ++xi)
        std::memcpy(U + (size_t)xi * xs + (size_t)o * cin + i0, tile[xi], sizeof(float) * nb);
    }
}
void winograd_weights_for(const Wino& k, float* U, const float* w, int cout, int cin, bool adjoint) {
  if (k.m == 4) winograd4_weights(U, w, cout, cin, adjoint);
  else winograd_weights(U, w, cout, cin, adjoint);
}
// A group of G <= wino_group(T) images: out planes (cout per image) = U (*) padded input
// planes (cin per image), bias added. Image g reads in + g * in_image and writes
// out + g * out_image.
// The Winograd GEMMs of a group; image g's M (row stride ldt) then goes to
// output(g, M + g * T, ldt).
template <class Output>
void winograd_group(const Wino& k, const float* in, int in_ld, size_t in_plane, size_t in_image,
                    int G, const float* U, int cin, int cout, float* scratch, Output output) {
  const int T = k.tiles(), ldt = wino_group(T) * T;
  float* V = scratch;
  float* M = V + (size_t)k.xi * cin * ldt;
  for (int g = 0; g < G; ++g) {
    float* v = V + (size_t)g * T;
    if (k.m == 4) winograd4_input_f32(v, ldt, in + g * in_image, in_ld, in_plane, cin, k.TH, k.TW);
    else winograd_input_f32(v, ldt, in + g * in_image, in_ld, in_plane, cin, k.TH, k.TW);
  }
  for (int xi = 0; xi < k.xi; ++xi)
    gemm_nn_f32(cout, G * T, cin, U + (size_t)xi * cout * cin, cin, V + (size_t)xi * cin * ldt,
                ldt, M + (size_t)xi * cout * ldt, ldt, /*acc=*/false);
  for (int g = 0; g < G; ++g) output(g, M + (size_t)g * T, ldt);
}
// dw[o, i] += G^T dU[., o, i] G: the adjoint of winograd_weights (not adjoint).
void winograd_weights_grad(float* dw, const float* dU, int cout, int cin) {
  const size_t xs = (size_t)cout * cin;
  for (int o = 0; o < cout; ++o)
    for (int i = 0; i < cin; ++i) {
      const float* u = dU + (size_t)o * cin + i;
      float t[4][3];  // dU G
      for (int r = 0; r < 4; ++r) {
        const float u0 = u[(4 * r) * xs], u1 = u[(4 * r + 1) * xs], u2 = u[(4 * r + 2) * xs],
                    u3 = u[(4 * r + 3) * xs];
        t[r][0] = u0 + 0.5f * (u1 + u2);
        t[r][1] = 0.5f * (u1 - u2);
        t[r][2] = 0.5f * (u1 + u2) + u3;
      }
      float* g = dw + ((size_t)o * cin + i) * 9;
      for (int v = 0; v < 3; ++v) {  // G^T (dU G)
        g[0 * 3 + v] += t[0][v] + 0.5f * (t[1][v] + t[2][v]);
        g[1 * 3 + v] += 0.5f * (t[1][v] - t[2][v]);
        g[2 * 3 + v] += 0.5f * (t[1][v] + t[2][v]) + t[3][v];
      }
    }
}
// The weight gradient in the Winograd domain: dU[xi] = sum over tiles of
// (A dY A^T)[xi] (B^T d B)[xi]^T, 16 GEMMs of OC x C as deep as a group's tiles, then
// dw += G^T dU G: 16 T C OC products per image instead of 36 T C OC (T: 2x2 tiles).
// `pad` holds the forward's padded inputs; dout has rows of Wp floats.
void winograd_wgrad(float* dw, const float* pad, const float* dout, int N, const ConvShape& s,
                    float* scratch) {
  const int Wp = conv_s1_row(s), P = s.OH() * Wp, TH = s.OH() / 2, TW = s.OW() / 2;
  const int T = TH * TW, ldt = wino_group(T) * T;
  const size_t ps = conv_s1_pad_size(s), osz = (size_t)s.OC * P;
  const size_t plane = (size_t)(s.H + 2 * s.pad + 1) * Wp;
  float* dU = scratch;
  float* V = dU + (size_t)16 * s.OC * s.C;
  float* dM = V + (size_t)16 * s.C * ldt;
  std::memset(dU, 0, sizeof(float) * 16 * s.OC * s.C);
  const int GW = wino_group(T);
  for (int n0 = 0; n0 < N; n0 += GW) {
    const int G = std::min(GW, N - n0);
    for (int g = 0; g < G; ++g) {
      winograd_input_f32(V + (size_t)g * T, ldt, pad + (n0 + g) * ps, Wp, plane, s.C, TH, TW);
      winograd_output_grad_f32(dM + (size_t)g * T, ldt, dout + (n0 + g) * osz, Wp, P, s.OC, TH, TW);
    }
    for (int xi = 0; xi < 16; ++xi)
      gemm_nt_f32(s.OC, s.C, G * T, dM + (size_t)xi * s.OC * ldt, ldt, V + (size_t)xi * s.C * ldt,
                  ldt, dU + (size_t)xi * s.OC * s.C, s.C, /*acc=*/true);
  }
  winograd_weights_grad(dw, dU, s.OC, s.C);
}
void winograd_conv(const Wino& k, float* out, int out_ld, size_t out_plane, size_t out_image,
                   const float* in, int in_ld, size_t in_plane, size_t in_image, int G, const float* U,
                   const float* bias, int cin, int cout, float* scratch) {
  winograd_group(k, in, in_ld, in_plane, in_image, G, U, cin, cout, scratch,
                 [&](int g, const float* M, int ldt) {
                   float* o = out + g * out_image;
                   if (k.m == 4) winograd4_output_f32(o, out_ld, out_plane, M, ldt, bias, cout, k.TH, k.TW);
                   else winograd_output_f32(o, out_ld, out_plane, M, ldt, bias, cout, k.TH, k.TW);
                 });
}
}  // namespace

size_t conv_s1_forward_scratch(const ConvShape& s) {
  return conv_winograd_applies(s) ? winograd_scratch(s.C, s.OC, wino_for(s.OH(), s.OW()))
                                  : rows_floats((size_t)s.K()) + 16;
}

// prepared: the forward's U, then the input gradient's (F(2x2, 3x3), adjoint).
size_t conv_s1_prepared_floats(const ConvShape& s) {
  if (!conv_winograd_applies(s)) return 0;
  return (size_t)(wino_for(s.OH(), s.OW()).xi + 16) * s.OC * s.C;
}
void conv_s1_prepare(float* prepared, const float* w, const ConvShape& s) {
  if (!conv_winograd_applies(s)) return;
  const Wino k = wino_for(s.OH(), s.OW());
  winograd_weights_for(k, prepared, w, s.OC, s.C, /*adjoint=*/false);
  winograd_weights(prepared + (size_t)k.xi * s.OC * s.C, w, s.C, s.OC, /*adjoint=*/true);
}

void conv2d_s1_forward(float* out, float* pad, float* scratch, const float* inp, const float* w,
                       const float* b, int N, const ConvShape& s, const float* prepared) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const size_t ps = conv_s1_pad_size(s);
  const size_t isz = (size_t)s.C * s.H * s.W, osz = (size_t)s.OC * P;
  if (conv_winograd_applies(s)) {
    const Wino k = wino_for(s.OH(), s.OW());
    const float* U = prepared;
    if (!U) winograd_weights_for(k, scratch, w, s.OC, s.C, /*adjoint=*/false), U = scratch;
    const size_t plane = (size_t)(s.H + 2 * s.pad + 1) * Wp;
    const int GW = wino_group(k.tiles());
    for (int n0 = 0; n0 < N; n0 += GW) {
      const int G = std::min(GW, N - n0);
      for (int n = n0; n < n0 + G; ++n) pad_image(pad + n * ps, inp + n * isz, s);
      winograd_conv(k, out + n0 * osz, Wp, P, osz, pad + n0 * ps, Wp, plane, ps, G, U, b, s.C,
                    s.OC, scratch + (size_t)k.xi * s.OC * s.C);
    }
    return;
  }
  const float** rows = rows_at(scratch);
  for (int n = 0; n < N; ++n) {
    pad_image(pad + n * ps, inp + n * isz, s);
    tap_rows(rows, pad + n * ps, s);
    float* o = out + n * osz;
    for (int oc = 0; oc < s.OC; ++oc)
      for (int p = 0; p < P; ++p) o[(size_t)oc * P + p] = b[oc];
    gemm_nn_rows_f32(s.OC, P, K, w, K, rows, o, P, /*acc=*/true);
  }
}

bool conv_relu_pool_fused(const ConvShape& s) { return conv_winograd_applies(s); }

void conv2d_s1_relu_pool_forward(float* pooled, int32_t* idx, float* pad, float* scratch,
                                 const float* inp, const float* w, const float* b, int N,
                                 const ConvShape& s, const float* prepared) {
  const int Wp = conv_s1_row(s);
  const size_t ps = conv_s1_pad_size(s), isz = (size_t)s.C * s.H * s.W;
  const size_t pz = (size_t)s.OC * (s.OH() / 2) * (s.OW() / 2), plane = (size_t)(s.H + 2 * s.pad + 1) * Wp;
  const Wino k = wino_for(s.OH(), s.OW());
  const float* U = prepared;
  if (!U) winograd_weights_for(k, scratch, w, s.OC, s.C, /*adjoint=*/false), U = scratch;
  const int GW = wino_group(k.tiles());
  for (int n0 = 0; n0 < N; n0 += GW) {
    const int G = std::min(GW, N - n0);
    for (int n = n0; n < n0 + G; ++n) pad_image(pad + n * ps, inp + n * isz, s);
    winograd_group(k, pad + n0 * ps, Wp, plane, ps, G, U, s.C, s.OC,
                   scratch + (size_t)k.xi * s.OC * s.C, [&](int g, const float* M, int ldt) {
                     const size_t o = (n0 + g) * pz;
                     auto pool = k.m == 4 ? winograd4_output_relu_pool_f32 : winograd_output_relu_pool_f32;
                     pool(pooled + o, idx + o, M, ldt, b, s.OC, k.TH, k.TW);
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
// The pooled gradients' kernels: the 3x3 ones for the shapes they take (the seed's
// convs: their bits are the seed's), the general ones for any other kernel and C.
bool pooled_3x3(const ConvShape& s) { return s.KH == 3 && s.KW == 3 && (s.C == 1 || s.C % 4 == 0); }
// Floats per kernel row of dw and w, channels last ([OC, KH, ldw]).
int pooled_ldw(const ConvShape& s) { return pooled_3x3(s) ? 3 * s.C : (s.KW * s.C + 3) / 4 * 4; }
size_t pooled_scratch(const ConvShape& s) {
  return 2 * (conv_s1_pad_size(s) + (size_t)s.OC * s.KH * pooled_ldw(s));
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

size_t conv_s1_backward_scratch(const ConvShape& s) {
  const int Wp = conv_s1_row(s), P = s.OH() * Wp, plane = P + 2 * s1_margin(s);
  const bool wino = conv_winograd_applies(s);
  const Wino kd = wino_f2(s.H, s.W);  // the input gradient's
  return (size_t)(wino ? wino_group(kd.tiles()) : 1) * s.OC * plane  // dout between margins
         + (size_t)s.C * s.OC * s.KH * s.KW  // flipped weights
         + (size_t)s.C * s.H * Wp            // input gradient rows (padded columns)
         + (wino ? winograd_bwd_scratch(s) : 0)
         + (conv_pooled_backward_fits(s) ? pooled_scratch(s) : 0)
         + 16 + rows_floats((size_t)std::max(s.K(), s.OC * s.KH * s.KW));  // row-pointer table
}

void conv2d_s1_backward(float* dinp, float* dw, float* db, const float* pad, float* scratch,
                        const float* dout, const float* w, int N, const ConvShape& s,
                        const PooledGrad* pooled, const float* prepared) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const int margin = s1_margin(s), zplane = P + 2 * margin;
  const int KT = s.OC * s.KH * s.KW;  // taps of the full convolution
  const size_t ps = conv_s1_pad_size(s), osz = (size_t)s.OC * P, isz = (size_t)s.C * s.H * s.W;
  const bool wino = conv_winograd_applies(s);
  const Wino kd = wino_f2(s.H, s.W);  // the input gradient's Winograd (the weight gradient's: F(2x2))
  const int nz = wino ? wino_group(kd.tiles()) : 1;  // images of dout between margins at once
  // Scratch: dout between margins, flipped weights, gradient rows, Winograd, pooled.
  float* doutz = scratch;
  float* wflip = doutz + (size_t)nz * s.OC * zplane;
  float* drows = wflip + (size_t)s.C * KT;
  float* wsc = drows + (size_t)s.C * s.H * Wp;  // Winograd: U of the input gradient, then V and M
  // Pooled gradients: the padded input and its gradient channels-last, dw and w as [OC, 9, C].
  float* padh = wsc + (wino ? winograd_bwd_scratch(s) : 0);
  float* dinh = padh + conv_s1_pad_size(s);
  float* dwh = dinh + conv_s1_pad_size(s);
  const int ldw = pooled_ldw(s);
  float* wh = dwh + (size_t)s.OC * s.KH * ldw;
  const float** rows = rows_at(padh + (conv_pooled_backward_fits(s) ? pooled_scratch(s) : 0));

  // From the pooled gradient (the model's conv2): only each window's maximum carries
  // gradient, so all three gradients come from those positions; dout is not read.
  if (pooled && conv_pooled_backward_fits(s)) {
    const int PH = s.OH() / 2, PW = s.OW() / 2;
    const size_t plane = ps / s.C, pg = (size_t)s.OC * PH * PW, KK = (size_t)s.KH * s.KW;
    const bool k3 = pooled_3x3(s);
    // dw and w as [OC, KH, ldw]: (oc, kh) rows of KW * C floats, channels last.
    auto at = [&](int oc, int c, int kh, int kw) { return ((size_t)oc * s.KH + kh) * ldw + (size_t)kw * s.C + c; };
    std::memset(dwh, 0, sizeof(float) * s.OC * s.KH * ldw);
    std::memset(wh, 0, sizeof(float) * s.OC * s.KH * ldw);
    for (int oc = 0; oc < s.OC; ++oc)
      for (int c = 0; c < s.C; ++c)
        for (int kh = 0; kh < s.KH; ++kh)
          for (int kw = 0; kw < s.KW; ++kw)
            wh[at(oc, c, kh, kw)] = w[((size_t)oc * s.C + c) * KK + kh * s.KW + kw];
    for (int n = 0; n < N; ++n) {
      const float* g = pooled->g + n * pg;
      const int32_t* ix = pooled->idx + n * pg;
      // db: the gradients of the windows ReLU did not cut, as a select rather than a
      // branch (ReLU makes it unpredictable); the same additions in the same order.
      for (int oc = 0; oc < s.OC; ++oc) {
        const float* go = g + (size_t)oc * PH * PW;
        const int32_t* io = ix + (size_t)oc * PH * PW;
        float acc = db[oc];
        for (int i = 0; i < PH * PW; ++i) {
          const float sum = acc + go[i];
          acc = io[i] < 4 ? sum : acc;
        }
        db[oc] = acc;
      }
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
    for (int oc = 0; oc < s.OC; ++oc)
      for (int c = 0; c < s.C; ++c)
        for (int kh = 0; kh < s.KH; ++kh)
          for (int kw = 0; kw < s.KW; ++kw)
            dw[((size_t)oc * s.C + c) * KK + kh * s.KW + kw] += dwh[at(oc, c, kh, kw)];
    return;
  }
  // db and dw: junk columns of dout are zero, so they contribute nothing.
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < s.OC; ++oc) db[oc] += sum_f32(dout + n * osz + (size_t)oc * P, P);
  if (wino) {
    winograd_wgrad(dw, pad, dout, N, s, wsc);  // wsc is free until the input gradient
  } else {
    for (int n = 0; n < N; ++n) {
      tap_rows(rows, pad + n * ps, s);
      gemm_nt_rows_f32(s.OC, K, P, dout + n * osz, P, rows, dw, K, /*acc=*/true);
    }
  }
  if (!dinp) return;

  // Input gradient: dout goes between zero margins (zeroed here, kept zero).
  for (int i = 0; i < nz * s.OC; ++i) {
    std::memset(doutz + (size_t)i * zplane, 0, sizeof(float) * margin);
    std::memset(doutz + (size_t)i * zplane + margin + P, 0, sizeof(float) * margin);
  }
  auto place = [&](int slot, int n) {
    for (int oc = 0; oc < s.OC; ++oc)
      std::memcpy(doutz + ((size_t)slot * s.OC + oc) * zplane + margin, dout + n * osz + (size_t)oc * P,
                  sizeof(float) * P);
  };
  if (wino) {
    // dinp = dout (padded by 1: read from the zero margins and the zero junk columns)
    // correlated with the rotated kernels.
    const float* U = prepared ? prepared + (size_t)wino_for(s.OH(), s.OW()).xi * s.OC * s.C : wsc;
    if (!prepared) winograd_weights(wsc, w, s.C, s.OC, /*adjoint=*/true);
    const int GW = nz;
    for (int n0 = 0; n0 < N; n0 += GW) {
      const int G = std::min(GW, N - n0);
      for (int g = 0; g < G; ++g) place(g, n0 + g);
      winograd_conv(kd, dinp + n0 * isz, s.W, (size_t)s.H * s.W, isz, doutz + margin - Wp - 1, Wp,
                    zplane, (size_t)s.OC * zplane, G, U, nullptr, s.OC, s.C,
                    wsc + (size_t)kd.xi * s.C * s.OC);
    }
    return;
  }
  // Otherwise the full convolution as a shifted GEMM:
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
    place(0, n);
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

void maxpool2d_forward(float* out, int32_t* argmax, const float* inp, int N, int C, int H,
                       int W, int k, int stride) {
  const int OH = (H - k) / stride + 1, OW = (W - k) / stride + 1;
  for (int nc = 0; nc < N * C; ++nc) {
    const float* plane = inp + (size_t)nc * H * W;
    float* o = out + (size_t)nc * OH * OW;
    int32_t* a = argmax + (size_t)nc * OH * OW;
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        int best = (oh * stride) * W + ow * stride;
        float bv = plane[best];
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j) {
            const int idx = (oh * stride + i) * W + ow * stride + j;
            const float v = plane[idx];
            if (v > bv || (std::isnan(v) && !std::isnan(bv))) {
              bv = v;
              best = idx;
            }
          }
        o[oh * OW + ow] = bv;
        a[oh * OW + ow] = best;
      }
  }
}

void maxpool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int N, int C,
                        int H, int W, int k, int stride) {
  const int OH = (H - k) / stride + 1, OW = (W - k) / stride + 1;
  std::memset(dinp, 0, sizeof(float) * N * C * H * W);
  for (int nc = 0; nc < N * C; ++nc) {
    float* plane = dinp + (size_t)nc * H * W;
    const float* d = dout + (size_t)nc * OH * OW;
    const int32_t* a = argmax + (size_t)nc * OH * OW;
    for (int i = 0; i < OH * OW; ++i) plane[a[i]] += d[i];
  }
}

void linear_forward(float* out, const float* inp, const float* w, const float* b, int N, int I,
                    int O) {
  gemm_nt_f32(N, O, I, inp, I, w, I, out, O, /*acc=*/false);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) out[(size_t)n * O + o] += b[o];
}

void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                     const float* w, int N, int I, int O) {
  for (int o = 0; o < O; ++o) {
    float acc = 0.f;
    for (int n = 0; n < N; ++n) acc += dout[(size_t)n * O + o];
    db[o] += acc;
  }
  gemm_tn_f32(O, I, N, dout, O, inp, I, dw, I, /*acc=*/true);
  if (dinp) gemm_nn_f32(N, I, O, dout, O, w, I, dinp, I, /*acc=*/false);
}

double softmax_xent_forward(float* probs, const float* logits, const uint8_t* labels, int N,
                            int V) {
  constexpr int kRows = 64;  // rows per kernel call (stack buffers)
  float mx[kRows], sum[kRows];
  double total = 0.0;
  for (int n0 = 0; n0 < N; n0 += kRows) {
    const int rows = std::min(kRows, N - n0);
    softmax_rows_f32(probs + (size_t)n0 * V, mx, sum, logits + (size_t)n0 * V, rows, V);
    // -log softmax[label] = log(sum) - (l[label] - max): exact where probs underflow.
    for (int r = 0; r < rows; ++r) {
      const int n = n0 + r;
      total += (double)std::log(sum[r]) - (double)(logits[(size_t)n * V + labels[n]] - mx[r]);
    }
  }
  return total;
}

void softmax_xent_backward(float* dlogits, const float* probs, const uint8_t* labels, int N,
                           int V, float scale) {
  for (int n = 0; n < N; ++n)
    for (int v = 0; v < V; ++v) {
      const float t = (v == labels[n]) ? 1.f : 0.f;
      dlogits[(size_t)n * V + v] = (probs[(size_t)n * V + v] - t) * scale;
    }
}

}  // namespace wt
