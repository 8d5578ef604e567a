// Scalar reference implementations for the native tests: the plainest loops
// that compute each layer straight from its definition, templated on the scalar
// type so that the finite-difference checks run in double. No SIMD, no im2col,
// no scratch buffers: nothing shared with src/ except the ConvShape/ParamSpec
// structs that describe shapes.
//
// Legend (as src/core/layers.h): N batch, C/OC channels, H,W input size, OH,OW
// output size, I/O linear features, V classes. Row-major NCHW.
// Backward conventions match production: weight grads ACCUMULATE (+=), input
// grads are WRITTEN (=).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/layers.h"
#include "core/spec.h"
#include "core/rng.h"

namespace ref {

using wt::ConvShape;

// ------------------------------------------------------------------ random data

// Deterministic test data (SplitMix64: the same numbers on every platform).
struct Rng {
  wt::SplitMix64 r;
  explicit Rng(uint64_t seed) : r(seed * 0x9E3779B97F4A7C15ull + 12345) {}
  float uniform(float lo, float hi) { return lo + (hi - lo) * r.uniform01(); }
  // Uniform in +-[lo, hi]: away from 0 (relu kinks).
  float away_from_zero(float lo, float hi) {
    const float m = uniform(lo, hi);
    return (r.next() & 1) ? m : -m;
  }
  uint32_t below(uint32_t n) { return r.below(n); }
  void fill(std::vector<float>& v, float lo, float hi) {
    for (float& x : v) x = uniform(lo, hi);
  }
};

// Distinct values in random order (max-pool has no ties, so no kinks under
// finite differences of size < spacing / 2): a shuffled grid with spacing `step`.
inline std::vector<float> distinct_values(size_t n, float step, Rng& rng) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = ((float)i - (float)n / 2) * step;
  for (size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.below((uint32_t)i)]);
  return v;
}

template <typename T, typename U>
std::vector<T> convert(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// ------------------------------------------------------------------------ layers

// out[N, OC, OH, OW] = sum_{c,kh,kw} w[oc, c, kh, kw] * inp[n, c, oh*s - p + kh, ow*s - p + kw] + b[oc]
template <typename T>
void conv2d_forward(T* out, const T* inp, const T* w, const T* b, int N, const ConvShape& s) {
  const int OH = s.OH(), OW = s.OW();
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < s.OC; ++oc)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          T acc = b[oc];
          for (int c = 0; c < s.C; ++c)
            for (int kh = 0; kh < s.KH; ++kh)
              for (int kw = 0; kw < s.KW; ++kw) {
                const int ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += w[((oc * s.C + c) * s.KH + kh) * s.KW + kw] *
                       inp[((size_t)(n * s.C + c) * s.H + ih) * s.W + iw];
              }
          out[((size_t)(n * s.OC + oc) * OH + oh) * OW + ow] = acc;
        }
}

// Differentiates the line `acc += w * inp` above: dw += dout * inp, dinp += dout * w,
// and `acc = b` : db += dout. dinp (if non-null) is overwritten.
template <typename T>
void conv2d_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, int N,
                     const ConvShape& s) {
  const int OH = s.OH(), OW = s.OW();
  if (dinp) std::fill(dinp, dinp + (size_t)N * s.C * s.H * s.W, T(0));
  for (int n = 0; n < N; ++n)
    for (int oc = 0; oc < s.OC; ++oc)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          const T d = dout[((size_t)(n * s.OC + oc) * OH + oh) * OW + ow];
          db[oc] += d;
          for (int c = 0; c < s.C; ++c)
            for (int kh = 0; kh < s.KH; ++kh)
              for (int kw = 0; kw < s.KW; ++kw) {
                const int ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const size_t ii = ((size_t)(n * s.C + c) * s.H + ih) * s.W + iw;
                const size_t wi = ((oc * s.C + c) * s.KH + kh) * s.KW + kw;
                dw[wi] += d * inp[ii];
                if (dinp) dinp[ii] += d * w[wi];
              }
        }
}

inline int pool_out(int H, int k, int stride) { return (H - k) / stride + 1; }

