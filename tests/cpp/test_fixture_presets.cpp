// Every preset against PyTorch's own numbers: WT_FIXTURE_DIR/<preset>.safetensors,
// written by scripts/torch_ref/make_preset_fixtures.py (scripts/test.sh runs it into
// build/native/fixtures before the suites; its docstring describes the contents).
//
// For each preset, from the fixture's state (PyTorch's default init, a batch of 32,
// Dropout masks from TrainerConfig.seed = the fixture's dropout_seed): steps 1, 2 and
// 10 of PyTorch's 10-step run, each taken from PyTorch's state before it (parameters,
// Adam's moments and step count, BatchNorm's running statistics and counters): the
// step's logits, loss and gradients (step 1), its loss (steps 2 and 10), the state after
// it, and after step 10 the eval-mode logits. Each tensor's largest absolute and
// relative difference is printed; any element beyond its tolerance fails and is named.
//
// Relative difference, per element: |a - b| / (|b| + max|b|), b = PyTorch (as
// test_fixture.cpp). Tolerance 1e-5, except for the elements the fixture lists under
// loose.<tensor>.index / .tol: those whose float32 rounding noise, measured by rerunning
// PyTorch with other summation orders and convolutions, exceeds 1e-6; each has 10x its
// measured noise (make_preset_fixtures.py, "Fairness"). Counters must be equal.
// The same run with 1 and 2 threads must be bit-identical.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/rng.h"
#include "core/safetensors.h"
#include "core/spec.h"
#include "core/trainer.h"

#ifndef WT_FIXTURE_DIR  // CMakeLists.txt defines it as <build>/fixtures
#define WT_FIXTURE_DIR WT_SOURCE_DIR "/build/native/fixtures"
#endif

namespace {

constexpr double kTol = 1e-5;
const char kGenerate[] = "/usr/bin/python3 scripts/torch_ref/make_preset_fixtures.py build/native/fixtures";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) v.push_back(item);
  return v;
}

struct PresetFixture {
  std::string path, bytes, error;
  wt::SafetensorsView view;

  explicit PresetFixture(const std::string& preset) : path(std::string(WT_FIXTURE_DIR) + "/" + preset + ".safetensors") {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      error = "cannot open " + path + ": generate the preset fixtures with `" + kGenerate +
              "` (needs python3-torch; scripts/test.sh does it before the suites)";
      return;
    }
    bytes.assign(std::istreambuf_iterator<char>(f), {});
    const wt::Status s = wt::parse_safetensors((const uint8_t*)bytes.data(), bytes.size(), true, &view);
    if (!s.ok()) error = path + ": " + s.message + " (regenerate it: `" + kGenerate + " --force`)";
  }
  std::string md(const std::string& key) const {
    auto it = view.metadata.find(key);
    return it == view.metadata.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return view.find(name) != nullptr; }
  const wt::TensorInfo* tensor(const std::string& name, const char* dtype) const {
    const wt::TensorInfo* t = view.find(name);
    if (!t || t->dtype != dtype) {
      ADD_FAILURE() << path << " has no " << dtype << " tensor \"" << name << "\"";
      return nullptr;
    }
    return t;
  }
  std::vector<float> f32(const std::string& name) const {
    const wt::TensorInfo* t = tensor(name, "F32");
    std::vector<float> v(t ? t->numel : 0);
    if (t) std::memcpy(v.data(), view.data + t->begin, t->numel * sizeof(float));
    return v;
  }
  std::vector<int64_t> i64(const std::string& name) const {
    const wt::TensorInfo* t = tensor(name, "I64");
    std::vector<int64_t> v(t ? t->numel : 0);
    if (t) std::memcpy(v.data(), view.data + t->begin, t->numel * sizeof(int64_t));
    return v;
  }
  std::vector<uint8_t> u8(const std::string& name) const {
    const wt::TensorInfo* t = tensor(name, "U8");
    std::vector<uint8_t> v(t ? t->numel : 0);
    if (t) std::memcpy(v.data(), view.data + t->begin, t->numel);
    return v;
  }
};

