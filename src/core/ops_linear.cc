// Linear: one GEMM over a whole chunk (layers.h: linear_forward/backward).
#include "core/layers.h"
#include "core/ops.h"

namespace wt {
namespace {

class LinearOp : public Op {
 public:
  LinearOp(const NetSpec& spec, int layer) {
    const Layer& l = spec.layers[layer];
    I_ = (int)l.in.numel(), O_ = l.out;
    for (const ParamSpec& p : spec.params) {
      if (p.layer != layer) continue;
      if (p.shape.size() == 2) w_ = p.offset;
      else b_ = p.offset, has_bias_ = true;
    }
    zeros_.assign(O_, 0.f);
  }
  bool per_image() const override { return false; }
  size_t scratch_floats(int) const override { return O_; }
  void forward(const OpContext& c, const OpIO& io, int n) const override {
    linear_forward(io.y, io.x, c.params + w_, has_bias_ ? c.params + b_ : zeros_.data(), n, I_, O_);
  }
  void backward(const OpContext& c, const OpIO& io, int n) const override {
    float* db = has_bias_ ? c.grads + b_ : io.scratch;
    linear_backward(io.dx, c.grads + w_, db, io.dy, io.x, c.params + w_, n, I_, O_);
  }

 private:
  int I_ = 0, O_ = 0;
  size_t w_ = 0, b_ = 0;
  bool has_bias_ = false;
  std::vector<float> zeros_;
};

}  // namespace

std::unique_ptr<Op> make_linear(const NetSpec& spec, int layer) {
  return std::make_unique<LinearOp>(spec, layer);
}

}  // namespace wt
