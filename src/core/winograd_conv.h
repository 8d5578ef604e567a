// Winograd convolution for the stride-1 convs (conv_s1.cc), internal to src/core: the
// variant of a plane, the transformed weights, a group of images through the 16 or 36
// GEMMs, the convolution, and the weight gradient in the Winograd domain. The
// transforms themselves are kernels (src/kernels/winograd.cc).
#pragma once
#include <algorithm>
#include <cstddef>

#include "core/layers.h"
#include "kernels/kernels.h"

namespace wt {

// Images per Winograd GEMM: 4 images of 7x7 tiles make 196-wide GEMMs (1 image's
// 49 left the 2x4 blocks 8 steps deep for every few columns), but a 32x32 image's
// 256 tiles are wide enough alone, and 4 of them (V and M 2 MiB each at 32
// channels) no longer stay in cache. A column's sum is the same in any group.
inline int wino_group(int tiles) { return std::max(1, std::min(4, 256 / tiles)); }

// F(2x2, 5x5) for the 5x5 convs that ReLU and a 2x2 max-pool follow (winograd_conv.cc).
bool conv_wino25_applies(const ConvShape& s);

// The forward's Winograd variant of a conv (conv_winograd_applies, or F(2x2, 5x5) where
// conv_wino25_applies: 36 products per 4 outputs instead of 100): F(4x4, 3x3), 36
// products per 16 outputs instead of F(2x2, 3x3)'s 64, where the output's sides are
// multiples of 4 and it is 16 or more wide (cifar-convnet's 32x32 and 16x16 planes),
// or where the sides are 14 or more and the input has 16 or more channels, the last
// tiles clipped (bn-cnn's 14x14 from 32 channels: 16 tiles of 36 products, 576 per
// channel pair, instead of 49 of 16, 784; in wasm 14% less time for its forward).
// Else F(2x2, 3x3): the seed's 14x14 conv from 8 channels, whose transforms would
// outweigh the saving (and whose bits the v1 fixtures pin).
// The gradients keep F(2x2, 3x3): F(4x4)'s larger rounding in the
// input gradient, which Adam's first step magnifies where a gradient is near 0, took
// cifar-convnet's weights beyond PyTorch's tolerance (tests/cpp/test_fixture_presets).
// m: the output tile's side; xi(): the products per tile, (m + r - 1)^2; OH x OW: the output
// (<= m TH x m TW). pad1: the input planes are unpadded, 2 TH x 2 TW, and read as if
// padded by one zero (F(2x2) only: winograd_input_pad1_f32).
struct Wino {
  int m, TH, TW, OH, OW;
  bool pad1 = false;
  int r = 3;  // the kernel's side: 3, or 5 for F(2x2, 5x5) (conv_wino25_applies)
  int xi() const { return (m + r - 1) * (m + r - 1); }
  int tiles() const { return TH * TW; }
  bool clipped() const { return OH < m * TH || OW < m * TW; }
};
inline Wino wino_f2(int OH, int OW) { return {2, OH / 2, OW / 2, OH, OW}; }
inline Wino wino_for(const ConvShape& s) {
  const int OH = s.OH(), OW = s.OW();
  if (s.KH == 5) return {2, OH / 2, OW / 2, OH, OW, false, 5};
  if ((OH % 4 == 0 && OW % 4 == 0 && OW >= 16) || (OH >= 14 && OW >= 14 && s.C >= 16))
    return {4, (OH + 3) / 4, (OW + 3) / 4, OH, OW};
  return wino_f2(OH, OW);
}
// U, then a group's V and M.
inline size_t winograd_scratch(int cin, int cout, const Wino& k) {
  const int ldt = wino_group(k.tiles()) * k.tiles();
  return k.xi() * ((size_t)cout * cin + wino_xi_stride(cin, ldt) + wino_xi_stride(cout, ldt));
}
// U[xi, o, i] = (G g G^T)[xi] for the 3x3 kernel g = w[o, i] (or, with `adjoint`,
// g = w[i, o] rotated 180 degrees: the kernel of the input gradient): F(2x2, 3x3)'s
// (winograd_weights), F(4x4, 3x3)'s (winograd4_weights), or the variant k's.
void winograd_weights(float* U, const float* w, int cout, int cin, bool adjoint);
void winograd4_weights(float* U, const float* w, int cout, int cin, bool adjoint);
void winograd25_weights(float* U, const float* w, int cout, int cin);
void winograd_weights_for(const Wino& k, float* U, const float* w, int cout, int cin, bool adjoint);

// A group of G <= wino_group(T) images: out planes (cout per image) = U (*) padded input
// planes (cin per image), bias added. Image g reads in + g * in_image and writes
// out + g * out_image.
// The Winograd GEMMs of a group; image g's M (row stride ldt) then goes to
// output(g, M + g * T, ldt).
template <class Output>
void winograd_group(const Wino& k, const float* in, int in_ld, size_t in_plane, size_t in_image,
                    int G, const float* U, int cin, int cout, float* scratch, Output output) {
  const int T = k.tiles(), ldt = wino_group(T) * T;
  const size_t vs = wino_xi_stride(cin, ldt), ms = wino_xi_stride(cout, ldt);
  float* V = scratch;
  float* M = V + k.xi() * vs;
  for (int g = 0; g < G; ++g) {
    float* v = V + (size_t)g * T;
    const float* img = in + g * in_image;
    if (k.r == 5) winograd25_input_f32(v, ldt, img, in_ld, in_plane, cin, k.TH, k.TW);
    else if (k.m == 4) winograd4_input_f32(v, ldt, img, in_ld, in_plane, cin, k.TH, k.TW);
    else if (k.pad1) winograd_input_pad1_f32(v, ldt, img, in_ld, in_plane, cin, k.TH, k.TW);
    else winograd_input_f32(v, ldt, img, in_ld, in_plane, cin, k.TH, k.TW);
  }
  for (int xi = 0; xi < k.xi(); ++xi)
    gemm_nn_f32(cout, G * T, cin, U + (size_t)xi * cout * cin, cin, V + xi * vs, ldt, M + xi * ms,
                ldt, /*acc=*/false);
  for (int g = 0; g < G; ++g) output(g, M + (size_t)g * T, ldt);
}
// A group of G images convolved: out planes (cout per image, row stride out_ld) = U (*)
// the padded input planes (cin per image), plus bias (may be null).
void winograd_conv(const Wino& k, float* out, int out_ld, size_t out_plane, size_t out_image,
                   const float* in, int in_ld, size_t in_plane, size_t in_image, int G, const float* U,
                   const float* bias, int cin, int cout, float* scratch);

// dw += the weight gradient of N images, in the Winograd domain (F(2x2, 3x3)):
// dU[xi] = sum over tiles of (A dY A^T)[xi] (B^T d B)[xi]^T, then dw += G^T dU G. `pad`
// holds the forward's padded inputs; dout has rows of dout_ld floats (Wp, or OW when
// dense); scratch: winograd_scratch(s.OC, s.C, wino_f2(s.OH(), s.OW())) floats.
void winograd_wgrad(float* dw, const float* pad, const float* dout, int dout_ld, int N,
                    const ConvShape& s, float* scratch);

}  // namespace wt