const PresetFixture& fixture(const std::string& preset) {
  static std::map<std::string, std::unique_ptr<PresetFixture>>* cache =
      new std::map<std::string, std::unique_ptr<PresetFixture>>();
  auto& p = (*cache)[preset];
  if (!p) p = std::make_unique<PresetFixture>(preset);
  return *p;
}

// Whether fixture tensor `name` (e.g. "after1.optimizer.0.bias.exp_avg") is of state `state` ("0.bias").
bool mentions(const std::string& name, const std::string& state) {
  for (size_t at = name.find("." + state); at != std::string::npos; at = name.find("." + state, at + 1)) {
    const size_t end = at + 1 + state.size();
    if (end == name.size() || name[end] == '.') return true;
  }
  return false;
}

// Compares `actual` with the fixture's tensor `name`: every element within kTol, or
// within its own tolerance where the fixture lists it (loose.<name>.index / .tol).
// Prints one line; a failure names the worst element.
void compare(const PresetFixture& fx, const std::string& name, const float* actual, size_t n) {
  const std::vector<float> b = fx.f32(name);
  ASSERT_EQ(n, b.size()) << name << ": size";
  std::vector<double> tol(n, kTol);
  size_t loose = 0;
  if (fx.has("loose." + name + ".index")) {
    const std::vector<int64_t> idx = fx.i64("loose." + name + ".index");
    const std::vector<float> t = fx.f32("loose." + name + ".tol");
    ASSERT_EQ(idx.size(), t.size()) << name;
    for (size_t i = 0; i < idx.size(); ++i) {
      ASSERT_TRUE(idx[i] >= 0 && (size_t)idx[i] < n) << name;
      tol[idx[i]] = std::max(kTol, (double)t[i]);
    }
    loose = idx.size();
  }
  double scale = 0;
  for (float x : b) scale = std::max(scale, (double)std::fabs(x));
  double max_abs = 0, max_rel = 0, worst_ratio = 0, loose_ratio = 0;
  size_t worst = 0, over = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = std::fabs((double)actual[i] - (double)b[i]);
    double r = e / (std::fabs((double)b[i]) + scale + 1e-300);
    if (std::isnan(e)) r = INFINITY;
    if (!(e <= max_abs)) max_abs = e;
    if (tol[i] == kTol) {
      if (!(r <= max_rel)) max_rel = r;
    } else if (!(r / tol[i] <= loose_ratio)) {
      loose_ratio = r / tol[i];
    }
    if (!(r <= tol[i])) ++over;
    if (!(r / tol[i] <= worst_ratio)) worst_ratio = r / tol[i], worst = i;
  }
  if (loose)
    printf("  %-48s max abs %9.2e  max rel %9.2e  (%zu loose: worst %.2f of their tolerance)\n", name.c_str(),
           max_abs, max_rel, loose, loose_ratio);
  else
    printf("  %-48s max abs %9.2e  max rel %9.2e\n", name.c_str(), max_abs, max_rel);
  std::string hint;
  for (const std::string& z : split(fx.md("exact_zero_grads")))
    if (mentions(name, z))
      hint = " (" + z + " feeds BatchNorm: its gradient is exactly 0 in train mode, and the fixture uses that "
             "exact 0 where PyTorch has float32 noise that Adam turns into steps of ~lr; the trainer must "
             "produce the exact 0 too: make_preset_fixtures.py, Fairness)";
  if (hint.empty() && !fx.md("exact_zero_grads").empty() && name.find("eval_logits") != std::string::npos)
    hint = " (eval mode uses the biases " + fx.md("exact_zero_grads") + " against BatchNorm's running mean: if they "
           "differ above, this differs too)";
  EXPECT_EQ(over, 0u) << name << ": " << over << " of " << n << " elements beyond their tolerance; element "
                      << worst << " is " << actual[worst] << ", PyTorch " << b[worst] << " (rel "
                      << worst_ratio * tol[worst] << ", tolerance " << tol[worst] << ")" << hint;
}

