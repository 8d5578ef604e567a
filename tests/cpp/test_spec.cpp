// The model spec (src/core/spec.h): presets, shape inference, the parameter layout
// (PyTorch's state_dict names and order), the canonical form, the layer table,
// spec_difference, and a table of malformed specs, each refused with a message
// that names the layer, its type and the field.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/spec.h"

namespace {

using wt::LayerKind;
using wt::NetSpec;
using wt::Shape;

NetSpec parse_ok(const std::string& text, const wt::SpecLimits& limits = {}) {
  NetSpec s;
  const wt::Status st = wt::parse_spec(text, &s, limits);
  EXPECT_TRUE(st.ok()) << st.message << "\n  spec: " << text;
  return s;
}

NetSpec preset(const std::string& name) {
  NetSpec s;
  const wt::Status st = wt::preset_spec(name, &s);
  EXPECT_TRUE(st.ok()) << name << ": " << st.message;
  return s;
}

// A spec of a 1x8x8 image: the given layers, then Flatten + Linear(10) unless
// `tail` is false.
std::string spec_of(const std::string& layers, bool tail = true) {
  return "{\"input\": [1, 8, 8], \"layers\": [" + layers +
         (tail ? std::string(layers.empty() ? "" : ", ") +
                     "{\"type\": \"Flatten\"}, {\"type\": \"Linear\", \"out_features\": 10}"
               : "") +
         "]}";
}

Shape sh(int c, int h, int w) { return Shape{c, h, w, false}; }
Shape flat(int c) { return Shape{c, 1, 1, true}; }

TEST(Spec, SeedParameterTableIsTodays) {
  const NetSpec s = preset("seed");
  struct Row {
    const char* name;
    std::vector<int64_t> shape;
    size_t offset, size;
    int fan_in;
  };
  const std::vector<Row> want = {
      {"conv1.weight", {8, 1, 3, 3}, 0, 72, 9},     {"conv1.bias", {8}, 72, 8, 9},
      {"conv2.weight", {16, 8, 3, 3}, 80, 1152, 72}, {"conv2.bias", {16}, 1232, 16, 72},
      {"fc1.weight", {10, 784}, 1248, 7840, 784},   {"fc1.bias", {10}, 9088, 10, 784},
  };
  ASSERT_EQ(s.params.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(s.params[i].name, want[i].name);
    EXPECT_EQ(s.params[i].shape, want[i].shape);
    EXPECT_EQ(s.params[i].offset, want[i].offset);
    EXPECT_EQ(s.params[i].size, want[i].size);
    EXPECT_EQ(s.params[i].fan_in, want[i].fan_in);
    EXPECT_EQ(s.params[i].init, wt::Init::Uniform);
  }
  EXPECT_EQ(s.params[0].layer, 0);
  EXPECT_EQ(s.params[2].layer, 3);
  EXPECT_EQ(s.params[4].layer, 7);
  EXPECT_EQ(s.num_params, 9098u);
  EXPECT_EQ(s.classes, 10);
  EXPECT_EQ(s.input, sh(1, 28, 28));
  EXPECT_EQ(s.input_size(), 784u);
  EXPECT_TRUE(s.buffers.empty());
  EXPECT_TRUE(s.counters.empty());
  EXPECT_EQ(s.num_buffers, 0u);
  ASSERT_NE(s.find("conv2.bias"), nullptr);
  EXPECT_EQ(s.find("conv2.bias")->offset, 1232u);
  EXPECT_EQ(s.find("conv3.bias"), nullptr);

  const std::vector<Shape> outs = {sh(8, 28, 28), sh(8, 28, 28), sh(8, 14, 14), sh(16, 14, 14),
                                   sh(16, 14, 14), sh(16, 7, 7),  flat(784),      flat(10)};
  ASSERT_EQ(s.layers.size(), outs.size());
  for (size_t i = 0; i < outs.size(); ++i) EXPECT_EQ(s.layers[i].out_shape, outs[i]) << i;
  EXPECT_EQ(s.layers[3].in, sh(8, 14, 14));
  const wt::Layer& pool = s.layers[2];
  EXPECT_EQ(pool.kind, LayerKind::MaxPool2d);
  EXPECT_EQ(pool.kh, 2);
  EXPECT_EQ(pool.sh, 2);  // stride defaults to the kernel
  EXPECT_EQ(pool.sw, 2);
  EXPECT_EQ(pool.ph, 0);
  EXPECT_EQ(s.layers[0].ph, 1);
  EXPECT_EQ(s.layers[0].sh, 1);
  EXPECT_TRUE(s.layers[0].bias);
  EXPECT_TRUE(s.layers[0].has_params());
  EXPECT_FALSE(s.layers[1].has_params());
}

TEST(Spec, PresetsInFileOrderWithTheirParameterCounts) {
  EXPECT_EQ(wt::preset_names(),
            (std::vector<std::string>{"seed", "mlp", "lenet5", "bn-cnn", "cifar-convnet"}));
  EXPECT_EQ(wt::default_preset(), "seed");
  EXPECT_NE(wt::defaults_json().find("\"presets\""), std::string::npos);
  EXPECT_NE(wt::defaults_json().find("\"hyperparameters\""), std::string::npos);

  // PyTorch: sum(p.numel() for p in nn.Sequential(...).parameters()).
  struct Want {
    const char* name;
    size_t params;
    Shape input;
    size_t layers;
  };
  const std::vector<Want> want = {
      {"seed", 9098, sh(1, 28, 28), 8},          // 80 + 1168 + 7850
      {"mlp", 203530, sh(1, 28, 28), 5},         // 784*256+256 + 256*10+10
      {"lenet5", 61706, sh(1, 28, 28), 12},      // 156 + 2416 + 48120 + 10164 + 850
      {"bn-cnn", 421834, sh(1, 28, 28), 13},     // 320+64 + 18496+128 + 401536 + 1290
      {"cifar-convnet", 106538, sh(3, 32, 32), 12},  // 896 + 9248 + 18496 + 36928 + 40970
  };
  for (const Want& w : want) {
    SCOPED_TRACE(w.name);
    const NetSpec s = preset(w.name);
    EXPECT_EQ(s.num_params, w.params);
    EXPECT_EQ(s.classes, 10);
    EXPECT_EQ(s.input, w.input);
    EXPECT_EQ(s.layers.size(), w.layers);
    size_t off = 0;
    for (const wt::ParamSpec& p : s.params) {  // consecutive, in layer order
      EXPECT_EQ(p.offset, off) << p.name;
      off += p.size;
    }
    EXPECT_EQ(off, s.num_params);
  }
  EXPECT_EQ(preset("lenet5").layers[6].out_shape, flat(400));
  EXPECT_EQ(preset("cifar-convnet").layers[10].out_shape, flat(4096));
}

TEST(Spec, BatchNormStateFollowsPyTorch) {
  const NetSpec s = preset("bn-cnn");
  std::vector<std::string> names;
  for (const wt::ParamSpec& p : s.params) names.push_back(p.name);
  // nn.Sequential's state_dict order, parameters only.
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "4.weight",
                                             "4.bias", "5.weight", "5.bias", "10.weight",
                                             "10.bias", "12.weight", "12.bias"}));
  const wt::ParamSpec* g = s.find("1.weight");
  const wt::ParamSpec* b = s.find("1.bias");
  ASSERT_TRUE(g && b);
  EXPECT_EQ(g->init, wt::Init::Ones);
  EXPECT_EQ(b->init, wt::Init::Zeros);
  EXPECT_EQ(g->shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(s.find("10.weight")->shape, (std::vector<int64_t>{128, 3136}));
  EXPECT_EQ(s.find("10.weight")->fan_in, 3136);

  ASSERT_EQ(s.buffers.size(), 4u);
  const char* bn[] = {"1.running_mean", "1.running_var", "5.running_mean", "5.running_var"};
  const size_t offs[] = {0, 32, 64, 128};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.buffers[i].name, bn[i]);
    EXPECT_EQ(s.buffers[i].offset, offs[i]);
    EXPECT_EQ(s.buffers[i].init, i % 2 ? 1.f : 0.f);
    EXPECT_EQ(s.buffers[i].layer, i < 2 ? 1 : 5);
  }
  EXPECT_EQ(s.num_buffers, 192u);
  ASSERT_EQ(s.counters.size(), 2u);
  EXPECT_EQ(s.counters[0].name, "1.num_batches_tracked");
  EXPECT_EQ(s.counters[1].name, "5.num_batches_tracked");
  EXPECT_EQ(s.counters[1].layer, 5);

  // Without affine: no parameters, still the buffers and the counter.
  const NetSpec n = parse_ok(
      "{\"input\": [1, 4, 4], \"layers\": [{\"type\": \"Flatten\"}, {\"type\": \"BatchNorm1d\", "
      "\"affine\": false, \"name\": \"bn\"}]}");
  EXPECT_EQ(n.num_params, 0u);
  EXPECT_TRUE(n.params.empty());
  ASSERT_EQ(n.buffers.size(), 2u);
  EXPECT_EQ(n.buffers[1].name, "bn.running_var");
  EXPECT_EQ(n.buffers[1].shape, (std::vector<int64_t>{16}));
  EXPECT_EQ(n.counters.size(), 1u);
  EXPECT_EQ(n.classes, 16);
  EXPECT_FALSE(n.layers[1].has_params());
}

