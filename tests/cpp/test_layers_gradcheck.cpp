// Layers, in two steps:
//  1. The double-precision reference layers of reference.h have correct analytic
//     gradients: central finite differences in double agree to ~1e-7 relative.
//  2. The production float layers of src/core/layers.h compute the same outputs
//     and gradients as those references, within float tolerance, and follow the
//     conventions: weight grads accumulate (+=), input grads are written (=).
// Losses for single layers are L = sum(out * R) with a fixed random R, so the
// upstream gradient is dout = R.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/layers.h"
#include "core/winograd_conv.h"
#include "kernels/kernels.h"
#include "reference.h"

namespace {

using Vec = std::vector<double>;
using ref::ConvShape;

const float kNaN = std::numeric_limits<float>::quiet_NaN();

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// d loss / d x[i] by central differences.
Vec finite_diff(Vec& x, double h, const std::function<double()>& loss) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

Vec random_vec(size_t n, ref::Rng& rng, float lo = -1.f, float hi = 1.f) {
  Vec v(n);
  for (double& x : v) x = rng.uniform(lo, hi);
  return v;
}
Vec to_d(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

struct ConvCase {
  int k, stride, pad, H, W;
};
// The brief's kernels: 3x3 s1 p1 (the model's), 3x3 s2 p0 (a last column the
// stride skips), 2x2 s1 p1 (output larger than input), 5x5 s2 p2.
const ConvCase kConvCases[] = {{3, 1, 1, 7, 6}, {3, 2, 0, 7, 6}, {2, 1, 1, 5, 6}, {5, 2, 2, 7, 6}};

std::string conv_name(const ConvShape& s, int N) {
  std::ostringstream o;
  o << "conv N=" << N << " C=" << s.C << " H=" << s.H << " W=" << s.W << " OC=" << s.OC
    << " k=" << s.KH << "x" << s.KW << " s" << s.stride << " p" << s.pad;
  return o.str();
}

// ------------------------------------------------- 1. reference vs finite differences

TEST(ReferenceGradcheck, Conv2d) {
  ref::Rng rng(11);
  const int N = 2;
  for (const ConvCase& cc : kConvCases)
    for (int C = 1; C <= 3; ++C)
      for (int OC = 1; OC <= 3; ++OC) {
        const ConvShape s{C, cc.H, cc.W, OC, cc.k, cc.k, cc.stride, cc.pad};
        const std::string name = conv_name(s, N);
        Vec x = random_vec((size_t)N * C * s.H * s.W, rng), w = random_vec(s.weight_size(), rng),
            b = random_vec(OC, rng), R = random_vec((size_t)N * OC * s.P(), rng), out(R.size());
        auto loss = [&] {
          ref::conv2d_forward(out.data(), x.data(), w.data(), b.data(), N, s);
          return dot(out, R);
        };
        Vec dx(x.size(), 123.0), dw(w.size(), 0.0), db(b.size(), 0.0);
        ref::conv2d_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), N, s);
        // The loss is linear in each variable: any step is exact up to rounding.
        ref::expect_rel(name + " dinp", dx.data(), finite_diff(x, 0.5, loss).data(), x.size(), 1e-7);
        ref::expect_rel(name + " dw", dw.data(), finite_diff(w, 0.5, loss).data(), w.size(), 1e-7);
        ref::expect_rel(name + " db", db.data(), finite_diff(b, 0.5, loss).data(), b.size(), 1e-7);
        if (HasFailure()) return;
      }
}

TEST(ReferenceGradcheck, MaxPool) {
  ref::Rng rng(12);
  struct P { int k, stride, H, W; };
  for (const P& p : {P{2, 2, 6, 8}, P{2, 2, 5, 7}, P{3, 2, 7, 7}, P{3, 2, 9, 5}}) {
    const int N = 2, C = 3;
    const int OH = ref::pool_out(p.H, p.k, p.stride), OW = ref::pool_out(p.W, p.k, p.stride);
    // Distinct values 0.01 apart: h = 1e-3 never changes a window's maximum.
    Vec x = ref::convert<double>(ref::distinct_values((size_t)N * C * p.H * p.W, 0.01f, rng));
    Vec R = random_vec((size_t)N * C * OH * OW, rng), out(R.size()), dx(x.size(), 7.0);
    auto loss = [&] {
      ref::maxpool2d_forward(out.data(), (int32_t*)nullptr, x.data(), N, C, p.H, p.W, p.k, p.stride);
      return dot(out, R);
    };
    ref::maxpool2d_backward(dx.data(), R.data(), x.data(), N, C, p.H, p.W, p.k, p.stride);
    std::ostringstream name;
    name << "maxpool " << p.k << "x" << p.k << " s" << p.stride << " on " << p.H << "x" << p.W;
    ref::expect_rel(name.str(), dx.data(), finite_diff(x, 1e-3, loss).data(), x.size(), 1e-7);
  }
}

