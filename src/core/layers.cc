#include "core/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace wt {

// Output columns [ow0, ow1) whose input column ow*stride - pad + kw is inside 0..W-1.
static inline void valid_cols(const ConvShape& s, int kw, int OW, int* ow0, int* ow1) {
  const int lo = s.pad - kw;  // need ow*stride >= lo
  *ow0 = lo <= 0 ? 0 : (lo + s.stride - 1) / s.stride;
  const int hi = s.W - 1 + s.pad - kw;  // need ow*stride <= hi
  *ow1 = hi < 0 ? 0 : std::min(OW, hi / s.stride + 1);
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
          const int base = kw - s.pad;
          for (int ow = 0; ow < ow0; ++ow) r[ow] = 0.f;
          if (s.stride == 1) {
            // An inline loop, not memcpy: rows are 14-28 floats, and a call per row
            // costs more than the copy in wasm.
            const float* sp = src + ow0 + base;
            for (int ow = ow0; ow < ow1; ++ow) r[ow] = sp[ow - ow0];
          } else {
            for (int ow = ow0; ow < ow1; ++ow) r[ow] = src[ow * s.stride + base];
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
          const int base = kw - s.pad;
          if (s.stride == 1) {
            add_f32(dst + ow0 + base, r + ow0, (size_t)(ow1 - ow0));
          } else {
            for (int ow = ow0; ow < ow1; ++ow) dst[ow * s.stride + base] += r[ow];
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
constexpr int kMaxTaps = 1024;
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

void conv2d_s1_forward(float* out, float* pad, const float* inp, const float* w, const float* b,
                       int N, const ConvShape& s) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const size_t ps = conv_s1_pad_size(s);
  const float* rows[kMaxTaps];
  for (int n = 0; n < N; ++n) {
    pad_image(pad + n * ps, inp + (size_t)n * s.C * s.H * s.W, s);
    tap_rows(rows, pad + n * ps, s);
    float* o = out + (size_t)n * s.OC * P;
    for (int oc = 0; oc < s.OC; ++oc)
      for (int p = 0; p < P; ++p) o[(size_t)oc * P + p] = b[oc];
    gemm_nn_rows_f32(s.OC, P, K, w, K, rows, o, P, /*acc=*/true);
  }
}

// The input gradient is a "full" convolution of dout with the flipped kernel:
//   dinp_pad[c, q] = sum over (oc, kh, kw) of w[oc, c, kh, kw] * dout[oc, q - kh Wp - kw],
// the same shifted GEMM as the forward once dout sits between zero margins of
// (KH - 1) Wp + KW - 1 floats. It replaces dcol = w^T dout plus a scatter-add of
// every tap row (no dcol buffer, no 72 short scatter loops per image).
static inline int s1_margin(const ConvShape& s) { return (s.KH - 1) * conv_s1_row(s) + s.KW - 1; }

// Weight gradient as dw^T[K, OC] = taps[K, P] * dout^T[P, OC] (gemm_rn: broadcasts
// from the tap rows, OC along the vector) when OC fills the vectors; measured in wasm
// 20-25% faster than dot products along P (gemm_nt_rows), whose 6 moving row
// pointers cost address arithmetic. conv1 (OC = 8) keeps the dot products.
static inline bool dw_transposed(const ConvShape& s) { return s.OC % 16 == 0; }

size_t conv_s1_backward_scratch(const ConvShape& s) {
  const int Wp = conv_s1_row(s), P = s.OH() * Wp, plane = P + 2 * s1_margin(s);
  return (size_t)s.OC * plane               // dout between margins
         + (size_t)s.C * s.OC * s.KH * s.KW  // flipped weights
         + (size_t)s.C * s.H * Wp            // input gradient rows (padded columns)
         + (size_t)P * s.OC                  // dout^T
         + (size_t)s.K() * s.OC;             // dw^T
}

void conv2d_s1_backward(float* dinp, float* dw, float* db, const float* pad, float* scratch,
                        const float* dout, const float* w, int N, const ConvShape& s) {
  const int K = s.K(), Wp = conv_s1_row(s), P = s.OH() * Wp;
  const int margin = s1_margin(s), zplane = P + 2 * margin;
  const int KT = s.OC * s.KH * s.KW;  // taps of the full convolution
  const size_t ps = conv_s1_pad_size(s);
  // Scratch: dout between margins, flipped weights, gradient rows, dout^T, dw^T.
  float* doutz = scratch;
  float* wflip = doutz + (size_t)s.OC * zplane;
  float* drows = wflip + (size_t)s.C * KT;
  float* doutT = drows + (size_t)s.C * s.H * Wp;
  float* dwT = doutT + (size_t)P * s.OC;
  const bool transposed = dw_transposed(s);
  const float* rows[kMaxTaps];
  if (dinp) {
    // wflip[c, (oc, kh, kw)] = w[oc, c, kh, kw]; margins of doutz are zero.
    for (int c = 0; c < s.C; ++c)
      for (int oc = 0; oc < s.OC; ++oc)
        for (int t = 0; t < s.KH * s.KW; ++t)
          wflip[(size_t)c * KT + oc * s.KH * s.KW + t] = w[((size_t)oc * s.C + c) * s.KH * s.KW + t];
    for (int oc = 0; oc < s.OC; ++oc) {
      std::memset(doutz + (size_t)oc * zplane, 0, sizeof(float) * margin);
      std::memset(doutz + (size_t)oc * zplane + margin + P, 0, sizeof(float) * margin);
    }
  }
  for (int n = 0; n < N; ++n) {
    const float* d = dout + (size_t)n * s.OC * P;
    // db and dw: junk columns of dout are zero, so they contribute nothing.
    for (int oc = 0; oc < s.OC; ++oc) db[oc] += sum_f32(d + (size_t)oc * P, P);
    tap_rows(rows, pad + n * ps, s);
    if (transposed) {
      transpose_f32(doutT, s.OC, d, P, s.OC, P);
      gemm_rn_f32(K, s.OC, P, rows, doutT, s.OC, dwT, s.OC, /*acc=*/n > 0);
    } else {
      gemm_nt_rows_f32(s.OC, K, P, d, P, rows, dw, K, /*acc=*/true);
    }
    if (!dinp) continue;
    for (int oc = 0; oc < s.OC; ++oc)
      std::memcpy(doutz + (size_t)oc * zplane + margin, d + (size_t)oc * P, sizeof(float) * P);
    // Output rows h = 0..H-1 of the padded input (all Wp columns): q = (h + pad) Wp + x.
    const int q0 = s.pad * Wp;
    for (int oc = 0, k = 0; oc < s.OC; ++oc)
      for (int kh = 0; kh < s.KH; ++kh)
        for (int kw = 0; kw < s.KW; ++kw)
          rows[k++] = doutz + (size_t)oc * zplane + margin + q0 - kh * Wp - kw;
    gemm_nn_rows_f32(s.C, s.H * Wp, KT, wflip, KT, rows, drows, s.H * Wp, /*acc=*/false);
    float* di = dinp + (size_t)n * s.C * s.H * s.W;
    for (int c = 0; c < s.C; ++c)
      for (int h = 0; h < s.H; ++h) {
        const float* src = drows + ((size_t)c * s.H + h) * Wp + s.pad;
        float* dst = di + ((size_t)c * s.H + h) * s.W;
        for (int x = 0; x < s.W; ++x) dst[x] = src[x];
      }
  }
  if (transposed && N > 0)
    for (int oc = 0; oc < s.OC; ++oc)
      for (int k = 0; k < K; ++k) dw[(size_t)oc * K + k] += dwT[(size_t)k * s.OC + oc];
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
  double total = 0.0;
  for (int n = 0; n < N; ++n) {
    const float* l = logits + (size_t)n * V;
    float* p = probs + (size_t)n * V;
    float mx = l[0];
    for (int v = 1; v < V; ++v) mx = l[v] > mx ? l[v] : mx;
    float sum = 0.f;
    for (int v = 0; v < V; ++v) {
      p[v] = std::exp(l[v] - mx);
      sum += p[v];
    }
    const float inv = 1.f / sum;
    for (int v = 0; v < V; ++v) p[v] *= inv;
    // -log softmax[label] = log(sum) - (l[label] - mx): exact where probs underflow.
    total += (double)std::log(sum) - (double)(l[labels[n]] - mx);
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