// out = max over each k x k window; argmax = flat index in the plane of the first
// maximum in scan order.
template <typename T>
void maxpool2d_forward(T* out, int32_t* argmax, const T* inp, int N, int C, int H, int W, int k,
                       int stride) {
  const int OH = pool_out(H, k, stride), OW = pool_out(W, k, stride);
  for (int nc = 0; nc < N * C; ++nc)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        int best = -1;
        T bv = T(0);
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j) {
            const int idx = (oh * stride + i) * W + ow * stride + j;
            const T v = inp[(size_t)nc * H * W + idx];
            if (best < 0 || v > bv) bv = v, best = idx;
          }
        out[((size_t)nc * OH + oh) * OW + ow] = bv;
        if (argmax) argmax[((size_t)nc * OH + oh) * OW + ow] = best;
      }
}

// dinp = dout routed to each window's maximum (overwritten); recomputes the argmax.
template <typename T>
void maxpool2d_backward(T* dinp, const T* dout, const T* inp, int N, int C, int H, int W, int k,
                        int stride) {
  const int OH = pool_out(H, k, stride), OW = pool_out(W, k, stride);
  std::vector<T> out((size_t)N * C * OH * OW);
  std::vector<int32_t> am(out.size());
  maxpool2d_forward(out.data(), am.data(), inp, N, C, H, W, k, stride);
  std::fill(dinp, dinp + (size_t)N * C * H * W, T(0));
  for (int nc = 0; nc < N * C; ++nc)
    for (int i = 0; i < OH * OW; ++i)
      dinp[(size_t)nc * H * W + am[(size_t)nc * OH * OW + i]] += dout[(size_t)nc * OH * OW + i];
}

template <typename T>
void relu_forward(T* y, const T* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}
template <typename T>
void relu_backward(T* dx, const T* dy, const T* y, size_t n) {
  for (size_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// out[N, O] = inp[N, I] * w[O, I]^T + b[O]
template <typename T>
void linear_forward(T* out, const T* inp, const T* w, const T* b, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      T acc = b[o];
      for (int i = 0; i < I; ++i) acc += inp[(size_t)n * I + i] * w[(size_t)o * I + i];
      out[(size_t)n * O + o] = acc;
    }
}
// dw += dout^T inp; db += sum_n dout; dinp = dout w (overwritten, if non-null).
template <typename T>
void linear_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, int N, int I,
                     int O) {
  if (dinp) std::fill(dinp, dinp + (size_t)N * I, T(0));
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      const T d = dout[(size_t)n * O + o];
      db[o] += d;
      for (int i = 0; i < I; ++i) {
        dw[(size_t)o * I + i] += d * inp[(size_t)n * I + i];
        if (dinp) dinp[(size_t)n * I + i] += d * w[(size_t)o * I + i];
      }
    }
}

// Returns the SUM over samples of -log softmax(logits)[label]; probs = softmax.
template <typename T>
T softmax_xent_forward(T* probs, const T* logits, const uint8_t* labels, int N, int V) {
  T total = 0;
  for (int n = 0; n < N; ++n) {
    const T* l = logits + (size_t)n * V;
    T mx = l[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, l[v]);
    T sum = 0;
    for (int v = 0; v < V; ++v) sum += std::exp(l[v] - mx);
    for (int v = 0; v < V; ++v) probs[(size_t)n * V + v] = std::exp(l[v] - mx) / sum;
    total += std::log(sum) - (l[labels[n]] - mx);
  }
  return total;
}
// dlogits = (probs - onehot) * scale (overwritten).
template <typename T>
void softmax_xent_backward(T* dlogits, const T* probs, const uint8_t* labels, int N, int V,
                           T scale) {
  for (int n = 0; n < N; ++n)
    for (int v = 0; v < V; ++v)
      dlogits[(size_t)n * V + v] =
          (probs[(size_t)n * V + v] - (v == labels[n] ? T(1) : T(0))) * scale;
}

// ------------------------------------------------------------------------- model

// The kink pattern of one forward pass: relu signs and max-pool choices. Finite
// differences are only valid when +h and -h leave it unchanged.
struct Pattern {
  std::vector<uint8_t> relu;
  std::vector<int32_t> pool;
  bool operator==(const Pattern& o) const { return relu == o.relu && pool == o.pool; }
};

