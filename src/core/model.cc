#include "core/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "kernels/kernels.h"

namespace wt {

ModelSpec ModelSpec::SeedCnn() {
  ModelSpec m;
  m.conv1 = ConvShape{1, 28, 28, 8, 3, 3, 1, 1};
  m.p1_c = 8, m.p1_h = m.conv1.OH() / 2, m.p1_w = m.conv1.OW() / 2;
  m.conv2 = ConvShape{8, m.p1_h, m.p1_w, 16, 3, 3, 1, 1};
  m.p2_c = 16, m.p2_h = m.conv2.OH() / 2, m.p2_w = m.conv2.OW() / 2;
  m.flat = m.p2_c * m.p2_h * m.p2_w;  // 784
  size_t off = 0;
  auto add = [&](const char* name, std::vector<int64_t> shape, int fan_in) {
    size_t n = 1;
    for (int64_t d : shape) n *= (size_t)d;
    m.params.push_back(ParamSpec{name, std::move(shape), off, n, fan_in});
    off += n;
  };
  add("conv1.weight", {8, 1, 3, 3}, m.conv1.K());
  add("conv1.bias", {8}, m.conv1.K());
  add("conv2.weight", {16, 8, 3, 3}, m.conv2.K());
  add("conv2.bias", {16}, m.conv2.K());
  add("fc1.weight", {10, m.flat}, m.flat);
  add("fc1.bias", {10}, m.flat);
  m.num_params = off;  // 9,098
  m.arch = "conv(1,8,3,1,1)-relu-maxpool2-conv(8,16,3,1,1)-relu-maxpool2-flatten-linear(784,10)";
  return m;
}

const ParamSpec* ModelSpec::find(const std::string& name) const {
  for (const ParamSpec& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

namespace {
// Per-image sizes of the workspace buffers (floats). Conv outputs (and their
// gradients) have padded rows: OH x Wp per channel.
struct Sizes {
  size_t x, pad1, pad2, c1, p1, c2, p2;
  explicit Sizes(const ModelSpec& m)
      : x((size_t)m.in_c * m.in_h * m.in_w),
        pad1(conv_s1_pad_size(m.conv1)),
        pad2(conv_s1_pad_size(m.conv2)),
        c1((size_t)m.conv1.OC * m.conv1.OH() * conv_s1_row(m.conv1)),
        p1((size_t)m.p1_c * m.p1_h * m.p1_w),
        c2((size_t)m.conv2.OC * m.conv2.OH() * conv_s1_row(m.conv2)),
        p2((size_t)m.flat) {}
};
}  // namespace

void Workspace::reserve(const ModelSpec& m, int n) {
  cap = n;
  const Sizes z(m);
  pad1.assign(n * z.pad1, 0.f);  // borders stay zero from here on
  pad2.assign(n * z.pad2, 0.f);
  conv_scratch.assign(std::max({conv_s1_forward_scratch(m.conv1), conv_s1_forward_scratch(m.conv2),
                                conv_s1_backward_scratch(m.conv1), conv_s1_backward_scratch(m.conv2)}),
                      0.f);
  x.assign(n * z.x, 0.f);
  c1.assign(n * z.c1, 0.f);
  p1.assign(n * z.p1, 0.f);
  if (!conv_relu_pool_fused(m.conv2)) c2.assign(n * z.c2, 0.f);
  if (!conv_pooled_backward_fits(m.conv2)) dc2.assign(n * z.c2, 0.f);
  p2.assign(n * z.p2, 0.f);
  logits.assign(n * (size_t)m.classes, 0.f);
  probs.assign(n * (size_t)m.classes, 0.f);
  i1.assign(n * z.p1, 0);
  i2.assign(n * z.p2, 0);
  dlogits.assign(n * (size_t)m.classes, 0.f);
  dp2.assign(n * z.p2, 0.f);
  dp1.assign(n * z.p1, 0.f);
  if (!conv_pooled_backward_fits(m.conv1)) dc1.assign(n * z.c1, 0.f);
}

void init_params(const ModelSpec& m, float* params, uint64_t seed) {
  SplitMix64 rng(stream_seed(seed, kStreamInit, 0));
  for (const ParamSpec& p : m.params) {
    const float bound = 1.f / std::sqrt((float)p.fan_in);
    for (size_t i = 0; i < p.size; ++i) params[p.offset + i] = (2.f * rng.uniform01() - 1.f) * bound;
  }
}

namespace {
struct Views {
  const float *c1w, *c1b, *c2w, *c2b, *fw, *fb;
};
Views views(const ModelSpec& m, const float* p) {
  return {p + m.params[0].offset, p + m.params[1].offset, p + m.params[2].offset,
          p + m.params[3].offset, p + m.params[4].offset, p + m.params[5].offset};
}
}  // namespace

LayerProfile* g_profile = nullptr;
void set_layer_profile(LayerProfile* p) { g_profile = p; }


// conv2's forward stage includes its ReLU and pool (fused, or run just after it where
// they do not fuse); each conv's backward stage includes its relu+pool's backward
// (folded in, or run just before it: layers.h, PooledGrad).
const char* const LayerProfile::kNames[LayerProfile::kStages] = {
    "conv1 forward",  "relu+pool1 forward", "conv2 forward", "fc1 forward",
    "softmax xent",   "fc1 backward",       "conv2 backward", "conv1 backward",
    "data (u8->f32)", "grad reduce",        "adam"};

namespace {
// The convolution layers run on groups of kGroup images at a time (all layers for one
// group, then the next), so each layer reads what the previous one just wrote while
// it is still in cache; layer by layer over a whole 16-image chunk streamed ~400 KB
// buffers through L2. 4 is also conv2's Winograd group.
constexpr int kGroup = 4;

// A convolution's backward together with its relu+pool's: folded into one where
// conv_pooled_backward_fits (the gradients come from the pooled gradient and the
// windows' maxima), else the pool's backward into dconv[off..] first.
void conv_pool_backward(const ConvShape& s, float* dinp, float* dw, float* db, const float* pad,
                        float* scratch, const float* w, const PooledGrad& pooled,
                        std::vector<float>& dconv, size_t off, int G, int stage) {
  ProfileScope t(stage);
  if (conv_pooled_backward_fits(s)) {
    conv2d_s1_backward(dinp, dw, db, pad, scratch, nullptr, w, G, s, &pooled);
    return;
  }
  float* d = dconv.data() + off;
  relu_maxpool2x2_backward_f32(d, pooled.g, pooled.idx, (size_t)G * s.OC, s.OH(), s.OW(), conv_s1_row(s));
  conv2d_s1_backward(dinp, dw, db, pad, scratch, d, w, G, s);
}
}  // namespace

void model_forward(const ModelSpec& m, Workspace& ws, const float* params, int N) {
  const Views w = views(m, params);
  const Sizes z(m);
  float* cs = ws.conv_scratch.data();
  // Convolutions are stride 1: the shifted-GEMM path (no im2col; conv outputs have
  // rows of Wp floats, see layers.h). ReLU is fused into the pool (exactly
  // relu-then-pool, see kernels.h), which reads the padded rows.
  for (int n0 = 0; n0 < N; n0 += kGroup) {
    const int G = std::min(kGroup, N - n0);
    float* c1 = ws.c1.data() + n0 * z.c1;
    float* p1 = ws.p1.data() + n0 * z.p1;
    { ProfileScope t(0); conv2d_s1_forward(c1, ws.pad1.data() + n0 * z.pad1, cs, ws.x.data() + n0 * z.x, w.c1w, w.c1b, G, m.conv1); }
    { ProfileScope t(1); relu_maxpool2x2_forward_f32(p1, ws.i1.data() + n0 * z.p1, c1, (size_t)G * m.conv1.OC, m.conv1.OH(), m.conv1.OW(), conv_s1_row(m.conv1)); }
    {
      // conv2 with its ReLU and pool: one pass where they fuse (the seed CNN).
      ProfileScope t(2);
      float* p2 = ws.p2.data() + n0 * z.p2;
      int32_t* i2 = ws.i2.data() + n0 * z.p2;
      if (conv_relu_pool_fused(m.conv2)) {
        conv2d_s1_relu_pool_forward(p2, i2, ws.pad2.data() + n0 * z.pad2, cs, p1, w.c2w, w.c2b, G, m.conv2);
      } else {
        float* c2 = ws.c2.data() + n0 * z.c2;
        conv2d_s1_forward(c2, ws.pad2.data() + n0 * z.pad2, cs, p1, w.c2w, w.c2b, G, m.conv2);
        relu_maxpool2x2_forward_f32(p2, i2, c2, (size_t)G * m.conv2.OC, m.conv2.OH(), m.conv2.OW(), conv_s1_row(m.conv2));
      }
    }
  }
  // p2 is [N, 16, 7, 7]: its memory order is already PyTorch's flatten order.
  { ProfileScope t(3); linear_forward(ws.logits.data(), ws.p2.data(), w.fw, w.fb, N, m.flat, m.classes); }
}

double model_forward_backward(const ModelSpec& m, Workspace& ws, const float* params,
                              float* grads, const uint8_t* labels, int N, float scale) {
  model_forward(m, ws, params, N);
  const Views w = views(m, params);
  const Sizes z(m);
  float* cs = ws.conv_scratch.data();
  float* g = grads;
  float *dc1w = g + m.params[0].offset, *dc1b = g + m.params[1].offset;
  float *dc2w = g + m.params[2].offset, *dc2b = g + m.params[3].offset;
  float *dfw = g + m.params[4].offset, *dfb = g + m.params[5].offset;
  double loss;
  {
    ProfileScope t(4);
    loss = softmax_xent_forward(ws.probs.data(), ws.logits.data(), labels, N, m.classes);
    softmax_xent_backward(ws.dlogits.data(), ws.probs.data(), labels, N, m.classes, scale);
  }
  { ProfileScope t(5); linear_backward(ws.dp2.data(), dfw, dfb, ws.dlogits.data(), ws.p2.data(), w.fw, N, m.flat, m.classes); }
  for (int n0 = 0; n0 < N; n0 += kGroup) {
    const int G = std::min(kGroup, N - n0);
    float* dp1 = ws.dp1.data() + n0 * z.p1;
    // Each conv's backward takes its relu+pool's backward along (layers.h, PooledGrad).
    conv_pool_backward(m.conv2, dp1, dc2w, dc2b, ws.pad2.data() + n0 * z.pad2, cs, w.c2w,
                       {ws.dp2.data() + n0 * z.p2, ws.i2.data() + n0 * z.p2}, ws.dc2, n0 * z.c2, G, 6);
    // conv1 is the first layer: no input gradient.
    conv_pool_backward(m.conv1, nullptr, dc1w, dc1b, ws.pad1.data() + n0 * z.pad1, cs, w.c1w,
                       {dp1, ws.i1.data() + n0 * z.p1}, ws.dc1, n0 * z.c1, G, 7);
  }
  return loss;
}

}  // namespace wt