TEST(ReferenceGradcheck, Relu) {
  ref::Rng rng(13);
  Vec x(37);
  for (double& v : x) v = rng.away_from_zero(0.1f, 1.f);
  Vec R = random_vec(x.size(), rng), y(x.size()), dx(x.size());
  auto loss = [&] {
    ref::relu_forward(y.data(), x.data(), x.size());
    return dot(y, R);
  };
  loss();
  ref::relu_backward(dx.data(), R.data(), y.data(), x.size());
  ref::expect_rel("relu", dx.data(), finite_diff(x, 1e-2, loss).data(), x.size(), 1e-7);
}

TEST(ReferenceGradcheck, Linear) {
  ref::Rng rng(14);
  const int N = 3, I = 7, O = 5;
  Vec x = random_vec(N * I, rng), w = random_vec(O * I, rng), b = random_vec(O, rng),
      R = random_vec(N * O, rng), out(N * O);
  auto loss = [&] {
    ref::linear_forward(out.data(), x.data(), w.data(), b.data(), N, I, O);
    return dot(out, R);
  };
  Vec dx(x.size(), 5.0), dw(w.size(), 0.0), db(O, 0.0);
  ref::linear_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), N, I, O);
  ref::expect_rel("linear dinp", dx.data(), finite_diff(x, 0.5, loss).data(), x.size(), 1e-7);
  ref::expect_rel("linear dw", dw.data(), finite_diff(w, 0.5, loss).data(), w.size(), 1e-7);
  ref::expect_rel("linear db", db.data(), finite_diff(b, 0.5, loss).data(), b.size(), 1e-7);
}

TEST(ReferenceGradcheck, SoftmaxCrossEntropyMeanOverBatch) {
  ref::Rng rng(15);
  const int N = 4, V = 6;
  Vec logits = random_vec(N * V, rng, -3.f, 3.f), probs(N * V), dl(N * V);
  const uint8_t labels[N] = {0, 5, 2, 2};
  auto loss = [&] { return ref::softmax_xent_forward(probs.data(), logits.data(), labels, N, V) / N; };
  const double l0 = loss();
  // Hand check of one sample: -log(e^{l_y} / sum e^{l_v}).
  double s = 0;
  for (int v = 0; v < V; ++v) s += std::exp(logits[v]);
  double by_hand = -std::log(std::exp(logits[0]) / s);
  for (int n = 1; n < N; ++n) {
    double t = 0;
    for (int v = 0; v < V; ++v) t += std::exp(logits[n * V + v]);
    by_hand += -std::log(std::exp(logits[n * V + labels[n]]) / t);
  }
  EXPECT_NEAR(l0, by_hand / N, 1e-13);
  ref::softmax_xent_backward(dl.data(), probs.data(), labels, N, V, 1.0 / N);
  ref::expect_rel("softmax_xent dlogits", dl.data(), finite_diff(logits, 1e-5, loss).data(),
                  logits.size(), 1e-6);
}

// The whole architecture on a small instance, every parameter. Finite differences
// whose +h / -h runs cross a relu or max-pool kink are skipped (and counted).
void model_gradcheck(const ref::CnnSpec& m, int N, const std::vector<size_t>& which, uint64_t seed) {
  ref::Rng rng(seed);
  Vec params(m.num_params), x((size_t)N * m.in_c * m.in_h * m.in_w);
  for (const wt::ParamSpec& p : m.params) {
    const double bound = 1.0 / std::sqrt((double)p.fan_in);
    for (size_t i = 0; i < p.size; ++i) params[p.offset + i] = rng.uniform(-1.f, 1.f) * bound * 2;
  }
  for (double& v : x) v = rng.uniform(0.f, 1.f);
  std::vector<uint8_t> labels(N);
  for (uint8_t& l : labels) l = (uint8_t)rng.below(m.classes);
  Vec grads(m.num_params, 0.0);
  ref::Pattern base;
  ref::model_forward_backward<double>(m, params.data(), grads.data(), x.data(), labels.data(), N,
                                      nullptr, &base);
  // h = 1e-5: truncation error ~h^2 and rounding ~eps*|loss|/h both ~1e-10.
  const double h = 1e-5;
  int skipped = 0;
  Vec analytic, numeric;
  for (size_t i : which) {
    const double p0 = params[i];
    ref::Pattern pp, pm;
    params[i] = p0 + h;
    const double lp = ref::model_forward_backward<double>(m, params.data(), nullptr, x.data(),
                                                          labels.data(), N, nullptr, &pp);
    params[i] = p0 - h;
    const double lm = ref::model_forward_backward<double>(m, params.data(), nullptr, x.data(),
                                                          labels.data(), N, nullptr, &pm);
    params[i] = p0;
    if (!(pp == base) || !(pm == base)) {
      ++skipped;
      continue;
    }
    analytic.push_back(grads[i]);
    numeric.push_back((lp - lm) / (2 * h));
  }
  const int checked = (int)analytic.size();
  ref::expect_rel(m.arch + " params", analytic.data(), numeric.data(), analytic.size(), 1e-6);
  EXPECT_GE(checked, (int)(which.size() * 9 / 10)) << skipped << " skipped at kinks";
  // The gradient is not trivially zero.
  double norm = 0;
  for (double g : grads) norm += g * g;
  EXPECT_GT(norm, 1e-6);
}