TEST(Spec, NamesDefaultToIndices) {
  const NetSpec s = parse_ok(spec_of(
      "{\"type\": \"Conv2d\", \"out_channels\": 2, \"kernel_size\": 3, \"name\": \"stem\"}, "
      "{\"type\": \"ReLU\"}"));
  ASSERT_EQ(s.layers.size(), 4u);
  EXPECT_EQ(s.layers[0].name, "stem");
  EXPECT_TRUE(s.layers[0].named);
  EXPECT_EQ(s.layers[1].name, "1");
  EXPECT_FALSE(s.layers[1].named);
  EXPECT_EQ(s.layers[3].name, "3");
  EXPECT_EQ(s.params[0].name, "stem.weight");
  EXPECT_EQ(s.params[2].name, "3.weight");
  EXPECT_EQ(s.params[3].name, "3.bias");
  EXPECT_EQ(s.params[2].shape, (std::vector<int64_t>{10, 72}));  // 2 x 6 x 6
}

TEST(Spec, CanonicalIsCompleteSortedAndIdempotent) {
  const NetSpec s = parse_ok(
      "{\"layers\": [{\"type\": \"MaxPool2d\", \"kernel_size\": [2, 3], \"name\": \"p\"}, "
      "{\"name\": \"f\", \"type\": \"Flatten\"}, {\"type\": \"Dropout\"}, "
      "{\"type\": \"Linear\", \"out_features\": 3, \"bias\": false}], \"input\": [1, 4, 6], "
      "\"description\": \"ignored\", \"name\": \"ignored too\"}");
  EXPECT_EQ(s.canonical,
            "{\"input\":[1,4,6],\"layers\":[{\"kernel_size\":[2,3],\"name\":\"p\",\"padding\":[0,0],"
            "\"stride\":[2,3],\"type\":\"MaxPool2d\"},{\"name\":\"f\",\"type\":\"Flatten\"},"
            "{\"p\":0.5,\"type\":\"Dropout\"},{\"bias\":false,\"out_features\":3,\"type\":\"Linear\"}]}");
  EXPECT_EQ(parse_ok(s.canonical).canonical, s.canonical);

  // Every type, every argument, odd values: canonical(canonical) == canonical.
  const std::string all = spec_of(
      "{\"type\": \"Conv2d\", \"out_channels\": 3, \"kernel_size\": [3, 2], \"stride\": [2, 1], "
      "\"padding\": [1, 0], \"bias\": false}, {\"type\": \"BatchNorm2d\", \"eps\": 0.001, "
      "\"momentum\": 0.3, \"affine\": false}, {\"type\": \"LeakyReLU\", \"negative_slope\": 0.2}, "
      "{\"type\": \"AvgPool2d\", \"kernel_size\": 2, \"stride\": 1, \"padding\": 1}, "
      "{\"type\": \"MaxPool2d\", \"kernel_size\": 3, \"stride\": null}, {\"type\": \"Tanh\"}, "
      "{\"type\": \"Sigmoid\"}, {\"type\": \"AdaptiveAvgPool2d\", \"output_size\": [1, 1]}, "
      "{\"type\": \"Flatten\"}, {\"type\": \"Flatten\"}, {\"type\": \"BatchNorm1d\", \"momentum\": 1}, "
      "{\"type\": \"Dropout\", \"p\": 0}, {\"type\": \"Linear\", \"out_features\": 7}");
  const NetSpec a = parse_ok(all);
  const NetSpec b = parse_ok(a.canonical);
  EXPECT_EQ(b.canonical, a.canonical);
  EXPECT_EQ(wt::spec_difference(a, b), "");
  EXPECT_NE(a.canonical.find("\"momentum\":1.0"), std::string::npos) << a.canonical;
  EXPECT_NE(a.canonical.find("\"eps\":0.001"), std::string::npos) << a.canonical;
  EXPECT_NE(a.canonical.find("\"output_size\":[1,1]"), std::string::npos) << a.canonical;
  for (const std::string& name : wt::preset_names()) {
    const NetSpec p = preset(name);
    EXPECT_EQ(parse_ok(p.canonical).canonical, p.canonical) << name;
    EXPECT_EQ(p.canonical.find("description"), std::string::npos) << name;
  }
}

