// The planner: today's fast paths as rules chosen by layer pattern and shape.
//   Conv2d (stride 1) -> ReLU -> MaxPool2d(2) with an even output: one op, with
//     Winograd + the pool taken from the output transform (3x3 pad 1) and the
//     backward from the pooled gradient where they apply (layers.h);
//   any other stride-1 conv: the shifted GEMM (Winograd for 3x3 pad 1);
//   anything else: im2col + GEMM;
//   BatchNorm2d -> ReLU -> MaxPool2d(2) on even sizes: one op (ops_batchnorm.cc);
//   ReLU -> MaxPool2d(2) on even sizes otherwise: one fused pass;
//   Linear: the GEMM kernels; the rest one op per layer.
#include "core/network.h"

namespace wt {

bool conv_takes_s1(const Layer& l);  // ops_conv.cc

namespace {
bool is_pool2x2(const Layer& l) {
  return l.kind == LayerKind::MaxPool2d && l.kh == 2 && l.kw == 2 && l.sh == 2 && l.sw == 2 &&
         l.ph == 0 && l.pw == 0 && l.in.h % 2 == 0 && l.in.w % 2 == 0;
}
bool relu_pool_at(const NetSpec& s, size_t i) {
  return i + 1 < s.layers.size() && s.layers[i].kind == LayerKind::ReLU && is_pool2x2(s.layers[i + 1]);
}
}  // namespace

bool bias_cancelled_by_batchnorm(const NetSpec& s, int layer) {
  if (layer < 0 || layer + 1 >= (int)s.layers.size()) return false;
  const LayerKind k = s.layers[layer].kind, next = s.layers[layer + 1].kind;
  return (k == LayerKind::Conv2d || k == LayerKind::Linear) &&
         (next == LayerKind::BatchNorm2d || next == LayerKind::BatchNorm1d);
}

std::vector<std::unique_ptr<Op>> make_plan(const NetSpec& spec) {
  std::vector<std::unique_ptr<Op>> ops;
  bool params_before = false;  // an op with parameters precedes: input gradients needed
  for (size_t i = 0; i < spec.layers.size();) {
    const Layer& l = spec.layers[i];
    std::unique_ptr<Op> op;
    size_t covers = 1;
    std::string type = layer_kind_name(l.kind);
    switch (l.kind) {
      case LayerKind::Conv2d:
        if (conv_takes_s1(l) && relu_pool_at(spec, i + 1)) {
          op = make_conv(spec, (int)i, /*relu_pool_fused=*/true, !params_before);
          covers = 3;
          type += "+ReLU+MaxPool2d";
        } else {
          op = make_conv(spec, (int)i, false, !params_before);
        }
        break;
      case LayerKind::Linear: op = make_linear(spec, (int)i); break;
      case LayerKind::MaxPool2d:
      case LayerKind::AvgPool2d:
      case LayerKind::AdaptiveAvgPool2d: op = make_pool(spec, (int)i); break;
      case LayerKind::BatchNorm2d:
        if (relu_pool_at(spec, i + 1)) {
          op = make_batchnorm(spec, (int)i, /*relu_pool=*/true);
          covers = 3;
          type += "+ReLU+MaxPool2d";
          break;
        }
        op = make_batchnorm(spec, (int)i, false);
        break;
      case LayerKind::BatchNorm1d: op = make_batchnorm(spec, (int)i, false); break;
      case LayerKind::ReLU:
        if (relu_pool_at(spec, i)) {
          op = make_relu_maxpool(spec, (int)i);
          covers = 2;
          type += "+MaxPool2d";
          break;
        }
        op = make_pointwise(spec, (int)i);
        break;
      default: op = make_pointwise(spec, (int)i); break;
    }
    op->first_layer = (int)i;
    op->last_layer = (int)(i + covers - 1);
    op->in = l.in;
    op->out = spec.layers[i + covers - 1].out_shape;
    op->label = l.named ? l.name : l.name + " " + type;
    op->fwd_label = op->label + " forward";
    op->bwd_label = op->label + " backward";
    for (size_t j = i; j < i + covers; ++j) params_before |= spec.layers[j].has_params();
    ops.push_back(std::move(op));
    i += covers;
  }
  return ops;
}

}  // namespace wt