TEST(ReferenceGradcheck, SmallModelEveryParameter) {
  const ref::CnnSpec m = ref::small_cnn(8, 2, 3, 4);  // 129 parameters
  std::vector<size_t> all(m.num_params);
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  model_gradcheck(m, 3, all, 21);
}

TEST(ReferenceGradcheck, SeedModelSampledParameters) {
  const ref::CnnSpec m = ref::seed_cnn();
  std::vector<size_t> which;
  for (const wt::ParamSpec& p : m.params)  // first, last and 8 spread entries of each
    for (size_t j = 0; j < 10; ++j) which.push_back(p.offset + std::min(p.size - 1, j * p.size / 9));
  model_gradcheck(m, 2, which, 22);
}

// ------------------------------------------------- 2. production float vs reference

TEST(LayersVsReference, Conv2dForwardBackward) {
  ref::Rng rng(31);
  std::vector<std::pair<ConvShape, int>> cases;
  for (const ConvCase& cc : kConvCases)
    for (int C = 1; C <= 3; ++C)
      for (int OC = 1; OC <= 3; ++OC)
        cases.push_back({ConvShape{C, cc.H, cc.W, OC, cc.k, cc.k, cc.stride, cc.pad}, 2});
  cases.push_back({ref::seed_cnn().conv1, 3});  // the model's own shapes
  cases.push_back({ref::seed_cnn().conv2, 3});
  for (const auto& [s, N] : cases) {
    const std::string name = conv_name(s, N);
    const size_t nin = (size_t)N * s.C * s.H * s.W, nout = (size_t)N * s.OC * s.P();
    std::vector<float> x(nin), w(s.weight_size()), b(s.OC), dout(nout);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.5f, 0.5f);
    rng.fill(b, -0.5f, 0.5f);
    rng.fill(dout, -1.f, 1.f);
    std::vector<float> col((size_t)s.K() * s.P(), kNaN), dcol(col.size(), kNaN);
    std::vector<float> out(nout, kNaN);
    wt::conv2d_forward(out.data(), col.data(), x.data(), w.data(), b.data(), N, s);
    Vec out_r(nout);
    const Vec xd = to_d(x), wd = to_d(w), bd = to_d(b), doutd = to_d(dout);
    ref::conv2d_forward(out_r.data(), xd.data(), wd.data(), bd.data(), N, s);
    ref::expect_close(name + " out", out.data(), out_r.data(), nout, 1e-4);

    // Backward: dw, db start from nonzero values (accumulate); dinp starts NaN (written).
    std::vector<float> dw0(w.size()), db0(b.size());
    rng.fill(dw0, -1.f, 1.f);
    rng.fill(db0, -1.f, 1.f);
    std::vector<float> dw = dw0, db = db0, dx(nin, kNaN);
    wt::conv2d_backward(dx.data(), dw.data(), db.data(), col.data(), dcol.data(), dout.data(),
                        x.data(), w.data(), N, s);
    Vec dw_r = to_d(dw0), db_r = to_d(db0), dx_r(nin);
    ref::conv2d_backward(dx_r.data(), dw_r.data(), db_r.data(), doutd.data(), xd.data(), wd.data(), N, s);
    ref::expect_close(name + " dinp", dx.data(), dx_r.data(), nin, 1e-4);
    ref::expect_close(name + " dw (accumulated)", dw.data(), dw_r.data(), dw.size(), 1e-4);
    ref::expect_close(name + " db (accumulated)", db.data(), db_r.data(), db.size(), 1e-4);

    // dinp = null (the first layer): same weight gradients.
    std::vector<float> dw2 = dw0, db2 = db0;
    wt::conv2d_backward(nullptr, dw2.data(), db2.data(), col.data(), dcol.data(), dout.data(),
                        x.data(), w.data(), N, s);
    EXPECT_EQ(dw2, dw) << name;
    EXPECT_EQ(db2, db) << name;
    if (HasFailure()) return;
  }
}