// The shapes of a seed-like CNN (conv - relu - pool - conv - relu - pool - flatten -
// linear) and its parameter layout (the layout the spec gives its layers named
// conv1, conv2, fc1).
struct CnnSpec {
  int in_c = 1, in_h = 28, in_w = 28, classes = 10;
  ConvShape conv1{}, conv2{};
  int pool = 2;
  int p1_c = 0, p1_h = 0, p1_w = 0, p2_c = 0, p2_h = 0, p2_w = 0, flat = 0;
  std::vector<wt::ParamSpec> params;
  size_t num_params = 0;
  std::string arch;
  // The same network as a model spec (src/core/spec.h).
  std::string spec_json() const {
    char b[512];
    snprintf(b, sizeof b,
             "{\"input\": [1, %d, %d], \"layers\": [{\"type\": \"Conv2d\", \"out_channels\": %d, "
             "\"kernel_size\": 3, \"padding\": 1, \"name\": \"conv1\"}, {\"type\": \"ReLU\"}, "
             "{\"type\": \"MaxPool2d\", \"kernel_size\": 2}, {\"type\": \"Conv2d\", \"out_channels\": %d, "
             "\"kernel_size\": 3, \"padding\": 1, \"name\": \"conv2\"}, {\"type\": \"ReLU\"}, "
             "{\"type\": \"MaxPool2d\", \"kernel_size\": 2}, {\"type\": \"Flatten\"}, "
             "{\"type\": \"Linear\", \"out_features\": %d, \"name\": \"fc1\"}]}",
             in_h, in_w, conv1.OC, conv2.OC, classes);
    return b;
  }
};

// The seed CNN (conv - relu - pool - conv - relu - pool - flatten - linear) for any
// CnnSpec, composed of the reference layers. params/grads use the spec's layout.
// Returns the MEAN loss over the N images; grads (if non-null) ACCUMULATE the
// gradient of that mean. logits_out (if non-null) receives [N, classes].
template <typename T>
T model_forward_backward(const CnnSpec& m, const T* params, T* grads, const T* x,
                         const uint8_t* labels, int N, T* logits_out = nullptr,
                         Pattern* pattern = nullptr) {
  const T* c1w = params + m.params[0].offset;
  const T* c1b = params + m.params[1].offset;
  const T* c2w = params + m.params[2].offset;
  const T* c2b = params + m.params[3].offset;
  const T* fw = params + m.params[4].offset;
  const T* fb = params + m.params[5].offset;
  const ConvShape &s1 = m.conv1, &s2 = m.conv2;
  const int k = m.pool;
  const size_t a1n = (size_t)N * s1.OC * s1.P(), a2n = (size_t)N * s2.OC * s2.P();
  const size_t p1n = (size_t)N * m.p1_c * m.p1_h * m.p1_w, p2n = (size_t)N * m.flat;
  std::vector<T> a1(a1n), r1(a1n), p1(p1n), a2(a2n), r2(a2n), p2(p2n);
  std::vector<T> logits((size_t)N * m.classes), probs(logits.size());
  conv2d_forward(a1.data(), x, c1w, c1b, N, s1);
  relu_forward(r1.data(), a1.data(), a1n);
  maxpool2d_forward(p1.data(), (int32_t*)nullptr, r1.data(), N, s1.OC, s1.OH(), s1.OW(), k, k);
  conv2d_forward(a2.data(), p1.data(), c2w, c2b, N, s2);
  relu_forward(r2.data(), a2.data(), a2n);
  maxpool2d_forward(p2.data(), (int32_t*)nullptr, r2.data(), N, s2.OC, s2.OH(), s2.OW(), k, k);
  linear_forward(logits.data(), p2.data(), fw, fb, N, m.flat, m.classes);
  const T loss = softmax_xent_forward(probs.data(), logits.data(), labels, N, m.classes) / T(N);
  if (logits_out) std::copy(logits.begin(), logits.end(), logits_out);
  if (pattern) {
    pattern->relu.clear();
    for (T v : a1) pattern->relu.push_back(v > T(0));
    for (T v : a2) pattern->relu.push_back(v > T(0));
    std::vector<T> tmp(p1n);
    pattern->pool.assign(p1n + p2n, 0);
    maxpool2d_forward(tmp.data(), pattern->pool.data(), r1.data(), N, s1.OC, s1.OH(), s1.OW(), k, k);
    tmp.resize(p2n);
    maxpool2d_forward(tmp.data(), pattern->pool.data() + p1n, r2.data(), N, s2.OC, s2.OH(), s2.OW(),
                      k, k);
  }
  if (!grads) return loss;
  T* dc1w = grads + m.params[0].offset;
  T* dc1b = grads + m.params[1].offset;
  T* dc2w = grads + m.params[2].offset;
  T* dc2b = grads + m.params[3].offset;
  T* dfw = grads + m.params[4].offset;
  T* dfb = grads + m.params[5].offset;
  std::vector<T> dlogits(logits.size()), dp2(p2n), dr2(a2n), da2(a2n), dp1(p1n), dr1(a1n), da1(a1n);
  softmax_xent_backward(dlogits.data(), probs.data(), labels, N, m.classes, T(1) / T(N));
  linear_backward(dp2.data(), dfw, dfb, dlogits.data(), p2.data(), fw, N, m.flat, m.classes);
  maxpool2d_backward(dr2.data(), dp2.data(), r2.data(), N, s2.OC, s2.OH(), s2.OW(), k, k);
  relu_backward(da2.data(), dr2.data(), r2.data(), a2n);
  conv2d_backward(dp1.data(), dc2w, dc2b, da2.data(), p1.data(), c2w, N, s2);
  maxpool2d_backward(dr1.data(), dp1.data(), r1.data(), N, s1.OC, s1.OH(), s1.OW(), k, k);
  relu_backward(da1.data(), dr1.data(), r1.data(), a1n);
  conv2d_backward((T*)nullptr, dc1w, dc1b, da1.data(), x, c1w, N, s1);
  return loss;
}

