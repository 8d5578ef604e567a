// Shape inference, the parameter layout and the layer table of a spec: spec_shapes.h.
#include "core/spec_shapes.h"

#include <utility>
#include <vector>

namespace wt {

namespace {
std::string needs_4d(const Layer& l, const char* hint) {
  return std::string(layer_kind_name(l.kind)) + " needs a 4-d input [C, H, W] but its input is flat " +
         l.in.str() + hint;
}

std::string too_many_values(uint64_t c, uint64_t h, uint64_t w) {
  return "its output [" + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) +
         "] would have more than 2^28 values per image";
}

// Conv2d and the pools share the window arithmetic (PyTorch's, floor mode).
std::string window_output(Layer* l, int64_t out_c) {
  const Shape& in = l->in;
  const int64_t ph = (int64_t)in.h + 2 * l->ph, pw = (int64_t)in.w + 2 * l->pw;
  if (l->kh > ph || l->kw > pw)
    return "kernel " + hxw(l->kh, l->kw) + " (\"kernel_size\") is larger than the padded input " +
           hxw(ph, pw) + " (input " + in.str() + ", \"padding\" [" + std::to_string(l->ph) + ", " +
           std::to_string(l->pw) + "])";
  const int64_t oh = (ph - l->kh) / l->sh + 1, ow = (pw - l->kw) / l->sw + 1;
  if (oh < 1 || ow < 1) return "the output would be empty";  // unreachable: kernel fits
  if (sat_mul(sat_mul(out_c, oh), ow) > kMaxNumel) return too_many_values(out_c, oh, ow);
  l->out_shape = Shape{(int)out_c, (int)oh, (int)ow, false};
  return "";
}

}  // namespace

std::string infer_shape(Layer* l) {
  const Shape& in = l->in;
  l->out_shape = in;  // activations, Dropout
  switch (l->kind) {
    case LayerKind::Conv2d:
      if (in.flat) return needs_4d(*l, " (convolutions come before Flatten)");
      return window_output(l, l->out);
    case LayerKind::MaxPool2d:
    case LayerKind::AvgPool2d:
      if (in.flat) return needs_4d(*l, " (pooling comes before Flatten)");
      if (2 * l->ph > l->kh || 2 * l->pw > l->kw)
        return "\"padding\" [" + std::to_string(l->ph) + ", " + std::to_string(l->pw) +
               "] must be at most half of \"kernel_size\" [" + std::to_string(l->kh) + ", " +
               std::to_string(l->kw) + "] (PyTorch: pad should be at most half of effective kernel size)";
      return window_output(l, in.c);
    case LayerKind::AdaptiveAvgPool2d:
      if (in.flat) return needs_4d(*l, " (pooling comes before Flatten)");
      l->out_shape = Shape{in.c, 1, 1, false};
      return "";
    case LayerKind::Flatten:  // on a flat input a no-op, as in PyTorch
      l->out_shape = Shape{(int)in.numel(), 1, 1, true};
      return "";
    case LayerKind::Linear:
      if (!in.flat)
        return "Linear needs a flat input (put a Flatten before it); its input is " + in.str();
      l->out_shape = Shape{l->out, 1, 1, true};
      return "";
    case LayerKind::BatchNorm2d:
      if (in.flat) return needs_4d(*l, " (use BatchNorm1d after Flatten)");
      return "";
    case LayerKind::BatchNorm1d:
      if (!in.flat)
        return "BatchNorm1d needs a flat input (use BatchNorm2d before Flatten); its input is " +
               in.str();
      return "";
    case LayerKind::ReLU:
    case LayerKind::LeakyReLU:
    case LayerKind::Tanh:
    case LayerKind::Sigmoid:
    case LayerKind::Dropout: return "";
  }
  return "";
}

