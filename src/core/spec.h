// The model spec: a JSON document that mirrors torch.nn.Sequential (README, "The
// model spec"). Parsing validates everything and infers every shape before anything
// is allocated; a refused spec changes nothing. The presets and the default
// hyperparameters come from src/defaults.json, compiled in (the one place the C++,
// the JS and the Python read them from).
//
//   {"input": [1, 28, 28],
//    "layers": [{"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1,
//                "name": "conv1"}, {"type": "ReLU"}, ...]}
//
// Layer types and arguments are PyTorch's class and argument names with PyTorch's
// defaults; input sizes (in_channels, in_features, num_features) are inferred.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace wt {

enum class LayerKind : uint8_t {
  Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, LeakyReLU, Tanh, Sigmoid,
  Flatten, Linear, Dropout, BatchNorm2d, BatchNorm1d
};
const char* layer_kind_name(LayerKind k);  // PyTorch's class name, e.g. "Conv2d"

// The activation of one image: [c, h, w], or c features when flat (h = w = 1).
struct Shape {
  int c = 0, h = 1, w = 1;
  bool flat = false;
  size_t numel() const { return (size_t)c * h * w; }
  std::string str() const;  // "[8, 14, 14]" or "[784]"
  bool operator==(const Shape& o) const {
    return c == o.c && h == o.h && w == o.w && flat == o.flat;
  }
};

// One layer with every argument explicit (PyTorch's defaults filled in) and its
// inferred shapes.
struct Layer {
  LayerKind kind = LayerKind::ReLU;
  std::string name;    // state-dict prefix: the spec's "name", or the index as a string
  bool named = false;  // the spec gave a name
  int out = 0;         // Conv2d out_channels, Linear out_features
  int kh = 0, kw = 0;  // kernel (Conv2d, pools)
  int sh = 1, sw = 1;  // stride (pools default to the kernel)
  int ph = 0, pw = 0;  // padding
  bool bias = true;              // Conv2d, Linear
  double negative_slope = 0.01;  // LeakyReLU
  double p = 0.5;                // Dropout
  double eps = 1e-5, momentum = 0.1;  // BatchNorm
  bool affine = true;                 // BatchNorm
  Shape in, out_shape;
  bool has_params() const;  // Conv2d, Linear, BatchNorm with affine
};

// A trainable tensor in the flat parameter buffer (llm.c: one buffer carved by a
// size table; gradients and Adam's moments mirror the layout).
enum class Init : uint8_t { Uniform, Ones, Zeros };
struct ParamSpec {
  std::string name;  // PyTorch state_dict name, e.g. "conv1.weight"
  std::vector<int64_t> shape;
  size_t offset = 0, size = 0;  // into the flat buffer
  int fan_in = 0;    // Uniform: PyTorch's default bound 1/sqrt(fan_in)
  Init init = Init::Uniform;
  int layer = 0;     // index into NetSpec::layers
};

// BatchNorm's running statistics (not trained; F32 in the flat buffer of buffers)
// and its num_batches_tracked counter (I64, one per BatchNorm layer).
struct BufferSpec {
  std::string name;  // "<layer>.running_mean" / "<layer>.running_var"
  std::vector<int64_t> shape;
  size_t offset = 0, size = 0;
  float init = 0.f;  // 0 for the mean, 1 for the variance
  int layer = 0;
};
struct CounterSpec {
  std::string name;  // "<layer>.num_batches_tracked"
  int layer = 0;
};

struct NetSpec {
  Shape input;
  std::vector<Layer> layers;
  int classes = 0;  // the last layer's output size
  std::vector<ParamSpec> params;
  size_t num_params = 0;
  std::vector<BufferSpec> buffers;
  size_t num_buffers = 0;
  std::vector<CounterSpec> counters;
  std::string canonical;  // canonical JSON (sorted keys, every argument explicit)

  const ParamSpec* find(const std::string& name) const;
  size_t input_size() const { return input.numel(); }
};

// Memory stated for validation: parameters (x4: values, gradients, Adam's two
// moments) and a batch's activations (x2: values and gradients) must each fit.
struct SpecLimits {
  size_t max_bytes = size_t(512) << 20;
  int batch_size = 64;
};

// Parses and validates a spec document. Errors name the layer's index, its type
// and the field, and say what was expected; JSON syntax errors give line and column.
Status parse_spec(const std::string& json, NetSpec* out, const SpecLimits& limits = {});

// The presets of src/defaults.json, in the file's order.
std::vector<std::string> preset_names();
// A preset's spec; an unknown name is an error that lists the presets.
Status preset_spec(const std::string& name, NetSpec* out);
// The preset whose network a spec is (the same canonical spec), else "custom": the
// model's name in checkpoints and in the JS API's Trainer.model.
std::string preset_of(const NetSpec& spec);
// The whole of src/defaults.json, as compiled in.
const std::string& defaults_json();
// "seed": the default model.
std::string default_preset();
// A preset name, else the document itself: what the CLI's --model takes.
Status spec_from_name_or_json(const std::string& name_or_json, NetSpec* out,
                              const SpecLimits& limits = {});

// One row per layer for `inspect` / the page's layer table (torchinfo's summary).
struct LayerRow {
  int index = 0;
  std::string name, type;
  Shape out;
  size_t params = 0;
  uint64_t flops = 0;  // forward multiply-adds x 2 per image (direct convolution)
};
std::vector<LayerRow> layer_table(const NetSpec& spec);

// "" when a and b describe the same network, else a sentence naming the first layer
// that differs (for refusing to resume with another model).
std::string spec_difference(const NetSpec& a, const NetSpec& b);

}  // namespace wt