void compare_counter(const PresetFixture& fx, const std::string& name, int64_t actual) {
  const std::vector<int64_t> v = fx.i64(name);
  ASSERT_EQ(v.size(), 1u) << name << " should be a 0-dim I64 tensor";
  printf("  %-48s %lld (PyTorch %lld)\n", name.c_str(), (long long)actual, (long long)v[0]);
  EXPECT_EQ(actual, v[0]) << name;
}

// Everything one run computed, in order, for the bit-identity check across threads.
struct Record {
  std::vector<float> floats;
  std::vector<int64_t> ints;
  void add(const float* p, size_t n) { floats.insert(floats.end(), p, p + n); }
};

// The fixture's state `prefix` (init. or afterK.) into the trainer, Adam at `step`.
void set_state(const PresetFixture& fx, wt::Trainer& t, const std::string& prefix, uint64_t step) {
  const wt::NetSpec& spec = t.spec();
  wt::TrainState& st = t.mutable_state();
  for (const wt::ParamSpec& p : spec.params) {
    const std::vector<float> v = fx.f32(prefix + p.name);
    ASSERT_EQ(v.size(), p.size) << prefix + p.name;
    std::copy(v.begin(), v.end(), st.params.begin() + p.offset);
    for (const char* m : {"exp_avg", "exp_avg_sq"}) {
      std::vector<float> mv(p.size, 0.f);  // init: Adam has no state yet
      if (step > 0) mv = fx.f32(prefix + "optimizer." + p.name + "." + m);
      ASSERT_EQ(mv.size(), p.size) << prefix + "optimizer." + p.name + "." + m;
      std::copy(mv.begin(), mv.end(), (std::string(m) == "exp_avg" ? st.exp_avg : st.exp_avg_sq).begin() + p.offset);
    }
  }
  for (const wt::BufferSpec& b : spec.buffers) {
    const std::vector<float> v = fx.f32(prefix + b.name);
    ASSERT_EQ(v.size(), b.size) << prefix + b.name;
    std::copy(v.begin(), v.end(), st.buffers.begin() + b.offset);
  }
  for (size_t i = 0; i < spec.counters.size(); ++i) {
    const std::vector<int64_t> v = fx.i64(prefix + spec.counters[i].name);
    ASSERT_EQ(v.size(), 1u) << prefix + spec.counters[i].name;
    st.counters[i] = v[0];
  }
  st.step = step;
}

