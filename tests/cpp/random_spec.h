// Random VALID model specs for the property test (test_property.cpp), as JSON text
// so that they go through wt::parse_spec exactly like a user's document.
//
// The generator tracks the activation's shape layer by layer and only draws layers
// and arguments that fit it (kernels no larger than the padded input, pool padding
// <= kernel / 2, Linear and BatchNorm1d only on flat inputs, ...), so every spec it
// writes is valid. It covers:
//   Conv2d       kernel 1..5 (square and rectangular), stride 1..3, padding 0..2,
//                bias on/off; stride-1 convs of every kernel size are frequent
//   MaxPool2d /  kernel 1..3 (square and rectangular), stride default or 1..3,
//   AvgPool2d    padding <= kernel / 2
//   AdaptiveAvgPool2d(1), ReLU, LeakyReLU (random slope), Tanh, Sigmoid,
//   BatchNorm2d / BatchNorm1d (random eps, momentum, affine on/off),
//   Dropout (random p, 0 included), Flatten, Linear (bias on/off)
// on small inputs (C 1..4, H, W 3..12; rectangular one time in three), ending in
// Flatten + Linear with 2..12 classes, sometimes after a hidden Linear. About one
// spec in four is built around the seed's pattern, Conv2d 3x3 pad 1 -> ReLU ->
// MaxPool2d 2 (one or two blocks, conv channels 4..16 in steps of 4, inputs of 1, 4
// or 8 channels mostly, H, W even 8..16), so that the planner's fast paths
// (Winograd, the fused ReLU+pool and the backward from the pooled gradient;
// src/core/layers.h, plan.cc) are exercised, with variants that break the pattern
// (BatchNorm in between: BatchNorm+ReLU+pool as one op; Dropout in between: ReLU+pool
// fused alone; no pool: Winograd alone); the block
// also appears among the random layers wherever the shape allows it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/rng.h"

namespace prop {

class SpecGenerator {
 public:
  explicit SpecGenerator(uint64_t seed) : rng_(seed * 0x9E3779B97F4A7C15ull + 0x5eed) {}

  // One spec. The same seed gives the same document on every platform: each
  // statement draws at most one random number among its unsequenced parts (the
  // order in which a call's arguments are evaluated differs between g++ and clang).
  std::string generate() {
    layers_.clear();
    names_ = 0;
    const bool pattern = below(4) == 0;
    if (pattern) {
      static const int kC[] = {1, 4, 4, 8, 2, 3};
      c_ = kC[below(6)];
      h_ = 8 + 2 * (int)below(5);  // even, 8..16
      w_ = below(3) == 0 ? 8 + 2 * (int)below(5) : h_;
    } else {
      c_ = 1 + (int)below(4);
      h_ = 3 + (int)below(10);
      w_ = below(3) == 0 ? 3 + (int)below(10) : h_;
    }
    flat_ = false;
    const int in_c = c_, in_h = h_, in_w = w_;

    if (pattern) {
      const int blocks = 1 + (int)below(2);
      for (int b = 0; b < blocks && h_ % 2 == 0 && w_ % 2 == 0 && h_ >= 8 && w_ >= 8; ++b)
        seed_block();
    }
    const int extra = pattern ? (int)below(3) : 1 + (int)below(6);
    for (int i = 0; i < extra; ++i) random_layer();
    if (!flat_) flatten();
    if (below(3) == 0) {  // a hidden layer before the classifier
      const int out = 2 + (int)below(23);
      linear(out, below(4) != 0);
      if (below(2)) activation();
      if (below(3) == 0) dropout();
    }
    const int classes = 2 + (int)below(11);
    linear(classes, below(5) != 0);

    std::string json = "{\"input\": [" + std::to_string(in_c) + ", " + std::to_string(in_h) +
                       ", " + std::to_string(in_w) + "], \"layers\": [";
    for (size_t i = 0; i < layers_.size(); ++i) json += (i ? ", " : "") + layers_[i];
    return json + "]}";
  }

