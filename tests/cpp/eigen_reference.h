// A plain double-precision reference of any model spec (wt::NetSpec), forward and
// backward, built on Eigen: the oracle of the property test (test_property.cpp).
//
// Independent of the production code on purpose: it uses only the parsed spec
// (core/spec.h: layer arguments, shapes and the flat parameter/buffer layout) and
// Dropout's mask stream (core/rng.h). Every layer is written straight from
// PyTorch's definition, for clarity over speed:
//   Conv2d             im2col + one matrix product per image (zero padding, stride,
//                      rectangular kernels); weight [OC, C, KH, KW], bias [OC]
//   MaxPool2d          padding = -inf, floor output size, the first maximum in scan
//                      order wins (PyTorch's tie rule)
//   AvgPool2d          count_include_pad=True: divisor KH * KW
//   AdaptiveAvgPool2d  output_size 1: mean over H, W
//   ReLU, LeakyReLU    gradient 0 (ReLU) / negative_slope (LeakyReLU) at x <= 0
//   Tanh, Sigmoid
//   Flatten            (C, H, W) order: nothing moves in NCHW
//   Linear             Y = X W^T + b, W [O, I]
//   Dropout            train: element j of image i kept iff the j-th uniform01() of
//                      wt::dropout_stream(seed, step, layer, i) >= float(p), kept
//                      elements scaled by float(1 / (1 - p)); eval: identity
//   BatchNorm2d/1d     train: statistics of the whole batch per channel (over N, H, W;
//                      biased variance), running stats updated with momentum and the
//                      unbiased variance; eval: running stats
//   loss               mean softmax cross-entropy over the n images
// Activations are NCHW, one image after another, as the trainer's.
//
// Besides the values, the reference reports what a float computation of them can
// be held to (the test compares float against double):
//  - Margins: how close the batch came to a branch (a ReLU kink, a max-pool
//    near-tie) where float and double could go different ways;
//  - Magnitudes: first-order bounds on the sizes that float rounding scales with.
//    Rounding perturbs a value by about eps * |value|, but where terms cancel (a
//    sum of terms of both signs, BatchNorm's x - mean over a channel whose values
//    share a large common part, BatchNorm1d on two images, the gradient of a bias
//    in front of BatchNorm, exactly 0) the result is far smaller than what its error
//    scales with. mag(y) propagates that: for y = sum w x + b, mag(y) = sum |w| mag(x)
//    + |b|; for y = f(x), mag(y) = |f'(x)| mag(x) + |y|; through x - mean,
//    mag(x) + mean(mag(x)); and the backward pass runs once more on magnitudes
//    (absolute weights and Jacobians, the forward magnitudes for the inputs).
//    A float result within a few ulps of its magnitude is as good as float gets.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "core/rng.h"
#include "core/spec.h"

namespace eref {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapM = Eigen::Map<Mat>;
using CMapM = Eigen::Map<const Mat>;
using MapV = Eigen::Map<Eigen::VectorXd>;
using CMapV = Eigen::Map<const Eigen::VectorXd>;

// How close the last forward came to a point where float and double may take
// different branches: the smallest |x| / rms(x) over the nonzero inputs of ReLU and
// LeakyReLU, and the smallest (max - runner-up) / rms(x) over max-pool windows whose
// runner-up is a different value (exact ties, e.g. ReLU's zeros, resolve the same
// way in float). A test compares float against double only where both stay clear.
struct Margins {
  double kink = std::numeric_limits<double>::infinity();
  double tie = std::numeric_limits<double>::infinity();
  double min() const { return std::min(kink, tie); }
};

// The sizes float rounding scales with (see the top of the file), laid out as the
// values they bound.
struct Magnitudes {
  double loss = 0;
  std::vector<double> logits;   // n * classes
  std::vector<double> grads;    // spec.num_params (when gradients were asked for)
  std::vector<double> buffers;  // spec.num_buffers (train mode: the updated ones)
};

class RefNet {
 public:
  explicit RefNet(const wt::NetSpec& spec) : spec_(spec) {
    const size_t L = spec_.layers.size();
    at_.assign(L, Where{});
    for (const wt::ParamSpec& p : spec_.params) {
      Where& w = at_[p.layer];
      if (ends_with(p.name, ".weight")) w.w = (long)p.offset;
      else if (ends_with(p.name, ".bias")) w.b = (long)p.offset;
    }
    for (const wt::BufferSpec& b : spec_.buffers) {
      Where& w = at_[b.layer];
      if (ends_with(b.name, ".running_mean")) w.rm = (long)b.offset;
      else if (ends_with(b.name, ".running_var")) w.rv = (long)b.offset;
    }
  }