// The whole check of one preset with `threads` workers; returns what it computed.
Record run_preset(const std::string& preset, int threads) {
  Record rec;
  const PresetFixture& fx = fixture(preset);
  wt::NetSpec spec;
  const wt::Status s = wt::preset_spec(preset, &spec);
  EXPECT_TRUE(s.ok()) << s.message;
  if (!s.ok()) return rec;
  wt::TrainerConfig c;
  c.seed = std::stoull(fx.md("dropout_seed"));
  c.batch_size = std::stoi(fx.md("batch_size"));
  c.learning_rate = std::stod(fx.md("learning_rate"));
  c.beta1 = std::stod(fx.md("beta1"));
  c.beta2 = std::stod(fx.md("beta2"));
  c.eps = std::stod(fx.md("eps"));
  c.weight_decay = std::stod(fx.md("weight_decay"));
  c.threads = threads;
  wt::Trainer t(c, spec);
  const std::vector<float> x = fx.f32("input");
  const std::vector<uint8_t> y = fx.u8("labels");
  const int n = (int)y.size();
  EXPECT_EQ(x.size(), (size_t)n * spec.input_size());
  if (x.size() != (size_t)n * spec.input_size()) return rec;
  const size_t K = (size_t)spec.classes;
  std::vector<float> logits((size_t)n * K);
  printf(" %s, %d thread%s (PyTorch %s, batch %d, %s loose elements):\n", preset.c_str(), threads,
         threads > 1 ? "s" : "", fx.md("torch_version").c_str(), n, fx.md("loose_elements").c_str());
  for (const std::string& ks : split(fx.md("checked_steps"))) {
    const int k = std::stoi(ks);
    set_state(fx, t, k == 1 ? "init." : "after" + std::to_string(k - 1) + ".", (uint64_t)(k - 1));
    if (::testing::Test::HasFatalFailure()) return rec;
    printf(" step %d, from PyTorch's state after %d:\n", k, k - 1);
    const float loss = t.forward_backward(x.data(), y.data(), n, logits.data());
    compare(fx, "step" + std::to_string(k - 1) + ".loss", &loss, 1);
    rec.add(&loss, 1);
    rec.add(logits.data(), logits.size());
    if (k == 1) {
      compare(fx, "step0.logits", logits.data(), logits.size());
      for (const wt::ParamSpec& p : spec.params)
        compare(fx, "step0.grad." + p.name, t.grads().data() + p.offset, p.size);
    }
    rec.add(t.grads().data(), t.grads().size());
    t.adam_step();
    EXPECT_EQ(t.state().step, (uint64_t)k);
    const std::string a = "after" + std::to_string(k) + ".";
    const wt::TrainState& st = t.state();
    for (const wt::ParamSpec& p : spec.params) {
      compare(fx, a + p.name, st.params.data() + p.offset, p.size);
      compare(fx, a + "optimizer." + p.name + ".exp_avg", st.exp_avg.data() + p.offset, p.size);
      compare(fx, a + "optimizer." + p.name + ".exp_avg_sq", st.exp_avg_sq.data() + p.offset, p.size);
    }
    for (const wt::BufferSpec& b : spec.buffers) compare(fx, a + b.name, st.buffers.data() + b.offset, b.size);
    for (size_t i = 0; i < spec.counters.size(); ++i) compare_counter(fx, a + spec.counters[i].name, st.counters[i]);
    rec.add(st.params.data(), st.params.size());
    rec.add(st.exp_avg.data(), st.exp_avg.size());
    rec.add(st.exp_avg_sq.data(), st.exp_avg_sq.size());
    rec.add(st.buffers.data(), st.buffers.size());
    rec.ints.insert(rec.ints.end(), st.counters.begin(), st.counters.end());
    if (fx.has(a + "eval_logits")) {
      t.eval_logits(x.data(), n, logits.data());
      compare(fx, a + "eval_logits", logits.data(), logits.size());
      rec.add(logits.data(), logits.size());
    }
  }
  return rec;
}

class PresetFixtureTest : public ::testing::TestWithParam<std::string> {};

#define REQUIRE_FIXTURE(p) ASSERT_TRUE(fixture(p).error.empty()) << fixture(p).error

TEST_P(PresetFixtureTest, IsThePresetsFixture) {
  const std::string preset = GetParam();
  REQUIRE_FIXTURE(preset);
  const PresetFixture& fx = fixture(preset);
  EXPECT_EQ(fx.md("format"), "wasm-trainer-preset-fixture");
  ASSERT_EQ(fx.md("format_version"), "1") << "this test reads version 1 preset fixtures";
  EXPECT_EQ(fx.md("preset"), preset);
  wt::NetSpec spec, stored;
  ASSERT_TRUE(wt::preset_spec(preset, &spec).ok());
  // The Python side's canonical spec is the C++ one, byte for byte, and parses to it.
  EXPECT_EQ(fx.md("spec"), spec.canonical) << "scripts/torch_ref/spec_model.py canonical_json vs spec.cc";
  const wt::Status s = wt::parse_spec(fx.md("spec"), &stored);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(wt::spec_difference(stored, spec), "");
  EXPECT_EQ(std::stoi(fx.md("classes")), spec.classes);
  // State names, shapes and dtypes as PyTorch's state_dict, in order.
  std::vector<std::string> params, buffers, counters;
  for (const wt::ParamSpec& p : spec.params) {
    params.push_back(p.name);
    const wt::TensorInfo* t = fx.tensor("init." + p.name, "F32");
    if (t) {
      EXPECT_EQ(t->shape, p.shape) << p.name;
    }
  }
  for (const wt::BufferSpec& b : spec.buffers) {
    buffers.push_back(b.name);
    const wt::TensorInfo* t = fx.tensor("init." + b.name, "F32");
    if (t) {
      EXPECT_EQ(t->shape, b.shape) << b.name;
    }
  }
  for (const wt::CounterSpec& c : spec.counters) {
    counters.push_back(c.name);
    const wt::TensorInfo* t = fx.tensor("init." + c.name, "I64");
    if (t) {
      EXPECT_TRUE(t->shape.empty()) << c.name << ": PyTorch's num_batches_tracked is 0-dim";
    }
  }
  EXPECT_EQ(split(fx.md("params")), params);
  EXPECT_EQ(split(fx.md("buffers")), buffers);
  EXPECT_EQ(split(fx.md("counters")), counters);
  const wt::TensorInfo* in = fx.tensor("input", "F32");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->shape, (std::vector<int64_t>{std::stoi(fx.md("batch_size")), spec.input.c, spec.input.h, spec.input.w}));
  EXPECT_GT(std::stoi(fx.md("batch_size")), wt::kChunk) << "the batch should span more than one gradient chunk";
}