uint64_t layer_param_count(const Layer& l) {
  switch (l.kind) {
    case LayerKind::Conv2d:
      return sat_add(sat_mul(sat_mul((uint64_t)l.out, (uint64_t)l.in.c), (uint64_t)l.kh * l.kw),
                     l.bias ? (uint64_t)l.out : 0);
    case LayerKind::Linear:
      return sat_add(sat_mul((uint64_t)l.out, l.in.numel()), l.bias ? (uint64_t)l.out : 0);
    case LayerKind::BatchNorm2d:
    case LayerKind::BatchNorm1d: return l.affine ? 2 * (uint64_t)l.in.c : 0;
    default: return 0;
  }
}

void lay_out(NetSpec* s) {
  auto param = [s](int layer, const std::string& name, std::vector<int64_t> shape, int fan_in,
                   Init init) {
    ParamSpec p;
    p.name = s->layers[layer].name + "." + name;
    p.size = 1;
    for (int64_t d : shape) p.size *= (size_t)d;
    p.shape = std::move(shape);
    p.offset = s->num_params;
    p.fan_in = fan_in;
    p.init = init;
    p.layer = layer;
    s->num_params += p.size;
    s->params.push_back(std::move(p));
  };
  for (int i = 0; i < (int)s->layers.size(); ++i) {
    const Layer& l = s->layers[i];
    switch (l.kind) {
      case LayerKind::Conv2d: {
        const int fan_in = l.in.c * l.kh * l.kw;
        param(i, "weight", {l.out, l.in.c, l.kh, l.kw}, fan_in, Init::Uniform);
        if (l.bias) param(i, "bias", {l.out}, fan_in, Init::Uniform);
        break;
      }
      case LayerKind::Linear: {
        const int fan_in = (int)l.in.numel();
        param(i, "weight", {l.out, fan_in}, fan_in, Init::Uniform);
        if (l.bias) param(i, "bias", {l.out}, fan_in, Init::Uniform);
        break;
      }
      case LayerKind::BatchNorm2d:
      case LayerKind::BatchNorm1d: {
        if (l.affine) {
          param(i, "weight", {l.in.c}, 0, Init::Ones);
          param(i, "bias", {l.in.c}, 0, Init::Zeros);
        }
        for (int k = 0; k < 2; ++k) {
          BufferSpec b;
          b.name = l.name + (k == 0 ? ".running_mean" : ".running_var");
          b.shape = {l.in.c};
          b.size = (size_t)l.in.c;
          b.offset = s->num_buffers;
          b.init = k == 0 ? 0.f : 1.f;
          b.layer = i;
          s->num_buffers += b.size;
          s->buffers.push_back(std::move(b));
        }
        s->counters.push_back(CounterSpec{l.name + ".num_batches_tracked", i});
        break;
      }
      default: break;
    }
  }
}

// The layer table (spec.h): each layer's output, parameters and forward FLOPs.
std::vector<LayerRow> layer_table(const NetSpec& spec) {
  std::vector<LayerRow> rows;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const Layer& l = spec.layers[i];
    LayerRow r;
    r.index = (int)i;
    r.name = l.name;
    r.type = layer_kind_name(l.kind);
    r.out = l.out_shape;
    r.params = (size_t)layer_param_count(l);
    const uint64_t out = l.out_shape.numel();
    switch (l.kind) {
      case LayerKind::Conv2d:  // bias adds are not counted (torchinfo's convention)
        r.flops = 2 * sat_mul(out, (uint64_t)l.in.c * l.kh * l.kw);
        break;
      case LayerKind::Linear: r.flops = 2 * sat_mul(out, l.in.numel()); break;
      case LayerKind::MaxPool2d:
      case LayerKind::AvgPool2d: r.flops = sat_mul(out, (uint64_t)l.kh * l.kw); break;
      case LayerKind::AdaptiveAvgPool2d: r.flops = l.in.numel(); break;
      case LayerKind::Flatten: r.flops = 0; break;
      default: r.flops = out; break;  // activations, Dropout, BatchNorm
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace wt
