#include "core/dataset.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

namespace wt {

using json = nlohmann::json;

namespace {
constexpr size_t kCifarPixels = 3 * 32 * 32, kCifarRecord = 1 + kCifarPixels;

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

Status append_cifar10(const uint8_t* bytes, size_t n, const std::string& what, ImageSet* set) {
  if (n == 0) return Status::Error(what + ": the file is empty");
  if (n % kCifarRecord != 0)
    return Status::Error(what + ": truncated record: " + std::to_string(n) + " bytes is not a whole number of " +
                         "CIFAR-10 records (1 label byte + 3,072 pixel bytes each); the last record has " +
                         std::to_string(n % kCifarRecord) + " bytes");
  if (set->count > 0 && (set->channels != 3 || set->rows != 32 || set->cols != 32))
    return Status::Error(what + ": CIFAR-10 records cannot join a set of " + std::to_string(set->channels) + "x" +
                         std::to_string(set->rows) + "x" + std::to_string(set->cols) + " images");
  const size_t records = n / kCifarRecord;
  for (size_t r = 0; r < records; ++r)
    if (bytes[r * kCifarRecord] > 9)
      return Status::Error(what + ": record " + std::to_string(r) + " has label " +
                           std::to_string(bytes[r * kCifarRecord]) + ", outside CIFAR-10's 0..9 (is this CIFAR-100?)");
  if ((uint64_t)set->count + records > (uint64_t(1) << 31)) return Status::Error(what + ": too many images");
  set->channels = 3, set->rows = 32, set->cols = 32;
  const size_t old_px = set->image_bytes.size(), old_lb = set->label_bytes.size();
  set->image_bytes.resize(old_px + records * kCifarPixels);
  set->label_bytes.resize(old_lb + records);
  for (size_t r = 0; r < records; ++r) {
    set->label_bytes[old_lb + r] = (char)bytes[r * kCifarRecord];
    std::memcpy(&set->image_bytes[old_px + r * kCifarPixels], bytes + r * kCifarRecord + 1, kCifarPixels);
  }
  set->count += (uint32_t)records;
  return Status::Ok();
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
