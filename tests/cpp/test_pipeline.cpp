// The data pipeline (src/core/pipeline.h) against PyTorch's ops on the same batch
// (tests/fixtures/torch_pipeline.safetensors) and against a plain loop; CIFAR-10's
// reader; the data configuration in checkpoints; an augmented run resumed exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/dataset.h"
#include "core/pipeline.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/trainer.h"
#include "trainer_util.h"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

template <typename T>
std::vector<T> tensor(const wt::SafetensorsView& v, const std::string& name) {
  const wt::TensorInfo* t = v.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (!t) return {};
  std::vector<T> out(t->numel);
  std::memcpy(out.data(), v.data + t->begin, t->numel * sizeof(T));
  return out;
}

wt::DataConfig cifar_config() {
  wt::DataConfig c;
  c.name = "cifar-10";
  c.mean = {0.4914f, 0.4822f, 0.4465f};
  c.std = {0.2470f, 0.2435f, 0.2616f};
  c.crop_padding = 4;
  c.hflip = true;
  return c;
}

TEST(Pipeline, MatchesPyTorchsCropFlipToTensorNormalize) {
  const std::string file = slurp(std::string(WT_SOURCE_DIR) + "/tests/fixtures/torch_pipeline.safetensors");
  wt::SafetensorsView v;
  ASSERT_TRUE(wt::parse_safetensors((const uint8_t*)file.data(), file.size(), true, &v).ok());
  const auto images = tensor<uint8_t>(v, "images");
  const auto indices = tensor<int64_t>(v, "indices"), draws = tensor<int64_t>(v, "draws");
  const auto train = tensor<float>(v, "train"), eval = tensor<float>(v, "eval");
  const wt::DataConfig cfg = cifar_config();
  ASSERT_EQ(tensor<float>(v, "mean"), cfg.mean);
  ASSERT_EQ(tensor<float>(v, "std"), cfg.std);
  const wt::Pipeline p(wt::Shape{3, 32, 32, false}, cfg);
  const uint64_t seed = std::stoull(v.metadata.at("seed")), epoch = std::stoull(v.metadata.at("epoch"));
  std::vector<float> out(3072);
  int flips = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    const wt::Pipeline::Draw d = p.draw(seed, epoch, (uint64_t)indices[i]);
    EXPECT_EQ(d.dy, draws[i * 3]) << i;
    EXPECT_EQ(d.dx, draws[i * 3 + 1]) << i;
    EXPECT_EQ(d.flip, draws[i * 3 + 2] != 0) << i;
    flips += d.flip;
    p.image(images.data() + i * 3072, out.data(), seed, epoch, (uint64_t)indices[i], /*train=*/true);
    EXPECT_EQ(0, std::memcmp(out.data(), train.data() + i * 3072, sizeof(float) * 3072)) << "train image " << i;
    p.image(images.data() + i * 3072, out.data(), seed, epoch, (uint64_t)indices[i], /*train=*/false);
    EXPECT_EQ(0, std::memcmp(out.data(), eval.data() + i * 3072, sizeof(float) * 3072)) << "eval image " << i;
  }
  EXPECT_GT(flips, 0) << "the fixture should flip some images";
  EXPECT_LT(flips, (int)indices.size()) << "and keep some";
}

// The plainest loop: pad with zeros, take the window, mirror, scale, normalize.
void reference(const uint8_t* src, float* out, int C, int H, int W, int p, int dy, int dx, bool flip,
               const std::vector<float>& mean, const std::vector<float>& sd) {
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const int cx = flip ? W - 1 - x : x;  // column of the crop
        const int sy = y + dy - p, sx = cx + dx - p;
        const uint8_t u = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? src[(c * H + sy) * W + sx] : 0;
        float v = (float)u / 255.f;
        if (!mean.empty()) v = (v - mean[c]) / sd[c];
        out[(c * H + y) * W + x] = v;
      }
}