// The fixture's masks are rng.h's: the Python stream (spec_model.py) is bit-exact.
TEST_P(PresetFixtureTest, DropoutMasksAreRngH) {
  const std::string preset = GetParam();
  REQUIRE_FIXTURE(preset);
  const PresetFixture& fx = fixture(preset);
  wt::NetSpec spec;
  ASSERT_TRUE(wt::preset_spec(preset, &spec).ok());
  const uint64_t seed = std::stoull(fx.md("dropout_seed"));
  const int n = std::stoi(fx.md("batch_size"));
  std::vector<std::string> expected;
  for (size_t i = 0; i < spec.layers.size(); ++i)
    if (spec.layers[i].kind == wt::LayerKind::Dropout) expected.push_back(std::to_string(i));
  EXPECT_EQ(split(fx.md("dropout_layers")), expected);
  for (const std::string& ls : expected) {
    const int layer = std::stoi(ls);
    const std::vector<uint8_t> keep = fx.u8("step0.dropout_keep." + ls);
    const size_t numel = spec.layers[layer].in.numel();
    ASSERT_EQ(keep.size(), (size_t)n * numel);
    const float p = (float)spec.layers[layer].p;
    size_t differ = 0, kept = 0;
    for (int pos = 0; pos < n; ++pos) {
      wt::SplitMix64 r = wt::dropout_stream(seed, 0, (uint64_t)layer, (uint64_t)pos);
      for (size_t j = 0; j < numel; ++j) {
        const bool k = r.uniform01() >= p;
        kept += k;
        differ += k != (keep[(size_t)pos * numel + j] != 0);
      }
    }
    printf("  layer %d: %zu of %zu kept (p %.3g), %zu differ\n", layer, kept, keep.size(), (double)p, differ);
    EXPECT_EQ(differ, 0u) << "the masks of spec_model.py differ from rng.h's dropout_stream at layer " << layer;
  }
}

TEST_P(PresetFixtureTest, MatchesPyTorchWithOneAndTwoThreadsBitIdentically) {
  const std::string preset = GetParam();
  REQUIRE_FIXTURE(preset);
  const Record one = run_preset(preset, 1);
  if (HasFatalFailure()) return;
  const bool compared_ok = !HasFailure();
  const Record two = run_preset(preset, 2);
  ASSERT_EQ(one.floats.size(), two.floats.size());
  size_t first = one.floats.size();
  for (size_t i = 0; i < one.floats.size(); ++i)
    if (std::memcmp(&one.floats[i], &two.floats[i], sizeof(float)) != 0) {
      first = i;
      break;
    }
  EXPECT_EQ(first, one.floats.size()) << "1 and 2 threads differ at value " << first << " of "
                                      << one.floats.size() << ": " << one.floats[first] << " vs "
                                      << two.floats[first];
  EXPECT_EQ(one.ints, two.ints) << "counters differ between 1 and 2 threads";
  if (compared_ok && HasFailure()) ADD_FAILURE() << "(1 thread matched PyTorch; 2 threads did not)";
}

INSTANTIATE_TEST_SUITE_P(Presets, PresetFixtureTest, ::testing::ValuesIn(wt::preset_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
