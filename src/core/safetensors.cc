#include "core/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/crc32.h"

namespace wt {
using json = nlohmann::json;

namespace {
const char kChecksumKey[] = "\"checksum\":\"crc32:";

std::string hex8(uint32_t v) {
  char buf[9];
  snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// CRC of the file with the 8 checksum digits (at `pos`) read as '0'.
uint32_t checksum_with_zeroed_digits(const uint8_t* bytes, size_t n, size_t pos) {
  static const uint8_t zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
  uint32_t c = crc32(bytes, pos);
  c = crc32(zeros, 8, c);
  return crc32(bytes + pos + 8, n - pos - 8, c);
}
}  // namespace

size_t dtype_size(const std::string& d) {
  if (d == "F32" || d == "I32") return 4;
  if (d == "F64" || d == "I64") return 8;
  if (d == "U8") return 1;
  return 0;
}

const TensorInfo* SafetensorsView::find(const std::string& name) const {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Status parse_safetensors(const uint8_t* bytes, size_t n, bool require_checksum,
                         SafetensorsView* out) {
  if (n < 8)
    return Status::Error("the file is " + std::to_string(n) +
                         " bytes long: too short for a checkpoint (it starts with an 8-byte header length)");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | bytes[i];
  if (hlen > kMaxHeaderBytes)
    return Status::Error("the header length field says " + std::to_string(hlen) +
                         " bytes, more than the " + std::to_string(kMaxHeaderBytes) +
                         " allowed: this is not a checkpoint, or it is corrupt");
  if (hlen < 2 || 8 + hlen > n)
    return Status::Error("the file is truncated: its header alone needs " + std::to_string(8 + hlen) +
                         " bytes but the file has " + std::to_string(n));
  const char* hb = (const char*)bytes + 8;
  json h = json::parse(hb, hb + hlen, nullptr, /*allow_exceptions=*/false);
  if (h.is_discarded() || !h.is_object())
    return Status::Error("the header is not a valid JSON object: the file is corrupt");

  SafetensorsView v;
  v.data = bytes + 8 + hlen;
  v.data_size = n - 8 - (size_t)hlen;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& key = it.key();
    const json& e = it.value();
    if (key == "__metadata__") {
      if (!e.is_object()) return Status::Error("__metadata__ is not a JSON object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string())
          return Status::Error("metadata value \"" + m.key() + "\" is not a string");
        v.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor \"" + key + "\": ";
    if (!e.is_object()) return Status::Error(where + "its entry is not a JSON object");
    auto dt = e.find("dtype"), sh = e.find("shape"), of = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) return Status::Error(where + "dtype is missing");
    TensorInfo t;
    t.name = key;
    t.dtype = dt->get<std::string>();
    const size_t es = dtype_size(t.dtype);
    if (es == 0)
      return Status::Error(where + "dtype " + t.dtype + " is not supported (F32, F64, I64, I32, U8)");
    if (sh == e.end() || !sh->is_array() || sh->size() > 8)
      return Status::Error(where + "shape is missing or has more than 8 dimensions");
    uint64_t numel = 1;
    for (const json& d : *sh) {
      if (!d.is_number_unsigned())
        return Status::Error(where + "shape has an entry that is not a non-negative integer");
      const uint64_t dv = d.get<uint64_t>();
      if (dv > (uint64_t(1) << 40) || (dv != 0 && numel > (uint64_t(1) << 40) / dv))
        return Status::Error(where + "shape is too large (more than 2^40 elements)");
      numel *= dv;
      t.shape.push_back((int64_t)dv);
    }
    if (of == e.end() || !of->is_array() || of->size() != 2 || !(*of)[0].is_number_unsigned() ||
        !(*of)[1].is_number_unsigned())
      return Status::Error(where + "data_offsets must be two non-negative integers");
    const uint64_t b = (*of)[0].get<uint64_t>(), en = (*of)[1].get<uint64_t>();
    if (b > en || en > v.data_size)
      return Status::Error(where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                           "] fall outside the data section of " + std::to_string(v.data_size) +
                           " bytes (the file is truncated or corrupt)");
    if (en - b != numel * es)
      return Status::Error(where + "holds " + std::to_string(en - b) + " bytes but dtype " + t.dtype +
                           " and its shape need " + std::to_string(numel * es));
    t.begin = (size_t)b;
    t.end = (size_t)en;
    t.numel = (size_t)numel;
    v.tensors.push_back(std::move(t));
  }
  // Offsets must tile the data section exactly: no overlap, no gap, no trailing bytes.
  std::vector<const TensorInfo*> by_off;
  for (const TensorInfo& t : v.tensors) by_off.push_back(&t);
  std::sort(by_off.begin(), by_off.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t pos = 0;
  for (const TensorInfo* t : by_off) {
    if (t->begin < pos)
      return Status::Error("tensor \"" + t->name + "\" overlaps the tensor before it in the data section");
    if (t->begin > pos)
      return Status::Error("there is a gap of " + std::to_string(t->begin - pos) +
                           " bytes before tensor \"" + t->name + "\"");
    pos = t->end;
  }
  if (pos != v.data_size)
    return Status::Error(std::to_string(v.data_size - pos) +
                         " unexpected bytes follow the last tensor (appended garbage?)");

  // Checksum: find the one "checksum":"crc32:XXXXXXXX" in the raw header.
  auto cs = v.metadata.find("checksum");
  if (cs == v.metadata.end()) {
    if (require_checksum)
      return Status::Error("the file has no checksum in its metadata, so its integrity cannot be checked");
  } else {
    const std::string header(hb, (size_t)hlen);
    const size_t at = header.find(kChecksumKey);
    if (at == std::string::npos || header.find(kChecksumKey, at + 1) != std::string::npos ||
        cs->second.size() != 14)
      return Status::Error("the checksum field is malformed (expected \"crc32:\" and 8 hex digits)");
    // The 8 digits and the closing quote must lie inside the header.
    const size_t rel = at + sizeof(kChecksumKey) - 1;
    // ... and be the metadata's own value (not a look-alike elsewhere in the header).
    if (rel + 9 > header.size() || header[rel + 8] != '"' || cs->second.compare(0, 6, "crc32:") != 0 ||
        header.compare(rel, 8, cs->second, 6, 8) != 0)
      return Status::Error("the checksum field is malformed (expected \"crc32:\" and 8 hex digits)");
    const size_t digits = 8 + rel;
    const std::string stored = cs->second.substr(6);
    const std::string actual = hex8(checksum_with_zeroed_digits(bytes, n, digits));
    if (stored != actual)
      return Status::Error("checksum mismatch (stored crc32:" + stored + ", computed crc32:" + actual +
                           "): the file was modified or damaged after it was written");
  }
  std::sort(v.tensors.begin(), v.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  *out = std::move(v);
  return Status::Ok();
}

std::string write_safetensors(std::vector<TensorData> tensors,
                              std::map<std::string, std::string> metadata) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorData& a, const TensorData& b) { return a.name < b.name; });
  json h = json::object();
  metadata["checksum"] = "crc32:00000000";
  h["__metadata__"] = metadata;
  size_t off = 0;
  for (const TensorData& t : tensors) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string header = h.dump();  // compact: no spaces between tokens
  while ((header.size() % 8) != 0) header.push_back(' ');
  std::string file(8 + header.size() + off, '\0');
  uint64_t hl = header.size();
  for (int i = 0; i < 8; ++i) file[i] = (char)((hl >> (8 * i)) & 0xFF);
  std::memcpy(&file[8], header.data(), header.size());
  size_t pos = 8 + header.size();
  for (const TensorData& t : tensors) {
    if (t.nbytes) std::memcpy(&file[pos], t.data, t.nbytes);
    pos += t.nbytes;
  }
  const size_t at = file.find(kChecksumKey, 8);
  const size_t digits = at + sizeof(kChecksumKey) - 1;
  const std::string hex = hex8(checksum_with_zeroed_digits((const uint8_t*)file.data(), file.size(), digits));
  std::memcpy(&file[digits], hex.data(), 8);
  return file;
}

}  // namespace wt