TEST(Spec, ShapeInferenceFollowsPyTorch) {
  const NetSpec s = parse_ok(spec_of(
      "{\"type\": \"Conv2d\", \"out_channels\": 3, \"kernel_size\": [3, 2], \"stride\": [2, 1], "
      "\"padding\": [1, 0]}, "                                                   // [3, 4, 7]
      "{\"type\": \"AvgPool2d\", \"kernel_size\": 2, \"stride\": 1, \"padding\": 1}, "  // [3, 5, 8]
      "{\"type\": \"MaxPool2d\", \"kernel_size\": 3, \"stride\": null}, "       // [3, 1, 2]
      "{\"type\": \"AdaptiveAvgPool2d\", \"output_size\": 1}",                  // [3, 1, 1]
      true));
  EXPECT_EQ(s.layers[0].out_shape, sh(3, 4, 7));
  EXPECT_EQ(s.layers[1].out_shape, sh(3, 5, 8));
  EXPECT_EQ(s.layers[2].out_shape, sh(3, 1, 2));
  EXPECT_EQ(s.layers[2].sh, 3);
  EXPECT_EQ(s.layers[3].out_shape, sh(3, 1, 1));
  EXPECT_EQ(s.layers[4].out_shape, flat(3));
  EXPECT_EQ(s.params[0].shape, (std::vector<int64_t>{3, 1, 3, 2}));
  EXPECT_EQ(s.params[0].fan_in, 6);
  EXPECT_EQ(s.params[2].shape, (std::vector<int64_t>{10, 3}));
  EXPECT_EQ(Shape(sh(8, 14, 14)).str(), "[8, 14, 14]");
  EXPECT_EQ(flat(784).str(), "[784]");
  EXPECT_STREQ(wt::layer_kind_name(LayerKind::AdaptiveAvgPool2d), "AdaptiveAvgPool2d");
  EXPECT_STREQ(wt::layer_kind_name(LayerKind::BatchNorm1d), "BatchNorm1d");
}

