// Checkpoints: a TrainState (trainer.h) as a safetensors file and back
// (CHECKPOINT_FORMAT.md). Decoding validates the whole file against the model and
// the loaded data before anything is used; a refused file changes nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dataset.h"
#include "core/spec.h"
#include "core/status.h"

namespace wt {

struct TrainState;

extern const char kProducer[];
constexpr int kFormatVersion = 2;  // 2: the model spec in the metadata, BatchNorm state

// The training data a state is bound to (its order depends on it).
struct DataBinding {
  bool loaded = false;
  uint32_t count = 0;       // training images
  std::string fingerprint;  // "crc32:..." of the training pixels and labels
  const DataConfig* config = nullptr;  // its normalization and augmentation
};

std::string encode_checkpoint(const NetSpec& spec, const std::string& model_name, const TrainState& st);
// Into *out only when everything is valid. Version-1 files are the seed preset.
Status decode_checkpoint(const uint8_t* bytes, size_t n, const NetSpec& spec, const DataBinding& data,
                         TrainState* out);

// Whether a state may continue on the loaded data: the same images (count and
// fingerprint) once training has started, and a position inside an epoch. Used
// when loading and before training (either may come first). "" when fine.
std::string resume_problem(const TrainState& st, const DataBinding& data);

// The spec stored in a checkpoint's metadata (v1 files: the seed preset).
Status checkpoint_spec(const uint8_t* bytes, size_t n, NetSpec* out);

}  // namespace wt