TEST(Pipeline, MatchesAPlainLoopOverShapesPaddingsAndFlips) {
  wt::SplitMix64 rng(5);
  int cases = 0;
  for (int C : {1, 2, 3})
    for (int H : {5, 9, 12})
      for (int W : {5, 7, 12})
        for (int pad : {0, 1, 3})
          for (bool flip : {false, true})
            for (bool norm : {false, true}) {
              wt::DataConfig cfg;
              cfg.crop_padding = pad, cfg.hflip = flip;
              if (norm)
                for (int c = 0; c < C; ++c) cfg.mean.push_back(0.1f * c + 0.3f), cfg.std.push_back(0.2f + 0.05f * c);
              const wt::Pipeline p(wt::Shape{C, H, W, false}, cfg);
              std::vector<uint8_t> img((size_t)C * H * W);
              for (auto& b : img) b = (uint8_t)rng.below(256);
              std::vector<float> got(img.size()), want(img.size());
              for (uint64_t index = 0; index < 8; ++index) {
                p.image(img.data(), got.data(), 3, 1, index, true);
                const wt::Pipeline::Draw d = p.draw(3, 1, index);
                EXPECT_TRUE(d.dy >= 0 && d.dy <= 2 * pad && d.dx >= 0 && d.dx <= 2 * pad);
                reference(img.data(), want.data(), C, H, W, pad, d.dy, d.dx, d.flip, cfg.mean, cfg.std);
                ASSERT_EQ(0, std::memcmp(got.data(), want.data(), sizeof(float) * got.size()))
                    << C << "x" << H << "x" << W << " pad " << pad << " flip " << flip << " norm " << norm;
                // Evaluation: no crop, no flip.
                p.image(img.data(), got.data(), 3, 1, index, false);
                reference(img.data(), want.data(), C, H, W, pad, pad, pad, false, cfg.mean, cfg.std);
                ASSERT_EQ(0, std::memcmp(got.data(), want.data(), sizeof(float) * got.size()));
                ++cases;
              }
            }
  EXPECT_EQ(cases, 3 * 3 * 3 * 3 * 2 * 2 * 8);
}

std::string cifar_records(int n, uint64_t seed, uint8_t max_label = 9) {
  wt::SplitMix64 rng(seed);
  std::string s((size_t)n * 3073, '\0');
  for (int r = 0; r < n; ++r) {
    s[(size_t)r * 3073] = (char)rng.below(max_label + 1);
    for (int i = 1; i < 3073; ++i) s[(size_t)r * 3073 + i] = (char)rng.below(256);
  }
  return s;
}

TEST(Cifar10, ReadsRecordsFromSeveralFiles) {
  const std::string a = cifar_records(3, 1), b = cifar_records(2, 2);
  wt::ImageSet set;
  ASSERT_TRUE(wt::append_cifar10((const uint8_t*)a.data(), a.size(), "data_batch_1.bin", &set).ok());
  ASSERT_TRUE(wt::append_cifar10((const uint8_t*)b.data(), b.size(), "data_batch_2.bin", &set).ok());
  EXPECT_EQ(set.count, 5u);
  EXPECT_EQ(set.channels, 3u);
  EXPECT_EQ(set.image_size(), 3072u);
  EXPECT_EQ(set.labels()[3], (uint8_t)b[0]);
  EXPECT_EQ(0, std::memcmp(set.pixels() + 4 * 3072, b.data() + 3073 + 1, 3072));  // R, G, B planes as stored
}

TEST(Cifar10, RefusesTruncatedRecordsAndWrongLabels) {
  wt::ImageSet set;
  const std::string a = cifar_records(2, 3);
  wt::Status s = wt::append_cifar10((const uint8_t*)a.data(), a.size() - 100, "data_batch_1.bin", &set);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("data_batch_1.bin: truncated record"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("the last record has 2973 bytes"), std::string::npos) << s.message;
  std::string c = cifar_records(2, 4);
  c[3073] = 42;
  s = wt::append_cifar10((const uint8_t*)c.data(), c.size(), "test_batch.bin", &set);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("test_batch.bin: record 1 has label 42"), std::string::npos) << s.message;
  EXPECT_EQ(set.count, 0u) << "a refused file adds nothing";
  s = wt::append_cifar10(nullptr, 0, "empty.bin", &set);
  EXPECT_NE(s.message.find("empty.bin: the file is empty"), std::string::npos) << s.message;
}

