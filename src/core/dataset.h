// Datasets in memory are uint8 [N, C, H, W] with a label byte each (ImageSet,
// idx.h), read from IDX files (idx.h) or from CIFAR-10's binary batches (here),
// and the data configuration that goes with them: the dataset's name and class
// names, the normalization and the augmentation (pipeline.h applies them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/idx.h"
#include "core/spec.h"
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

// Loaded data, immutable once made: the training and test sets that trainers of
// one module share (Trainer::share_data), each seeing the first N images of them
// (its own limits) with its own data configuration, so that a second trainer on
// the same data costs no second copy of it. Freed with the last trainer holding it.
struct SharedData {
  ImageSet train, test;
  // "crc32:..." of the first `count` training images and their labels (a
  // trainer's data fingerprint, checkpoint.h), computed once per count.
  std::string fingerprint(uint32_t count) const;

 private:
  mutable std::mutex mu_;
  mutable std::map<uint32_t, std::string> fingerprints_;
};

// The checks a trainer makes of data before it takes it, also usable without a
// trainer (the page checks new data before it ends the session using the old):
// both sets have images, the first `train_count` / `test_count` of them count; when
// `input` is given ({c, h, w}) the images must have that shape (`model` names the
// model in the message); labels below `classes`; as many class names as classes,
// when there are any; one mean and one std per channel. Only the sets' shapes and
// labels are read, so sets of labels only (no pixels: scan_idx, scan_cifar10) can
// be checked as well as whole ones.
Status check_data(const ImageSet& train, uint32_t train_count, const ImageSet& test, uint32_t test_count,
                  const Shape* input, const std::string& model, int classes, const DataConfig& config);

// A set of labels only (image_bytes stay empty: count, shape and labels are
// filled) from an IDX pair checked as make_image_set checks it: `images_head` holds
// the images file's first min(images_size, 20) bytes (its header; the pixels are
// never read) and `images_size` its length; the labels file is whole. `name` is
// "train" or "test". limit > 0 keeps the first `limit` labels.
Status scan_idx(const uint8_t* images_head, size_t images_size, std::string labels, const char* name,
                uint32_t limit, ImageSet* out);

// Appends the labels of a CIFAR-10 batch file to a set of labels only, every
// record checked as append_cifar10 checks it (read through `read` a megabyte at
// a time; the pixels are never kept). At most `keep` labels are stored.
Status scan_cifar10(size_t n, const std::string& what, const ByteReader& read, ImageSet* set,
                    size_t keep = SIZE_MAX);

// batches.meta.txt: one class name per line; blank lines are ignored.
Status parse_class_names(const std::string& text, std::vector<std::string>* out);

}  // namespace wt