  const wt::NetSpec& spec() const { return spec_; }
  // Of the last call.
  const Margins& margins() const { return margins_; }
  const Magnitudes& magnitudes() const { return mag_; }

  // Forward (and backward when grads is given) of n images as ONE batch. params and
  // buffers follow spec.params / spec.buffers. In train mode the running statistics in
  // *buffers are updated (buffers may be null only when the spec has no BatchNorm).
  // logits (n * classes) and grads (the gradient of the mean loss, spec.num_params,
  // overwritten) are optional. Returns the mean loss.
  double forward_backward(const std::vector<double>& params, std::vector<double>* buffers,
                          const double* images, const uint8_t* labels, int n, bool train,
                          uint64_t seed, uint64_t step, std::vector<double>* logits,
                          std::vector<double>* grads) {
    const int L = (int)spec_.layers.size();
    n_ = n;
    train_ = train;
    margins_ = Margins{};
    acts_.resize(L + 1);
    mags_.resize(L + 1);
    saved_.resize(L);
    acts_[0].assign(images, images + (size_t)n * spec_.input.numel());
    mags_[0].resize(acts_[0].size());
    for (size_t k = 0; k < acts_[0].size(); ++k) mags_[0][k] = std::fabs(acts_[0][k]);
    mag_.buffers.assign(spec_.num_buffers, 0.0);
    if (buffers)
      for (size_t k = 0; k < buffers->size(); ++k) mag_.buffers[k] = std::fabs((*buffers)[k]);
    for (int i = 0; i < L; ++i) {
      const wt::Layer& l = spec_.layers[i];
      acts_[i + 1].assign((size_t)n * l.out_shape.numel(), 0.0);
      mags_[i + 1].assign(acts_[i + 1].size(), 0.0);
      forward_layer(i, params, buffers, seed, step);
    }
    // Softmax cross-entropy, mean over the batch. The loss moves by sum_v p_v dz_v -
    // dz_label when the logits move by dz.
    const int V = spec_.classes;
    const std::vector<double>& z = acts_[L];
    std::vector<double> dz((size_t)n * V);
    double loss = 0, loss_mag = 0;
    std::vector<double> dz_mag((size_t)n * V);
    for (int i = 0; i < n; ++i) {
      const double* zi = z.data() + (size_t)i * V;
      const double* mi = mags_[L].data() + (size_t)i * V;
      const double m = *std::max_element(zi, zi + V);
      double s = 0;
      for (int v = 0; v < V; ++v) s += std::exp(zi[v] - m);
      const double lse = m + std::log(s);
      loss += lse - zi[labels[i]];
      double pm = 0;  // sum_v p_v mag(z_v): how far lse moves
      for (int v = 0; v < V; ++v) pm += std::exp(zi[v] - lse) * mi[v];
      loss_mag += std::fabs(lse) + std::fabs(zi[labels[i]]) + mi[labels[i]] + pm;
      for (int v = 0; v < V; ++v) {
        const double p = std::exp(zi[v] - lse), d = p - (v == labels[i] ? 1.0 : 0.0);
        dz[(size_t)i * V + v] = d / n;
        dz_mag[(size_t)i * V + v] = (std::fabs(d) + p * (mi[v] + pm)) / n;  // p moves with z
      }
    }
    loss /= n;
    mag_.loss = loss_mag / n;
    mag_.logits = mags_[L];
    if (logits) *logits = z;
    mag_.grads.clear();
    if (!grads) return loss;

    // The gradients (grads_[i]: of the loss by acts_[i]), then the same pass on
    // magnitudes.
    grads->assign(spec_.num_params, 0.0);
    grads_.resize(L + 1);
    grads_[L] = std::move(dz);
    for (int i = L - 1; i >= 0; --i) {
      grads_[i].assign(acts_[i].size(), 0.0);
      backward_layer(i, params, *grads, grads_[i + 1], grads_[i], /*magnitude=*/false);
    }
    mag_.grads.assign(spec_.num_params, 0.0);
    std::vector<double> dout = std::move(dz_mag), din;
    for (int i = L - 1; i >= 0; --i) {
      din.assign(acts_[i].size(), 0.0);
      backward_layer(i, params, mag_.grads, dout, din, /*magnitude=*/true);
      std::swap(dout, din);
    }
    return loss;
  }