// Malformed specs: each must be refused with a message containing `needle`, and
// must leave a previously parsed NetSpec as it was.
struct Bad {
  std::string spec, needle;
};

const std::string kConv = "{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3";

std::vector<Bad> bad_specs() {
  return {
      // The document.
      {"", "not valid JSON at line 1, column"},
      {"[1, 2]", "the spec must be a JSON object"},
      {"\"seed\"", "the spec must be a JSON object"},
      {"{\"layers\": [{\"type\": \"Flatten\"}]}", "\"input\" is missing"},
      {"{\"input\": [1, 2, 2]}", "\"layers\" is missing"},
      {"{\"input\": [1, 2, 2], \"layers\": []}", "\"layers\" must be a non-empty array"},
      {"{\"input\": [1, 2, 2], \"layers\": {}}", "\"layers\" must be a non-empty array"},
      {"{\"input\": [1, 28], \"layers\": [{\"type\": \"Flatten\"}]}",
       "\"input\" must be [C, H, W] of positive integers, got [1, 28]"},
      {"{\"input\": [1, 0, 28], \"layers\": [{\"type\": \"Flatten\"}]}",
       "\"input\" must be [C, H, W] of positive integers, got [1, 0, 28]"},
      {"{\"input\": [1, 28.5, 28], \"layers\": [{\"type\": \"Flatten\"}]}", "got [1, 28.5, 28]"},
      {"{\"input\": [1, 70000, 2], \"layers\": [{\"type\": \"Flatten\"}]}", "at most 65536"},
      {"{\"input\": [1024, 1024, 1024], \"layers\": [{\"type\": \"Flatten\"}]}",
       "more than 2^28 values per image"},
      {"{\"input\": [1, 2, 2], \"layer\": [], \"layers\": [{\"type\": \"Flatten\"}]}",
       "unknown key \"layer\" at the top level"},
      {"{\"input\": [1, 2, 2], \"description\": 5, \"layers\": [{\"type\": \"Flatten\"}]}",
       "\"description\" must be a string, got 5"},
      // Layer objects and types.
      {spec_of("5"), "layer 0: must be an object like {\"type\": \"ReLU\"}, got 5"},
      {spec_of("{\"out_features\": 3}"), "layer 0: \"type\" is missing; it is one of Conv2d, "},
      {spec_of("{\"type\": 7}"), "layer 0: \"type\" must be a string"},
      {spec_of("{\"type\": \"Conv3d\"}"),
       "layer 0: unknown type \"Conv3d\"; supported types: Conv2d, MaxPool2d, AvgPool2d, "
       "AdaptiveAvgPool2d, ReLU, LeakyReLU, Tanh, Sigmoid, Flatten, Linear, Dropout, BatchNorm2d, "
       "BatchNorm1d"},
      {spec_of("{\"type\": \"relu\"}"), "did you mean \"ReLU\"?"},
      {spec_of("{\"type\": \"ReLU\", \"inplace\": true}"),
       "layer 0 (ReLU): unknown argument \"inplace\"; ReLU takes no arguments"},
      {spec_of(kConv + ", \"dilation\": 2}"),
       "layer 0 (Conv2d): unknown argument \"dilation\"; Conv2d takes out_channels, kernel_size, "
       "stride, padding, bias"},
      // Argument values.
      {spec_of("{\"type\": \"Conv2d\", \"kernel_size\": 3}"),
       "layer 0 (Conv2d): \"out_channels\" is missing (a positive integer)"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4}"),
       "layer 0 (Conv2d): \"kernel_size\" is missing"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": -1}"),
       "layer 0 (Conv2d): \"kernel_size\" must be a positive integer or [h, w] of positive "
       "integers, got -1"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 0}"),
       "layer 0 (Conv2d): \"kernel_size\" must be a positive integer"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 2.5, \"kernel_size\": 3}"),
       "layer 0 (Conv2d): \"out_channels\" must be a positive integer, got 2.5"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 2.0, \"kernel_size\": 3}"),
       "\"out_channels\" must be a positive integer, got 2.0"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": true, \"kernel_size\": 3}"),
       "layer 0 (Conv2d): \"out_channels\" must be a positive integer, got true"},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": \"8\", \"kernel_size\": 3}"),
       "\"out_channels\" must be a positive integer, got \"8\""},
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 100000, \"kernel_size\": 3}"),
       "layer 0 (Conv2d): \"out_channels\" must be at most 65536, got 100000"},
      {spec_of(kConv + ", \"stride\": [1, 2, 3]}"),
       "layer 0 (Conv2d): \"stride\" must be a positive integer or [h, w] of positive integers, "
       "got [1, 2, 3]"},
      {spec_of(kConv + ", \"stride\": null}"), "layer 0 (Conv2d): \"stride\" must be"},
      {spec_of(kConv + ", \"padding\": -1}"),
       "layer 0 (Conv2d): \"padding\" must be a non-negative integer or [h, w] of non-negative "
       "integers, got -1"},
      {spec_of(kConv + ", \"padding\": \"same\"}"), "\"padding\" must be a non-negative integer"},
      {spec_of(kConv + ", \"bias\": 1}"), "layer 0 (Conv2d): \"bias\" must be true or false, got 1"},
      {spec_of("{\"type\": \"Dropout\", \"p\": 1}"),
       "layer 0 (Dropout): \"p\" must be a number in [0, 1), got 1"},
      {spec_of("{\"type\": \"Dropout\", \"p\": -0.1}"), "\"p\" must be a number in [0, 1), got -0.1"},
      {spec_of("{\"type\": \"Dropout\", \"p\": null}"), "layer 0 (Dropout): \"p\" must be a number"},
      {spec_of("{\"type\": \"BatchNorm2d\", \"eps\": 0}"),
       "layer 0 (BatchNorm2d): \"eps\" must be a positive number, got 0"},
      {spec_of("{\"type\": \"BatchNorm2d\", \"momentum\": 1.5}"),
       "layer 0 (BatchNorm2d): \"momentum\" must be a number in [0, 1], got 1.5"},
      {spec_of("{\"type\": \"BatchNorm2d\", \"affine\": \"yes\"}"),
       "layer 0 (BatchNorm2d): \"affine\" must be true or false, got \"yes\""},
      {spec_of("{\"type\": \"LeakyReLU\", \"negative_slope\": false}"),
       "layer 0 (LeakyReLU): \"negative_slope\" must be a number, got false"},
      {spec_of("{\"type\": \"AdaptiveAvgPool2d\", \"output_size\": 2}"),
       "layer 0 (AdaptiveAvgPool2d): \"output_size\" must be 1 or [1, 1]"},
      {spec_of("{\"type\": \"AdaptiveAvgPool2d\"}"),
       "layer 0 (AdaptiveAvgPool2d): \"output_size\" is missing"},
      {spec_of("{\"type\": \"MaxPool2d\", \"kernel_size\": 2, \"stride\": 0}"),
       "layer 0 (MaxPool2d): \"stride\" must be a positive integer or [h, w] of positive integers "
       "(or null: the kernel size), got 0"},
      // Names.
      {spec_of("{\"type\": \"ReLU\", \"name\": \"conv.1\"}"),
       "layer 0 (ReLU): \"name\" must be a string of 1 to 64 letters, digits and _"},
      {spec_of("{\"type\": \"ReLU\", \"name\": \"12\"}"), "layer 0 (ReLU): \"name\" must be"},
      {spec_of("{\"type\": \"ReLU\", \"name\": \"\"}"), "layer 0 (ReLU): \"name\" must be"},
      {spec_of("{\"type\": \"ReLU\", \"name\": null}"), "got null"},
      {spec_of("{\"type\": \"ReLU\", \"name\": \"a\"}, {\"type\": \"Tanh\", \"name\": \"a\"}"),
       "layer 1 (Tanh): \"name\" \"a\" is already the name of layer 0 (ReLU)"},
      // Shapes.
      {spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 9}"),
       "layer 0 (Conv2d): kernel 9x9 (\"kernel_size\") is larger than the padded input 8x8"},
      {spec_of("{\"type\": \"MaxPool2d\", \"kernel_size\": 4}, {\"type\": \"MaxPool2d\", "
               "\"kernel_size\": 2}, {\"type\": \"MaxPool2d\", \"kernel_size\": 2}"),
       "layer 2 (MaxPool2d): kernel 2x2 (\"kernel_size\") is larger than the padded input 1x1"},
      {spec_of("{\"type\": \"MaxPool2d\", \"kernel_size\": 3, \"padding\": 2}"),
       "layer 0 (MaxPool2d): \"padding\" [2, 2] must be at most half of \"kernel_size\" [3, 3]"},
      {spec_of("{\"type\": \"AvgPool2d\", \"kernel_size\": [4, 2], \"padding\": [1, 2]}"),
       "layer 0 (AvgPool2d): \"padding\" [1, 2] must be at most half"},
      {spec_of("{\"type\": \"Linear\", \"out_features\": 10}", false),
       "layer 0 (Linear): Linear needs a flat input (put a Flatten before it); its input is [1, 8, 8]"},
      {spec_of("{\"type\": \"Flatten\"}, " + kConv + "}", false),
       "layer 1 (Conv2d): Conv2d needs a 4-d input [C, H, W] but its input is flat [64]"},
      {spec_of("{\"type\": \"Flatten\"}, {\"type\": \"MaxPool2d\", \"kernel_size\": 2}", false),
       "layer 1 (MaxPool2d): MaxPool2d needs a 4-d input"},
      {spec_of("{\"type\": \"Flatten\"}, {\"type\": \"BatchNorm2d\"}", false),
       "layer 1 (BatchNorm2d): BatchNorm2d needs a 4-d input [C, H, W] but its input is flat [64]"},
      {spec_of("{\"type\": \"BatchNorm1d\"}"),
       "layer 0 (BatchNorm1d): BatchNorm1d needs a flat input (use BatchNorm2d before Flatten); its "
       "input is [1, 8, 8]"},
      {spec_of("{\"type\": \"ReLU\"}", false),
       "layer 0 (ReLU): the last layer's output must be flat class scores (end with "
       "Flatten/Linear); it is [1, 8, 8]"},
      {spec_of("{\"type\": \"Flatten\"}, {\"type\": \"Linear\", \"out_features\": 1}", false),
       "layer 1 (Linear): the last layer's output is the class scores, 1 of them; there must be 2 "
       "to 256 classes"},
      {spec_of("{\"type\": \"Flatten\"}, {\"type\": \"Linear\", \"out_features\": 1000}", false),
       "1000 of them; there must be 2 to 256 classes (labels are bytes)"},
      // Duplicate keys.
      {spec_of(kConv + ", \"kernel_size\": 5}"), "layer 0 (Conv2d): \"kernel_size\" is given twice"},
      {"{\"input\": [1, 2, 2], \"input\": [1, 2, 2], \"layers\": [{\"type\": \"Flatten\"}]}",
       "\"input\" is given twice at the top level"},
  };
}