// The stride-1 "shifted GEMM" path (conv2d_s1_*) against the reference: kernels
// 1..5 with pads 0..2 (rows share their padding when KW > pad, else they do not),
// odd and even sizes, the model's shapes; output rows are Wp floats apart.
TEST(LayersVsReference, Conv2dStride1ShiftedGemm) {
  ref::Rng rng(33);
  struct S { int k, pad, H, W; };
  std::vector<std::pair<ConvShape, int>> cases;
  for (const S& c : {S{3, 1, 7, 6}, S{3, 0, 6, 7}, S{1, 0, 5, 5}, S{2, 1, 5, 6}, S{5, 2, 7, 6},
                     S{3, 2, 5, 5}, S{1, 1, 4, 3}})
    for (int C = 1; C <= 3; C += 2)
      for (int OC = 1; OC <= 4; OC += 3) cases.push_back({ConvShape{C, c.H, c.W, OC, c.k, c.k, 1, c.pad}, 2});
  // Wide outputs (OC = 16, 32).
  cases.push_back({ConvShape{3, 5, 6, 16, 3, 3, 1, 1}, 2});
  // Winograd F(2x2, 3x3): 3x3, pad 1, even outputs >= 8 wide (tile rows of 4, 5, 7).
  cases.push_back({ConvShape{1, 8, 8, 1, 3, 3, 1, 1}, 2});
  cases.push_back({ConvShape{3, 6, 10, 2, 3, 3, 1, 1}, 2});
  cases.push_back({ConvShape{5, 4, 14, 16, 3, 3, 1, 1}, 2});
  cases.push_back({ConvShape{16, 12, 14, 8, 3, 3, 1, 1}, 2});
  // F(4x4, 3x3) forward with clipped tiles (sides 14 and 18 from 16 channels).
  cases.push_back({ConvShape{16, 14, 14, 8, 3, 3, 1, 1}, 2});
  cases.push_back({ConvShape{16, 18, 14, 4, 3, 3, 1, 1}, 2});
  cases.push_back({ConvShape{2, 4, 3, 32, 2, 2, 1, 0}, 3});
  cases.push_back({ref::seed_cnn().conv1, 3});
  cases.push_back({ref::seed_cnn().conv2, 3});
  for (const auto& [s, N] : cases) {
    const std::string name = (wt::conv_winograd_applies(s) ? "s1 winograd " : "s1 ") + conv_name(s, N);
    const int Wp = wt::conv_s1_row(s), OH = s.OH(), OW = s.OW();
    ASSERT_GE(Wp, OW) << name;
    const size_t nin = (size_t)N * s.C * s.H * s.W, nout = (size_t)N * s.OC * OH * OW;
    const size_t nrow = (size_t)N * s.OC * OH * Wp;  // with junk columns
    std::vector<float> x(nin), w(s.weight_size()), b(s.OC), dout(nout);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.5f, 0.5f);
    rng.fill(b, -0.5f, 0.5f);
    rng.fill(dout, -1.f, 1.f);
    std::vector<float> pad((size_t)N * wt::conv_s1_pad_size(s), 0.f), out(nrow, kNaN);
    std::vector<float> fscratch(wt::conv_s1_forward_scratch(s), kNaN);
    wt::conv2d_s1_forward(out.data(), pad.data(), fscratch.data(), x.data(), w.data(), b.data(), N, s);
    std::vector<float> out_valid(nout), dout_rows(nrow, 0.f);  // junk columns of dout: zero
    for (size_t r = 0; r < (size_t)N * s.OC * OH; ++r)
      for (int c = 0; c < OW; ++c) {
        out_valid[r * OW + c] = out[r * Wp + c];
        dout_rows[r * Wp + c] = dout[r * OW + c];
      }
    const Vec xd = to_d(x), wd = to_d(w), bd = to_d(b), doutd = to_d(dout);
    Vec out_r(nout);
    ref::conv2d_forward(out_r.data(), xd.data(), wd.data(), bd.data(), N, s);
    // F(4x4)'s transforms scale values by up to 100 before the products and back, so
    // its outputs carry about 10x F(2x2)'s rounding relative to the output's scale
    // (measured 2e-6 of it on the 4-lane build): a floor of 5% of the scale for it.
    const bool f4 = wt::conv_winograd_applies(s) && wt::wino_for(s).m == 4;
    ref::expect_close(name + " out", out_valid.data(), out_r.data(), nout, 1e-4, f4 ? 5e-2 : 1e-2);

    std::vector<float> dw0(w.size()), db0(b.size());
    rng.fill(dw0, -1.f, 1.f);
    rng.fill(db0, -1.f, 1.f);
    std::vector<float> dw = dw0, db = db0, dx(nin, kNaN);
    std::vector<float> scratch(wt::conv_s1_backward_scratch(s), kNaN);
    wt::conv2d_s1_backward(dx.data(), dw.data(), db.data(), pad.data(), scratch.data(),
                           dout_rows.data(), w.data(), N, s);
    Vec dw_r = to_d(dw0), db_r = to_d(db0), dx_r(nin);
    ref::conv2d_backward(dx_r.data(), dw_r.data(), db_r.data(), doutd.data(), xd.data(), wd.data(), N, s);
    ref::expect_close(name + " dinp", dx.data(), dx_r.data(), nin, 1e-4);
    ref::expect_close(name + " dw (accumulated)", dw.data(), dw_r.data(), dw.size(), 1e-4);
    ref::expect_close(name + " db (accumulated)", db.data(), db_r.data(), db.size(), 1e-4);

    std::vector<float> dw2 = dw0, db2 = db0;  // dinp = null: same weight gradients
    wt::conv2d_s1_backward(nullptr, dw2.data(), db2.data(), pad.data(), scratch.data(),
                           dout_rows.data(), w.data(), N, s);
    EXPECT_EQ(dw2, dw) << name;
    EXPECT_EQ(db2, db) << name;
    if (HasFailure()) return;
  }
}

