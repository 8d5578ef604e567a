// IDX reader (src/core/idx.h) and the data checks of Trainer::set_data: every
// malformed input is refused with a message that names the problem.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/idx.h"
#include "core/trainer.h"
#include "synthetic_data.h"

namespace {

using synth::idx_file;

wt::Status parse(const std::string& s, wt::IdxView* v = nullptr) {
  wt::IdxView tmp;
  return wt::parse_idx((const uint8_t*)s.data(), s.size(), "train images", v ? v : &tmp);
}

// The refusal must name the file and contain `needle`.
void expect_refused(const wt::Status& s, const std::string& needle) {
  ASSERT_FALSE(s.ok()) << "accepted, expected a message containing \"" << needle << "\"";
  EXPECT_NE(s.message.find(needle), std::string::npos)
      << "message \"" << s.message << "\" lacks \"" << needle << "\"";
}

TEST(Idx, ValidFileParses) {
  std::string data;
  for (int i = 0; i < 2 * 3 * 4; ++i) data.push_back((char)(i * 7));
  const std::string f = idx_file({2, 3, 4}, data);
  wt::IdxView v;
  ASSERT_TRUE(parse(f, &v).ok()) << parse(f).message;
  EXPECT_EQ(v.dims, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(v.size, 24u);
  EXPECT_EQ(v.data, (const uint8_t*)f.data() + 16);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(v.data[i], (uint8_t)(i * 7));
  // 1-d (labels) and 4-d are fine too; big-endian dims above 255.
  ASSERT_TRUE(parse(idx_file({300}, std::string(300, '\1')), &v).ok());
  EXPECT_EQ(v.dims, (std::vector<uint32_t>{300}));
  ASSERT_TRUE(parse(idx_file({1, 2, 1, 3}, std::string(6, '\0')), &v).ok());
  EXPECT_EQ(v.size, 6u);
}

TEST(Idx, TooShortForHeader) {
  expect_refused(parse(std::string()), "too short");
  expect_refused(parse(std::string("\0\0\x08", 3)), "3 bytes");
}

TEST(Idx, TruncatedHeader) {
  const std::string f = idx_file({10, 28, 28}, "");
  expect_refused(parse(f.substr(0, 10)), "truncated inside the 16-byte header");
}

TEST(Idx, TruncatedData) {
  const std::string f = idx_file({2, 3, 4}, std::string(24, 'x'));
  expect_refused(parse(f.substr(0, f.size() - 1)), "truncated");
  expect_refused(parse(f.substr(0, f.size() - 1)), "promises 24 data bytes but the file has 23");
  expect_refused(parse(f.substr(0, 16)), "the file has 0");
}

TEST(Idx, TrailingBytes) {
  const std::string f = idx_file({2, 3, 4}, std::string(24, 'x'));
  expect_refused(parse(f + "zz"), "2 unexpected bytes after the data");
}

TEST(Idx, WrongMagic) {
  std::string f = idx_file({3}, "abc");
  f[0] = 1;
  expect_refused(parse(f), "not an IDX file");
  // A still-gzipped download: 1f 8b.
  expect_refused(parse(std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8)), "gzip");
  f = idx_file({3}, "abc");
  f[1] = 0x08;
  expect_refused(parse(f), "not an IDX file");
}

TEST(Idx, UnsupportedType) {
  expect_refused(parse(idx_file({3}, std::string(12, '\0'), 0x0D)), "0x0d");
  expect_refused(parse(idx_file({3}, std::string(12, '\0'), 0x0D)), "not supported");
  expect_refused(parse(idx_file({3}, std::string(3, '\0'), 0x09)), "0x09");
}

TEST(Idx, DimensionCount) {
  expect_refused(parse(idx_file({}, "")), "0 dimensions");
  expect_refused(parse(idx_file({1, 1, 1, 1, 1}, "x")), "5 dimensions");
}

TEST(Idx, ZeroDimension) {
  expect_refused(parse(idx_file({5, 0, 28}, "")), "dimension 1 is 0");
  expect_refused(parse(idx_file({0}, "")), "dimension 0 is 0");
}

TEST(Idx, DimensionProductOverflow) {
  // 2^128 elements: must be caught before any multiplication wraps.
  expect_refused(parse(idx_file({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, "")), "2^40");
  // 2^32 * 2^32 wraps a u64 to 0 if unchecked; also exactly the 2^40 limit + 1.
  expect_refused(parse(idx_file({65536, 65536, 65536, 65536}, "")), "2^40");
  expect_refused(parse(idx_file({1u << 20, (1u << 20) + 1}, "")), "2^40");
}

// ------------------------------------------------------------- image/label pairs

wt::Status make_set(const std::string& images, const std::string& labels, uint32_t limit = 0,
                    wt::ImageSet* out = nullptr) {
  wt::ImageSet tmp;
  return wt::make_image_set(images, labels, "train", limit, out ? out : &tmp);
}

TEST(ImageSet, ValidPair) {
  const synth::DataSet d = synth::make_dataset(12, 1, false);
  wt::ImageSet s;
  ASSERT_TRUE(make_set(d.images, d.labels, 0, &s).ok());
  EXPECT_EQ(s.count, 12u);
  EXPECT_EQ(s.rows, 28u);
  EXPECT_EQ(s.cols, 28u);
  EXPECT_EQ(0, memcmp(s.pixels(), d.pixels.data(), d.pixels.size()));
  EXPECT_EQ(0, memcmp(s.labels(), d.label_values.data(), 12));
  ASSERT_TRUE(make_set(d.images, d.labels, 5, &s).ok());
  EXPECT_EQ(s.count, 5u) << "limit keeps the first 5";
  ASSERT_TRUE(make_set(d.images, d.labels, 100, &s).ok());
  EXPECT_EQ(s.count, 12u) << "a limit above the count keeps all";
}

TEST(ImageSet, CountMismatch) {
  const synth::DataSet d = synth::make_dataset(10, 2, false);
  const std::string labels9 = idx_file({9}, std::string(9, '\3'));
  expect_refused(make_set(d.images, labels9), "10 images but 9 labels");
}

// Labels are checked against the model's classes (any count up to 256), by the trainer.
TEST(ImageSet, LabelOutOfRangeForTheModel) {
  const synth::DataSet d = synth::make_dataset(10, 3, false);
  std::string labels = d.labels;
  labels[8 + 3] = 10;  // header is 8 bytes
  wt::Trainer t{wt::TrainerConfig()};
  expect_refused(t.set_data(d.images, labels, d.images, d.labels, 0, 0),
                 "train labels: label 10 at index 3 is outside 0..9 (this model has 10 classes)");
  labels[8 + 3] = (char)255;
  expect_refused(t.set_data(d.images, d.labels, d.images, labels, 0, 0), "test labels: label 255");
  EXPECT_FALSE(t.has_data());
  // Beyond the limit it is not used, so not refused.
  EXPECT_TRUE(t.set_data(d.images, labels, d.images, d.labels, 3, 0).ok());
}

TEST(ImageSet, FourDimensionalImagesHaveChannels) {
  const synth::DataSet d = synth::make_dataset(10, 3, false);
  // The same bytes read as [10, 4, 14, 14]: 4 channels of 14x14.
  std::string four = idx_file({10, 4, 14, 14}, d.images.substr(d.images.size() - 10 * 784));
  wt::ImageSet s;
  ASSERT_TRUE(make_set(four, d.labels, 0, &s).ok());
  EXPECT_EQ(s.channels, 4u);
  EXPECT_EQ(s.rows, 14u);
  EXPECT_EQ(s.image_size(), 784u);
}

TEST(ImageSet, SwappedFiles) {
  const synth::DataSet d = synth::make_dataset(10, 4, false);
  // labels passed as images: 1-d images
  expect_refused(make_set(d.labels, d.labels), "train images: expected 3 dimensions");
  expect_refused(make_set(d.labels, d.images), "is this a labels file?");
  // images passed as labels: 3-d labels
  expect_refused(make_set(d.images, d.images), "train labels: expected 1 dimension [count], found 3");
}

TEST(ImageSet, ErrorsNameTheFile) {
  const synth::DataSet d = synth::make_dataset(4, 5, false);
  expect_refused(make_set(d.images.substr(0, 20), d.labels), "train images:");
  expect_refused(make_set(d.images, d.labels + "x"), "train labels:");
}

// ------------------------------------------------------------- Trainer::set_data

TEST(TrainerSetData, AcceptsMnistShape) {
  const synth::DataSet tr = synth::make_dataset(20, 6, false), te = synth::make_dataset(7, 7, false);
  wt::Trainer t(wt::TrainerConfig{});
  const wt::Status s = t.set_data(tr.images, tr.labels, te.images, te.labels, 0, 0);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(t.train_count(), 20u);
  EXPECT_EQ(t.test_count(), 7u);
  ASSERT_TRUE(t.set_data(tr.images, tr.labels, te.images, te.labels, 11, 3).ok());
  EXPECT_EQ(t.train_count(), 11u);
  EXPECT_EQ(t.test_count(), 3u);
}

TEST(TrainerSetData, RefusesOtherImageSizes) {
  const synth::DataSet good = synth::make_dataset(5, 8, false);
  struct Size { uint32_t r, c; };
  for (const Size sz : {Size{27, 28}, Size{28, 27}, Size{14, 56}, Size{56, 14}, Size{32, 32}, Size{1, 784}}) {
    const synth::DataSet bad = synth::make_dataset(5, 9, false, sz.r, sz.c);
    const std::string dims = std::to_string(sz.r) + "x" + std::to_string(sz.c);
    wt::Trainer t(wt::TrainerConfig{});
    wt::Status s = t.set_data(bad.images, bad.labels, good.images, good.labels, 0, 0);
    expect_refused(s, "train images are 1x" + dims + " but this model (seed) takes [1, 28, 28] inputs");
    EXPECT_FALSE(t.has_data());
    s = t.set_data(good.images, good.labels, bad.images, bad.labels, 0, 0);
    expect_refused(s, "test images are 1x" + dims);
    EXPECT_FALSE(t.has_data()) << "a refused set_data keeps no data";
  }
}

TEST(TrainerSetData, PassesIdxErrorsThrough) {
  const synth::DataSet d = synth::make_dataset(5, 10, false);
  wt::Trainer t(wt::TrainerConfig{});
  expect_refused(t.set_data(d.images, d.labels, d.images, d.labels.substr(0, 9), 0, 0),
                 "test labels: truncated");
  expect_refused(t.set_data(d.labels, d.labels, d.images, d.labels, 0, 0), "train images: expected 3");
}

}  // namespace