TEST(Spec, MalformedSpecsAreRefusedWithTheirMessage) {
  const std::vector<Bad> bad = bad_specs();
  EXPECT_GE(bad.size(), 30u);
  const NetSpec before = preset("bn-cnn");
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.spec);
    NetSpec s = before;
    const wt::Status st = wt::parse_spec(b.spec, &s);
    ASSERT_FALSE(st.ok()) << "accepted; expected a message containing: " << b.needle;
    EXPECT_NE(st.message.find(b.needle), std::string::npos)
        << "message: " << st.message << "\nlacks:   " << b.needle;
    EXPECT_EQ(st.message.find('\n'), std::string::npos) << st.message;  // one line
    // A refused spec changes nothing.
    EXPECT_EQ(s.canonical, before.canonical);
    EXPECT_EQ(s.layers.size(), before.layers.size());
    EXPECT_EQ(s.params.size(), before.params.size());
    EXPECT_EQ(s.buffers.size(), before.buffers.size());
    EXPECT_EQ(s.counters.size(), before.counters.size());
    EXPECT_EQ(s.num_params, before.num_params);
    EXPECT_EQ(s.classes, before.classes);
  }
}

TEST(Spec, JsonSyntaxErrorsGiveLineAndColumn) {
  NetSpec s;
  wt::Status st = wt::parse_spec("{\"input\": [1, 28, 28],\n \"layers\": [\n  {\"type\": \"ReLU\"}\n  "
                                 "{\"type\": \"Flatten\"}]}",
                                 &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("not valid JSON at line 4, column 3"), std::string::npos) << st.message;
  EXPECT_EQ(st.message.find("json.exception"), std::string::npos) << st.message;

  st = wt::parse_spec("{\"input\": [1, 1e999, 1]}", &s);  // nlohmann: no position of its own
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("not valid JSON at line 1, column"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("number overflow"), std::string::npos) << st.message;

  st = wt::parse_spec("{\"input\": [1, 2, 2]} x", &s);  // trailing bytes
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("line 1"), std::string::npos) << st.message;

  // Invalid UTF-8 in the document: the message quotes it but stays valid UTF-8.
  st = wt::parse_spec("{\"name\": \"\xff\xfe\"}", &s);
  ASSERT_FALSE(st.ok());
  for (unsigned char c : st.message) EXPECT_LT(c, 0x80) << st.message;
  // Deep nesting stops early (a spec needs 4 levels).
  st = wt::parse_spec(std::string(100000, '['), &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("more than 32 levels deep"), std::string::npos) << st.message;
  EXPECT_TRUE(wt::parse_spec("{\"input\": [1, 2, 2], \"layers\": [{\"type\": \"Flatten\", \"x\": " +
                             std::string(28, '[') + std::string(28, ']') + "}]}",
                             &s)
                  .message.find("unknown argument \"x\"") != std::string::npos);
  // A long broken token is clipped.
  st = wt::parse_spec("{\"input\": \"" + std::string(10000, 'x'), &s);
  ASSERT_FALSE(st.ok());
  EXPECT_LT(st.message.size(), 400u);
}

