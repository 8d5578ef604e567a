// Datasets in memory are uint8 [N, C, H, W] with a label byte each (ImageSet,
// idx.h), read from IDX files (idx.h) or from CIFAR-10's binary batches (here),
// and the data configuration that goes with them: the dataset's name and class
// names, the normalization and the augmentation (pipeline.h applies them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
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
// (the R, G and B planes of a 32x32 image).
constexpr size_t kCifar10Pixels = 3 * 32 * 32, kCifar10Record = 1 + kCifar10Pixels;

// Copies bytes [offset, offset + n) of a file into dst: the file may live outside
// this memory (the bindings read it from JS a piece at a time).
using ByteReader = std::function<void(size_t offset, size_t n, uint8_t* dst)>;

// Appends one batch file of `n` bytes to `set` (channels 3, 32x32; the set may
// start empty), read through `read` in pieces of at most a megabyte, so the file
// is never whole in this memory: the set is the only copy of the pixels. Every
// record is checked (whole records, labels 0..9) but only the first `keep` of
// them are stored (a limit on the set's size). `what` names the file in messages
// ("data_batch_3.bin"). On an error the set is as it was.
Status append_cifar10(size_t n, const std::string& what, const ByteReader& read, ImageSet* set,
                      size_t keep = SIZE_MAX);
// The same, from bytes in memory.
Status append_cifar10(const uint8_t* bytes, size_t n, const std::string& what, ImageSet* set);

// Makes room for `records` CIFAR-10 images in `set` at once, so that appending
// that many never reallocates (a growing set would briefly hold its old and new
// buffers, more than twice the data). Refuses in words, leaving the set as it
// was, when the memory cannot be had (malloc returning null: the wasm builds
// link with ABORTING_MALLOC=0). `what` says which set ("train").
Status reserve_cifar10(ImageSet* set, size_t records, const std::string& what);

// Whether `bytes` can be allocated now (asked of malloc, which returns null,
// where operator new without exceptions aborts). The refusal names `what`
// ("the data") and says what to do. reserve_cifar10 asks the same way.
Status check_memory(size_t bytes, const std::string& what);

// batches.meta.txt: one class name per line; blank lines are ignored.
Status parse_class_names(const std::string& text, std::vector<std::string>* out);

}  // namespace wt
