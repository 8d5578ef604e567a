// Builders for test inputs: IDX files byte by byte, and small synthetic MNIST-like
// data sets (28x28 u8 images, labels 0..9) for the trainer tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace synth {

inline void put_u32_be(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back((char)((v >> (8 * i)) & 0xFF));
}

// An IDX file: 0, 0, type, ndims, dims (u32 big-endian), then `data`.
inline std::string idx_file(const std::vector<uint32_t>& dims, const std::string& data,
                            uint8_t type = 0x08) {
  std::string s;
  s.push_back(0);
  s.push_back(0);
  s.push_back((char)type);
  s.push_back((char)dims.size());
  for (uint32_t d : dims) put_u32_be(s, d);
  return s + data;
}

struct DataSet {
  std::string images, labels;  // IDX files
  std::vector<uint8_t> pixels, label_values;
};

// `count` images of rows x cols. learnable = true: the label decides where a bright
// 6x6 block sits (plus noise), so a CNN can learn it in a few epochs; false:
// uniform noise with random labels.
inline DataSet make_dataset(uint32_t count, uint64_t seed, bool learnable, uint32_t rows = 28,
                            uint32_t cols = 28) {
  DataSet d;
  wt::SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + 7);
  d.pixels.resize((size_t)count * rows * cols);
  d.label_values.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t label = (uint8_t)rng.below(10);
    d.label_values[i] = label;
    uint8_t* img = d.pixels.data() + (size_t)i * rows * cols;
    for (uint32_t p = 0; p < rows * cols; ++p) img[p] = (uint8_t)rng.below(learnable ? 60 : 256);
    if (learnable && rows >= 28 && cols >= 28) {
      const uint32_t r0 = 2 + (label / 5) * 14, c0 = 1 + (label % 5) * 5;
      for (uint32_t r = r0; r < r0 + 6; ++r)
        for (uint32_t c = c0; c < c0 + 5; ++c) img[r * cols + c] = (uint8_t)(200 + rng.below(56));
    }
  }
  d.images = idx_file({count, rows, cols}, std::string(d.pixels.begin(), d.pixels.end()));
  d.labels = idx_file({count}, std::string(d.label_values.begin(), d.label_values.end()));
  return d;
}

}  // namespace synth
