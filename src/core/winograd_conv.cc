// Winograd convolution for the stride-1 convs: winograd_conv.h.
#include "core/winograd_conv.h"

#include <cstring>

namespace wt {

// ---- Winograd F(2x2, 3x3) (kernels.h): 16 products per 2x2 tile and channel pair
// instead of 36. Used for conv2's forward and input gradient, the two biggest GEMMs;
// not for conv1 (one input channel: its GEMMs would be 1 deep; measured 1.8x slower).
bool conv_winograd_applies(const ConvShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride == 1 && s.pad == 1 && s.OH() % 2 == 0 &&
         s.OW() % 2 == 0 && s.OW() >= 8 && s.C >= 4 && s.OC >= 4;
}
// F(2x2, 5x5), for the forward of 5x5 convs that ReLU and a 2x2 max-pool follow (lenet5's
// 6->16): its 2x2 tiles are the pooling windows. Patches read up to 3 columns past the
// output's last one: the right padding, or (rows sharing their padding) the next row's
// left padding, zero either way.
bool conv_wino25_applies(const ConvShape& s) {
  return s.KH == 5 && s.KW == 5 && s.stride == 1 && s.OH() % 2 == 0 && s.OW() % 2 == 0 &&
         s.OW() >= 8 && s.C >= 4 && s.OC >= 4;
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
namespace {
// U[xi, o, i] = (G g G^T)[xi] for the R x R kernel kernel(o, i) and a G of 6 rows
// (gt: G times an R-vector), in blocks of input channels: 36 rows of 16 floats, not
// 36 scattered stores.
template <int R, class Kernel, class Gt>
void winograd6_weights(float* U, int cout, int cin, Kernel kernel, Gt gt) {
  const size_t xs = (size_t)cout * cin;
  constexpr int kBlock = 16;
  float tile[36][kBlock];
  for (int o = 0; o < cout; ++o)
    for (int i0 = 0; i0 < cin; i0 += kBlock) {
      const int nb = std::min(kBlock, cin - i0);
      for (int b = 0; b < nb; ++b) {
        float g[R][R], gg[6][R];  // the kernel, then G g (column by column)
        kernel(o, i0 + b, g);
        for (int v = 0; v < R; ++v) {
          float col[R], out[6];
          for (int u = 0; u < R; ++u) col[u] = g[u][v];
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
}  // namespace

// The same for F(4x4, 3x3): G of kernels.h, 6x3.
void winograd4_weights(float* U, const float* w, int cout, int cin, bool adjoint) {
  winograd6_weights<3>(U, cout, cin, [&](int o, int i, float (&g)[3][3]) {
    for (int u = 0; u < 3; ++u)
      for (int v = 0; v < 3; ++v)
        g[u][v] = adjoint ? w[((size_t)i * cout + o) * 9 + (2 - u) * 3 + (2 - v)]
                          : w[((size_t)o * cin + i) * 9 + u * 3 + v];
  }, [](const float g[3], float out[6]) {
    constexpr float k6 = 1.f / 6, k12 = 1.f / 12, k24 = 1.f / 24;
    const float s = g[0] + g[2], a = g[0] * k24 + g[2] * k6, b = g[1] * k12;
    out[0] = 0.25f * g[0];
    out[1] = -(s + g[1]) * k6;
    out[2] = -(s - g[1]) * k6;
    out[3] = a + b;
    out[4] = a - b;
    out[5] = g[2];
  });
}
// F(2x2, 5x5)'s: the 5x5 kernel g = w[o, i], G of kernels.h (6x5).
void winograd25_weights(float* U, const float* w, int cout, int cin) {
  winograd6_weights<5>(U, cout, cin, [&](int o, int i, float (&g)[5][5]) {
    std::memcpy(g, w + ((size_t)o * cin + i) * 25, sizeof g);
  }, [](const float g[5], float out[6]) {
    constexpr float k6 = 1.f / 6, k12 = 1.f / 12, k24 = 1.f / 24, k3 = 1.f / 3, k23 = 2.f / 3;
    const float even = g[0] + g[2] + g[4], odd = g[1] + g[3];
    const float a = g[0] * k24 + g[2] * k6 + g[4] * k23, b = g[1] * k12 + g[3] * k3;
    out[0] = 0.25f * g[0];
    out[1] = -(even + odd) * k6;
    out[2] = -(even - odd) * k6;
    out[3] = a + b;
    out[4] = a - b;
    out[5] = g[4];
  });
}
void winograd_weights_for(const Wino& k, float* U, const float* w, int cout, int cin, bool adjoint) {
  if (k.r == 5) winograd25_weights(U, w, cout, cin);
  else if (k.m == 4) winograd4_weights(U, w, cout, cin, adjoint);
  else winograd_weights(U, w, cout, cin, adjoint);
}
namespace {
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
}  // namespace

// The weight gradient in the Winograd domain: dU[xi] = sum over tiles of
// (A dY A^T)[xi] (B^T d B)[xi]^T, 16 GEMMs of OC x C as deep as a group's tiles, then
// dw += G^T dU G: 16 T C OC products per image instead of 36 T C OC (T: 2x2 tiles).
// `pad` holds the forward's padded inputs; dout has rows of dout_ld floats.
void winograd_wgrad(float* dw, const float* pad, const float* dout, int dout_ld, int N,
                    const ConvShape& s, float* scratch) {
  const int Wp = conv_s1_row(s), P = s.OH() * dout_ld, TH = s.OH() / 2, TW = s.OW() / 2;
  const int T = TH * TW, ldt = wino_group(T) * T;
  const size_t ps = conv_s1_pad_size(s), osz = (size_t)s.OC * P;
  const size_t plane = conv_s1_plane(s);
  const size_t vs = wino_xi_stride(s.C, ldt), ms = wino_xi_stride(s.OC, ldt);
  float* dU = scratch;
  float* V = dU + (size_t)16 * s.OC * s.C;
  float* dM = V + 16 * vs;
  std::memset(dU, 0, sizeof(float) * 16 * s.OC * s.C);
  const int GW = wino_group(T);
  for (int n0 = 0; n0 < N; n0 += GW) {
    const int G = std::min(GW, N - n0);
    for (int g = 0; g < G; ++g) {
      winograd_input_f32(V + (size_t)g * T, ldt, pad + (n0 + g) * ps, Wp, plane, s.C, TH, TW);
      winograd_output_grad_f32(dM + (size_t)g * T, ldt, dout + (n0 + g) * osz, dout_ld, P, s.OC, TH, TW);
    }
    for (int xi = 0; xi < 16; ++xi)
      gemm_nt_f32(s.OC, s.C, G * T, dM + xi * ms, ldt, V + xi * vs, ldt, dU + (size_t)xi * s.OC * s.C,
                  s.C, /*acc=*/true);
  }
  winograd_weights_grad(dw, dU, s.OC, s.C);
}
void winograd_conv(const Wino& k, float* out, int out_ld, size_t out_plane, size_t out_image,
                   const float* in, int in_ld, size_t in_plane, size_t in_image, int G, const float* U,
                   const float* bias, int cin, int cout, float* scratch) {
  winograd_group(k, in, in_ld, in_plane, in_image, G, U, cin, cout, scratch,
                 [&](int g, const float* M, int ldt) {
                   float* o = out + g * out_image;
                   if (k.m == 4) winograd4_output_f32(o, out_ld, out_plane, M, ldt, bias, cout, k.TH, k.TW, k.OH, k.OW);
                   else winograd_output_f32(o, out_ld, out_plane, M, ldt, bias, cout, k.TH, k.TW);
                 });
}

}  // namespace wt
