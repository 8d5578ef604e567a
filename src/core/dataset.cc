#include "core/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/crc32.h"

namespace wt {

using json = nlohmann::json;

namespace {
std::string floats(const std::vector<float>& v) {
  std::string s = "[";
  char b[32];
  for (size_t i = 0; i < v.size(); ++i) {
    snprintf(b, sizeof b, "%s%.9g", i ? ", " : "", v[i]);
    s += b;
  }
  return s + "]";
}
}  // namespace

std::string DataConfig::processing_str() const {
  std::string s = mean.empty() ? "no normalization" : "normalize mean " + floats(mean) + " std " + floats(std);
  if (crop_padding > 0) s += ", random crop (padding " + std::to_string(crop_padding) + ")";
  if (hflip) s += ", random horizontal flip";
  return s;
}

std::string DataConfig::to_json() const {
  json j = json::object();
  j["name"] = name;
  if (!class_names.empty()) j["class_names"] = class_names;
  if (!mean.empty()) j["normalize"] = {{"mean", mean}, {"std", std}};
  if (augments()) j["augment"] = {{"crop_padding", crop_padding}, {"hflip", hflip}};
  return j.dump();
}

Status parse_data_config(const std::string& text, int channels, DataConfig* out) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto err = [](const std::string& m) { return Status::Error("data configuration: " + m); };
  if (j.is_discarded() || !j.is_object()) return err("not a JSON object");
  DataConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "name") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() || v.get_ref<const std::string&>().size() > 64)
        return err("\"name\" must be a non-empty string of at most 64 characters");
      c.name = v.get<std::string>();
    } else if (k == "class_names") {
      if (!v.is_array() || v.size() > 256) return err("\"class_names\" must be an array of at most 256 strings");
      for (const json& n : v) {
        if (!n.is_string() || n.get_ref<const std::string&>().size() > 64)
          return err("\"class_names\" must hold strings of at most 64 characters");
        c.class_names.push_back(n.get<std::string>());
      }
    } else if (k == "normalize") {
      if (!v.is_object() || !v.contains("mean") || !v.contains("std") || v.size() != 2)
        return err("\"normalize\" must be {\"mean\": [...], \"std\": [...]}");
      for (const char* key : {"mean", "std"}) {
        const json& a = v[key];
        if (!a.is_array() || (int)a.size() != channels)
          return err(std::string("normalize.") + key + " must have one number per channel (" + std::to_string(channels) + ")");
        std::vector<float>& dst = key[0] == 'm' ? c.mean : c.std;
        for (const json& x : a) {
          if (!x.is_number() || !std::isfinite(x.get<double>())) return err(std::string("normalize.") + key + " must hold finite numbers");
          dst.push_back(x.get<float>());
          if (key[0] == 's' && !(dst.back() > 0)) return err("normalize.std must be positive");
        }
      }
    } else if (k == "augment") {
      if (!v.is_object()) return err("\"augment\" must be {\"crop_padding\": N, \"hflip\": true|false}");
      for (auto a = v.begin(); a != v.end(); ++a) {
        if (a.key() == "crop_padding") {
          if (!a.value().is_number_integer() || a.value().get<int64_t>() < 0 || a.value().get<int64_t>() > 64)
            return err("augment.crop_padding must be an integer in 0..64");
          c.crop_padding = a.value().get<int>();
        } else if (a.key() == "hflip") {
          if (!a.value().is_boolean()) return err("augment.hflip must be true or false");
          c.hflip = a.value().get<bool>();
        } else {
          return err("unknown augment." + a.key() + " (crop_padding, hflip)");
        }
      }
    } else {
      return err("unknown key \"" + k + "\" (name, class_names, normalize, augment)");
    }
  }
  *out = std::move(c);
  return Status::Ok();
}

Status check_memory(size_t bytes, const std::string& what) {
  // volatile: a malloc whose block is only freed may be optimized away, and its
  // result taken as non-null.
  void* volatile p = std::malloc(bytes + 64);
  const bool ok = p != nullptr;
  std::free(p);
  if (ok) return Status::Ok();
  char mb[32];
  snprintf(mb, sizeof mb, "%.1f", (double)bytes / 1e6);
  return Status::Error("not enough memory for " + what + " (" + mb + " MB as bytes): use a smaller data set or " +
                       "fewer threads, or free memory (dispose of other trainers, or load the data into a fresh page " +
                       "or process)");
}

