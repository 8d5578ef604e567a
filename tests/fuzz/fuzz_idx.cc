// libFuzzer target: the IDX reader (parse_idx, make_image_set, Trainer::set_data)
// on hostile bytes.
//
// The whole input goes to parse_idx. Then byte 0 is the train limit, byte 1 the
// test limit, and the rest is split at "|SEP|" into train images, train labels,
// test images, test labels (missing parts are empty) for make_image_set and
// Trainer::set_data. Invariants (abort on failure):
//   - an IdxView that parses covers exactly the file after its header, and the
//     dimensions multiply to its size;
//   - an ImageSet that is accepted holds count x rows x cols pixels and count
//     labels 0..9 inside its buffers, count = min(limit, items);
//   - a refused set_data leaves the trainer's data unchanged; an accepted one
//     holds 28x28 images and the counts asked for.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "core/idx.h"
#include "core/trainer.h"
#include "fuzz_common.h"

namespace {

volatile uint8_t g_sink;

void touch(const uint8_t* p, size_t n) {
  if (n == 0) return;
  g_sink = p[0];
  g_sink = p[n - 1];
}

void check_idx(const uint8_t* b, size_t n) {
  wt::IdxView v;
  const wt::Status s = wt::parse_idx(b, n, "fuzz", &v);
  if (!s.ok()) {
    if (s.message.rfind("fuzz: ", 0) != 0) fuzz::fail("message does not name the file", s.message);
    return;
  }
  if (v.dims.empty() || v.dims.size() > 4) fuzz::fail("dimension count outside 1..4 accepted");
  uint64_t size = 1;
  for (uint32_t d : v.dims) {
    if (d == 0) fuzz::fail("zero dimension accepted");
    size *= d;
  }
  const size_t header = 4 + 4 * v.dims.size();
  if (size != v.size || v.data != b + header || header + v.size != n)
    fuzz::fail("IdxView does not cover the data exactly");
  touch(v.data, v.size);
}

// max_label: labels above it must have been refused (make_image_set checks none:
// the trainer checks them against the model's classes).
void check_set(const wt::ImageSet& s, uint32_t limit, int max_label) {
  if ((s.pixel_offset != 16 && s.pixel_offset != 20) || s.label_offset != 8)
    fuzz::fail("data offsets are not after 3-d or 4-d / 1-d headers");
  if (s.pixel_offset == 16 && s.channels != 1) fuzz::fail("3-d images with channels");
  if (limit > 0 && s.count > limit) fuzz::fail("more items kept than the limit");
  const size_t np = (size_t)s.count * s.image_size();
  if (s.image_bytes.size() != s.pixel_offset + np) fuzz::fail("image bytes not count x rows x cols");
  if (s.label_bytes.size() != s.label_offset + s.count) fuzz::fail("label bytes not count");
  // Over exact-size copies, so ASan sees any read past the kept bytes.
  std::unique_ptr<uint8_t[]> px(new uint8_t[np + 1]), lb(new uint8_t[s.count + 1]);
  std::memcpy(px.get(), s.pixels(), np);
  std::memcpy(lb.get(), s.labels(), s.count);
  for (uint32_t i = 0; i < s.count; ++i)
    if (lb[i] > max_label) fuzz::fail("label outside the model's classes accepted");
}

std::unique_ptr<wt::Trainer>& trainer() {
  static std::unique_ptr<wt::Trainer> t(new wt::Trainer(fuzz::config()));
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_idx(data, size);
  if (size < 2) return 0;
  const uint32_t train_limit = data[0], test_limit = data[1];
  const std::string in((const char*)data + 2, size - 2);
  std::string part[4];
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t sep = i < 3 ? in.find("|SEP|", pos) : std::string::npos;
    if (sep == std::string::npos) {
      part[i] = in.substr(pos);
      pos = in.size();
      break;
    }
    part[i] = in.substr(pos, sep - pos);
    pos = sep + 5;
  }
  for (int i = 0; i < 4; ++i) {
    // Each part alone, from an exact-size buffer (over-reads show).
    std::unique_ptr<uint8_t[]> b(new uint8_t[part[i].size() + 1]);
    std::memcpy(b.get(), part[i].data(), part[i].size());
    check_idx(b.get(), part[i].size());
  }

  wt::ImageSet set;
  const wt::Status s = wt::make_image_set(part[0], part[1], "train", train_limit, &set);
  if (s.ok()) check_set(set, train_limit, 255);
  else if (s.message.rfind("train ", 0) != 0) fuzz::fail("message does not name the set", s.message);

  wt::Trainer& t = *trainer();
  const uint32_t tc = t.train_count(), vc = t.test_count();
  const wt::Status d = t.set_data(part[0], part[1], part[2], part[3], train_limit, test_limit);
  if (!d.ok()) {
    if (t.train_count() != tc || t.test_count() != vc) fuzz::fail("a refused set_data changed the data");
    if (s.ok() && d.message.rfind("train ", 0) == 0 && d.message.find("images are") == std::string::npos &&
        d.message.find("is outside 0..9") == std::string::npos)
      fuzz::fail("set_data refused a train set make_image_set accepts", d.message);
    return 0;
  }
  if (!s.ok()) fuzz::fail("set_data accepted a train set make_image_set refuses", s.message);
  if (t.train_count() != set.count) fuzz::fail("set_data kept a different train count");
  const wt::ImageSet& te = t.shared_data()->test;  // fresh sets keep only the images used
  if (te.channels != 1 || te.rows != 28 || te.cols != 28) fuzz::fail("set_data accepted images that are not 1x28x28");
  check_set(te, test_limit, 9);  // the seed model has 10 classes
  for (uint32_t i = 0; i < t.train_count(); ++i)
    if (set.labels()[i] > 9) fuzz::fail("set_data accepted a train label outside the model's classes");
  if (t.state().train_fingerprint.size() != 14) fuzz::fail("no fingerprint after set_data");
  return 0;
}