 private:
  uint32_t below(uint32_t n) { return rng_.below(n); }
  bool chance(int percent) { return (int)below(100) < percent; }

  static std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
  }
  // An int when square, else [h, w]; sometimes a square size is written as [k, k].
  std::string pair(int a, int b) {
    if (a == b && below(5) != 0) return std::to_string(a);
    return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
  }
  // Layer JSON: type, optional name, then the arguments.
  void add(const std::string& type, const std::string& args) {
    std::string s = "{\"type\": \"" + type + "\"";
    if (below(6) == 0) s += ", \"name\": \"" + type.substr(0, 1) + std::to_string(names_++) + "\"";
    if (!args.empty()) s += ", " + args;
    layers_.push_back(s + "}");
  }
  size_t numel() const { return (size_t)c_ * h_ * w_; }

  // --------------------------------------------------------------- the layers

  void conv(int out, int kh, int kw, int sh, int sw, int ph, int pw, bool bias) {
    std::string a = "\"out_channels\": " + std::to_string(out) + ", \"kernel_size\": " + pair(kh, kw);
    if (sh != 1 || sw != 1 || chance(10)) a += ", \"stride\": " + pair(sh, sw);
    if (ph != 0 || pw != 0 || chance(10)) a += ", \"padding\": " + pair(ph, pw);
    if (!bias) a += ", \"bias\": false";
    else if (chance(10)) a += ", \"bias\": true";
    add("Conv2d", a);
    c_ = out;
    h_ = (h_ + 2 * ph - kh) / sh + 1;
    w_ = (w_ + 2 * pw - kw) / sw + 1;
  }
  // Output channels keeping one image's activation small (<= ~1200 values).
  int channels_for(int oh, int ow, int most) {
    const int cap = std::max(1, std::min(most, 1200 / std::max(1, oh * ow)));
    return 1 + (int)below(cap);
  }
  void random_conv() {
    const int ph = (int)below(3), pw = below(3) == 0 ? (int)below(3) : ph;
    const int kh = 1 + (int)below(std::min(5, h_ + 2 * ph));
    const int kw = below(3) == 0 ? 1 + (int)below(std::min(5, w_ + 2 * pw)) : std::min(kh, w_ + 2 * pw);
    const bool s1 = chance(55);  // stride 1: the shifted-GEMM path
    const int sh = s1 ? 1 : 1 + (int)below(3), sw = s1 ? 1 : (below(3) == 0 ? 1 + (int)below(3) : sh);
    const int oh = (h_ + 2 * ph - kh) / sh + 1, ow = (w_ + 2 * pw - kw) / sw + 1;
    const int out = channels_for(oh, ow, 8);
    conv(out, kh, kw, sh, sw, ph, pw, chance(75));
  }
  void pool(bool max) {
    const int kh = 1 + (int)below(std::min(3, h_)), kw = below(3) == 0 ? 1 + (int)below(std::min(3, w_)) : std::min(kh, w_);
    const int ph = (int)below(kh / 2 + 1), pw = (int)below(kw / 2 + 1);
    const bool default_stride = chance(40);
    const int sh = default_stride ? kh : 1 + (int)below(3);
    const int sw = default_stride ? kw : (below(3) == 0 ? 1 + (int)below(3) : sh);
    std::string a = "\"kernel_size\": " + pair(kh, kw);
    if (!default_stride) a += ", \"stride\": " + pair(sh, sw);
    if (ph || pw || chance(10)) a += ", \"padding\": " + pair(ph, pw);
    add(max ? "MaxPool2d" : "AvgPool2d", a);
    h_ = (h_ + 2 * ph - kh) / sh + 1;
    w_ = (w_ + 2 * pw - kw) / sw + 1;
  }
  void activation() {
    switch (below(5)) {
      case 0: case 1: add("ReLU", ""); break;
      case 2: {
        static const double kSlope[] = {0.01, 0.05, 0.1, 0.2, 0.3, 0.5};
        if (chance(25)) add("LeakyReLU", "");
        else add("LeakyReLU", "\"negative_slope\": " + num(kSlope[below(6)]));
        break;
      }
      case 3: add("Tanh", ""); break;
      default: add("Sigmoid", ""); break;
    }
  }
  void batchnorm() {
    static const double kEps[] = {1e-5, 1e-3, 0.01, 0.1};
    static const double kMomentum[] = {0.1, 0.01, 0.3, 0.5, 0.9, 1.0};
    std::string a;
    auto arg = [&](const std::string& s) { a += (a.empty() ? "" : ", ") + s; };
    if (chance(50)) arg("\"eps\": " + num(kEps[below(4)]));
    if (chance(50)) arg("\"momentum\": " + num(kMomentum[below(6)]));
    if (chance(30)) arg("\"affine\": false");
    else if (chance(10)) arg("\"affine\": true");
    add(flat_ ? "BatchNorm1d" : "BatchNorm2d", a);
  }
  void dropout() {
    static const double kP[] = {0.0, 0.1, 0.25, 0.5, 0.8};
    if (chance(15)) add("Dropout", "");
    else add("Dropout", "\"p\": " + num(kP[below(5)]));
  }
  void flatten() {
    add("Flatten", "");
    c_ = (int)numel();
    h_ = w_ = 1;
    flat_ = true;
  }
  void linear(int out, bool bias) {
    add("Linear", "\"out_features\": " + std::to_string(out) + (bias ? (chance(10) ? ", \"bias\": true" : "") : ", \"bias\": false"));
    c_ = out;
  }
  // The seed's block: Conv2d 3x3 pad 1 (channels a multiple of 4) -> ReLU ->
  // MaxPool2d 2; sometimes BatchNorm2d in between (bn-cnn: BatchNorm, ReLU and pool
  // one op) or Dropout (ReLU and pool fused alone), or no pool (Winograd without the
  // fused pool).
  void seed_block() {
    const int out = 4 * (1 + (int)below(4));
    conv(out, 3, 3, 1, 1, 1, 1, chance(85));
    if (chance(20)) batchnorm();
    else if (chance(10)) add("Dropout", "\"p\": 0.25");
    if (chance(15)) {  // Winograd, then something other than ReLU + pool
      if (chance(50)) activation();
      return;
    }
    add("ReLU", "");
    add("MaxPool2d", "\"kernel_size\": 2");
    h_ /= 2;
    w_ /= 2;
  }

