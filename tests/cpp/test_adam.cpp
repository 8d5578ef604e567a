// Adam against steps computed by hand from PyTorch's formula (torch.optim.Adam):
//   g = grad + wd * p
//   m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The arithmetic is written out below with the numbers it produces.
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "core/trainer.h"
#include "kernels/kernels.h"
#include "reference.h"

namespace {

constexpr double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
// Float results against double hand values: a few float roundings of ~|p|
// (an exact-to-PyTorch float implementation lands within ~5e-8 here).
constexpr double kTol = 3e-7;

// The bias corrections the caller passes, in double like PyTorch's Python scalars.
void adam_kernel_step(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& m,
                      std::vector<float>& v, int t, double wd) {
  const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
  // b1, b2 passed as the doubles they are (PyTorch's Python floats); they narrow
  // to float for the current signature.
  wt::adam_update_f32(p.data(), g.data(), m.data(), v.data(), p.size(), b1, b2, (float)eps,
                      (float)wd, (float)(-lr / bc1), (float)std::sqrt(bc2));
}

// Element 0: constant gradient 0.5. Then m_t = (1 - b1^t) * 0.5 and v_t = (1 - b2^t) * 0.25,
//   so every step moves p by exactly lr * 0.5 / (0.5 + eps).
// Element 1: gradients 1, -1, 2.
//   t=1: m = 0.1*1 = 0.1             v = 0.001*1 = 0.001
//        bc1 = 0.1, bc2 = 0.001      p -= (0.1/0.1) * 0.1 / (sqrt(0.001)/sqrt(0.001) + eps) = 0.1/(1+eps)
//   t=2: m = 0.9*0.1 + 0.1*(-1) = -0.01      v = 0.999*0.001 + 0.001*1 = 0.001999
//        bc1 = 1 - 0.81 = 0.19, bc2 = 1 - 0.998001 = 0.001999
//        p -= (0.1/0.19) * (-0.01) / (sqrt(0.001999)/sqrt(0.001999) + eps)   (p grows by 0.00526...)
//   t=3: m = 0.9*(-0.01) + 0.1*2 = 0.191     v = 0.999*0.001999 + 0.001*4 = 0.005997001
//        bc1 = 1 - 0.729 = 0.271, bc2 = 1 - 0.997002999 = 0.002997001
//        p -= (0.1/0.271) * 0.191 / (sqrt(0.005997001)/sqrt(0.002997001) + eps)
// Element 2: gradient 0: m = v = 0 and the update is 0 / (0 + eps) = 0: p stays 2.
struct Expected {
  double p[3], m[3], v[3];
};
Expected hand_values_no_decay() {
  Expected e;
  e.p[0] = 1.0 - 3 * (0.1 * 0.5 / (0.5 + eps));
  e.m[0] = (1 - 0.729) * 0.5;
  e.v[0] = (1 - 0.997002999) * 0.25;
  double p1 = -0.5;
  p1 -= (0.1 / 0.1) * 0.1 / (std::sqrt(0.001) / std::sqrt(0.001) + eps);
  p1 -= (0.1 / 0.19) * (-0.01) / (std::sqrt(0.001999) / std::sqrt(0.001999) + eps);
  p1 -= (0.1 / 0.271) * 0.191 / (std::sqrt(0.005997001) / std::sqrt(0.002997001) + eps);
  e.p[1] = p1;  // = -0.5 - 0.1 + 0.0052632 - 0.0498242 = -0.6445610
  e.m[1] = 0.191;
  e.v[1] = 0.005997001;
  e.p[2] = 2.0, e.m[2] = 0, e.v[2] = 0;
  return e;
}
const float kGrads[3][3] = {{0.5f, 1.f, 0.f}, {0.5f, -1.f, 0.f}, {0.5f, 2.f, 0.f}};  // [step][elem]

void expect_state(const Expected& e, const float* p, const float* m, const float* v) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(p[i], e.p[i], kTol) << "param " << i;
    EXPECT_NEAR(m[i], e.m[i], 2e-7 * std::fabs(e.m[i]) + 1e-12) << "exp_avg " << i;
    EXPECT_NEAR(v[i], e.v[i], std::fabs(e.v[i]) * 1e-6 + 1e-12) << "exp_avg_sq " << i;
  }
}

