// Datasets in memory are uint8 [N, C, H, W] with a label byte each (ImageSet,
// idx.h), read from IDX files (idx.h) or from CIFAR-10's binary batches (here),
// and the data configuration that goes with them: the dataset's name and class
// names, the normalization and the augmentation (pipeline.h applies them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/idx.h"
#include "core/status.h"

namespace wt {

struct DataConfig {
  std::string name = "custom";           // "mnist", "fashion-mnist", "cifar-10", "custom"
  std::vector<std::string> class_names;  // optional; shown by the page and the CLI
  std::vector<float> mean, std;          // per channel (PyTorch's Normalize); empty: none
  int crop_padding = 0;                  // random crop with this much zero padding (training only)
  bool hflip = false;                    // random horizontal flip (training only)

  bool augments() const { return crop_padding > 0 || hflip; }
  // The preprocessing (normalization, augmentation), which a resumed run must keep.
  bool same_processing(const DataConfig& o) const {
    return mean == o.mean && std == o.std && crop_padding == o.crop_padding && hflip == o.hflip;
  }
  std::string processing_str() const;  // "normalize mean [..] std [..], random crop (padding 4), horizontal flip"
  std::string to_json() const;         // canonical JSON, stored in checkpoints
};

// {"name", "class_names", "normalize": {"mean": [..], "std": [..]}, "augment":
// {"crop_padding": 4, "hflip": true}}, every key optional; mean/std need one value per
// channel (std > 0), crop_padding 0..64.
Status parse_data_config(const std::string& json, int channels, DataConfig* out);

// CIFAR-10's binary format: records of 1 label byte (0..9) and 3,072 pixel bytes
// (the R, G and B planes of a 32x32 image). Appends one batch file's records to
// `set` (channels 3, 32x32; the set may start empty). `what` names the file in
// messages ("data_batch_3.bin").
Status append_cifar10(const uint8_t* bytes, size_t n, const std::string& what, ImageSet* set);

// batches.meta.txt: one class name per line; blank lines are ignored.
Status parse_class_names(const std::string& text, std::vector<std::string>* out);

}  // namespace wt