  void random_layer() {
    if (flat_) {
      switch (below(5)) {
        case 0: {
          const int out = 2 + (int)below(23);
          linear(out, chance(75));
          break;
        }
        case 1: case 2: activation(); break;
        case 3: batchnorm(); break;
        default: dropout(); break;
      }
      return;
    }
    const bool block_fits = h_ % 2 == 0 && w_ % 2 == 0 && h_ >= 8 && w_ >= 8;
    switch (below(16)) {
      case 0: case 1: case 2: case 3: random_conv(); break;
      case 4: case 5: pool(true); break;
      case 6: pool(false); break;
      case 7:
        if (chance(50)) {
          add("AdaptiveAvgPool2d", "\"output_size\": 1");
          h_ = w_ = 1;
        } else {
          activation();
        }
        break;
      case 8: case 9: case 10: activation(); break;
      case 11: case 12: batchnorm(); break;
      case 13: dropout(); break;
      case 14: if (block_fits) seed_block(); else random_conv(); break;
      default: flatten(); break;
    }
  }

  wt::SplitMix64 rng_;
  std::vector<std::string> layers_;
  int names_ = 0;
  int c_ = 1, h_ = 1, w_ = 1;
  bool flat_ = false;
};

// The spec of one property-test case.
inline std::string random_spec_json(uint64_t seed) { return SpecGenerator(seed).generate(); }

}  // namespace prop