// conv2d_s1_backward given the pooled gradient (the model's convs, with their pool's
// backward folded in): dw, db and dinp from the windows' maxima only must match the
// reference's dense backward of the unpooled dout, with windows cut by ReLU and zero
// gradients among them. dout is not read (null). Shapes: 4..16 channels, one channel
// (conv1's lane trick), odd pooled grids, the model's convs.
TEST(LayersVsReference, Conv2dStride1PooledBackward) {
  ref::Rng rng(34);
  for (const ConvShape& s : {ConvShape{4, 6, 8, 3, 3, 3, 1, 1}, ConvShape{8, 10, 6, 5, 3, 3, 1, 1},
                             ConvShape{12, 4, 4, 2, 3, 3, 1, 1}, ConvShape{1, 6, 10, 3, 3, 3, 1, 1},
                             ConvShape{16, 14, 14, 4, 3, 3, 1, 1}, ref::seed_cnn().conv1,
                             ref::seed_cnn().conv2}) {
    const int N = 3, Wp = wt::conv_s1_row(s), OH = s.OH(), OW = s.OW(), PH = OH / 2, PW = OW / 2;
    const std::string name = "pooled " + conv_name(s, N);
    std::vector<float> x((size_t)N * s.C * s.H * s.W), w(s.weight_size()), b(s.OC);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.5f, 0.5f);
    rng.fill(b, -0.2f, 0.2f);
    std::vector<float> pad((size_t)N * wt::conv_s1_pad_size(s), 0.f), out((size_t)N * s.OC * OH * Wp);
    std::vector<float> fscratch(wt::conv_s1_forward_scratch(s));
    wt::conv2d_s1_forward(out.data(), pad.data(), fscratch.data(), x.data(), w.data(), b.data(), N, s);
    const size_t np = (size_t)N * s.OC * PH * PW;
    std::vector<float> pooled(np), g(np), dout(out.size(), kNaN);
    std::vector<int32_t> idx(np);
    wt::relu_maxpool2x2_forward_f32(pooled.data(), idx.data(), out.data(), (size_t)N * s.OC, OH, OW, Wp);
    for (size_t i = 0; i < np; ++i) g[i] = rng.below(5) == 0 ? 0.f : rng.uniform(-1.f, 1.f);
    wt::relu_maxpool2x2_backward_f32(dout.data(), g.data(), idx.data(), (size_t)N * s.OC, OH, OW, Wp);
    size_t cut = 0;
    for (int32_t k : idx) cut += k == 4;
    ASSERT_GT(cut, 0u) << name << ": no window cut by ReLU, the case is not covered";

    std::vector<float> scratch(wt::conv_s1_backward_scratch(s), kNaN);
    std::vector<float> dw0(w.size()), db0(b.size());
    rng.fill(dw0, -1.f, 1.f);
    rng.fill(db0, -1.f, 1.f);
    const wt::PooledGrad pg{g.data(), idx.data()};
    std::vector<float> dw = dw0, db = db0, dx(x.size(), kNaN);
    wt::conv2d_s1_backward(dx.data(), dw.data(), db.data(), pad.data(), scratch.data(), nullptr,
                           w.data(), N, s, &pg);
    // Reference: the dense backward in double from the unpooled dout's valid columns.
    Vec doutd((size_t)N * s.OC * OH * OW);
    for (size_t r = 0; r < (size_t)N * s.OC * OH; ++r)
      for (int c = 0; c < OW; ++c) doutd[r * OW + c] = dout[r * Wp + c];
    Vec dw_r = to_d(dw0), db_r = to_d(db0), dx_r(x.size());
    ref::conv2d_backward(dx_r.data(), dw_r.data(), db_r.data(), doutd.data(), to_d(x).data(), to_d(w).data(), N, s);
    ref::expect_close(name + " dw", dw.data(), dw_r.data(), dw.size(), 1e-5);
    ref::expect_close(name + " db", db.data(), db_r.data(), db.size(), 1e-5);
    ref::expect_close(name + " dinp", dx.data(), dx_r.data(), dx.size(), 1e-5);
    std::vector<float> dw2 = dw0, db2 = db0;  // dinp = null (conv1): same weight gradients
    wt::conv2d_s1_backward(nullptr, dw2.data(), db2.data(), pad.data(), scratch.data(), nullptr,
                           w.data(), N, s, &pg);
    EXPECT_EQ(dw2, dw) << name;
    EXPECT_EQ(db2, db) << name;
    if (HasFailure()) return;
  }
}

