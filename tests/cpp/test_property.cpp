// The property test of issue 10, section 6: random valid model specs
// (random_spec.h), each with random parameters, running statistics and a random
// batch, checked three ways:
//   1. the Eigen reference (eigen_reference.h) against central finite differences
//      of its own loss, in double, on a sample of parameters: the oracle is right;
//   2. the trainer's planned fast path against the reference: train-mode
//      forward_backward (loss, logits, every gradient tensor, the running statistics
//      after the step) and eval_logits;
//   3. the trainer's float gradient against float finite differences of its own
//      loss on a few parameters (loose: float).
//
// Float against double only agrees where both take the same branch: a ReLU input
// or a max-pool window's runner-up closer than float rounding to the kink would
// route a gradient differently. So each case draws its data until the reference
// reports every such margin above kMinMargin (eigen_reference.h, Margins); the
// count of draws is printed. Elsewhere float is held to 1e-4 of each value (with a
// floor of 1% of its tensor's scale) plus 16 float ulps of the value's magnitude,
// the size its rounding scales with (eigen_reference.h, Magnitudes), which exceeds
// the value where terms cancel. Finite differences whose step crosses a kink are
// recognized by repeating them with a 16x smaller step.
//
// A failure names the case number, its spec JSON, batch and Dropout stream, and
// the trainer's plan; each test stops after three failing cases and prints the worst
// error / allowed of each comparison with the case it came from.
//
// Environment: WT_PROPERTY_SPECS=N (default 200; scripts/wasm-tests.sh runs 50),
// WT_PROPERTY_FIRST=K (first case: `WT_PROPERTY_FIRST=K WT_PROPERTY_SPECS=1` replays
// case K), WT_TEST_VERBOSE=1 prints a line per case. The wasm runner takes
// --specs=N / --first=K instead (Emscripten's getenv does not see Node's).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/spec.h"
#include "core/trainer.h"
#include "eigen_reference.h"
#include "random_spec.h"

namespace {

// ------------------------------------------------------------------ settings

int g_specs = -1;         // --specs=N (wasm runner), else WT_PROPERTY_SPECS, else 200
long long g_first = -1;   // --first=K, else WT_PROPERTY_FIRST, else 1

int spec_count() {
  if (g_specs >= 0) return g_specs;
  const char* e = std::getenv("WT_PROPERTY_SPECS");
  return e ? std::atoi(e) : 200;
}
uint64_t first_case() {
  if (g_first >= 0) return (uint64_t)g_first;
  const char* e = std::getenv("WT_PROPERTY_FIRST");
  return e ? std::strtoull(e, nullptr, 10) : 1;
}
bool verbose() { return std::getenv("WT_TEST_VERBOSE") != nullptr; }

// Float vs double: a branch (ReLU kink, max-pool runner-up) at least this far away,
// relative to the rms of its tensor (float rounding of the activations is ~1e-7).
constexpr double kMinMargin = 1e-5;
constexpr int kMaxDraws = 40, kDrawsPerHalving = 8;

// Tolerances. Trainer (float) vs reference (double): an entry's error must stay
// below kRtol * (|reference| + kFloor * scale) + kUlps float ulps of its magnitude,
// scale = the tensor's largest reference value, magnitude = the size its float
// rounding scales with (eigen_reference.h, Magnitudes: larger than the value where
// terms cancel, e.g. the gradient of a bias in front of BatchNorm, exactly 0, or
// BatchNorm over values that share a large common part).
constexpr double kRtol = 1e-4, kFloor = 1e-2, kUlps = 16 * 0x1p-24;
constexpr double kLossRtol = 2e-6;
// Reference vs double finite differences (step h = kFdStep): |fd - g| must stay
// below kFdRtol * (|g| + kFloor * max|g|), plus the rounding of the two losses
// (8 double ulps of the loss's magnitude) over 2 h.
constexpr double kFdStep = 1e-6, kFdRtol = 1e-6;
constexpr int kFdParams = 24;  // sampled parameters per case
// Trainer vs float finite differences (step kFloatStep) on kFloatParams parameters.
constexpr double kFloatStep = 1e-3, kFloatRtol = 3e-2;
constexpr int kFloatParams = 3;

// --------------------------------------------------------------------- data

struct Rng {
  wt::SplitMix64 r;
  explicit Rng(uint64_t seed) : r(seed * 0xD1B54A32D192ED03ull + 977) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * (double)(r.next() >> 11) * 0x1p-53; }
  uint32_t below(uint32_t n) { return r.below(n); }
};