Status reserve_cifar10(ImageSet* set, size_t records, const std::string& what) {
  if (records > (size_t(1) << 31)) return Status::Error(what + " set: too many images (" + std::to_string(records) + ")");
  const size_t px = set->pixel_offset + records * kCifar10Pixels, lb = set->label_offset + records;
  if (set->image_bytes.capacity() >= px && set->label_bytes.capacity() >= lb) return Status::Ok();
  // Asked of malloc first (check_memory); the block it gives back is what the
  // reservation below then takes.
  if (!check_memory(px + lb + 64, "").ok()) {
    char mb[32];
    snprintf(mb, sizeof mb, "%.1f", (double)records * kCifar10Record / 1e6);
    return Status::Error(what + " set: not enough memory for " + std::to_string(records) + " CIFAR-10 images (" + mb +
                         " MB as bytes): use fewer images (a train or test limit), fewer threads, or free memory "
                         "(dispose of other trainers, or load the data into a fresh page or process)");
  }
  // Exactly this capacity (std::string::reserve may round a growing string up
  // to twice its capacity): a fresh buffer, the bytes so far, then a swap.
  for (auto [bytes, n] : {std::pair<std::string*, size_t>{&set->image_bytes, px}, {&set->label_bytes, lb}}) {
    if (bytes->capacity() >= n) continue;
    std::string fresh;
    fresh.reserve(n);
    fresh.append(*bytes);
    bytes->swap(fresh);
  }
  return Status::Ok();
}

namespace {
// append_cifar10 and scan_cifar10: with `pixels` false only the labels are kept.
Status read_cifar10(size_t n, const std::string& what, const ByteReader& read, ImageSet* set, size_t keep,
                    bool pixels) {
  if (n == 0) return Status::Error(what + ": the file is empty");
  if (n % kCifar10Record != 0)
    return Status::Error(what + ": truncated record: " + std::to_string(n) + " bytes is not a whole number of " +
                         "CIFAR-10 records (1 label byte + 3,072 pixel bytes each); the last record has " +
                         std::to_string(n % kCifar10Record) + " bytes");
  if (set->count > 0 && (set->channels != 3 || set->rows != 32 || set->cols != 32))
    return Status::Error(what + ": CIFAR-10 records cannot join a set of " + std::to_string(set->channels) + "x" +
                         std::to_string(set->rows) + "x" + std::to_string(set->cols) + " images");
  const size_t records = n / kCifar10Record, kept = std::min(records, keep);
  if ((uint64_t)set->count + kept > (uint64_t(1) << 31)) return Status::Error(what + ": too many images");
  // Exact growth (a no-op after a reservation of the whole set): std::string's
  // own growth doubles, and the old and new buffers coexist while it copies.
  if (pixels) {
    Status s = reserve_cifar10(set, (size_t)set->count + kept, what);
    if (!s.ok()) return s;
  }
  const size_t old_px = set->image_bytes.size(), old_lb = set->label_bytes.size();
  if (pixels) set->image_bytes.resize(old_px + kept * kCifar10Pixels);
  set->label_bytes.resize(old_lb + kept);
  // Pieces of 341 records (1 MB): few enough calls into JS, little memory.
  constexpr size_t kPiece = 341;
  std::vector<uint8_t> piece(std::min(records, kPiece) * kCifar10Record);
  for (size_t r0 = 0; r0 < records; r0 += kPiece) {
    const size_t m = std::min(kPiece, records - r0);
    read(r0 * kCifar10Record, m * kCifar10Record, piece.data());
    for (size_t i = 0; i < m; ++i) {
      const uint8_t* rec = piece.data() + i * kCifar10Record;
      const size_t r = r0 + i;
      if (rec[0] > 9) {
        set->image_bytes.resize(old_px);  // as it was (the capacity stays)
        set->label_bytes.resize(old_lb);
        return Status::Error(what + ": record " + std::to_string(r) + " has label " + std::to_string(rec[0]) +
                             ", outside CIFAR-10's 0..9 (is this CIFAR-100?)");
      }
      if (r < kept) {
        set->label_bytes[old_lb + r] = (char)rec[0];
        if (pixels) std::memcpy(&set->image_bytes[old_px + r * kCifar10Pixels], rec + 1, kCifar10Pixels);
      }
    }
  }
  set->channels = 3, set->rows = 32, set->cols = 32;
  set->count += (uint32_t)kept;
  return Status::Ok();
}
}  // namespace