// The fused conv + ReLU + pool forward (Winograd's 2x2 tiles are the pooling windows)
// gives exactly what the conv followed by relu_maxpool2x2 gives: values and indices,
// bit for bit, including windows that hold a NaN (PyTorch's NaN rule).
TEST(LayersVsReference, Conv2dReluPoolFusedMatchesUnfused) {
  ref::Rng rng(35);
  for (const ConvShape& s : {ConvShape{4, 8, 8, 4, 3, 3, 1, 1}, ConvShape{5, 6, 10, 6, 3, 3, 1, 1},
                             ConvShape{16, 14, 18, 4, 3, 3, 1, 1}, ref::seed_cnn().conv2}) {
    ASSERT_TRUE(wt::conv_relu_pool_fused(s));
    const int N = 5, Wp = wt::conv_s1_row(s), OH = s.OH(), OW = s.OW();
    const std::string name = "fused " + conv_name(s, N);
    std::vector<float> x((size_t)N * s.C * s.H * s.W), w(s.weight_size()), b(s.OC);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.5f, 0.5f);
    rng.fill(b, -0.2f, 0.2f);
    x[x.size() / 2] = kNaN;  // one image gets NaN windows
    std::vector<float> pad1((size_t)N * wt::conv_s1_pad_size(s), 0.f), pad2 = pad1;
    std::vector<float> scratch(wt::conv_s1_forward_scratch(s)), out((size_t)N * s.OC * OH * Wp);
    const size_t np = (size_t)N * s.OC * (OH / 2) * (OW / 2);
    std::vector<float> p_ref(np), p_fused(np, -7.f);
    std::vector<int32_t> i_ref(np), i_fused(np, -7);
    wt::conv2d_s1_forward(out.data(), pad1.data(), scratch.data(), x.data(), w.data(), b.data(), N, s);
    wt::relu_maxpool2x2_forward_f32(p_ref.data(), i_ref.data(), out.data(), (size_t)N * s.OC, OH, OW, Wp);
    wt::conv2d_s1_relu_pool_forward(p_fused.data(), i_fused.data(), pad2.data(), scratch.data(), x.data(),
                                    w.data(), b.data(), N, s);
    size_t nans = 0;
    for (float v : p_ref) nans += std::isnan(v);
    EXPECT_GT(nans, 0u) << name << ": the NaN case is not covered";
    EXPECT_EQ(0, std::memcmp(p_fused.data(), p_ref.data(), np * sizeof(float))) << name << ": pooled values";
    EXPECT_EQ(i_fused, i_ref) << name << ": indices";
    EXPECT_EQ(0, std::memcmp(pad2.data(), pad1.data(), pad1.size() * sizeof(float)))
        << name << ": padded input (the backward reads it)";
    if (HasFailure()) return;
  }
}