 private:
  struct Where {
    long w = -1, b = -1, rm = -1, rv = -1;  // offsets (-1: absent)
  };
  struct Saved {
    std::vector<int64_t> argmax;  // MaxPool2d: input index per output
    std::vector<double> mask;     // Dropout: 0 or the scale, per element
    std::vector<double> xhat, xhat_mag, invstd, rel_inv;  // BatchNorm
  };

  static bool ends_with(const std::string& s, const char* suffix) {
    const size_t k = std::char_traits<char>::length(suffix);
    return s.size() >= k && s.compare(s.size() - k, k, suffix) == 0;
  }
  static double rms(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return v.empty() ? 0.0 : std::sqrt(s / v.size());
  }

  // col[K, P] of image `x` [C, H, W] for conv layer l (K = C*KH*KW in (c, i, j)
  // order, P = OH*OW); zero padding.
  static void im2col(Mat& col, const double* x, const wt::Layer& l) {
    const int C = l.in.c, H = l.in.h, W = l.in.w, OH = l.out_shape.h, OW = l.out_shape.w;
    col.setZero(C * l.kh * l.kw, OH * OW);
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < l.kh; ++i)
        for (int j = 0; j < l.kw; ++j) {
          const int k = (c * l.kh + i) * l.kw + j;
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow) {
              const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                col(k, oh * OW + ow) = x[((size_t)c * H + ih) * W + iw];
            }
        }
  }
  // dx [C, H, W] += the scatter of dcol[K, P].
  static void col2im(double* dx, const Mat& dcol, const wt::Layer& l) {
    const int C = l.in.c, H = l.in.h, W = l.in.w, OH = l.out_shape.h, OW = l.out_shape.w;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < l.kh; ++i)
        for (int j = 0; j < l.kw; ++j) {
          const int k = (c * l.kh + i) * l.kw + j;
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow) {
              const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                dx[((size_t)c * H + ih) * W + iw] += dcol(k, oh * OW + ow);
            }
        }
  }

  // acts_[li] -> acts_[li + 1], and mags_[li] -> mags_[li + 1].
  void forward_layer(int li, const std::vector<double>& params, std::vector<double>* buffers,
                     uint64_t seed, uint64_t step) {
    const wt::Layer& l = spec_.layers[li];
    const Where& at = at_[li];
    const std::vector<double>& xv = acts_[li];
    std::vector<double>& yv = acts_[li + 1];
    const double* x = xv.data();
    const double* xm = mags_[li].data();
    double* y = yv.data();
    double* ym = mags_[li + 1].data();
    const int n = n_;
    const size_t isz = l.in.numel(), osz = l.out_shape.numel();
    const int C = l.in.c, H = l.in.h, W = l.in.w, OH = l.out_shape.h, OW = l.out_shape.w;
    Saved& sv = saved_[li];
    using K = wt::LayerKind;
    switch (l.kind) {
      case K::Conv2d: {
        const int OC = l.out, Kd = C * l.kh * l.kw, P = OH * OW;
        CMapM w(params.data() + at.w, OC, Kd);
        const Mat wabs = w.cwiseAbs();
        Mat col;
        for (int i = 0; i < n; ++i) {
          MapM out(y + i * osz, OC, P), out_mag(ym + i * osz, OC, P);
          im2col(col, x + i * isz, l);
          out.noalias() = w * col;
          im2col(col, xm + i * isz, l);
          out_mag.noalias() = wabs * col;
          if (at.b >= 0) {
            out.colwise() += CMapV(params.data() + at.b, OC);
            out_mag.colwise() += CMapV(params.data() + at.b, OC).cwiseAbs();
          }
        }
        break;
      }
      case K::MaxPool2d: {
        sv.argmax.assign(yv.size(), -1);
        const double r = rms(xv);
        for (int nc = 0; nc < n * C; ++nc)
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow) {
              int64_t best = -1;
              double bv = -std::numeric_limits<double>::infinity();
              for (int i = 0; i < l.kh; ++i)
                for (int j = 0; j < l.kw; ++j) {
                  const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // -inf padding
                  const int64_t idx = ((int64_t)nc * H + ih) * W + iw;
                  if (best < 0 || x[idx] > bv) bv = x[idx], best = idx;
                }
              // Runner-up among the other values of the window.
              double second = -std::numeric_limits<double>::infinity();
              for (int i = 0; i < l.kh; ++i)
                for (int j = 0; j < l.kw; ++j) {
                  const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  const double v = x[((int64_t)nc * H + ih) * W + iw];
                  if (v < bv) second = std::max(second, v);
                }
              if (r > 0 && std::isfinite(second))
                margins_.tie = std::min(margins_.tie, (bv - second) / r);
              const size_t o = ((size_t)nc * OH + oh) * OW + ow;
              y[o] = bv;
              ym[o] = xm[best];
              sv.argmax[o] = best;
            }
        break;
      }
      case K::AvgPool2d: {
        const double div = (double)l.kh * l.kw;  // count_include_pad=True
        for (int nc = 0; nc < n * C; ++nc)
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow) {
              double s = 0, sm = 0;
              for (int i = 0; i < l.kh; ++i)
                for (int j = 0; j < l.kw; ++j) {
                  const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
                  if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                    s += x[((size_t)nc * H + ih) * W + iw];
                    sm += xm[((size_t)nc * H + ih) * W + iw];
                  }
                }
              y[((size_t)nc * OH + oh) * OW + ow] = s / div;
              ym[((size_t)nc * OH + oh) * OW + ow] = sm / div;
            }
        break;
      }
      case K::AdaptiveAvgPool2d:
        for (int nc = 0; nc < n * C; ++nc) {
          y[nc] = CMapV(x + (size_t)nc * H * W, (size_t)H * W).mean();
          ym[nc] = CMapV(xm + (size_t)nc * H * W, (size_t)H * W).mean();
        }
        break;
      case K::ReLU:
      case K::LeakyReLU: {
        const double slope = l.kind == K::ReLU ? 0.0 : l.negative_slope;
        const double r = rms(xv);
        for (size_t k = 0; k < xv.size(); ++k) {
          const double v = x[k];
          y[k] = v > 0 ? v : v * slope;
          ym[k] = v > 0 ? xm[k] : xm[k] * std::fabs(slope);
          if (v != 0 && r > 0) margins_.kink = std::min(margins_.kink, std::fabs(v) / r);
        }
        break;
      }
      case K::Tanh:
        for (size_t k = 0; k < xv.size(); ++k) {
          y[k] = std::tanh(x[k]);
          ym[k] = (1 - y[k] * y[k]) * xm[k] + std::fabs(y[k]);
        }
        break;
      case K::Sigmoid:
        for (size_t k = 0; k < xv.size(); ++k) {
          y[k] = 1.0 / (1.0 + std::exp(-x[k]));
          ym[k] = y[k] * (1 - y[k]) * xm[k] + y[k];
        }
        break;
      case K::Flatten:
        yv = xv;
        mags_[li + 1] = mags_[li];
        break;
      case K::Linear: {
        CMapM X(x, n, (long)isz), Xm(xm, n, (long)isz), Wm(params.data() + at.w, l.out, (long)isz);
        MapM Y(y, n, l.out), Ym(ym, n, l.out);
        Y.noalias() = X * Wm.transpose();
        Ym.noalias() = Xm * Wm.cwiseAbs().transpose();
        if (at.b >= 0) {
          Y.rowwise() += CMapV(params.data() + at.b, l.out).transpose();
          Ym.rowwise() += CMapV(params.data() + at.b, l.out).cwiseAbs().transpose();
        }
        break;
      }
      case K::Dropout: {
        if (!train_) {
          yv = xv;
          mags_[li + 1] = mags_[li];
          break;
        }
        const float pf = (float)l.p;
        const double scale = (double)(float)(1.0 / (1.0 - l.p));
        sv.mask.assign(xv.size(), 0.0);
        for (int i = 0; i < n; ++i) {
          wt::SplitMix64 rng = wt::dropout_stream(seed, step, (uint64_t)li, (uint64_t)i);
          for (size_t j = 0; j < isz; ++j)
            if (rng.uniform01() >= pf) sv.mask[i * isz + j] = scale;
        }
        for (size_t k = 0; k < xv.size(); ++k) {
          y[k] = sv.mask[k] != 0 ? x[k] * sv.mask[k] : 0.0;
          ym[k] = sv.mask[k] != 0 ? xm[k] * sv.mask[k] : 0.0;
        }
        break;
      }
      case K::BatchNorm2d:
      case K::BatchNorm1d: {
        const size_t S = (size_t)H * W;  // 1 for BatchNorm1d (flat input)
        const double m = (double)n * S;
        auto idx = [&](int i, int c, size_t k) { return (i * (size_t)C + c) * S + k; };
        sv.xhat.assign(xv.size(), 0.0);
        sv.xhat_mag.assign(xv.size(), 0.0);
        sv.invstd.assign(C, 0.0);
        sv.rel_inv.assign(C, 0.0);
        for (int c = 0; c < C; ++c) {
          double mean, var, mean_mag = 0;  // mean_mag: of the centre subtracted
          for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < S; ++k) mean_mag += xm[idx(i, c, k)];
          mean_mag /= m;
          if (train_) {
            double s = 0;
            for (int i = 0; i < n; ++i)
              for (size_t k = 0; k < S; ++k) s += x[idx(i, c, k)];
            mean = s / m;
            double q = 0;
            for (int i = 0; i < n; ++i)
              for (size_t k = 0; k < S; ++k) q += (x[idx(i, c, k)] - mean) * (x[idx(i, c, k)] - mean);
            var = q / m;  // biased: normalization
            double& rm = (*buffers)[at.rm + c];
            double& rv = (*buffers)[at.rv + c];
            const double unbiased = m > 1 ? q / (m - 1) : q / 0.0;
            rm = (1 - l.momentum) * rm + l.momentum * mean;
            rv = (1 - l.momentum) * rv + l.momentum * unbiased;
            // var's rounding scales with sum |x - mean| (mag(x) + mean_mag).
            double qm = 0;
            for (int i = 0; i < n; ++i)
              for (size_t k = 0; k < S; ++k)
                qm += std::fabs(x[idx(i, c, k)] - mean) * (xm[idx(i, c, k)] + mean_mag);
            mag_.buffers[at.rm + c] = (1 - l.momentum) * std::fabs(mag_.buffers[at.rm + c]) + l.momentum * mean_mag;
            mag_.buffers[at.rv + c] = (1 - l.momentum) * std::fabs(mag_.buffers[at.rv + c]) +
                                      l.momentum * (unbiased + 2 * qm / std::max(1.0, m - 1));
          } else {
            mean = (*buffers)[at.rm + c];
            var = (*buffers)[at.rv + c];
            mean_mag = std::fabs(mean);
          }
          const double inv = 1.0 / std::sqrt(var + l.eps);
          sv.invstd[c] = inv;
          // Relative rounding of inv (through var, train mode only).
          double rel_inv = 0;
          if (train_) {
            for (int i = 0; i < n; ++i)
              for (size_t k = 0; k < S; ++k)
                rel_inv += std::fabs(x[idx(i, c, k)] - mean) * (xm[idx(i, c, k)] + mean_mag);
            rel_inv /= m * (var + l.eps);
          }
          sv.rel_inv[c] = rel_inv;
          const double g = at.w >= 0 ? params[at.w + c] : 1.0;
          const double b = at.b >= 0 ? params[at.b + c] : 0.0;
          for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < S; ++k) {
              const size_t e = idx(i, c, k);
              sv.xhat[e] = (x[e] - mean) * inv;
              sv.xhat_mag[e] = (xm[e] + mean_mag) * inv + std::fabs(sv.xhat[e]) * (1 + rel_inv);
              y[e] = g * sv.xhat[e] + b;
              ym[e] = std::fabs(g) * sv.xhat_mag[e] + std::fabs(b);
            }
        }
        break;
      }
    }
  }

  // dout: gradient of the layer's output; din (zeroed) receives its input's gradient;
  // parameter gradients are accumulated into g.
  // With `magnitude`, the same pass on magnitudes: weights and Jacobian factors by
  // their absolute values, BatchNorm's subtractions by additions, the forward
  // magnitudes in place of the inputs, and where a Jacobian factor depends on the
  // input (Tanh, Sigmoid, BatchNorm's 1/std), the gradient times how far the factor
  // moves with the input's rounding; dout, din and g then hold magnitudes.
  void backward_layer(int li, const std::vector<double>& params, std::vector<double>& g,
                      const std::vector<double>& doutv, std::vector<double>& dinv,
                      bool magnitude) {
    const wt::Layer& l = spec_.layers[li];
    const Where& at = at_[li];
    const std::vector<double>& xv = acts_[li];
    const double* x = xv.data();
    const double* xin = magnitude ? mags_[li].data() : x;  // what the weights multiply
    const double* dy = doutv.data();
    const double* dy_value = grads_[li + 1].data();  // the gradient itself (magnitude pass)
    const double* xm = mags_[li].data();
    double* dx = dinv.data();
    const int n = n_;
    const size_t isz = l.in.numel(), osz = l.out_shape.numel();
    const int C = l.in.c, H = l.in.h, W = l.in.w, OH = l.out_shape.h, OW = l.out_shape.w;
    const Saved& sv = saved_[li];
    auto M = [magnitude](double v) { return magnitude ? std::fabs(v) : v; };
    using K = wt::LayerKind;
    switch (l.kind) {
      case K::Conv2d: {
        const int OC = l.out, Kd = C * l.kh * l.kw, P = OH * OW;
        Mat w = CMapM(params.data() + at.w, OC, Kd);
        if (magnitude) w = w.cwiseAbs();
        MapM dw(g.data() + at.w, OC, Kd);
        Mat col, dcol;
        for (int i = 0; i < n; ++i) {
          CMapM d(dy + i * osz, OC, P);
          im2col(col, xin + i * isz, l);
          dw.noalias() += d * col.transpose();
          if (at.b >= 0) MapV(g.data() + at.b, OC) += d.rowwise().sum();
          dcol.noalias() = w.transpose() * d;
          col2im(dx + i * isz, dcol, l);
        }
        break;
      }
      case K::MaxPool2d:
        for (size_t o = 0; o < doutv.size(); ++o) dx[sv.argmax[o]] += dy[o];
        break;
      case K::AvgPool2d: {
        const double div = (double)l.kh * l.kw;
        for (int nc = 0; nc < n * C; ++nc)
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow) {
              const double d = dy[((size_t)nc * OH + oh) * OW + ow] / div;
              for (int i = 0; i < l.kh; ++i)
                for (int j = 0; j < l.kw; ++j) {
                  const int ih = oh * l.sh - l.ph + i, iw = ow * l.sw - l.pw + j;
                  if (ih >= 0 && ih < H && iw >= 0 && iw < W) dx[((size_t)nc * H + ih) * W + iw] += d;
                }
            }
        break;
      }
      case K::AdaptiveAvgPool2d:
        for (int nc = 0; nc < n * C; ++nc)
          for (int k = 0; k < H * W; ++k) dx[(size_t)nc * H * W + k] = dy[nc] / (H * W);
        break;
      case K::ReLU:
      case K::LeakyReLU: {
        const double slope = l.kind == K::ReLU ? 0.0 : M(l.negative_slope);
        for (size_t k = 0; k < xv.size(); ++k) dx[k] = x[k] > 0 ? dy[k] : dy[k] * slope;
        break;
      }
      case K::Tanh:
        for (size_t k = 0; k < xv.size(); ++k) {
          const double t = std::tanh(x[k]), d1 = 1 - t * t;  // d2 = -2 t d1
          dx[k] = dy[k] * d1;
          if (magnitude) dx[k] += std::fabs(dy_value[k] * 2 * t * d1) * xm[k] + std::fabs(dy_value[k] * d1);
        }
        break;
      case K::Sigmoid:
        for (size_t k = 0; k < xv.size(); ++k) {
          const double s = 1.0 / (1.0 + std::exp(-x[k])), d1 = s * (1 - s);  // d2 = d1 (1 - 2 s)
          dx[k] = dy[k] * d1;
          if (magnitude) dx[k] += std::fabs(dy_value[k] * d1 * (1 - 2 * s)) * xm[k] + std::fabs(dy_value[k] * d1);
        }
        break;
      case K::Flatten:
        dinv = doutv;
        break;
      case K::Linear: {
        CMapM X(xin, n, (long)isz), dY(dy, n, l.out);
        Mat Wm = CMapM(params.data() + at.w, l.out, (long)isz);
        if (magnitude) Wm = Wm.cwiseAbs();
        MapM(g.data() + at.w, l.out, (long)isz).noalias() += dY.transpose() * X;
        if (at.b >= 0) MapV(g.data() + at.b, l.out) += dY.colwise().sum().transpose();
        MapM(dx, n, (long)isz).noalias() = dY * Wm;
        break;
      }
      case K::Dropout:
        if (!train_) dinv = doutv;
        else for (size_t k = 0; k < xv.size(); ++k) dx[k] = dy[k] * sv.mask[k];
        break;
      case K::BatchNorm2d:
      case K::BatchNorm1d: {
        const size_t S = (size_t)H * W;
        const double m = (double)n * S, sign = magnitude ? 1.0 : -1.0;
        const std::vector<double>& xhat = magnitude ? sv.xhat_mag : sv.xhat;
        for (int c = 0; c < C; ++c) {
          double sum_dy = 0, sum_dy_xhat = 0;
          for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < S; ++k) {
              const size_t e = (i * (size_t)C + c) * S + k;
              sum_dy += dy[e];
              sum_dy_xhat += dy[e] * xhat[e];
            }
          if (at.w >= 0) g[at.w + c] += sum_dy_xhat;
          if (at.b >= 0) g[at.b + c] += sum_dy;
          const double gamma = at.w >= 0 ? M(params[at.w + c]) : 1.0;
          const double inv = sv.invstd[c] * (magnitude ? 1 + sv.rel_inv[c] : 1.0);
          for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < S; ++k) {
              const size_t e = (i * (size_t)C + c) * S + k;
              // train: the batch statistics depend on x too
              dx[e] = train_ ? gamma * inv * (dy[e] + sign * (sum_dy / m + xhat[e] * sum_dy_xhat / m))
                             : gamma * inv * dy[e];
            }
        }
        break;
      }
    }
  }

  wt::NetSpec spec_;
  std::vector<Where> at_;
  std::vector<std::vector<double>> acts_;  // acts_[i]: input of layer i; acts_[L]: logits
  std::vector<std::vector<double>> mags_;  // their magnitudes
  std::vector<std::vector<double>> grads_;  // gradients of the loss by acts_
  std::vector<Saved> saved_;
  Margins margins_;
  Magnitudes mag_;
  int n_ = 0;
  bool train_ = true;
};

}  // namespace eref
