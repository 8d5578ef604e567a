// Shared by the fuzz targets and make_seeds: a tiny deterministic data set, the
// trainer configuration the checkpoint fuzzer loads into, the checksum patcher
// (CHECKPOINT_FORMAT.md, "Checksum") and bit-exact state comparison.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/crc32.h"
#include "core/rng.h"
#include "core/trainer.h"
#include "synthetic_data.h"

namespace fuzz {

// IDX files byte by byte: the test suite's builder (tests/cpp/synthetic_data.h).
using synth::idx_file;

struct Idx {
  std::string images, labels;
};

// `count` random 28x28 images with labels 0..9 (IDX files).
inline Idx tiny_set(uint32_t count, uint64_t seed, uint32_t rows = 28, uint32_t cols = 28) {
  wt::SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + 3);
  std::string px((size_t)count * rows * cols, '\0'), lb(count, '\0');
  for (char& c : px) c = (char)rng.below(256);
  for (char& c : lb) c = (char)rng.below(10);
  return Idx{idx_file({count, rows, cols}, px), idx_file({count}, lb)};
}

// The data every checkpoint-fuzzer trainer with data holds: 8 train images
// (batch 4: 2 steps per epoch), 4 test images.
inline Idx train_set() { return tiny_set(8, 1); }
inline Idx test_set() { return tiny_set(4, 2); }

inline wt::TrainerConfig config() {
  wt::TrainerConfig c;
  c.seed = 7;
  c.batch_size = 4;
  c.learning_rate = 1e-3;
  c.weight_decay = 1e-4;
  return c;
}

inline void give_data(wt::Trainer& t) {
  const Idx tr = train_set(), te = test_set();
  const wt::Status s = t.set_data(tr.images, tr.labels, te.images, te.labels, 0, 0);
  if (!s.ok()) {
    fprintf(stderr, "fuzz: set_data of the built-in data failed: %s\n", s.message.c_str());
    abort();
  }
}

// A checkpoint of a trainer as if it had trained 3 steps on the built-in data
// (epoch 1, epoch_step 1, a complete history). The state is written directly,
// not trained, so the fuzzers do not depend on the model code.
inline std::string trained_checkpoint() {
  wt::Trainer t(config());
  give_data(t);
  wt::TrainState& s = t.mutable_state();
  for (size_t i = 0; i < s.params.size(); ++i) {
    s.exp_avg[i] = 0.01f * s.params[i];
    s.exp_avg_sq[i] = 0.001f * s.params[i] * s.params[i];
  }
  s.step = 3;
  s.epoch = 1;
  s.epoch_step = 1;
  s.step_loss = {2.30f, 2.25f, 2.20f};
  s.step_accuracy = {0.f, 0.25f, 0.5f};
  s.epoch_loss = {2.275f};
  s.epoch_test_loss = {2.25f};
  s.epoch_test_accuracy = {0.25f};
  return t.save_checkpoint();
}

// CHECKPOINT_FORMAT.md: the one occurrence of "checksum":"crc32: in the header
// bytes is followed by 8 hex digits, the CRC-32 of the file with those digits
// read as '0'. Rewrites them so the file passes the check (when the pattern is
// there exactly once and 8 bytes follow it), as a valid writer would.
const char kChecksumKey[] = "\"checksum\":\"crc32:";
constexpr size_t kChecksumKeyLen = sizeof(kChecksumKey) - 1;

// Position (in the file) of the 8 digits the parser zeroes, or npos if the
// parser would not look for them (no header, pattern absent or not unique).
inline size_t checksum_digits(const uint8_t* b, size_t n) {
  if (n < 8) return std::string::npos;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | b[i];
  if (hlen > n - 8) return std::string::npos;
  const std::string header((const char*)b + 8, (size_t)hlen);
  const size_t at = header.find(kChecksumKey);
  if (at == std::string::npos || header.find(kChecksumKey, at + 1) != std::string::npos)
    return std::string::npos;
  return 8 + at + kChecksumKeyLen;
}

inline void patch_checksum(uint8_t* b, size_t n) {
  const size_t d = checksum_digits(b, n);
  if (d == std::string::npos || d + 8 > n) return;
  std::memset(b + d, '0', 8);
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", wt::crc32(b, n));
  std::memcpy(b + d, hex, 8);
}

template <typename T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Every saved field, bit for bit (NaN included); threads is not part of a state.
inline bool same_state(const wt::TrainState& a, const wt::TrainState& b) {
  auto same_d = [](double x, double y) { return memcmp(&x, &y, sizeof x) == 0; };
  return same_bytes(a.params, b.params) && same_bytes(a.exp_avg, b.exp_avg) &&
         same_bytes(a.exp_avg_sq, b.exp_avg_sq) && a.step == b.step && a.epoch == b.epoch &&
         a.epoch_step == b.epoch_step && same_bytes(a.step_loss, b.step_loss) &&
         same_bytes(a.step_accuracy, b.step_accuracy) &&
         same_bytes(a.epoch_loss, b.epoch_loss) && same_bytes(a.epoch_test_loss, b.epoch_test_loss) &&
         same_bytes(a.epoch_test_accuracy, b.epoch_test_accuracy) &&
         a.train_fingerprint == b.train_fingerprint && a.train_count == b.train_count &&
         a.config.seed == b.config.seed && a.config.batch_size == b.config.batch_size &&
         same_d(a.config.learning_rate, b.config.learning_rate) &&
         same_d(a.config.beta1, b.config.beta1) && same_d(a.config.beta2, b.config.beta2) &&
         same_d(a.config.eps, b.config.eps) && same_d(a.config.weight_decay, b.config.weight_decay);
}

[[noreturn]] inline void fail(const char* what, const std::string& detail = "") {
  fprintf(stderr, "\nFUZZ INVARIANT VIOLATED: %s%s%s\n", what, detail.empty() ? "" : ": ",
          detail.c_str());
  abort();
}

}  // namespace fuzz