// 5x5 convs that ReLU and a 2x2 max-pool follow take Winograd F(2x2, 5x5) in the fused
// forward: against the double reference (conv, ReLU, pool), pooled values within F(2x2,
// 5x5)'s rounding, the max's index where the window's two largest values are apart by
// more than it, and the padded input as the unfused forward leaves it (the backward
// reads it). lenet5's 6->16 conv, pads of 2 and 1 (patches read the next row's padding).
TEST(LayersVsReference, Conv2d5x5ReluPoolWinogradVsReference) {
  ref::Rng rng(36);
  for (const ConvShape& s : {ConvShape{6, 14, 14, 16, 5, 5, 1, 0}, ConvShape{4, 12, 16, 5, 5, 5, 1, 2},
                             ConvShape{8, 10, 12, 6, 5, 5, 1, 1}}) {
    ASSERT_TRUE(wt::conv_relu_pool_fused(s));
    const int N = 3, OH = s.OH(), OW = s.OW(), PH = OH / 2, PW = OW / 2;
    const std::string name = "fused 5x5 " + conv_name(s, N);
    std::vector<float> x((size_t)N * s.C * s.H * s.W), w(s.weight_size()), b(s.OC);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.5f, 0.5f);
    rng.fill(b, -0.2f, 0.2f);
    std::vector<float> pad1((size_t)N * wt::conv_s1_pad_size(s), 0.f), pad2 = pad1;
    std::vector<float> scratch(wt::conv_s1_forward_scratch(s)), out((size_t)N * s.OC * OH * wt::conv_s1_row(s));
    const size_t np = (size_t)N * s.OC * PH * PW;
    std::vector<float> pooled(np, -7.f);
    std::vector<int32_t> idx(np, -7);
    wt::conv2d_s1_relu_pool_forward(pooled.data(), idx.data(), pad2.data(), scratch.data(), x.data(), w.data(),
                                    b.data(), N, s);
    wt::conv2d_s1_forward(out.data(), pad1.data(), scratch.data(), x.data(), w.data(), b.data(), N, s);
    EXPECT_EQ(0, std::memcmp(pad2.data(), pad1.data(), pad1.size() * sizeof(float))) << name << ": padded input";
    const Vec xd = to_d(x), wd = to_d(w), bd = to_d(b);
    Vec conv((size_t)N * s.OC * OH * OW);
    ref::conv2d_forward(conv.data(), xd.data(), wd.data(), bd.data(), N, s);
    const double scale = ref::max_abs(conv.data(), conv.size()), tol = 2e-6 * scale;
    size_t checked = 0, cut = 0;
    for (size_t pl = 0; pl < (size_t)N * s.OC; ++pl)
      for (int py = 0; py < PH; ++py)
        for (int px = 0; px < PW; ++px) {
          double v[4];
          for (int q = 0; q < 4; ++q) v[q] = conv[(pl * OH + 2 * py + q / 2) * OW + 2 * px + q % 2];
          int best = 0;
          for (int q = 1; q < 4; ++q) if (v[q] > v[best]) best = q;
          double second = -1e300;
          for (int q = 0; q < 4; ++q) if (q != best) second = std::max(second, v[q]);
          const size_t o = (pl * PH + py) * PW + px;
          ASSERT_NEAR(pooled[o], std::max(0.0, v[best]), tol) << name << " window " << o;
          if (v[best] - second > 2 * tol && std::fabs(v[best]) > 2 * tol) {
            ASSERT_EQ(idx[o], v[best] > 0 ? best : 4) << name << " window " << o;
            ++checked, cut += v[best] <= 0;
          }
        }
    EXPECT_GT(checked, np / 2) << name;
    EXPECT_GT(cut, 0u) << name << ": no window cut by ReLU";
    if (HasFailure()) return;
  }
}

TEST(LayersVsReference, MaxPoolForwardBackward) {
  ref::Rng rng(32);
  struct P { int N, C, H, W, k, stride; };
  for (const P& p : {P{2, 3, 6, 8, 2, 2}, P{2, 3, 5, 7, 2, 2}, P{2, 2, 7, 7, 3, 2},
                     P{1, 2, 9, 5, 3, 2}, P{3, 8, 28, 28, 2, 2}, P{3, 16, 14, 14, 2, 2}}) {
    std::ostringstream nm;
    nm << "maxpool N=" << p.N << " C=" << p.C << " " << p.H << "x" << p.W << " k=" << p.k << " s="
       << p.stride;
    const int OH = ref::pool_out(p.H, p.k, p.stride), OW = ref::pool_out(p.W, p.k, p.stride);
    const size_t nin = (size_t)p.N * p.C * p.H * p.W, nout = (size_t)p.N * p.C * OH * OW;
    std::vector<float> x = ref::distinct_values(nin, 0.001f, rng), dout(nout);
    rng.fill(dout, -1.f, 1.f);
    std::vector<float> out(nout, kNaN), dx(nin, kNaN);
    std::vector<int32_t> am(nout, -1);
    wt::maxpool2d_forward(out.data(), am.data(), x.data(), p.N, p.C, p.H, p.W, p.k, p.stride);
    std::vector<float> out_r(nout);
    std::vector<int32_t> am_r(nout);
    ref::maxpool2d_forward(out_r.data(), am_r.data(), x.data(), p.N, p.C, p.H, p.W, p.k, p.stride);
    EXPECT_EQ(out, out_r) << nm.str();  // a max is exact
    EXPECT_EQ(am, am_r) << nm.str();
    wt::maxpool2d_backward(dx.data(), dout.data(), am.data(), p.N, p.C, p.H, p.W, p.k, p.stride);
    Vec dx_r(nin);
    const Vec xd = to_d(x), doutd = to_d(dout);
    ref::maxpool2d_backward(dx_r.data(), doutd.data(), xd.data(), p.N, p.C, p.H, p.W, p.k, p.stride);
    // Overlapping 3x3 s2 windows can route two gradients to one input: a float sum.
    ref::expect_close(nm.str() + " dinp", dx.data(), dx_r.data(), nin, 1e-6);
  }
  // Ties: the first maximum in scan order wins (PyTorch's rule).
  const float tie[4] = {1.f, 3.f, 3.f, 3.f};
  float o;
  int32_t a;
  wt::maxpool2d_forward(&o, &a, tie, 1, 1, 2, 2, 2, 2);
  EXPECT_EQ(o, 3.f);
  EXPECT_EQ(a, 1);
}