// A small instance of the seed's architecture (for exhaustive finite differences):
// in_c x hw x hw images, conv 3x3 pad 1 to c1 channels, pool 2, conv 3x3 pad 1 to
// c2 channels, pool 2, linear to `classes`. Layout as the seed preset's.
inline CnnSpec small_cnn(int hw, int c1, int c2, int classes) {
  CnnSpec m;
  m.in_c = 1, m.in_h = hw, m.in_w = hw, m.classes = classes;
  m.conv1 = ConvShape{1, hw, hw, c1, 3, 3, 1, 1};
  m.p1_c = c1, m.p1_h = m.conv1.OH() / 2, m.p1_w = m.conv1.OW() / 2;
  m.conv2 = ConvShape{c1, m.p1_h, m.p1_w, c2, 3, 3, 1, 1};
  m.p2_c = c2, m.p2_h = m.conv2.OH() / 2, m.p2_w = m.conv2.OW() / 2;
  m.flat = m.p2_c * m.p2_h * m.p2_w;
  size_t off = 0;
  auto add = [&](const char* name, std::vector<int64_t> shape, int fan_in) {
    size_t n = 1;
    for (int64_t d : shape) n *= (size_t)d;
    wt::ParamSpec p;
    p.name = name, p.shape = std::move(shape), p.offset = off, p.size = n, p.fan_in = fan_in;
    m.params.push_back(p);
    off += n;
  };
  add("conv1.weight", {c1, 1, 3, 3}, m.conv1.K());
  add("conv1.bias", {c1}, m.conv1.K());
  add("conv2.weight", {c2, c1, 3, 3}, m.conv2.K());
  add("conv2.bias", {c2}, m.conv2.K());
  add("fc1.weight", {classes, m.flat}, m.flat);
  add("fc1.bias", {classes}, m.flat);
  m.num_params = off;
  m.arch = "small-test-cnn";
  return m;
}
inline CnnSpec seed_cnn() {
  CnnSpec m = small_cnn(28, 8, 16, 10);
  m.arch = "seed";
  return m;
}

// ---------------------------------------------------------------------- kernels
// Plain loops for the SIMD kernels of src/kernels/kernels.h whose contract is not a
// whole layer (the layers above cover the rest): straight from the formulas in
// kernels.h, in double. `mag` (if non-null) receives, per output element, the sum of
// the absolute values of every term that went into it (the starting value included),
// the scale of its float rounding error.

// C[M,N] = c0 + A[M,K] * B with B's row k at brow[k] (gemm_nn_rows_f32), or, with
// kTransB, C = c0 + A * B^T with B's row n ([N,K]) at brow[n] (gemm_nt_rows_f32);
// c0 may be null.
template <bool kTransB>
inline void gemm_rows(double* C, double* mag, const float* c0, int M, int N, int K,
                      const float* A, int lda, const float* const* brow) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = c0 ? c0[(size_t)i * N + j] : 0.0, m = std::fabs(s);
      for (int k = 0; k < K; ++k) {
        const double t = (double)A[(size_t)i * lda + k] * (kTransB ? brow[j][k] : brow[k][j]);
        s += t, m += std::fabs(t);
      }
      C[(size_t)i * N + j] = s;
      if (mag) mag[(size_t)i * N + j] = m;
    }
}
inline void gemm_nn_rows(double* C, double* mag, const float* c0, int M, int N, int K,
                         const float* A, int lda, const float* const* brow) {
  gemm_rows<false>(C, mag, c0, M, N, K, A, lda, brow);
}
inline void gemm_nt_rows(double* C, double* mag, const float* c0, int M, int N, int K,
                         const float* A, int lda, const float* const* brow) {
  gemm_rows<true>(C, mag, c0, M, N, K, A, lda, brow);
}