TEST(Adam, ThreeStepsByHandKernel) {
  const Expected e = hand_values_no_decay();
  EXPECT_NEAR(e.p[1], -0.5 - 0.1 + 0.1 / 19 - (0.1 / 0.271) * 0.191 / std::sqrt(0.005997001 / 0.002997001), 1e-8);
  std::vector<float> p = {1.f, -0.5f, 2.f}, m(3, 0.f), v(3, 0.f);
  for (int t = 1; t <= 3; ++t)
    adam_kernel_step(p, std::vector<float>(kGrads[t - 1], kGrads[t - 1] + 3), m, v, t, 0.0);
  expect_state(e, p.data(), m.data(), v.data());
  EXPECT_EQ(p[2], 2.f) << "a zero gradient leaves the parameter exactly unchanged";
}

TEST(Adam, ThreeStepsByHandThroughTrainer) {
  wt::TrainerConfig cfg;
  cfg.learning_rate = lr;  // beta1, beta2, eps: the defaults 0.9, 0.999, 1e-8
  wt::Trainer tr(cfg);
  wt::TrainState& st = tr.mutable_state();
  const std::vector<float> before = st.params;
  st.params[0] = 1.f, st.params[1] = -0.5f, st.params[2] = 2.f;
  for (int t = 1; t <= 3; ++t) {
    std::fill(tr.grads().begin(), tr.grads().end(), 0.f);
    for (int i = 0; i < 3; ++i) tr.grads()[i] = kGrads[t - 1][i];
    tr.adam_step();
    EXPECT_EQ(tr.state().step, (uint64_t)t);
  }
  expect_state(hand_values_no_decay(), st.params.data(), st.exp_avg.data(), st.exp_avg_sq.data());
  // Every other parameter had a zero gradient: unchanged, moments zero.
  for (size_t i = 3; i < st.params.size(); ++i) {
    ASSERT_EQ(st.params[i], before[i]) << i;
    ASSERT_EQ(st.exp_avg[i], 0.f) << i;
    ASSERT_EQ(st.exp_avg_sq[i], 0.f) << i;
  }
}

// weight_decay = 0.1 (L2 added to the gradient, torch.optim.Adam's weight_decay):
// Element 0: p = 1, grad 0.5 each step.
//   t=1: g = 0.5 + 0.1*1 = 0.6     m = 0.06   v = 0.00036
//        p1 = 1 - (0.1/0.1) * 0.06 / (sqrt(0.00036)/sqrt(0.001) + eps) = 1 - 0.1*0.6/(0.6+eps) ~ 0.9
//   t=2: g = 0.5 + 0.1*p1 (~0.59)  m = 0.9*0.06 + 0.1*g   v = 0.999*0.00036 + 0.001*g^2
//        p2 = p1 - (0.1/0.19) * m / (sqrt(v)/sqrt(0.001999) + eps)
// Element 1: p = 2, grad 0: decay alone moves it.
//   t=1: g = 0.2   p1 = 2 - 0.1*0.2/(0.2+eps) ~ 1.9
//   t=2: g = 0.1*p1   m = 0.9*0.02 + 0.1*g   v = 0.999*0.00004 + 0.001*g^2
TEST(Adam, WeightDecayByHand) {
  double p0 = 1.0, m0 = 0, v0 = 0, p1 = 2.0, m1 = 0, v1 = 0;
  {  // t = 1
    const double g0 = 0.5 + 0.1 * p0, g1 = 0.0 + 0.1 * p1;  // 0.6, 0.2
    m0 = 0.1 * g0, v0 = 0.001 * g0 * g0;                     // 0.06, 0.00036
    m1 = 0.1 * g1, v1 = 0.001 * g1 * g1;                     // 0.02, 0.00004
    p0 -= (0.1 / 0.1) * m0 / (std::sqrt(v0) / std::sqrt(0.001) + eps);
    p1 -= (0.1 / 0.1) * m1 / (std::sqrt(v1) / std::sqrt(0.001) + eps);
  }
  EXPECT_NEAR(p0, 0.9, 1e-7);
  EXPECT_NEAR(p1, 1.9, 1e-7);
  {  // t = 2
    const double g0 = 0.5 + 0.1 * p0, g1 = 0.1 * p1;
    m0 = 0.9 * m0 + 0.1 * g0, v0 = 0.999 * v0 + 0.001 * g0 * g0;
    m1 = 0.9 * m1 + 0.1 * g1, v1 = 0.999 * v1 + 0.001 * g1 * g1;
    p0 -= (0.1 / 0.19) * m0 / (std::sqrt(v0) / std::sqrt(0.001999) + eps);
    p1 -= (0.1 / 0.19) * m1 / (std::sqrt(v1) / std::sqrt(0.001999) + eps);
  }
  std::vector<float> p = {1.f, 2.f}, m(2, 0.f), v(2, 0.f);
  const std::vector<float> g = {0.5f, 0.f};
  adam_kernel_step(p, g, m, v, 1, 0.1);
  adam_kernel_step(p, g, m, v, 2, 0.1);
  EXPECT_NEAR(p[0], p0, kTol);
  EXPECT_NEAR(p[1], p1, kTol);
  EXPECT_NEAR(m[0], m0, 2e-7 * m0);
  EXPECT_NEAR(m[1], m1, 2e-7 * m1);
  EXPECT_NEAR(v[0], v0, v0 * 1e-6);
  EXPECT_NEAR(v[1], v1, v1 * 1e-6);

  // The same through the trainer's config.
  wt::TrainerConfig cfg;
  cfg.learning_rate = lr;
  cfg.weight_decay = 0.1;
  wt::Trainer tr(cfg);
  wt::TrainState& st = tr.mutable_state();
  st.params[5] = 1.f, st.params[6] = 2.f;
  std::fill(tr.grads().begin(), tr.grads().end(), 0.f);
  tr.grads()[5] = 0.5f;
  tr.adam_step();
  tr.adam_step();
  EXPECT_NEAR(st.params[5], p0, kTol);
  EXPECT_NEAR(st.params[6], p1, kTol);
}