TEST(LayersVsReference, LinearForwardBackward) {
  ref::Rng rng(33);
  struct P { int N, I, O; };
  for (const P& p : {P{1, 1, 1}, P{3, 7, 5}, P{5, 17, 9}, P{3, 784, 10}, P{16, 784, 10}}) {
    std::ostringstream nm;
    nm << "linear N=" << p.N << " I=" << p.I << " O=" << p.O;
    std::vector<float> x((size_t)p.N * p.I), w((size_t)p.O * p.I), b(p.O), dout((size_t)p.N * p.O);
    rng.fill(x, -1.f, 1.f);
    rng.fill(w, -0.1f, 0.1f);
    rng.fill(b, -0.1f, 0.1f);
    rng.fill(dout, -1.f, 1.f);
    std::vector<float> out(dout.size(), kNaN);
    wt::linear_forward(out.data(), x.data(), w.data(), b.data(), p.N, p.I, p.O);
    const Vec xd = to_d(x), wd = to_d(w), bd = to_d(b), doutd = to_d(dout);
    Vec out_r(out.size());
    ref::linear_forward(out_r.data(), xd.data(), wd.data(), bd.data(), p.N, p.I, p.O);
    ref::expect_close(nm.str() + " out", out.data(), out_r.data(), out.size(), 1e-4);
    std::vector<float> dw0(w.size()), db0(b.size());
    rng.fill(dw0, -1.f, 1.f);
    rng.fill(db0, -1.f, 1.f);
    std::vector<float> dw = dw0, db = db0, dx(x.size(), kNaN);
    wt::linear_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), p.N, p.I, p.O);
    Vec dw_r = to_d(dw0), db_r = to_d(db0), dx_r(x.size());
    ref::linear_backward(dx_r.data(), dw_r.data(), db_r.data(), doutd.data(), xd.data(), wd.data(),
                         p.N, p.I, p.O);
    ref::expect_close(nm.str() + " dinp", dx.data(), dx_r.data(), dx.size(), 1e-4);
    ref::expect_close(nm.str() + " dw (accumulated)", dw.data(), dw_r.data(), dw.size(), 1e-4);
    ref::expect_close(nm.str() + " db (accumulated)", db.data(), db_r.data(), db.size(), 1e-4);
    std::vector<float> dw2 = dw0, db2 = db0;
    wt::linear_backward(nullptr, dw2.data(), db2.data(), dout.data(), x.data(), w.data(), p.N, p.I, p.O);
    EXPECT_EQ(dw2, dw) << nm.str();
    EXPECT_EQ(db2, db) << nm.str();
  }
}

TEST(LayersVsReference, SoftmaxCrossEntropy) {
  ref::Rng rng(34);
  const int N = 5, V = 10;
  std::vector<float> logits(N * V);
  rng.fill(logits, -4.f, 4.f);
  logits[3 * V + 7] = 80.f;  // a dominant logit: probs underflow, loss stays exact
  const uint8_t labels[N] = {0, 9, 4, 2, 4};
  std::vector<float> probs(N * V, kNaN), dl(N * V, kNaN);
  const double loss = wt::softmax_xent_forward(probs.data(), logits.data(), labels, N, V);
  const Vec ld = to_d(logits);
  Vec probs_r(N * V), dl_r(N * V);
  const double loss_r = ref::softmax_xent_forward(probs_r.data(), ld.data(), labels, N, V);
  EXPECT_NEAR(loss, loss_r, 1e-5 * loss_r) << "softmax_xent_forward returns the SUM over samples";
  ref::expect_close("softmax probs", probs.data(), probs_r.data(), probs.size(), 1e-4, 1e-3);
  wt::softmax_xent_backward(dl.data(), probs.data(), labels, N, V, 1.f / 8);
  ref::softmax_xent_backward(dl_r.data(), probs_r.data(), labels, N, V, 1.0 / 8);
  ref::expect_close("softmax dlogits", dl.data(), dl_r.data(), dl.size(), 1e-4, 1e-3);
}

}  // namespace
