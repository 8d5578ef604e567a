// Trainer determinism and data order (src/core/trainer.h, rng.h): a resumed run is
// bit-identical to one that never stopped; an epoch visits every image once,
// including the partial last batch; seeds change the order; the loss goes down.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/trainer.h"
#include "kernels/kernels.h"
#include "synthetic_data.h"
#include "trainer_util.h"

namespace {

using namespace trainer_util;

constexpr int kTotal = 30;  // 2 epochs of 13 steps + 4

TEST(Trainer, StepsPerEpochIncludesPartialLastBatch) {
  Fixture fx;
  wt::Trainer t(config(1));
  fx.give_data(t);
  EXPECT_EQ(t.steps_per_epoch(), 13u) << "ceil(200 / 16)";
  std::vector<float> losses;
  wt::StepsResult r = t.train_steps(100, &losses);
  ASSERT_TRUE(r.status.ok()) << r.status.message;
  EXPECT_EQ(r.steps, 13) << "train_steps stops at the epoch end";
  EXPECT_TRUE(r.epoch_ended);
  EXPECT_EQ(t.state().step, 13u);
  EXPECT_EQ(t.state().epoch, 1u);
  EXPECT_EQ(t.state().epoch_step, 0u);
  ASSERT_EQ(losses.size(), 13u);
  EXPECT_TRUE(same_bytes(losses, t.state().step_loss));
  double sum = 0;
  for (float l : losses) sum += l;
  EXPECT_EQ(r.epoch_loss, (float)(sum / 13));
  ASSERT_EQ(t.state().epoch_loss.size(), 1u);
  EXPECT_EQ(t.state().epoch_loss[0], r.epoch_loss);
  EXPECT_TRUE(std::isnan(t.state().epoch_test_loss[0]));
  r = t.train_steps(5, nullptr);
  EXPECT_EQ(r.steps, 5);
  EXPECT_FALSE(r.epoch_ended);
  EXPECT_EQ(t.state().epoch_step, 5u);
}

// Replays steps by hand from the documented data order: batch b of epoch e holds
// images perm[16b .. 16b+16) of epoch_permutation(seed, e); the last holds 8.
TEST(Trainer, BatchesFollowThePermutationIncludingTheLastPartialOne) {
  Fixture fx;
  const uint64_t seed = 3;
  wt::Trainer a(config(seed)), b(config(seed));
  fx.give_data(a);
  fx.give_data(b);
  std::vector<uint32_t> perm;
  for (uint32_t e = 0; e < 2; ++e) {
    wt::epoch_permutation(perm, 200, seed, e);
    std::vector<uint32_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (uint32_t i = 0; i < 200; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation";
    for (uint32_t s = 0; s < 13; ++s) {
      const int n = std::min<int>(16, 200 - 16 * s);
      if (s == 12) {
        EXPECT_EQ(n, 8);
      }
      std::vector<float> x((size_t)n * 784);
      std::vector<uint8_t> labels(n);
      for (int i = 0; i < n; ++i) {
        const uint32_t k = perm[16 * s + i];
        wt::u8_to_f32_div(x.data() + (size_t)i * 784, fx.train.pixels.data() + (size_t)k * 784, 784, 255.f);
        labels[i] = fx.train.label_values[k];
      }
      const float loss = b.forward_backward(x.data(), labels.data(), n, nullptr);
      b.adam_step();
      train(a, 1);
      ASSERT_EQ(a.state().step_loss.back(), loss) << "epoch " << e << " step " << s;
      ASSERT_TRUE(same_bytes(a.state().params, b.state().params)) << "epoch " << e << " step " << s;
      ASSERT_TRUE(same_bytes(a.state().exp_avg_sq, b.state().exp_avg_sq)) << "epoch " << e << " step " << s;
    }
  }
  EXPECT_EQ(a.state().epoch, 2u);
}

// Training kTotal steps straight equals training k, saving, loading into a new
// trainer and training the rest -- for k inside epochs, at the partial batch
// and at epoch boundaries.
TEST(Trainer, ResumeIsBitIdentical) {
  Fixture fx;
  wt::Trainer straight(config(11));
  fx.give_data(straight);
  train(straight, kTotal);
  ASSERT_EQ(straight.state().epoch, 2u);
  ASSERT_EQ(straight.state().epoch_step, 4u);
  for (int k : {1, 7, 12, 13, 14, 25, 26, 27, 29}) {
    const std::string ctx = "resumed after " + std::to_string(k) + " steps";
    std::string ckpt;
    {
      wt::Trainer first(config(11));
      fx.give_data(first);
      train(first, k);
      ckpt = first.save_checkpoint();
    }
    // The new trainer starts from another seed and batch size: all of it comes
    // from the checkpoint.
    wt::TrainerConfig other = config(12345);
    other.batch_size = (k % 2) ? 64 : 5;
    wt::Trainer second(other);
    fx.give_data(second);
    const wt::Status s = second.load_checkpoint((const uint8_t*)ckpt.data(), ckpt.size());
    ASSERT_TRUE(s.ok()) << ctx << ": " << s.message;
    EXPECT_EQ(second.state().step, (uint64_t)k) << ctx;
    train(second, kTotal - k);
    expect_same_state(straight.state(), second.state(), ctx);
    if (HasFailure()) return;
  }
}

// Loading an older checkpoint into the same trainer (a rollback, possibly to an
// earlier epoch) also replays exactly: nothing cached survives the load.
TEST(Trainer, RollbackIntoSameTrainerIsBitIdentical) {
  Fixture fx;
  wt::Trainer straight(config(21));
  fx.give_data(straight);
  train(straight, kTotal);
  wt::Trainer t(config(21));
  fx.give_data(t);
  train(t, 10);
  const std::string ckpt = t.save_checkpoint();
  train(t, 9);  // into epoch 1: the cached permutation is epoch 1's
  ASSERT_TRUE(t.load_checkpoint((const uint8_t*)ckpt.data(), ckpt.size()).ok());
  EXPECT_EQ(t.state().step, 10u);
  EXPECT_EQ(t.state().step_loss.size(), 10u);
  train(t, kTotal - 10);
  expect_same_state(straight.state(), t.state(), "after rollback");
}

TEST(Trainer, SameSeedSameRunAcrossInstances) {
  Fixture fx;
  wt::Trainer a(config(31)), b(config(31));
  fx.give_data(a);
  fx.give_data(b);
  train(a, 15);
  for (int i = 0; i < 15; ++i) train(b, 1);  // one step per call
  expect_same_state(a.state(), b.state(), "same seed, different call pattern");
}

TEST(Trainer, DifferentSeedsGiveDifferentOrders) {
  std::vector<uint32_t> p0, p1, p0e1;
  wt::epoch_permutation(p0, 200, 0, 0);
  wt::epoch_permutation(p1, 200, 1, 0);
  wt::epoch_permutation(p0e1, 200, 0, 1);
  EXPECT_NE(p0, p1) << "seed changes the order";
  EXPECT_NE(p0, p0e1) << "each epoch has its own order";
  int fixed = 0;
  for (uint32_t i = 0; i < 200; ++i) fixed += p0[i] == i;
  EXPECT_LT(fixed, 10) << "the order is shuffled";
  std::vector<uint32_t> again;
  wt::epoch_permutation(again, 200, 0, 0);
  EXPECT_EQ(p0, again);

  // Same parameters, different seeds: the first batches differ, so the losses do.
  Fixture fx;
  wt::Trainer a(config(0)), b(config(1));
  fx.give_data(a);
  fx.give_data(b);
  b.mutable_state().params = a.state().params;
  train(a, 2);
  train(b, 2);
  EXPECT_NE(a.state().step_loss[0], b.state().step_loss[0]);
  EXPECT_FALSE(same_bytes(a.state().params, b.state().params));
  // Different seeds also initialise differently.
  EXPECT_FALSE(same_bytes(wt::Trainer(config(0)).state().params, wt::Trainer(config(1)).state().params));
}

TEST(Trainer, LossDecreasesOnALearnableTask) {
  Fixture fx;
  wt::TrainerConfig c = config(41);
  c.learning_rate = 3e-3;
  wt::Trainer t(c);
  fx.give_data(t);
  double loss0 = 0;
  uint32_t correct0 = 0;
  t.evaluate_range(0, t.test_count(), &loss0, &correct0);
  train(t, 13 * 6);
  const std::vector<float>& el = t.state().epoch_loss;
  ASSERT_EQ(el.size(), 6u);
  EXPECT_LT(el[5], 0.5f * el[0]) << "epoch losses " << el[0] << " ... " << el[5];
  EXPECT_LT(el[5], 1.0f);
  double loss = 0;
  uint32_t correct = 0;
  t.evaluate_range(0, t.test_count(), &loss, &correct);
  EXPECT_LT(loss / t.test_count(), 0.5 * loss0 / t.test_count());
  EXPECT_GE(correct, t.test_count() * 7 / 10) << "test accuracy " << correct << "/" << t.test_count();
}

TEST(Trainer, NonFiniteLossStopsBeforeTheUpdate) {
  Fixture fx;
  wt::Trainer t(config(51));
  fx.give_data(t);
  train(t, 2);
  wt::TrainState& st = t.mutable_state();
  st.params[t.spec().find("fc1.bias")->offset] = NAN;
  const std::vector<float> params = st.params, m = st.exp_avg;
  const wt::StepsResult r = t.train_steps(3, nullptr);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message.find("NaN at step 3"), std::string::npos) << r.status.message;
  EXPECT_EQ(r.steps, 0);
  EXPECT_EQ(t.state().step, 2u);
  EXPECT_EQ(t.state().step_loss.size(), 2u);
  EXPECT_EQ(t.state().epoch_step, 2u);
  EXPECT_TRUE(same_bytes(params, t.state().params));
  EXPECT_TRUE(same_bytes(m, t.state().exp_avg));
}

// A NaN in the first convolution's weights must surface as a NaN loss, as in
// PyTorch (torch.relu(nan) is nan). relu_forward_f32 maps NaN to 0 instead, so the
// NaN is hidden, the loss stays finite and the NaN weight trains on silently.
TEST(Trainer, NanInConvWeightsIsNotHiddenByRelu) {
  Fixture fx;
  wt::Trainer t(config(52));
  fx.give_data(t);
  t.mutable_state().params[t.spec().find("conv1.weight")->offset] = NAN;
  const wt::StepsResult r = t.train_steps(1, nullptr);
  EXPECT_FALSE(r.status.ok()) << "a NaN parameter went unnoticed: loss " << t.state().step_loss.back();
}

TEST(Trainer, TrainWithoutDataRefused) {
  wt::Trainer t(config(1));
  const wt::StepsResult r = t.train_steps(1, nullptr);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message.find("no training data"), std::string::npos);
}

}  // namespace