// The bindings read a file from JS a piece at a time into a set reserved once at
// its exact size: the set is the only copy, it never reallocates, and a limit
// stores only the first records while every record is still checked.
TEST(Cifar10, ReadsInPiecesIntoOneReservationAndKeepsTheFirst) {
  const std::string a = cifar_records(700, 5);
  size_t calls = 0, largest = 0;
  auto reader = [&](const std::string& file) {
    return [&calls, &largest, &file](size_t offset, size_t n, uint8_t* dst) {
      ++calls, largest = std::max(largest, n);
      ASSERT_LE(offset + n, file.size());
      std::memcpy(dst, file.data() + offset, n);
    };
  };
  wt::ImageSet set;
  ASSERT_TRUE(wt::reserve_cifar10(&set, 500, "train").ok());
  const char* storage = set.image_bytes.data();
  ASSERT_TRUE(wt::append_cifar10(a.size(), "data_batch_1.bin", reader(a), &set, 500).ok());
  EXPECT_EQ(set.count, 500u);
  EXPECT_EQ(calls, 3u) << "700 records in pieces of 341";
  EXPECT_LE(largest, size_t(1) << 20);
  EXPECT_EQ(set.image_bytes.data(), storage) << "appending within the reservation must not reallocate";
  EXPECT_EQ(set.image_bytes.size(), 500u * 3072);
  EXPECT_EQ(set.labels()[499], (uint8_t)a[499 * 3073]);
  EXPECT_EQ(0, std::memcmp(set.pixels() + 499 * 3072, a.data() + 499 * 3073 + 1, 3072));
  // Beyond the limit the records are checked, not stored; a refusal leaves the set as it was.
  std::string b = cifar_records(700, 6);
  b[650 * 3073] = 11;
  wt::Status s = wt::append_cifar10(b.size(), "data_batch_2.bin", reader(b), &set, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("data_batch_2.bin: record 650 has label 11"), std::string::npos) << s.message;
  EXPECT_EQ(set.count, 500u);
  EXPECT_EQ(set.image_bytes.size(), 500u * 3072);
  EXPECT_EQ(set.label_bytes.size(), 500u);
  s = wt::append_cifar10(b.size(), "data_batch_2.bin", reader(b), &set, 100);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(set.count, 500u) << "a refused file adds nothing, even the records before the bad one";
  EXPECT_EQ(set.image_bytes.size(), 500u * 3072);
  // Without a reservation a set grows to the exact size, not by doubling.
  wt::ImageSet grown;
  ASSERT_TRUE(wt::append_cifar10((const uint8_t*)a.data(), a.size(), "a", &grown).ok());
  ASSERT_TRUE(wt::append_cifar10((const uint8_t*)a.data(), 300 * 3073, "b", &grown).ok());
  EXPECT_EQ(grown.count, 1000u);
  EXPECT_LT(grown.image_bytes.capacity(), 1000u * 3072 + 64);
  s = wt::reserve_cifar10(&grown, (size_t(1) << 31) + 1, "train");
  EXPECT_NE(s.message.find("train set: too many images"), std::string::npos) << s.message;
}

TEST(Cifar10, ClassNamesFromBatchesMeta) {
  std::vector<std::string> names;
  ASSERT_TRUE(wt::parse_class_names("airplane\nautomobile\r\nbird\n\n", &names).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"airplane", "automobile", "bird"}));
}

