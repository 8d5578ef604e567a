// Shared pieces of the trainer tests: a small synthetic data set, a config,
// bit-for-bit state comparison, and a loop that trains across epoch ends.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/trainer.h"
#include "synthetic_data.h"

namespace trainer_util {

// 200 training images (batch 16: 12 full batches and one of 8), 40 test images.
struct Fixture {
  synth::DataSet train = synth::make_dataset(200, 1, true), test = synth::make_dataset(40, 2, true);
  void give_data(wt::Trainer& t) const {
    const wt::Status s = t.set_data(train.images, train.labels, test.images, test.labels, 0, 0);
    ASSERT_TRUE(s.ok()) << s.message;
  }
};

inline wt::TrainerConfig config(uint64_t seed) {
  wt::TrainerConfig c;
  c.seed = seed;
  c.batch_size = 16;
  c.learning_rate = 2e-3;
  c.weight_decay = 1e-4;
  return c;
}

template <typename T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Every field of the state, bit for bit (NaN history entries included).
inline void expect_same_state(const wt::TrainState& a, const wt::TrainState& b, const std::string& ctx) {
  EXPECT_TRUE(same_bytes(a.params, b.params)) << ctx << ": params";
  EXPECT_TRUE(same_bytes(a.exp_avg, b.exp_avg)) << ctx << ": exp_avg";
  EXPECT_TRUE(same_bytes(a.exp_avg_sq, b.exp_avg_sq)) << ctx << ": exp_avg_sq";
  EXPECT_TRUE(same_bytes(a.buffers, b.buffers)) << ctx << ": BatchNorm running statistics";
  EXPECT_EQ(a.counters, b.counters) << ctx << ": num_batches_tracked";
  EXPECT_EQ(a.step, b.step) << ctx;
  EXPECT_EQ(a.epoch, b.epoch) << ctx;
  EXPECT_EQ(a.epoch_step, b.epoch_step) << ctx;
  EXPECT_TRUE(same_bytes(a.step_loss, b.step_loss)) << ctx << ": step_loss";
  EXPECT_TRUE(same_bytes(a.epoch_loss, b.epoch_loss)) << ctx << ": epoch_loss";
  EXPECT_TRUE(same_bytes(a.epoch_test_loss, b.epoch_test_loss)) << ctx << ": epoch_test_loss";
  EXPECT_TRUE(same_bytes(a.epoch_test_accuracy, b.epoch_test_accuracy)) << ctx << ": epoch_test_accuracy";
  EXPECT_EQ(a.train_fingerprint, b.train_fingerprint) << ctx;
  EXPECT_EQ(a.train_count, b.train_count) << ctx;
  EXPECT_EQ(a.config.seed, b.config.seed) << ctx;
  EXPECT_EQ(a.config.batch_size, b.config.batch_size) << ctx;
  EXPECT_EQ(0, memcmp(&a.config.learning_rate, &b.config.learning_rate, sizeof(double))) << ctx;
  EXPECT_EQ(0, memcmp(&a.config.beta1, &b.config.beta1, sizeof(double))) << ctx;
  EXPECT_EQ(0, memcmp(&a.config.beta2, &b.config.beta2, sizeof(double))) << ctx;
  EXPECT_EQ(0, memcmp(&a.config.eps, &b.config.eps, sizeof(double))) << ctx;
  EXPECT_EQ(0, memcmp(&a.config.weight_decay, &b.config.weight_decay, sizeof(double))) << ctx;
}

// Trains `steps` steps, across epoch ends (train_steps stops at each).
inline void train(wt::Trainer& t, int steps) {
  for (int done = 0; done < steps;) {
    const wt::StepsResult r = t.train_steps(steps - done, nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status.message;
    ASSERT_GT(r.steps, 0);
    done += r.steps;
  }
}

}  // namespace trainer_util