// A case: the spec, its batch and the state the trainer starts from. Values are
// float (what the trainer holds); the reference reads the same values as doubles.
struct Case {
  uint64_t id = 0;
  std::string json;
  wt::NetSpec spec;
  int n = 0;
  uint64_t seed = 0, step = 0;  // Dropout's stream
  std::vector<float> params, buffers, images;
  std::vector<uint8_t> labels;
  eref::Margins margins;
  int draws = 0;
};

// True when some BatchNorm normalizes over one value per image (BatchNorm1d, or a
// 1x1 map): PyTorch refuses to train it on a batch of one.
bool needs_two_images(const wt::NetSpec& spec) {
  for (const wt::Layer& l : spec.layers)
    if ((l.kind == wt::LayerKind::BatchNorm1d || l.kind == wt::LayerKind::BatchNorm2d) &&
        l.in.h * l.in.w == 1)
      return true;
  return false;
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Parameters on PyTorch's scales (weights uniform with variance 1/fan_in, so
// activations neither vanish nor explode through a few layers; BatchNorm's affine
// parameters around 1 and 0), running statistics around 0 and 1, inputs in [-1, 1).
void draw_data(Case& c, Rng& rng) {
  const wt::NetSpec& s = c.spec;
  c.params.assign(s.num_params, 0.f);
  for (const wt::ParamSpec& p : s.params) {
    const double bound = p.init == wt::Init::Uniform ? std::sqrt(3.0 / std::max(1, p.fan_in)) : 0.5;
    const double center = p.init == wt::Init::Ones ? 1.0 : 0.0;
    for (size_t i = 0; i < p.size; ++i) c.params[p.offset + i] = (float)(center + rng.uniform(-bound, bound));
  }
  c.buffers.assign(s.num_buffers, 0.f);
  for (const wt::BufferSpec& b : s.buffers)
    for (size_t i = 0; i < b.size; ++i)
      c.buffers[b.offset + i] = b.init == 0.f ? (float)rng.uniform(-0.5, 0.5) : (float)rng.uniform(0.5, 2.0);
  c.images.resize((size_t)c.n * s.input_size());
  for (float& v : c.images) v = (float)rng.uniform(-1, 1);
  c.labels.resize(c.n);
  for (uint8_t& l : c.labels) l = (uint8_t)rng.below(s.classes);
}

// The smallest branch margin of the reference on this case, train and eval mode.
eref::Margins margins_of(const Case& c) {
  eref::RefNet ref(c.spec);
  const std::vector<double> p = to_double(c.params), x = to_double(c.images);
  eref::Margins m;
  for (bool train : {true, false}) {
    std::vector<double> buf = to_double(c.buffers);
    ref.forward_backward(p, &buf, x.data(), c.labels.data(), c.n, train, c.seed, c.step, nullptr, nullptr);
    m.kink = std::min(m.kink, ref.margins().kink);
    m.tie = std::min(m.tie, ref.margins().tie);
  }
  return m;
}

// Case `id`: its spec (parse_spec must accept it), batch size, Dropout stream and a
// data draw that keeps clear of every branch. Large activations make a close call
// likelier, so every kDrawsPerHalving failed draws halve the batch.
::testing::AssertionResult make_case(uint64_t id, Case* c) {
  c->id = id;
  c->json = prop::random_spec_json(id);
  const wt::Status st = wt::parse_spec(c->json, &c->spec);
  if (!st.ok()) return ::testing::AssertionFailure() << "parse_spec refused a generated spec: " << st.message;
  Rng rng(id);
  c->n = 1 + (int)rng.below(40);
  if (c->n == 1 && needs_two_images(c->spec)) c->n = 2;
  c->seed = rng.r.next() >> 40;
  c->step = rng.below(3) == 0 ? 0 : rng.below(1000);
  const int n_min = needs_two_images(c->spec) ? 2 : 1;
  for (c->draws = 1; c->draws <= kMaxDraws; ++c->draws) {
    if (c->draws % kDrawsPerHalving == 0) c->n = std::max(n_min, c->n / 2);
    draw_data(*c, rng);
    c->margins = margins_of(*c);
    if (c->margins.min() >= kMinMargin) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no data draw in " << kMaxDraws
                                       << " keeps clear of the kinks and ties (smallest margin "
                                       << c->margins.min() << ")";
}

std::string case_name(const Case& c) {
  return "case " + std::to_string(c.id) + " (n=" + std::to_string(c.n) + ", seed " +
         std::to_string(c.seed) + ", step " + std::to_string(c.step) + "): " + c.json;
}

// ---------------------------------------------------------------- comparing

double max_abs(const double* v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// Worst error / allowed over a tensor (<= 1 passes); reports the first few failures.
// mag: each entry's magnitude (eigen_reference.h).
double compare(const std::string& what, const float* got, const double* want, const double* mag,
               size_t n) {
  const double scale = max_abs(want, n);
  double worst = 0;
  size_t fails = 0;
  for (size_t i = 0; i < n; ++i) {
    const double allowed = kRtol * (std::fabs(want[i]) + kFloor * scale) + kUlps * mag[i] + 1e-30;
    const double err = std::fabs((double)got[i] - want[i]);
    const double r = std::isfinite(got[i]) ? err / allowed : INFINITY;
    worst = std::max(worst, r);
    if (!(r <= 1.0) && ++fails <= 3)
      ADD_FAILURE() << what << "[" << i << "] of " << n << ": reference " << want[i]
                    << ", trainer " << got[i] << " (error " << err << ", allowed " << allowed
                    << ", magnitude " << mag[i] << ")";
  }
  if (fails > 3) ADD_FAILURE() << what << ": " << fails << " of " << n << " entries out of tolerance";
  return worst;
}

// The worst error / allowed of each kind of comparison, and the case it came from.
struct Worst {
  std::map<std::string, std::pair<double, uint64_t>> v;
  uint64_t id = 0;  // the current case
  void note(const std::string& k, double x) {
    auto& w = v[k];
    if (x >= w.first) w = {x, id};
  }
  void print(const char* title) const {
    std::printf("[ property ] %s, worst error / allowed (case):", title);
    for (const auto& kv : v)
      std::printf(" %s %.3g (%llu)", kv.first.c_str(), kv.second.first, (unsigned long long)kv.second.second);
    std::printf("\n");
  }
};

// Parameters to check by finite differences: one of every tensor, then random ones.
std::vector<size_t> sample_params(const wt::NetSpec& s, int count, Rng& rng) {
  std::vector<size_t> idx;
  for (const wt::ParamSpec& p : s.params) idx.push_back(p.offset + rng.below((uint32_t)p.size));
  while ((int)idx.size() < count && s.num_params > 0) idx.push_back(rng.below((uint32_t)s.num_params));
  return idx;
}

// Failures recorded so far in the running test.
int failures() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}
// After a case: notes it when it failed; true when enough cases failed to stop.
bool stop_after(uint64_t id, int failures_before, std::vector<uint64_t>& failed) {
  if (failures() > failures_before) failed.push_back(id);
  return failed.size() >= 3;
}
std::string ids(const std::vector<uint64_t>& v) {
  std::string s;
  for (uint64_t id : v) s += (s.empty() ? "" : ", ") + std::to_string(id);
  return s.empty() ? "none" : s;
}

double elapsed_s(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// --------------------------------------------------------------------- tests

// FNV-1a of the documents of cases 1..200 (GeneratorWritesValidSpecs).
constexpr uint64_t kGeneratorFingerprint = 0x585bf5b8bd9fbd8aull;

// The generator: every spec is accepted, and the mix covers every layer type and
// the fast paths' shapes.
TEST(Property, GeneratorWritesValidSpecs) {
  const int count = std::max(spec_count(), 200);
  std::map<std::string, int> kinds;
  uint64_t fingerprint = 0xcbf29ce484222325ull;  // FNV-1a over the documents
  int seed_pattern = 0, winograd_shape = 0, rect_kernel = 0, strided_conv = 0, s1_conv = 0,
      padded_pool = 0, bn_no_affine = 0, dropout_zero = 0;
  for (int k = 0; k < count; ++k) {
    const uint64_t id = first_case() + k;
    const std::string json = prop::random_spec_json(id);
    EXPECT_EQ(json, prop::random_spec_json(id)) << "the generator is not deterministic";
    for (unsigned char ch : json) fingerprint = (fingerprint ^ ch) * 0x100000001b3ull;
    wt::NetSpec s;
    const wt::Status st = wt::parse_spec(json, &s);
    ASSERT_TRUE(st.ok()) << "case " << id << ": " << st.message << "\n" << json;
    ASSERT_FALSE(s.layers.empty());
    EXPECT_EQ(s.layers.back().kind, wt::LayerKind::Linear) << json;
    EXPECT_GE(s.classes, 2) << json;
    EXPECT_LE(s.classes, 12) << json;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const wt::Layer& l = s.layers[i];
      ++kinds[wt::layer_kind_name(l.kind)];
      if (l.kind == wt::LayerKind::Conv2d) {
        if (l.kh != l.kw) ++rect_kernel;
        if (l.sh > 1 || l.sw > 1) ++strided_conv;
        else ++s1_conv;
        const bool wino = l.kh == 3 && l.kw == 3 && l.sh == 1 && l.sw == 1 && l.ph == 1 &&
                          l.pw == 1 && l.out_shape.h % 2 == 0 && l.out_shape.w % 2 == 0 &&
                          l.out_shape.w >= 8 && l.in.c >= 4 && l.out >= 4;
        winograd_shape += wino;
        if (wino && i + 2 < s.layers.size() && s.layers[i + 1].kind == wt::LayerKind::ReLU &&
            s.layers[i + 2].kind == wt::LayerKind::MaxPool2d && s.layers[i + 2].kh == 2 &&
            s.layers[i + 2].kw == 2 && s.layers[i + 2].sh == 2 && s.layers[i + 2].ph == 0)
          ++seed_pattern;
      }
      if ((l.kind == wt::LayerKind::MaxPool2d || l.kind == wt::LayerKind::AvgPool2d) && (l.ph || l.pw))
        ++padded_pool;
      if ((l.kind == wt::LayerKind::BatchNorm2d || l.kind == wt::LayerKind::BatchNorm1d) && !l.affine)
        ++bn_no_affine;
      if (l.kind == wt::LayerKind::Dropout && l.p == 0.0) ++dropout_zero;
    }
  }
  for (const char* k : {"Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "ReLU", "LeakyReLU",
                        "Tanh", "Sigmoid", "Flatten", "Linear", "Dropout", "BatchNorm2d", "BatchNorm1d"})
    EXPECT_GE(kinds[k], 5) << k << " is too rare in " << count << " specs";
  EXPECT_GE(seed_pattern, count / 20) << "Winograd conv + ReLU + max-pool 2";
  EXPECT_GE(winograd_shape, count / 10);
  EXPECT_GE(rect_kernel, 10);
  EXPECT_GE(strided_conv, 10);
  EXPECT_GE(s1_conv, 10);
  EXPECT_GE(padded_pool, 10);
  EXPECT_GE(bn_no_affine, 5);
  EXPECT_GE(dropout_zero, 3);
  // The same documents on every platform (native and wasm test the same specs).
  // Changing the generator changes this value: update it then.
  if (first_case() == 1 && count == 200) {
    EXPECT_EQ(fingerprint, kGeneratorFingerprint) << std::hex << "fingerprint 0x" << fingerprint;
  }
  std::printf("[ property ] %d specs:", count);
  for (const auto& kv : kinds) std::printf(" %s %d", kv.first.c_str(), kv.second);
  std::printf("; Winograd-shaped convs %d (seed pattern %d), stride-1 convs %d, rectangular kernels %d\n",
              winograd_shape, seed_pattern, s1_conv, rect_kernel);
}

// The reference's gradients against central finite differences of its loss (double),
// in train mode (BatchNorm's batch statistics and Dropout's masks included), on the
// case's batch.
TEST(Property, ReferenceMatchesFiniteDifferences) {
  const auto t0 = std::chrono::steady_clock::now();
  const int count = spec_count();
  int checked = 0, kinks = 0, draws = 0;
  Worst worst;
  std::vector<uint64_t> failed;
  for (int k = 0; k < count; ++k) {
    const int failures_before = failures();
    Case c;
    const uint64_t id = first_case() + k;
    worst.id = id;
    const ::testing::AssertionResult made = make_case(id, &c);
    if (!made) {
      ADD_FAILURE() << "case " << id << ": " << made.message() << "\n" << prop::random_spec_json(id);
      if (stop_after(id, failures_before, failed)) break;
      continue;
    }
    SCOPED_TRACE(case_name(c));
    draws += c.draws;
    const int n = c.n;
    eref::RefNet ref(c.spec);
    const std::vector<double> x = to_double(c.images), buf0 = to_double(c.buffers);
    std::vector<double> p = to_double(c.params), buf = buf0, g;
    ref.forward_backward(p, &buf, x.data(), c.labels.data(), n, true, c.seed, c.step, nullptr, &g);
    const double gmax = max_abs(g.data(), g.size()), loss_mag = ref.magnitudes().loss;
    auto allowed_at = [&](size_t i, double h) {
      return kFdRtol * (std::fabs(g[i]) + kFloor * gmax) + 8 * 0x1p-52 * loss_mag / (2 * h);
    };
    auto loss_at = [&](size_t i, double v) {
      const double keep = p[i];
      p[i] = v;
      std::vector<double> b = buf0;
      const double l = ref.forward_backward(p, &b, x.data(), c.labels.data(), n, true, c.seed, c.step, nullptr, nullptr);
      p[i] = keep;
      return l;
    };
    Rng rng(id ^ 0xfdfdfdull);
    for (size_t i : sample_params(c.spec, kFdParams, rng)) {
      const double allowed = allowed_at(i, kFdStep);
      const double fd = (loss_at(i, p[i] + kFdStep) - loss_at(i, p[i] - kFdStep)) / (2 * kFdStep);
      if (std::fabs(fd - g[i]) > allowed) {  // a kink within the step? Retry closer.
        const double h = kFdStep / 16;
        const double fd2 = (loss_at(i, p[i] + h) - loss_at(i, p[i] - h)) / (2 * h);
        if (std::fabs(fd2 - g[i]) <= allowed_at(i, h)) {
          ++kinks;
          continue;
        }
      }
      ++checked;
      worst.note("fd", std::fabs(fd - g[i]) / allowed);
      EXPECT_LE(std::fabs(fd - g[i]), allowed)
          << "parameter " << i << ": analytic " << g[i] << ", finite differences " << fd;
    }
    if (stop_after(id, failures_before, failed)) break;  // three failing cases are enough
  }
  worst.print("reference vs finite differences");
  std::printf("[ property ] %d specs, %d parameters checked (%d skipped at a kink), %d data draws, %.1f s; "
              "failed cases: %s\n", count, checked, kinks, draws, elapsed_s(t0), ids(failed).c_str());
  EXPECT_LE(kinks, checked / 20 + 2) << "too many finite differences hit a kink";
}

// The trainer (the planned fast path, in float) against the reference (double) on
// the same parameters, running statistics and batch: eval_logits, then one
// train-mode forward_backward (loss, logits, every gradient tensor, the running
// statistics after it), then the trainer's gradient against float finite
// differences of its own loss on a few parameters.
TEST(Property, TrainerMatchesReference) {
  const auto t0 = std::chrono::steady_clock::now();
  const int count = spec_count();
  int draws = 0, float_checked = 0, float_skipped = 0;
  int fused_conv = 0, fused_relu_pool = 0, fused_bn_pool = 0;  // the planner's fused ops the cases ran
  Worst worst;
  std::vector<uint64_t> failed;
  for (int k = 0; k < count; ++k) {
    const int failures_before = failures();
    Case c;
    const uint64_t id = first_case() + k;
    worst.id = id;
    const ::testing::AssertionResult made = make_case(id, &c);
    if (!made) {
      ADD_FAILURE() << "case " << id << ": " << made.message() << "\n" << prop::random_spec_json(id);
      if (stop_after(id, failures_before, failed)) break;
      continue;
    }
    draws += c.draws;
    const wt::NetSpec& s = c.spec;
    const size_t V = s.classes;

    // The reference: eval mode on the initial running statistics, then train mode.
    eref::RefNet ref(s);
    const std::vector<double> p = to_double(c.params), x = to_double(c.images);
    std::vector<double> ref_buf = to_double(c.buffers), eval_buf = ref_buf, ref_eval, ref_logits, ref_g;
    ref.forward_backward(p, &eval_buf, x.data(), c.labels.data(), c.n, false, c.seed, c.step, &ref_eval, nullptr);
    const eref::Magnitudes eval_mag = ref.magnitudes();
    const double ref_loss = ref.forward_backward(p, &ref_buf, x.data(), c.labels.data(), c.n, true, c.seed,
                                                 c.step, &ref_logits, &ref_g);
    const eref::Magnitudes mag = ref.magnitudes();

    wt::TrainerConfig cfg;
    cfg.seed = c.seed;
#ifndef __EMSCRIPTEN__
    cfg.threads = 1 + (int)(id % 2);  // 1 or 2 workers: never changes a result
#endif
    wt::Trainer t(cfg, s);
    SCOPED_TRACE(case_name(c) + "\nplan:\n" + t.network().describe());
    for (const auto& op : t.network().ops()) {
      const int covers = op->last_layer - op->first_layer + 1;
      if (covers == 3 && s.layers[op->first_layer].kind == wt::LayerKind::Conv2d) ++fused_conv;
      if (covers == 2 && s.layers[op->first_layer].kind == wt::LayerKind::ReLU) ++fused_relu_pool;
      if (covers == 3 && s.layers[op->first_layer].kind == wt::LayerKind::BatchNorm2d) ++fused_bn_pool;
    }
    ASSERT_EQ(t.state().params.size(), s.num_params);
    ASSERT_EQ(t.state().buffers.size(), s.num_buffers);
    t.mutable_state().params = c.params;
    t.mutable_state().buffers = c.buffers;
    t.mutable_state().step = c.step;
    const std::vector<int64_t> counters0 = t.state().counters;

    std::vector<float> logits(c.n * V, NAN);
    t.eval_logits(c.images.data(), c.n, logits.data());
    worst.note("eval_logits", compare("eval logits", logits.data(), ref_eval.data(), eval_mag.logits.data(),
                                      ref_eval.size()));
    EXPECT_TRUE(t.state().buffers == c.buffers) << "eval_logits changed the running statistics";

    std::fill(logits.begin(), logits.end(), NAN);
    const float loss = t.forward_backward(c.images.data(), c.labels.data(), c.n, logits.data());
    const double loss_allowed = kLossRtol * std::fabs(ref_loss) + kUlps * mag.loss;
    worst.note("loss", std::fabs(loss - ref_loss) / loss_allowed);
    EXPECT_NEAR(loss, ref_loss, loss_allowed) << "loss";
    worst.note("logits", compare("logits", logits.data(), ref_logits.data(), mag.logits.data(), ref_logits.size()));
    const std::vector<float> g = t.grads();
    ASSERT_EQ(g.size(), s.num_params);
    for (const wt::ParamSpec& ps : s.params)
      worst.note("grads", compare("grad " + ps.name, g.data() + ps.offset, ref_g.data() + ps.offset,
                                  mag.grads.data() + ps.offset, ps.size));
    for (const wt::BufferSpec& b : s.buffers)
      worst.note("running stats", compare(b.name + " after the step", t.state().buffers.data() + b.offset,
                                          ref_buf.data() + b.offset, mag.buffers.data() + b.offset, b.size));
    EXPECT_EQ(t.state().step, c.step) << "forward_backward changed the step";
    ASSERT_EQ(t.state().counters.size(), s.counters.size());
    for (size_t i = 0; i < counters0.size(); ++i)
      EXPECT_EQ(t.state().counters[i], counters0[i] + 1) << s.counters[i].name << " after one train-mode batch";

    // Float finite differences of the trainer's own loss, on the sampled parameters
    // with the largest gradients. The reference's secant over the same two points
    // tells when the step crosses a kink or sees curvature (then the check is moot).
    Rng rng(id ^ 0xf10a7ull);
    std::vector<size_t> idx = sample_params(s, kFdParams, rng);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return std::fabs(ref_g[a]) > std::fabs(ref_g[b]); });
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    idx.resize(std::min<size_t>(idx.size(), kFloatParams));
    const std::vector<float> buf_after = t.state().buffers;
    for (size_t i : idx) {
      const float p0 = c.params[i], pp = p0 + (float)kFloatStep, pm = p0 - (float)kFloatStep;
      auto trainer_loss = [&](float v) {
        t.mutable_state().params[i] = v;
        const float l = t.forward_backward(c.images.data(), c.labels.data(), c.n, nullptr);
        t.mutable_state().params[i] = p0;
        t.mutable_state().buffers = buf_after;
        return (double)l;
      };
      auto ref_loss_at = [&](float v) {
        std::vector<double> pv = p, b = to_double(c.buffers);
        pv[i] = v;
        return ref.forward_backward(pv, &b, x.data(), c.labels.data(), c.n, true, c.seed, c.step, nullptr, nullptr);
      };
      const double h2 = (double)pp - (double)pm;
      const double ref_fd = (ref_loss_at(pp) - ref_loss_at(pm)) / h2;
      if (std::fabs(ref_fd - ref_g[i]) > 0.1 * kFloatRtol * std::fabs(ref_g[i])) {
        ++float_skipped;
        continue;
      }
      const double fd = (trainer_loss(pp) - trainer_loss(pm)) / h2;
      // Float noise of the two losses (within kUlps / 2 of the loss's magnitude each, as
      // the loss check above demands with room to spare), over the step.
      const double allowed = kFloatRtol * std::fabs(g[i]) + kUlps * mag.loss / h2;
      ++float_checked;
      worst.note("float fd", std::fabs(fd - g[i]) / allowed);
      EXPECT_LE(std::fabs(fd - g[i]), allowed)
          << "parameter " << i << ": trainer gradient " << g[i] << ", float finite differences " << fd
          << " (reference " << ref_g[i] << ")";
    }
    if (verbose())
      std::printf("  case %llu: n=%d, %d draws, %.1f s: %s\n", (unsigned long long)id, c.n, c.draws,
                  elapsed_s(t0), c.json.c_str());
    if (stop_after(id, failures_before, failed)) break;  // three failing cases are enough
  }
  worst.print("trainer vs reference");
  std::printf("[ property ] %d specs, %d data draws, float finite differences on %d parameters "
              "(%d skipped: kink or curvature within the step), fused ops: Conv2d+ReLU+MaxPool2d %d, "
              "ReLU+MaxPool2d %d, BatchNorm2d+ReLU+MaxPool2d %d, %.1f s; failed cases: %s\n",
              count, draws, float_checked, float_skipped, fused_conv, fused_relu_pool, fused_bn_pool, elapsed_s(t0),
              ids(failed).c_str());
  if (count >= 200) {
    EXPECT_GE(fused_conv, count / 20) << "the fused Conv2d+ReLU+MaxPool2d path is too rare";
    EXPECT_GE(fused_relu_pool, 3) << "the fused ReLU+MaxPool2d path is too rare";
    EXPECT_GE(fused_bn_pool, 3) << "the fused BatchNorm2d+ReLU+MaxPool2d path is too rare";
  }
}

}  // namespace

#ifdef WT_PROPERTY_MAIN
// The wasm runner (CMakeLists.txt, WT_WASM_TESTS): gtest's flags, then --specs=N and
// --first=K (Emscripten's getenv does not see Node's environment).
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--specs=", 0) == 0) g_specs = std::atoi(a.c_str() + 8);
    else if (a.rfind("--first=", 0) == 0) g_first = std::atoll(a.c_str() + 8);
  }
  return RUN_ALL_TESTS();
}
#endif