TEST(Spec, MemoryLimit) {
  // 256 -> 65536 -> 256 features: 33.6M parameters x 16 bytes = 512.6 MiB > 512 MiB.
  const std::string big =
      "{\"input\": [1, 16, 16], \"layers\": [{\"type\": \"Flatten\"}, {\"type\": \"Linear\", "
      "\"out_features\": 65536}, {\"type\": \"Linear\", \"out_features\": 256}]}";
  NetSpec s = preset("seed");
  wt::Status st = wt::parse_spec(big, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("the model has 33620224 parameters, which need 513.0 MiB"),
            std::string::npos)
      << st.message;
  EXPECT_NE(st.message.find("more than the limit of 512.0 MiB"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("the largest is layer 1 (Linear)"), std::string::npos) << st.message;
  EXPECT_EQ(s.num_params, 9098u);  // unchanged
  wt::SpecLimits roomy;
  roomy.max_bytes = size_t(1) << 30;
  EXPECT_TRUE(wt::parse_spec(big, &s, roomy).ok());
  EXPECT_EQ(s.num_params, 33620224u);

  // Activations: (1 + 64 + 64 + 16) x 4096 values x 8 bytes x batch.
  const std::string wide =
      "{\"input\": [1, 64, 64], \"layers\": [{\"type\": \"Conv2d\", \"out_channels\": 64, "
      "\"kernel_size\": 3, \"padding\": 1}, {\"type\": \"ReLU\"}, {\"type\": \"Conv2d\", "
      "\"out_channels\": 16, \"kernel_size\": 1}, {\"type\": \"AdaptiveAvgPool2d\", "
      "\"output_size\": 1}, {\"type\": \"Flatten\"}]}";
  wt::SpecLimits tight;
  tight.max_bytes = size_t(64) << 20;
  tight.batch_size = 64;
  st = wt::parse_spec(wide, &s, tight);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("a batch of 64 needs 290.0 MiB for activations"), std::string::npos)
      << st.message;
  EXPECT_NE(st.message.find("more than the limit of 64.0 MiB"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("the largest output is layer 0 (Conv2d), [64, 64, 64]"),
            std::string::npos)
      << st.message;
  tight.batch_size = 8;  // 36.3 MiB
  EXPECT_TRUE(wt::parse_spec(wide, &s, tight).ok());
  EXPECT_EQ(s.classes, 16);

  // Sizes that would overflow int are refused whatever the limit.
  wt::SpecLimits huge;
  huge.max_bytes = SIZE_MAX;
  st = wt::parse_spec(
      "{\"input\": [1, 1024, 1024], \"layers\": [{\"type\": \"Conv2d\", \"out_channels\": 512, "
      "\"kernel_size\": 1}, {\"type\": \"Flatten\"}]}",
      &s, huge);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("layer 0 (Conv2d): its output [512, 1024, 1024] would have more than "
                            "2^28 values per image"),
            std::string::npos)
      << st.message;
  st = wt::parse_spec(
      "{\"input\": [4096, 64, 64], \"layers\": [{\"type\": \"Conv2d\", \"out_channels\": 65536, "
      "\"kernel_size\": 64}, {\"type\": \"Flatten\"}, {\"type\": \"Linear\", \"out_features\": 10}]}",
      &s, huge);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("more than the 2^31 - 1 supported"), std::string::npos) << st.message;
}

