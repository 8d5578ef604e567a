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
