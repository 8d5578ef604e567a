// A training step does no heap allocation (issue 6): every buffer is sized when the
// data or the batch size is set. Counted by replacing the global operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/trainer.h"
#include "synthetic_data.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

TEST(NoAlloc, TrainingStepsDoNotAllocate) {
  for (int threads : {1, 2}) {
    wt::TrainerConfig cfg;
    cfg.batch_size = 40;  // 300 images: 8 steps per epoch, the last one partial
    cfg.threads = threads;
    wt::Trainer t(cfg);
    const auto data = synth::make_dataset(300, 7, /*learnable=*/true);
    ASSERT_TRUE(t.set_data(data.images, data.labels, data.images, data.labels, 0, 0).ok());
    g_allocations = 0;
    g_counting = true;
    int done = 0;
    while (done < 20) done += t.train_steps(20 - done, nullptr).steps;  // crosses 2 epoch ends
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0) << "heap allocations during 20 training steps, threads=" << threads;
  }
}

// Any spec: BatchNorm's phases and Dropout's masks allocate nothing either.
TEST(NoAlloc, EveryPresetTrainsWithoutAllocating) {
  for (const std::string& name : wt::preset_names()) {
    wt::NetSpec spec;
    ASSERT_TRUE(wt::preset_spec(name, &spec).ok());
    const wt::Shape& in = spec.input;
    wt::SplitMix64 rng(3);
    std::string px((size_t)100 * in.numel(), '\0'), lb(100, '\0');
    for (char& c : px) c = (char)rng.below(256);
    for (char& c : lb) c = (char)rng.below(10);
    const std::string images = in.c == 1 ? synth::idx_file({100, (uint32_t)in.h, (uint32_t)in.w}, px)
                                         : synth::idx_file({100, (uint32_t)in.c, (uint32_t)in.h, (uint32_t)in.w}, px);
    const std::string labels = synth::idx_file({100}, lb);
    for (int threads : {1, 2}) {
      wt::TrainerConfig cfg;
      cfg.batch_size = 40;  // 3 steps per epoch, the last one partial
      cfg.threads = threads;
      wt::Trainer t(cfg, spec);
      ASSERT_TRUE(t.set_data(images, labels, images, labels, 0, 0).ok());
      g_allocations = 0;
      g_counting = true;
      int done = 0;
      while (done < 7) done += t.train_steps(7 - done, nullptr).steps;  // crosses 2 epoch ends
      g_counting = false;
      EXPECT_EQ(g_allocations.load(), 0) << name << ": heap allocations during 7 training steps, threads=" << threads;
    }
  }
}

// The data pipeline (normalization, random crop, flip on xtensor views) allocates
// nothing per image either.
TEST(NoAlloc, AugmentedColourDataDoesNotAllocate) {
  wt::NetSpec spec;
  ASSERT_TRUE(wt::parse_spec(R"({"input": [3, 32, 32], "layers": [{"type": "Flatten"},
      {"type": "Linear", "out_features": 10}]})", &spec).ok());
  wt::SplitMix64 rng(4);
  std::string rec(60 * 3073, '\0');
  for (size_t i = 0; i < rec.size(); ++i) rec[i] = (char)(i % 3073 == 0 ? rng.below(10) : rng.below(256));
  wt::ImageSet train;
  ASSERT_TRUE(wt::append_cifar10((const uint8_t*)rec.data(), rec.size(), "train", &train).ok());
  wt::DataConfig cfg;
  cfg.mean = {0.5f, 0.4f, 0.3f}, cfg.std = {0.2f, 0.25f, 0.3f}, cfg.crop_padding = 4, cfg.hflip = true;
  wt::TrainerConfig c;
  c.batch_size = 16;
  wt::Trainer t(c, spec);
  ASSERT_TRUE(t.set_image_sets(train, train, 0, 0, cfg).ok());
  g_allocations = 0;
  g_counting = true;
  int done = 0;
  while (done < 6) done += t.train_steps(6 - done, nullptr).steps;
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0) << "heap allocations during 6 augmented steps";
}