// PyTorch computes 1 - beta in Python double and hands the kernel float(1 - beta):
// float(1 - 0.999) = 0.001f. Computing 1.f - float(0.999) instead gives
// 0.00099998713f, 1.3e-5 too small, which shrinks every exp_avg_sq by that
// factor while the bias correction (double) does not: the update drifts ~6e-6
// relative from PyTorch's on every step. One step from zero moments with g = 1:
//   exp_avg    = 0 * 0.9f   + 1 * float(1 - 0.9)   = 0.1f
//   exp_avg_sq = 0 * 0.999f + 1 * 1 * float(1 - 0.999) = 0.001f
TEST(Adam, OneMinusBetaIsComputedInDoubleLikePyTorch) {
  wt::Trainer tr(wt::TrainerConfig{});
  std::fill(tr.grads().begin(), tr.grads().end(), 1.f);
  tr.adam_step();
  EXPECT_EQ(tr.state().exp_avg[0], (float)(1.0 - 0.9))
      << "exp_avg after one step of g = 1: (1 - beta1) was not float(1 - 0.9)";
  EXPECT_EQ(tr.state().exp_avg_sq[0], (float)(1.0 - 0.999))
      << "exp_avg_sq after one step of g = 1: (1 - beta2) was not float(1 - 0.999)";
}

// All 9,098 parameters (9098 = 8 * 1137 + 2: vector body and tail), 5 steps with
// random gradients and non-default hyperparameters, against the formula in double.
TEST(Adam, TrainerMatchesDoubleFormulaOnAllParameters) {
  wt::TrainerConfig cfg;
  cfg.seed = 3;
  cfg.learning_rate = 3e-3;
  cfg.beta1 = 0.8;
  cfg.beta2 = 0.99;
  cfg.eps = 1e-6;
  cfg.weight_decay = 1e-2;
  wt::Trainer tr(cfg);
  const size_t n = tr.state().params.size();
  std::vector<double> p(tr.state().params.begin(), tr.state().params.end()), m(n, 0), v(n, 0);
  ref::Rng rng(9);
  for (int t = 1; t <= 5; ++t) {
    for (float& g : tr.grads()) g = rng.uniform(-0.1f, 0.1f);
    for (size_t i = 0; i < n; ++i) {
      const double g = tr.grads()[i] + cfg.weight_decay * p[i];
      m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * g;
      v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * g * g;
      p[i] -= cfg.learning_rate / (1 - std::pow(cfg.beta1, t)) * m[i] /
              (std::sqrt(v[i]) / std::sqrt(1 - std::pow(cfg.beta2, t)) + cfg.eps);
    }
    tr.adam_step();
  }
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i)
    if (!(std::fabs(tr.state().params[i] - p[i]) < 1e-6) && ++bad <= 5)
      ADD_FAILURE() << "param " << i << ": expected " << p[i] << " got " << tr.state().params[i];
  EXPECT_EQ(bad, 0u);
}

}  // namespace
