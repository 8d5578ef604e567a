// Shape inference, the parameter layout and the layer table of a spec
// (spec_shapes.cc), and the saturating arithmetic they share with spec.cc's checks.
// Internal to src/core: parse_spec (spec.h) is the way in.
#pragma once
#include <cstdint>
#include <string>

#include "core/spec.h"

namespace wt {

constexpr uint64_t kMaxNumel = uint64_t(1) << 28;  // values of one image at any layer

inline uint64_t sat_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}
inline uint64_t sat_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }
inline std::string hxw(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// Fills l->out_shape from l->in; "" or why the layer does not fit its input.
std::string infer_shape(Layer* l);
// The parameter count of one layer (saturating: checked against the limits afterwards).
uint64_t layer_param_count(const Layer& l);
// The flat layouts of parameters, buffers and counters, in layer order (weight before
// bias, mean before variance). Called once the sizes are known to fit.
void lay_out(NetSpec* s);

}  // namespace wt