Status append_cifar10(size_t n, const std::string& what, const ByteReader& read, ImageSet* set, size_t keep) {
  return read_cifar10(n, what, read, set, keep, true);
}

Status scan_cifar10(size_t n, const std::string& what, const ByteReader& read, ImageSet* set, size_t keep) {
  return read_cifar10(n, what, read, set, keep, false);
}

Status scan_idx(const uint8_t* images_head, size_t images_size, std::string labels, const char* name,
                uint32_t limit, ImageSet* out) {
  // The images file's header, checked as parse_idx checks a whole file against
  // the file's length (parse_idx reads no byte past the header: a header of at
  // most 4 dimensions is 20 bytes), and the pair as make_image_set checks it.
  const size_t head = std::min<size_t>(images_size, 20);
  uint8_t header[20] = {};
  std::memcpy(header, images_head, head);
  ImageSet set;
  const Status s = idx_pair_layout(header, images_size, labels, name, limit, &set);
  if (!s.ok()) return s;
  set.pixel_offset = 0;  // no pixels are kept
  labels.resize(set.label_offset + set.count);
  set.label_bytes = std::move(labels);
  *out = std::move(set);
  return Status::Ok();
}

std::string SharedData::fingerprint(uint32_t count) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fingerprints_.find(count);
  if (it != fingerprints_.end()) return it->second;
  // CRC-32 over the pixels, then the labels.
  uint32_t c = crc32(train.pixels(), (size_t)count * train.image_size());
  c = crc32(train.labels(), count, c);
  char buf[16];
  snprintf(buf, sizeof buf, "crc32:%08x", c);
  return fingerprints_[count] = buf;
}

Status check_data(const ImageSet& tr, uint32_t train_count, const ImageSet& te, uint32_t test_count,
                  const Shape* input, const std::string& model, int classes, const DataConfig& config) {
  for (const ImageSet* set : {&tr, &te}) {
    const std::string which = set == &tr ? "train" : "test";
    const uint32_t count = set == &tr ? train_count : test_count;
    if (count == 0) return Status::Error(which + " set: no images");
    if (input && (set->channels != (uint32_t)input->c || set->rows != (uint32_t)input->h ||
                  set->cols != (uint32_t)input->w))
      return Status::Error(which + " images are " + std::to_string(set->channels) + "x" + std::to_string(set->rows) +
                           "x" + std::to_string(set->cols) + " but this model (" + model + ") takes " + input->str() + " inputs");
    const uint8_t* labels = set->labels();
    for (uint32_t i = 0; i < count; ++i)
      if (labels[i] >= classes)
        return Status::Error(which + " labels: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                             " is outside 0.." + std::to_string(classes - 1) + " (this model has " +
                             std::to_string(classes) + " classes)");
  }
  if (tr.channels != te.channels || tr.rows != te.rows || tr.cols != te.cols)
    return Status::Error("the train images are " + std::to_string(tr.channels) + "x" + std::to_string(tr.rows) + "x" +
                         std::to_string(tr.cols) + " but the test images are " + std::to_string(te.channels) + "x" +
                         std::to_string(te.rows) + "x" + std::to_string(te.cols));
  if (!config.class_names.empty() && (int)config.class_names.size() != classes)
    return Status::Error("the data has " + std::to_string(config.class_names.size()) +
                         " class names but this model has " + std::to_string(classes) + " classes");
  if ((!config.mean.empty() && config.mean.size() != tr.channels) || config.mean.size() != config.std.size())
    return Status::Error("the normalization needs one mean and one std per channel (" + std::to_string(tr.channels) +
                         ")");
  return Status::Ok();
}

Status append_cifar10(const uint8_t* bytes, size_t n, const std::string& what, ImageSet* set) {
  return append_cifar10(
      n, what, [bytes](size_t offset, size_t len, uint8_t* dst) { std::memcpy(dst, bytes + offset, len); }, set);
}

Status parse_class_names(const std::string& text, std::vector<std::string>* out) {
  std::vector<std::string> names;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    std::string line = text.substr(i, j - i);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) {
      if (line.size() > 64) return Status::Error("class names: line " + std::to_string(names.size() + 1) + " is longer than 64 characters");
      names.push_back(line);
    }
    if (names.size() > 256) return Status::Error("class names: more than 256 lines");
    i = j + 1;
  }
  *out = std::move(names);
  return Status::Ok();
}

}  // namespace wt
