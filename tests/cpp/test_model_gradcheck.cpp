// The planned network (src/core/network.h) of seed-like specs against the
// double-precision reference model composed of reference.h's layers (whose
// gradients test_layers_gradcheck checks against finite differences): logits, loss
// and every parameter gradient. (test_property.cpp covers random specs.)
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/trainer.h"
#include "reference.h"

namespace {

using Vec = std::vector<double>;

struct Inputs {
  std::vector<float> params, x;
  std::vector<uint8_t> labels;
};

wt::NetSpec net_spec(const ref::CnnSpec& m) {
  wt::NetSpec s;
  const wt::Status st = wt::parse_spec(m.spec_json(), &s);
  EXPECT_TRUE(st.ok()) << st.message;
  return s;
}

Inputs make_inputs(const ref::CnnSpec& m, int N, uint64_t seed) {
  Inputs in;
  wt::TrainerConfig c;
  c.seed = seed;
  in.params = wt::Trainer(c, net_spec(m)).state().params;  // PyTorch's default init: realistic scales
  EXPECT_EQ(in.params.size(), m.num_params);
  ref::Rng rng(seed);
  in.x.resize((size_t)N * m.in_c * m.in_h * m.in_w);
  for (float& v : in.x) v = (float)rng.below(256) / 255.f;  // like ToTensor() pixels
  in.labels.resize(N);
  for (uint8_t& l : in.labels) l = (uint8_t)rng.below(m.classes);
  return in;
}

// Compares the trainer's forward_backward on spec m with N images against the reference.
void compare_model(const ref::CnnSpec& m, int N, uint64_t seed) {
  const Inputs in = make_inputs(m, N, seed);
  wt::TrainerConfig c;
  c.seed = seed;
  wt::Trainer t(c, net_spec(m));
  ASSERT_EQ(t.state().params, in.params);
  std::fill(t.grads().begin(), t.grads().end(), 5.f);  // must be reset, not accumulated onto
  std::vector<float> logits_f((size_t)N * m.classes, NAN);
  const float loss_f = t.forward_backward(in.x.data(), in.labels.data(), N, logits_f.data());

  const Vec pd(in.params.begin(), in.params.end()), xd(in.x.begin(), in.x.end());
  Vec gd(m.num_params, 0.0), logits((size_t)N * m.classes);
  const double loss = ref::model_forward_backward<double>(m, pd.data(), gd.data(), xd.data(),
                                                          in.labels.data(), N, logits.data());
  EXPECT_NEAR(loss_f, loss, 1e-5 * loss) << m.arch;
  ref::expect_close(m.arch + " logits", logits_f.data(), logits.data(), logits.size(), 1e-4);
  for (const wt::ParamSpec& p : m.params)
    ref::expect_close(m.arch + " grad " + p.name, t.grads().data() + p.offset, gd.data() + p.offset,
                      p.size, 1e-4);

  // The eval-mode forward gives the same logits bit for bit (no BatchNorm, no Dropout).
  std::vector<float> logits_e(logits_f.size(), NAN);
  t.eval_logits(in.x.data(), N, logits_e.data());
  EXPECT_EQ(0, std::memcmp(logits_e.data(), logits_f.data(), sizeof(float) * logits_f.size()));
}

TEST(ModelVsReference, SeedCnnThreeImages) {
  const ref::CnnSpec m = ref::seed_cnn();
  ASSERT_EQ(m.num_params, 9098u);
  ASSERT_EQ(m.flat, 784);
  compare_model(m, 3, 41);
}

TEST(ModelVsReference, SeedCnnOneImageAndFullChunk) {
  const ref::CnnSpec m = ref::seed_cnn();
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
  const ref::CnnSpec m = ref::seed_cnn();
  ASSERT_EQ(tr.spec().num_params, m.num_params);
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