// The position, in units of `ld`-long rows, of window w's maximum (idx 0..3) over
// PH x PW windows of 2x2 (kernels.h: p = (2 py + idx / 2) * ld + 2 px + idx % 2).
inline size_t pooled_max_pos(int w, int k, int PW, int ld) {
  const int py = w / PW, px = w % PW;
  return (size_t)(2 * py + k / 2) * ld + 2 * px + k % 2;
}

// The pooled gradients (conv_wgrad_pooled_f32 and conv_dgrad_pooled_f32, and the 3x3
// kernels below) for a KH x KW kernel: weights as [OC, KH, ldw] with row kh holding
// KW * C taps (kw * C + c). dw starts at dw0, din at din0, and each gets g times the
// input (weight) at every product; terms[i] counts the products added to din[i] (its
// rounding error grows with it).
// Calls f(gv, x, t) for every product of the general pooled gradients: gv the gradient
// of a window's maximum (windows ReLU cut carry none), x = (p + kh * ld + kw) * C + c
// the input position it meets, t = (oc * KH + kh) * ldw + kw * C + c the weight.
template <class F>
inline void for_pooled_products(const float* g, const int32_t* idx, int OC, int PH, int PW, int ld,
                                int C, int KH, int KW, int ldw, F f) {
  for (int oc = 0; oc < OC; ++oc)
    for (int w = 0; w < PH * PW; ++w) {
      const int k = idx[(size_t)oc * PH * PW + w];
      if (k > 3) continue;
      const size_t p = pooled_max_pos(w, k, PW, ld);
      const double gv = g[(size_t)oc * PH * PW + w];
      for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw)
          for (int c = 0; c < C; ++c)
            f(gv, (p + (size_t)kh * ld + kw) * C + c, ((size_t)oc * KH + kh) * ldw + (size_t)kw * C + c);
    }
}
inline void conv_wgrad_pooled(double* dw, double* mag, const float* dw0, int ldw, const float* in,
                              int ld, int C, int KH, int KW, const float* g, const int32_t* idx,
                              int OC, int PH, int PW) {
  const size_t n = (size_t)OC * KH * ldw;
  for (size_t i = 0; i < n; ++i) dw[i] = dw0[i], mag[i] = std::fabs(dw0[i]);
  for_pooled_products(g, idx, OC, PH, PW, ld, C, KH, KW, ldw, [&](double gv, size_t x, size_t t) {
    const double v = gv * in[x];
    dw[t] += v, mag[t] += std::fabs(v);
  });
}
inline void conv_dgrad_pooled(double* din, double* mag, int* terms, const float* din0, size_t n_din,
                              int ld, int C, int KH, int KW, const float* w, int ldw, const float* g,
                              const int32_t* idx, int OC, int PH, int PW) {
  for (size_t i = 0; i < n_din; ++i) din[i] = din0[i], mag[i] = std::fabs(din0[i]), terms[i] = 0;
  for_pooled_products(g, idx, OC, PH, PW, ld, C, KH, KW, ldw, [&](double gv, size_t x, size_t t) {
    const double v = gv * w[t];
    din[x] += v, mag[x] += std::fabs(v), ++terms[x];
  });
}
// conv3x3_{w,d}grad_pooled_f32: the same with KH = KW = 3 and ldw = 3 C (dw and w as
// [OC, 9, C]: element (oc * 9 + kh * 3 + kw) * C + c).
inline void conv3x3_wgrad_pooled(double* dw, double* mag, const float* dw0, const float* in,
                                 int ld, int C, const float* g, const int32_t* idx, int OC,
                                 int PH, int PW) {
  conv_wgrad_pooled(dw, mag, dw0, 3 * C, in, ld, C, 3, 3, g, idx, OC, PH, PW);
}
inline void conv3x3_dgrad_pooled(double* din, double* mag, int* terms, const float* din0,
                                 size_t n_din, int ld, int C, const float* w, const float* g,
                                 const int32_t* idx, int OC, int PH, int PW) {
  conv_dgrad_pooled(din, mag, terms, din0, n_din, ld, C, 3, 3, w, 3 * C, g, idx, OC, PH, PW);
}

