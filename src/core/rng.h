// Deterministic random numbers: SplitMix64 (Steele, Lea, Flood 2014). Its whole
// state is one u64, so any point of a stream is reproducible from (seed, purpose).
#pragma once
#include <cstdint>
#include <vector>

namespace wt {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 random bits (every float32 step in [0.5, 1) reachable).
  float uniform01() { return (float)(next() >> 40) * (1.0f / 16777216.0f); }
  // Uniform integer in [0, bound): Lemire's multiply-shift on 32 random bits.
  // Bias < bound / 2^32 (< 1.4e-5 for 60,000), deterministic across platforms.
  uint32_t below(uint32_t bound) {
    return (uint32_t)(((next() >> 32) * (uint64_t)bound) >> 32);
  }

 private:
  uint64_t state_;
};

// Stream seeds derived from the user's seed, one per purpose, so adding a use of
// randomness never shifts another stream.
inline uint64_t stream_seed(uint64_t seed, uint64_t purpose, uint64_t index) {
  SplitMix64 a(seed ^ (purpose * 0xD1B54A32D192ED03ull));
  SplitMix64 b(a.next() ^ (index * 0x8CB92BA72F3D8DD7ull));
  return b.next();
}
enum : uint64_t { kStreamInit = 1, kStreamShuffle = 2, kStreamDropout = 3, kStreamAugment = 4 };

// Dropout's mask for one image: a function of (seed, step, layer, position) only,
// where step is the number of optimizer steps taken before this batch, layer the
// Dropout layer's index in the spec and position the image's index in its batch.
// So any thread count and any resume point draw the same masks. Element j of the
// image's activation is kept when its j-th uniform01() >= p (as float), and a kept
// element is scaled by 1 / (1 - p) (computed as float(1.0 / (1.0 - p))).
// scripts/torch_ref reproduces this stream in Python to feed PyTorch the same masks.
inline SplitMix64 dropout_stream(uint64_t seed, uint64_t step, uint64_t layer,
                                 uint64_t position) {
  return SplitMix64(stream_seed(stream_seed(seed, kStreamDropout, step), layer, position));
}

// The data order of one epoch: Fisher-Yates over 0..n-1 (perm is resized once
// by the caller; no allocation here when its size is already n).
inline void epoch_permutation(std::vector<uint32_t>& perm, uint32_t n, uint64_t seed,
                              uint64_t epoch) {
  perm.resize(n);
  for (uint32_t i = 0; i < n; ++i) perm[i] = i;
  SplitMix64 rng(stream_seed(seed, kStreamShuffle, epoch));
  for (uint32_t i = n; i > 1; --i) {
    const uint32_t j = rng.below(i);
    const uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

}  // namespace wt
