// Results do not depend on the number of threads (fixed chunks, fixed reduction order).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "core/trainer.h"

namespace {
std::string idx_bytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  std::string s = {0, 0, 8, (char)dims.size()};
  for (uint32_t d : dims) {
    s.push_back((char)(d >> 24)); s.push_back((char)(d >> 16)); s.push_back((char)(d >> 8)); s.push_back((char)d);
  }
  s.append((const char*)data.data(), data.size());
  return s;
}
}  // namespace

TEST(Threads, AnyThreadCountGivesBitIdenticalTraining) {
  const uint32_t n = 300;
  std::mt19937 rng(1);
  std::vector<uint8_t> px(n * 784), lb(n);
  for (auto& p : px) p = (uint8_t)(rng() & 0xFF);
  for (uint32_t i = 0; i < n; ++i) lb[i] = (uint8_t)(i % 10);
  std::vector<std::vector<float>> params;
  for (int threads : {1, 2, 3, 4}) {
    wt::TrainerConfig cfg;
    cfg.threads = threads;
    cfg.batch_size = 50;  // 4 chunks of 16, 16, 16, 2
    wt::Trainer t(cfg);
    ASSERT_TRUE(t.set_data(idx_bytes({n, 28, 28}, px), idx_bytes({n}, lb), idx_bytes({n, 28, 28}, px),
                           idx_bytes({n}, lb), 0, 0).ok());
    int done = 0;
    while (done < 15) done += t.train_steps(15 - done, nullptr).steps;
    params.push_back(t.state().params);
    params.back().insert(params.back().end(), t.state().step_loss.begin(), t.state().step_loss.end());
  }
  for (size_t i = 1; i < params.size(); ++i)
    EXPECT_EQ(0, std::memcmp(params[i].data(), params[0].data(), params[0].size() * sizeof(float)))
        << "threads run " << i << " differs from 1 thread";
}