TEST(Spec, LayerTableOfTheSeed) {
  const std::vector<wt::LayerRow> rows = wt::layer_table(preset("seed"));
  ASSERT_EQ(rows.size(), 8u);
  const char* types[] = {"Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                         "Linear"};
  const char* names[] = {"conv1", "1", "2", "conv2", "4", "5", "6", "fc1"};
  const size_t params[] = {80, 0, 0, 1168, 0, 0, 0, 7850};
  const uint64_t flops[] = {112896,  // 2 * 8*28*28 * 9
                            6272,    // 8*28*28
                            6272,    // 8*14*14 outputs x 4
                            451584,  // 2 * 16*14*14 * 72
                            3136,   3136, 0,
                            15680};  // 2 * 10 * 784
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(rows[i].index, i);
    EXPECT_EQ(rows[i].type, types[i]);
    EXPECT_EQ(rows[i].name, names[i]);
    EXPECT_EQ(rows[i].params, params[i]);
    EXPECT_EQ(rows[i].flops, flops[i]);
  }
  EXPECT_EQ(rows[5].out, sh(16, 7, 7));
  EXPECT_EQ(rows[7].out, flat(10));

  // BatchNorm's affine parameters count, its buffers do not.
  const std::vector<wt::LayerRow> bn = wt::layer_table(preset("bn-cnn"));
  EXPECT_EQ(bn[1].params, 64u);
  EXPECT_EQ(bn[1].flops, 32u * 28 * 28);
  size_t total = 0;
  for (const wt::LayerRow& r : bn) total += r.params;
  EXPECT_EQ(total, 421834u);
}