// Winograd F(2x2, 3x3) output of one tile: y[i][j] = (A^T m A)[i, j] + bias with
// m[xi] = M[xi * xi_stride + oc * ldt + t]; mag[i][j] = sum of |terms|.
inline void winograd_output_tile(double y[2][2], double ymag[2][2], const float* M, size_t xi_stride,
                                 int ldt, const float* bias, int oc, int t) {
  static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      double s = bias ? bias[oc] : 0.0, m = std::fabs(s);
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          if (AT[i][a] == 0 || AT[j][b] == 0) continue;  // not a term (0 * NaN would be one)
          const double term = AT[i][a] * AT[j][b] * M[xi_stride * (4 * a + b) + (size_t)oc * ldt + t];
          s += term, m += std::fabs(term);
        }
      y[i][j] = s, ymag[i][j] = m;
    }
}

// ReLU then PyTorch's 2x2 max-pool over one window v[0..3] (scan order): a later value
// replaces the maximum when greater or NaN (PyTorch's CPU max_pool2d: `val > maxval ||
// isnan(val)`, so the last NaN wins); the index is that of the first maximum, or 4
// when the maximum is <= 0 (ReLU cut it).
inline int relu_pool_window(const double v[4], double* out) {
  double m = v[0];
  int i = 0;
  for (int k = 1; k < 4; ++k)
    if (v[k] > m || std::isnan(v[k])) m = v[k], i = k;
  const bool keep = m > 0 || std::isnan(m);
  *out = keep ? m : 0.0;
  return keep ? i : 4;
}

// --------------------------------------------------------------------- comparing

inline double max_abs(const double* v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// Float result against the double reference: |got - want| <= rtol * (|want| + floor_frac *
// max|want|). The floor covers entries that are small only by cancellation (their
// absolute error follows the tensor's scale, not their own). Reports the worst
// entry and the first few failures with their index; returns the worst ratio
// error / allowed (< 1 passes).
inline double expect_close(const std::string& what, const float* got, const double* want, size_t n,
                           double rtol, double floor_frac = 1e-2) {
  const double scale = max_abs(want, n);
  double worst = 0;
  size_t worst_i = 0, fails = 0;
  for (size_t i = 0; i < n; ++i) {
    const double tol = rtol * (std::fabs(want[i]) + floor_frac * scale) + 1e-30;
    const double err = std::fabs((double)got[i] - want[i]);
    const double r = std::isfinite(got[i]) ? err / tol : INFINITY;
    if (r > worst) worst = r, worst_i = i;
    if (!(r <= 1.0) && ++fails <= 5)
      ADD_FAILURE() << what << "[" << i << "] of " << n << ": expected " << want[i] << ", got "
                    << got[i] << " (error " << err << ", allowed " << tol << ")";
  }
  if (fails > 5) ADD_FAILURE() << what << ": " << fails << " of " << n << " entries out of tolerance";
  if (std::getenv("WT_TEST_VERBOSE"))
    std::printf("  %-40s worst error/allowed %.3g at %zu\n", what.c_str(), worst, worst_i);
  return worst;
}

// Same for double vs double (analytic vs finite differences): relative error
// |a - b| / max(|a|, |b|, floor_frac * max|a|) must stay below tol. The floor keeps
// entries that are tiny by cancellation from being judged against the rounding
// noise of the finite difference (about eps * |loss| / h).
inline void expect_rel(const std::string& what, const double* analytic, const double* numeric,
                       size_t n, double tol, double floor_frac = 1e-2) {
  const double floor = floor_frac * max_abs(analytic, n) + 1e-300;
  size_t fails = 0;
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double den = std::max({std::fabs(analytic[i]), std::fabs(numeric[i]), floor});
    const double rel = std::fabs(analytic[i] - numeric[i]) / den;
    worst = std::max(worst, rel);
    if (!(rel < tol) && ++fails <= 5)
      ADD_FAILURE() << what << "[" << i << "] of " << n << ": analytic " << analytic[i]
                    << ", finite difference " << numeric[i] << ", relative error " << rel;
  }
  if (fails > 5) ADD_FAILURE() << what << ": " << fails << " of " << n << " entries out of tolerance";
  if (std::getenv("WT_TEST_VERBOSE")) std::printf("  %-40s worst relative error %.3g\n", what.c_str(), worst);
}

}  // namespace ref