TEST(DataConfig, ParsesAndRefusesWithMessages) {
  wt::DataConfig c;
  ASSERT_TRUE(wt::parse_data_config(cifar_config().to_json(), 3, &c).ok());
  EXPECT_TRUE(c.same_processing(cifar_config()));
  EXPECT_EQ(c.to_json(), cifar_config().to_json());
  const std::pair<const char*, const char*> bad[] = {
      {"[]", "not a JSON object"},
      {R"({"normalize": {"mean": [0.5], "std": [0.5]}})", "one number per channel (3)"},
      {R"({"normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0, 0.5]}})", "std must be positive"},
      {R"({"augment": {"crop_padding": -1}})", "crop_padding must be an integer in 0..64"},
      {R"({"augment": {"rotate": 3}})", "unknown augment.rotate"},
      {R"({"colour": 1})", "unknown key \"colour\""},
  };
  for (const auto& b : bad) {
    const wt::Status s = wt::parse_data_config(b.first, 3, &c);
    ASSERT_FALSE(s.ok()) << b.first;
    EXPECT_NE(s.message.find(b.second), std::string::npos) << s.message;
  }
}

// A small colour model on generated CIFAR-shaped data with augmentation: stopped
// mid-epoch and resumed with other thread counts, bit-identical; resuming with other
// data settings is refused.
const char* kColourSpec = R"({"input": [3, 32, 32], "layers": [
  {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
  {"type": "MaxPool2d", "kernel_size": 4}, {"type": "Flatten"}, {"type": "Linear", "out_features": 10}]})";

struct ColourData {
  wt::ImageSet train, test;
  ColourData() {
    const std::string a = cifar_records(50, 7), b = cifar_records(10, 8);
    EXPECT_TRUE(wt::append_cifar10((const uint8_t*)a.data(), a.size(), "train", &train).ok());
    EXPECT_TRUE(wt::append_cifar10((const uint8_t*)b.data(), b.size(), "test", &test).ok());
  }
};

TEST(AugmentedResume, BitIdenticalAcrossThreadCountsAndRefusesOtherSettings) {
  wt::NetSpec spec;
  ASSERT_TRUE(wt::parse_spec(kColourSpec, &spec).ok());
  const ColourData d;
  auto make = [&](int threads, const wt::DataConfig& cfg) {
    wt::TrainerConfig c;
    c.seed = 3, c.batch_size = 20, c.threads = threads;
    auto t = std::make_unique<wt::Trainer>(c, spec);
    const wt::Status s = t->set_image_sets(d.train, d.test, 0, 0, cfg);
    EXPECT_TRUE(s.ok()) << s.message;
    return t;
  };
  auto unbroken = make(1, cifar_config());
  trainer_util::train(*unbroken, 7);
  auto first = make(2, cifar_config());
  trainer_util::train(*first, 4);
  const std::string file = first->save_checkpoint();
  wt::SafetensorsView v;
  ASSERT_TRUE(wt::parse_safetensors((const uint8_t*)file.data(), file.size(), true, &v).ok());
  EXPECT_EQ(v.metadata.at("data"), cifar_config().to_json());
  auto second = make(3, cifar_config());
  ASSERT_TRUE(second->load_checkpoint((const uint8_t*)file.data(), file.size()).ok());
  trainer_util::train(*second, 3);
  trainer_util::expect_same_state(unbroken->state(), second->state(), "augmented resume");
  // Without the flip: refused, saying what differs; the state is kept.
  wt::DataConfig other = cifar_config();
  other.hflip = false;
  auto third = make(1, other);
  const wt::TrainState before = third->state();
  const wt::Status s = third->load_checkpoint((const uint8_t*)file.data(), file.size());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("random horizontal flip but the loaded data uses normalize"), std::string::npos) << s.message;
  trainer_util::expect_same_state(before, third->state(), "refused");
  // The augmentation really changes the batches: a run without it differs.
  auto plain = make(1, wt::DataConfig());
  trainer_util::train(*plain, 7);
  EXPECT_NE(plain->state().step_loss, unbroken->state().step_loss);
}

}  // namespace
