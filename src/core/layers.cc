// Layer primitives of layers.h: im2col convolution, max-pool, linear, softmax
// cross-entropy (the stride-1 convolutions are conv_s1.cc).
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
