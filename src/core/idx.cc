#include "core/idx.h"

#include <utility>

namespace wt {

Status parse_idx(const uint8_t* b, size_t n, const char* what, IdxView* out) {
  const std::string w(what);
  if (n < 4)
    return Status::Error(w + ": file is " + std::to_string(n) +
                         " bytes, too short for an IDX header (4 bytes at least)");
  if (b[0] != 0 || b[1] != 0)
    return Status::Error(w + ": not an IDX file (the first two bytes must be 0; "
                         "is it still gzip-compressed?)");
  if (b[2] != 0x08) {
    char buf[8];
    snprintf(buf, sizeof buf, "0x%02x", b[2]);
    return Status::Error(w + ": IDX data type " + buf +
                         " is not supported (expected 0x08, unsigned bytes)");
  }
  const unsigned nd = b[3];
  if (nd < 1 || nd > 4)
    return Status::Error(w + ": IDX header says " + std::to_string(nd) +
                         " dimensions (expected 1 to 4)");
  const size_t header = 4 + 4 * (size_t)nd;
  if (n < header)
    return Status::Error(w + ": file is " + std::to_string(n) + " bytes, truncated inside the " +
                         std::to_string(header) + "-byte header");
  out->dims.assign(nd, 0);
  uint64_t size = 1;
  for (unsigned i = 0; i < nd; ++i) {
    const uint8_t* p = b + 4 + 4 * i;
    const uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (d == 0) return Status::Error(w + ": dimension " + std::to_string(i) + " is 0");
    // Bound before multiplying: 2^40 bytes is far beyond any file we can hold.
    if (size > (uint64_t(1) << 40) / d)
      return Status::Error(w + ": dimensions multiply to more than 2^40 elements");
    size *= d;
    out->dims[i] = d;
  }
  const size_t have = n - header;
  if (have < size)
    return Status::Error(w + ": truncated: the header promises " + std::to_string(size) +
                         " data bytes but the file has " + std::to_string(have));
  if (have > size)
    return Status::Error(w + ": " + std::to_string(have - size) +
                         " unexpected bytes after the data (the header promises " +
                         std::to_string(size) + ")");
  out->data = b + header;
  out->size = (size_t)size;
  return Status::Ok();
}

Status idx_pair_layout(const uint8_t* images, size_t images_size, const std::string& labels, const char* name,
                       uint32_t limit, ImageSet* out) {
  const std::string nm(name);
  IdxView iv, lv;
  Status s = parse_idx(images, images_size, (nm + " images").c_str(), &iv);
  if (!s.ok()) return s;
  s = parse_idx((const uint8_t*)labels.data(), labels.size(), (nm + " labels").c_str(), &lv);
  if (!s.ok()) return s;
  if (iv.dims.size() != 3 && iv.dims.size() != 4)
    return Status::Error(nm + " images: expected 3 dimensions [count, rows, cols] (or 4: [count, channels, rows, "
                         "cols]), found " + std::to_string(iv.dims.size()) + " (is this a labels file?)");
  if (lv.dims.size() != 1)
    return Status::Error(nm + " labels: expected 1 dimension [count], found " +
                         std::to_string(lv.dims.size()) + " (is this an images file?)");
  if (iv.dims[0] != lv.dims[0])
    return Status::Error(nm + " set: " + std::to_string(iv.dims[0]) + " images but " +
                         std::to_string(lv.dims[0]) + " labels");
  // (Labels are checked against the model's classes by the trainer.)
  out->count = limit > 0 && limit < iv.dims[0] ? limit : iv.dims[0];
  out->pixel_offset = (size_t)(iv.data - images);
  out->label_offset = (size_t)(lv.data - (const uint8_t*)labels.data());
  const bool planar = iv.dims.size() == 4;
  out->channels = planar ? iv.dims[1] : 1;
  out->rows = iv.dims[planar ? 2 : 1];
  out->cols = iv.dims[planar ? 3 : 2];
  return Status::Ok();
}

Status make_image_set(std::string images, std::string labels, const char* name,
                      uint32_t limit, ImageSet* out) {
  ImageSet set;
  const Status s = idx_pair_layout((const uint8_t*)images.data(), images.size(), labels, name, limit, &set);
  if (!s.ok()) return s;
  set.image_bytes = std::move(images);
  set.label_bytes = std::move(labels);
  // Keep only what is used (a limit of 1,000 images should not hold 47 MB).
  set.image_bytes.resize(set.pixel_offset + (size_t)set.count * set.image_size());
  set.image_bytes.shrink_to_fit();
  set.label_bytes.resize(set.label_offset + set.count);
  set.label_bytes.shrink_to_fit();
  *out = std::move(set);
  return Status::Ok();
}

}  // namespace wt