TEST(Spec, DifferenceNamesTheFirstDifferingLayer) {
  const NetSpec seed = preset("seed"), lenet = preset("lenet5"), cifar = preset("cifar-convnet");
  EXPECT_EQ(wt::spec_difference(seed, preset("seed")), "");
  EXPECT_EQ(wt::spec_difference(seed, cifar),
            "the input is [1, 28, 28] here but [3, 32, 32] in the checkpoint");
  EXPECT_EQ(wt::spec_difference(seed, lenet),
            "layer 0 (conv1, Conv2d) differs: \"out_channels\" is 8 here but 6 in the checkpoint");

  const NetSpec a = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3}"));
  const NetSpec b = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3, "
                                     "\"padding\": 1}"));
  EXPECT_EQ(wt::spec_difference(a, b),
            "layer 0 (0, Conv2d) differs: \"padding\" is [0,0] here but [1,1] in the checkpoint");
  const NetSpec c = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3, "
                                     "\"name\": \"c\"}"));
  EXPECT_EQ(wt::spec_difference(a, c),
            "layer 0 (0, Conv2d) differs: it is named \"0\" here but \"c\" in the checkpoint");
  const NetSpec d = parse_ok(spec_of("{\"type\": \"MaxPool2d\", \"kernel_size\": 2}"));
  EXPECT_EQ(wt::spec_difference(a, d),
            "layer 0 differs: 0 = Conv2d(out_channels=4, kernel_size=[3,3], stride=[1,1], "
            "padding=[0,0], bias=true) here but 0 = MaxPool2d(kernel_size=[2,2], stride=[2,2], "
            "padding=[0,0]) in the checkpoint");
  const NetSpec e = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3}, "
                                     "{\"type\": \"ReLU\"}"));
  const std::string ae = wt::spec_difference(a, e);
  EXPECT_EQ(ae.rfind("layer 1 differs: 1 = Flatten() here but 1 = ReLU() in the checkpoint", 0), 0u)
      << ae;
  const NetSpec f = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3}, "
                                     "{\"type\": \"Flatten\"}, {\"type\": \"Dropout\"}",
                                     false));
  // f: Conv2d, Flatten, Dropout; its last layer is flat [144] (144 classes).
  const NetSpec g = parse_ok(spec_of("{\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3}, "
                                     "{\"type\": \"Flatten\"}",
                                     false));
  EXPECT_EQ(wt::spec_difference(g, f), "the checkpoint's model has 3 layers, this one 2");
  EXPECT_EQ(wt::spec_difference(f, g), "the checkpoint's model has 2 layers, this one 3");
}

TEST(Spec, NameOrJson) {
  NetSpec s;
  ASSERT_TRUE(wt::spec_from_name_or_json("  mlp\n", &s).ok());
  EXPECT_EQ(s.num_params, 203530u);
  ASSERT_TRUE(wt::spec_from_name_or_json(" " + spec_of(""), &s).ok());
  EXPECT_EQ(s.num_params, 650u);
  wt::Status st = wt::spec_from_name_or_json("resnet50", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("unknown preset \"resnet50\"; the presets are seed, mlp, lenet5, "
                            "bn-cnn, cifar-convnet"),
            std::string::npos)
      << st.message;
  EXPECT_NE(st.message.find("JSON spec"), std::string::npos) << st.message;
  EXPECT_EQ(s.num_params, 650u);
  st = wt::preset_spec("Seed", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("the presets are seed, mlp"), std::string::npos) << st.message;
  EXPECT_FALSE(wt::spec_from_name_or_json("  ", &s).ok());
  st = wt::spec_from_name_or_json("[1]", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("must be a JSON object"), std::string::npos) << st.message;
  // The limits apply to presets too.
  wt::SpecLimits tiny;
  tiny.max_bytes = 1 << 20;
  st = wt::spec_from_name_or_json("bn-cnn", &s, tiny);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message.find("preset \"bn-cnn\": the model has 421834 parameters"), std::string::npos)
      << st.message;
}

}  // namespace
