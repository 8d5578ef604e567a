// The safetensors container (https://github.com/huggingface/safetensors):
//   u64 little-endian header length N | N bytes of JSON header | data section.
// Generic reading and writing with full validation; what the tensors mean for a
// trainer is checkpoint.h's business. See CHECKPOINT_FORMAT.md for the checksum.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace wt {

struct TensorInfo {
  std::string name, dtype;       // dtype: F32, F64, I64, I32, U8
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;     // byte offsets into the data section
  size_t numel = 0;
};

struct SafetensorsView {
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // in name order
  const uint8_t* data = nullptr;    // start of the data section
  size_t data_size = 0;
  const TensorInfo* find(const std::string& name) const;
};

constexpr size_t kMaxHeaderBytes = 16u << 20;  // 16 MiB: ours are ~10 KB plus history

// Validates everything: header length within the file and kMaxHeaderBytes, JSON
// well-formed, every entry's dtype known, shape non-negative and overflow-free,
// offsets inside the data section, sizes matching dtype x shape, no overlap, no
// gap, no trailing bytes, metadata values strings, and the checksum when the
// metadata has one (or always, if require_checksum).
Status parse_safetensors(const uint8_t* bytes, size_t n, bool require_checksum,
                         SafetensorsView* out);

size_t dtype_size(const std::string& dtype);  // 0 if unknown

struct TensorData {
  std::string name, dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes tensors in name order, header padded with spaces to a multiple of 8, and
// adds metadata["checksum"] (CRC-32 of the file with the digits zeroed).
std::string write_safetensors(std::vector<TensorData> tensors,
                              std::map<std::string, std::string> metadata);

}  // namespace wt
