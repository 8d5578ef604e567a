// IDX files (MNIST's format: http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
//   u8 0, u8 0, u8 type (0x08 = unsigned byte), u8 ndims, ndims x u32 big-endian
//   dimension sizes, then the data, C order. Only type 0x08 is used by MNIST
//   and Fashion-MNIST; other types are refused with a message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace wt {

struct IdxView {
  std::vector<uint32_t> dims;
  const uint8_t* data = nullptr;  // points into the parsed buffer
  size_t size = 0;                // product of dims
};

// Parses and validates one IDX buffer: magic, type, dimension count (1..4),
// nonzero dimensions, overflow-free size, and exact length (no truncation, no
// trailing bytes). `what` names the file in messages ("train images").
Status parse_idx(const uint8_t* bytes, size_t n, const char* what, IdxView* out);

// A labelled image set kept as bytes (images [count, channels, rows, cols], labels [count]).
struct ImageSet {
  std::string image_bytes;  // the whole IDX file; pixels start at pixel_offset
  std::string label_bytes;  // the whole IDX file; labels start at label_offset
  size_t pixel_offset = 0, label_offset = 0;
  uint32_t count = 0, channels = 1, rows = 0, cols = 0;
  size_t image_size() const { return (size_t)channels * rows * cols; }
  const uint8_t* pixels() const { return (const uint8_t*)image_bytes.data() + pixel_offset; }
  const uint8_t* labels() const { return (const uint8_t*)label_bytes.data() + label_offset; }
};

// Validates an images/labels pair (3-d images [count, rows, cols] or 4-d
// [count, channels, rows, cols], 1-d labels, same count) and takes ownership of the bytes. limit > 0 keeps the first
// `limit` items only. `name` is "train" or "test" for messages.
Status make_image_set(std::string images, std::string labels, const char* name,
                      uint32_t limit, ImageSet* out);

// make_image_set's checks of the pair without taking the bytes (for a scan of the
// labels alone, dataset.h scan_idx): `images` may hold only the images file's header
// (parse_idx reads no byte past it; images_size is the whole file's length). Sets
// `out`'s count (after `limit`), shape and offsets; its bytes are left to the caller.
Status idx_pair_layout(const uint8_t* images, size_t images_size, const std::string& labels, const char* name,
                       uint32_t limit, ImageSet* out);

}  // namespace wt
