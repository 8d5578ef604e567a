// The production model (src/core/model.h) against the double-precision reference
// model composed of reference.h's layers (whose gradients test_layers_gradcheck
// checks against finite differences): logits, loss and every parameter gradient.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/model.h"
#include "core/trainer.h"
#include "reference.h"

namespace {

using Vec = std::vector<double>;

struct Inputs {
  std::vector<float> params, x;
  std::vector<uint8_t> labels;
};

Inputs make_inputs(const wt::ModelSpec& m, int N, uint64_t seed) {
  Inputs in;
  in.params.resize(m.num_params);
  wt::init_params(m, in.params.data(), seed);  // PyTorch's default init: realistic scales
  ref::Rng rng(seed);
  in.x.resize((size_t)N * m.in_c * m.in_h * m.in_w);
  for (float& v : in.x) v = (float)rng.below(256) / 255.f;  // like ToTensor() pixels
  in.labels.resize(N);
  for (uint8_t& l : in.labels) l = (uint8_t)rng.below(m.classes);
  return in;
}

// Compares model_forward_backward on spec m with N images against the reference.
void compare_model(const wt::ModelSpec& m, int N, uint64_t seed) {
  const Inputs in = make_inputs(m, N, seed);
  wt::Workspace ws;
  ws.reserve(m, N);
  std::memcpy(ws.x.data(), in.x.data(), sizeof(float) * in.x.size());
  // Gradients accumulate: start from nonzero values.
  std::vector<float> g0(m.num_params);
  ref::Rng rng(seed + 1);
  rng.fill(g0, -1e-3f, 1e-3f);
  std::vector<float> grads = g0;
  const double loss_sum = wt::model_forward_backward(m, ws, in.params.data(), grads.data(),
                                                     in.labels.data(), N, 1.f / (float)N);

  const Vec pd(in.params.begin(), in.params.end()), xd(in.x.begin(), in.x.end());
  Vec gd(g0.begin(), g0.end()), logits((size_t)N * m.classes);
  const double loss = ref::model_forward_backward<double>(m, pd.data(), gd.data(), xd.data(),
                                                          in.labels.data(), N, logits.data());
  EXPECT_NEAR(loss_sum / N, loss, 1e-5 * loss) << m.arch << ": model_forward_backward returns the loss SUM";
  ref::expect_close(m.arch + " logits", ws.logits.data(), logits.data(), logits.size(), 1e-4);
  for (const wt::ParamSpec& p : m.params)
    ref::expect_close(m.arch + " grad " + p.name, grads.data() + p.offset, gd.data() + p.offset,
                      p.size, 1e-4);
  // The gradient really moved away from its starting values.
  size_t changed = 0;
  for (size_t i = 0; i < grads.size(); ++i) changed += grads[i] != g0[i];
  EXPECT_GT(changed, grads.size() / 2);

  // model_forward alone gives the same logits bit for bit.
  wt::Workspace ws2;
  ws2.reserve(m, N);
  std::memcpy(ws2.x.data(), in.x.data(), sizeof(float) * in.x.size());
  wt::model_forward(m, ws2, in.params.data(), N);
  EXPECT_EQ(0, std::memcmp(ws2.logits.data(), ws.logits.data(), sizeof(float) * N * m.classes));
}

TEST(ModelVsReference, SeedCnnThreeImages) {
  const wt::ModelSpec m = wt::ModelSpec::SeedCnn();
  ASSERT_EQ(m.num_params, 9098u);
  ASSERT_EQ(m.flat, 784);
  compare_model(m, 3, 41);
}

TEST(ModelVsReference, SeedCnnOneImageAndFullChunk) {
  const wt::ModelSpec m = wt::ModelSpec::SeedCnn();
  compare_model(m, 1, 42);
  compare_model(m, wt::kChunk, 43);
}

TEST(ModelVsReference, SmallCnn) {
  compare_model(ref::small_cnn(8, 2, 3, 4), 3, 44);
  compare_model(ref::small_cnn(12, 3, 5, 10), 4, 45);
}

// Trainer::forward_backward: more images than one chunk (16), gradients of the mean.
TEST(ModelVsReference, TrainerForwardBackwardAcrossChunks) {
  wt::TrainerConfig cfg;
  cfg.seed = 46;
  wt::Trainer tr(cfg);
  const wt::ModelSpec& m = tr.spec();
  const int N = 20;
  const Inputs in = make_inputs(m, N, 46);
  std::vector<float> logits((size_t)N * m.classes, NAN);
  std::fill(tr.grads().begin(), tr.grads().end(), 5.f);  // must be reset, not accumulated onto
  const float loss = tr.forward_backward(in.x.data(), in.labels.data(), N, logits.data());
  const Vec pd(tr.state().params.begin(), tr.state().params.end()), xd(in.x.begin(), in.x.end());
  Vec gd(m.num_params, 0.0), logits_r(logits.size());
  const double loss_r = ref::model_forward_backward<double>(m, pd.data(), gd.data(), xd.data(),
                                                            in.labels.data(), N, logits_r.data());
  EXPECT_NEAR(loss, loss_r, 1e-5 * loss_r);
  ref::expect_close("trainer logits", logits.data(), logits_r.data(), logits.size(), 1e-4);
  for (const wt::ParamSpec& p : m.params)
    ref::expect_close("trainer grad " + p.name, tr.grads().data() + p.offset, gd.data() + p.offset,
                      p.size, 1e-4);
}

}  // namespace
