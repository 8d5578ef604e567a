// The model spec (spec.h): JSON document -> validated NetSpec with every shape, the
// parameter/buffer layout and the canonical form.
//
// One table, types(), describes every layer type: its PyTorch class name and its
// arguments. Reading an argument, checking it, writing it back in canonical form,
// listing a type's arguments in a message and comparing two specs all go through
// it, so a new argument is one row, not five edits.
//
// Everything is built in a local NetSpec; *out is assigned only once the whole
// document is valid (a refused spec changes nothing). No exceptions: the wasm core
// is built without them, so JSON is read through nlohmann's SAX interface (which
// reports syntax errors with a position instead of throwing) and every value's
// type is checked before it is read.
#include "core/spec.h"
#include "core/spec_shapes.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/json_doc.h"
#include "core/spec_text.h"

namespace wt {
using namespace spec_text;
namespace {

// Documents are read into a std::map-backed json: lookups are O(log n), so a
// hostile object with 100,000 keys costs no more than its size (ordered_json finds
// keys by linear search). Canonical JSON wants sorted keys anyway.
using json = nlohmann::json;

// Caps that keep every size, product and offset far from int overflow, whatever
// the memory limit a caller states.
constexpr int64_t kMaxDim = int64_t(1) << 16;  // sizes, channels, kernel, stride, padding
constexpr uint64_t kMaxParams = (uint64_t(1) << 31) - 1;  // int fan_in and tensor sizes
constexpr size_t kMaxLayers = 1024;
constexpr size_t kMaxNameLen = 64;
constexpr size_t kMaxDepth = 32;  // JSON nesting
constexpr int kMaxClasses = 256;  // labels are bytes

// ---------------------------------------------------------------------------
// The layer types and their arguments.

// What an argument is and which Layer field it fills.
enum class Field : uint8_t {
  Out,         // out_channels / out_features: a positive integer
  Kernel,      // kernel_size: positive int or [h, w]
  Stride,      // Conv2d stride: positive int or [h, w], default 1
  PoolStride,  // pools' stride: like Stride, but absent or null means kernel_size
  Padding,     // non-negative int or [h, w]
  Bias,        // bool
  Affine,      // bool
  NegativeSlope,  // any number
  P,           // [0, 1)
  Eps,         // > 0
  Momentum,    // [0, 1]
  OutputSize,  // 1 or [1, 1]
};

struct Arg {
  const char* key;
  Field field;
  bool required;
};

struct TypeInfo {
  LayerKind kind;
  const char* name;
  std::vector<Arg> args;  // in PyTorch's signature order
};

// Indexed by LayerKind (checked in types()).
const std::vector<TypeInfo>& types() {
  static const std::vector<TypeInfo> t = [] {
    const Arg kernel{"kernel_size", Field::Kernel, true};
    const Arg pool_stride{"stride", Field::PoolStride, false};
    const Arg padding{"padding", Field::Padding, false};
    const Arg eps{"eps", Field::Eps, false}, momentum{"momentum", Field::Momentum, false},
        affine{"affine", Field::Affine, false};
    std::vector<TypeInfo> v = {
        {LayerKind::Conv2d, "Conv2d",
         {{"out_channels", Field::Out, true}, kernel, {"stride", Field::Stride, false}, padding,
          {"bias", Field::Bias, false}}},
        {LayerKind::MaxPool2d, "MaxPool2d", {kernel, pool_stride, padding}},
        {LayerKind::AvgPool2d, "AvgPool2d", {kernel, pool_stride, padding}},
        {LayerKind::AdaptiveAvgPool2d, "AdaptiveAvgPool2d",
         {{"output_size", Field::OutputSize, true}}},
        {LayerKind::ReLU, "ReLU", {}},
        {LayerKind::LeakyReLU, "LeakyReLU", {{"negative_slope", Field::NegativeSlope, false}}},
        {LayerKind::Tanh, "Tanh", {}},
        {LayerKind::Sigmoid, "Sigmoid", {}},
        {LayerKind::Flatten, "Flatten", {}},
        {LayerKind::Linear, "Linear",
         {{"out_features", Field::Out, true}, {"bias", Field::Bias, false}}},
        {LayerKind::Dropout, "Dropout", {{"p", Field::P, false}}},
        {LayerKind::BatchNorm2d, "BatchNorm2d", {eps, momentum, affine}},
        {LayerKind::BatchNorm1d, "BatchNorm1d", {eps, momentum, affine}},
    };
    for (size_t i = 0; i < v.size(); ++i)
      if ((size_t)v[i].kind != i) std::abort();  // the table must follow the enum
    return v;
  }();
  return t;
}

const TypeInfo& type_info(LayerKind k) { return types()[(size_t)k]; }

const TypeInfo* find_type(const std::string& name) {
  for (const TypeInfo& t : types())
    if (name == t.name) return &t;
  return nullptr;
}

// The expectation named in messages, e.g. "must be <this>" and "missing (<this>)".
const char* expectation(Field f) {
  switch (f) {
    case Field::Out: return "a positive integer";
    case Field::Kernel:
    case Field::Stride: return "a positive integer or [h, w] of positive integers";
    case Field::PoolStride:
      return "a positive integer or [h, w] of positive integers (or null: the kernel size)";
    case Field::Padding: return "a non-negative integer or [h, w] of non-negative integers";
    case Field::Bias:
    case Field::Affine: return "true or false";
    case Field::NegativeSlope: return "a number";
    case Field::P: return "a number in [0, 1)";
    case Field::Eps: return "a positive number";
    case Field::Momentum: return "a number in [0, 1]";
    case Field::OutputSize: return "1 or [1, 1] (only global average pooling is supported)";
  }
  return "";
}

// ---------------------------------------------------------------------------
// Lists for messages (the text helpers: spec_text.h).

std::string type_list() {
  std::vector<std::string> names;
  for (const TypeInfo& t : types()) names.push_back(t.name);
  return join(names);
}

std::string arg_list(const TypeInfo& t) {
  if (t.args.empty()) return std::string(t.name) + " takes no arguments (only \"name\")";
  std::vector<std::string> keys;
  for (const Arg& a : t.args) keys.push_back(a.key);
  return std::string(t.name) + " takes " + join(keys) + " (and \"name\")";
}

// ---------------------------------------------------------------------------
// Reading arguments. Each returns "" or what is wrong (the caller names the layer).

// An integer (not a bool, not 2.0), clamped into int64; false if v is no integer.
bool get_int(const json& v, int64_t* x) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    *x = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    return true;
  }
  if (v.is_number_integer()) {
    *x = v.get<int64_t>();
    return true;
  }
  return false;
}

std::string must_be(const char* key, Field f, const json& v) {
  return quote(key) + " must be " + expectation(f) + ", got " + describe(v);
}

std::string too_big(const char* key, const json& v) {
  return quote(key) + " must be at most " + std::to_string(kMaxDim) + ", got " + describe(v);
}

// An int or [h, w] of ints, each in [min, kMaxDim].
std::string read_pair(const char* key, Field f, const json& v, int64_t min, int* h, int* w) {
  int64_t a = 0, b = 0;
  if (get_int(v, &a)) {
    b = a;
  } else if (!(v.is_array() && v.size() == 2 && get_int(v[0], &a) && get_int(v[1], &b))) {
    return must_be(key, f, v);
  }
  if (a < min || b < min) return must_be(key, f, v);
  if (a > kMaxDim || b > kMaxDim) return too_big(key, v);
  *h = (int)a;
  *w = (int)b;
  return "";
}

std::string read_number(const char* key, Field f, const json& v, double* x) {
  if (!v.is_number()) return must_be(key, f, v);  // bools are not numbers in nlohmann
  const double d = v.get<double>();
  bool ok = std::isfinite(d);
  if (f == Field::P) ok = ok && d >= 0 && d < 1;
  if (f == Field::Eps) ok = ok && d > 0;
  if (f == Field::Momentum) ok = ok && d >= 0 && d <= 1;
  if (!ok) return must_be(key, f, v);
  *x = d;
  return "";
}

std::string read_arg(const Arg& a, const json& v, Layer* l, bool* stride_given) {
  switch (a.field) {
    case Field::Out: {
      int64_t x = 0;
      if (!get_int(v, &x) || x < 1) return must_be(a.key, a.field, v);
      if (x > kMaxDim) return too_big(a.key, v);
      l->out = (int)x;
      return "";
    }
    case Field::Kernel: return read_pair(a.key, a.field, v, 1, &l->kh, &l->kw);
    case Field::Stride: return read_pair(a.key, a.field, v, 1, &l->sh, &l->sw);
    case Field::PoolStride:
      if (v.is_null()) return "";  // PyTorch's stride=None: the kernel size
      *stride_given = true;
      return read_pair(a.key, a.field, v, 1, &l->sh, &l->sw);
    case Field::Padding: return read_pair(a.key, a.field, v, 0, &l->ph, &l->pw);
    case Field::Bias:
    case Field::Affine:
      if (!v.is_boolean()) return must_be(a.key, a.field, v);
      (a.field == Field::Bias ? l->bias : l->affine) = v.get<bool>();
      return "";
    case Field::NegativeSlope: return read_number(a.key, a.field, v, &l->negative_slope);
    case Field::P: return read_number(a.key, a.field, v, &l->p);
    case Field::Eps: return read_number(a.key, a.field, v, &l->eps);
    case Field::Momentum: return read_number(a.key, a.field, v, &l->momentum);
    case Field::OutputSize: {
      int64_t h = 0, w = 0;
      const bool one = (get_int(v, &h) && h == 1) ||
                       (v.is_array() && v.size() == 2 && get_int(v[0], &h) && get_int(v[1], &w) &&
                        h == 1 && w == 1);
      return one ? "" : must_be(a.key, a.field, v);
    }
  }
  return "";
}

// The argument as canonical JSON (every argument explicit, sizes as [h, w]).
json arg_value(Field f, const Layer& l) {
  switch (f) {
    case Field::Out: return l.out;
    case Field::Kernel: return {l.kh, l.kw};
    case Field::Stride:
    case Field::PoolStride: return {l.sh, l.sw};
    case Field::Padding: return {l.ph, l.pw};
    case Field::Bias: return l.bias;
    case Field::Affine: return l.affine;
    case Field::NegativeSlope: return l.negative_slope;
    case Field::P: return l.p;
    case Field::Eps: return l.eps;
    case Field::Momentum: return l.momentum;
    case Field::OutputSize: return {1, 1};
  }
  return nullptr;
}

json layer_json(const Layer& l) {
  const TypeInfo& t = type_info(l.kind);
  json j = json::object();
  j["type"] = t.name;
  if (l.named) j["name"] = l.name;
  for (const Arg& a : t.args) j[a.key] = arg_value(a.field, l);
  return j;
}

// "Conv2d(out_channels=16, kernel_size=[3, 3], ...)" in the table's argument order.
std::string layer_repr(const Layer& l) {
  const TypeInfo& t = type_info(l.kind);
  std::vector<std::string> args;
  for (const Arg& a : t.args) args.push_back(std::string(a.key) + "=" + arg_value(a.field, l).dump());
  return std::string(t.name) + "(" + join(args) + ")";
}

// A layer's name: given names must not look like the default ones (digits) and
// must be usable as a state_dict prefix (no dots).
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLen) return false;
  bool all_digits = true;
  for (char c : s) {
    if (!(std::isalnum((unsigned char)c) || c == '_') || (unsigned char)c >= 0x80) return false;
    if (!std::isdigit((unsigned char)c)) all_digits = false;
  }
  return !all_digits;
}

std::string where(size_t i) { return "layer " + std::to_string(i); }
std::string where(size_t i, const Layer& l) {
  return where(i) + " (" + type_info(l.kind).name + ")";
}

// " (did you mean "ReLU"? ...)" for "relu", else "".
std::string type_hint(const std::string& name) {
  for (const TypeInfo& t : types()) {
    const std::string n = t.name;
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower((unsigned char)a) == std::tolower((unsigned char)b);
        }))
      return " (did you mean \"" + n + "\"? types are case-sensitive)";
  }
  return "";
}

// "input": [C, H, W].
std::string read_input(const json& doc, Shape* input) {
  const auto v = doc.find("input");
  if (v == doc.end())
    return "\"input\" is missing: the shape of one image, [C, H, W] (e.g. [1, 28, 28])";
  int64_t chw[3] = {0, 0, 0};
  bool ok = v->is_array() && v->size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) ok = get_int((*v)[i], &chw[i]) && chw[i] >= 1;
  if (!ok) return "\"input\" must be [C, H, W] of positive integers, got " + describe(*v);
  if (chw[0] > kMaxDim || chw[1] > kMaxDim || chw[2] > kMaxDim)
    return "\"input\" sizes must be at most " + std::to_string(kMaxDim) + ", got " + describe(*v);
  if (sat_mul(sat_mul(chw[0], chw[1]), chw[2]) > kMaxNumel)
    return "\"input\" " + describe(*v) + " has more than 2^28 values per image";
  *input = Shape{(int)chw[0], (int)chw[1], (int)chw[2], false};
  return "";
}

// Layer i's type, name and arguments (PyTorch's defaults filled in); no shapes yet.
std::string read_layer(size_t i, const json& d, Layer* l) {
  if (!d.is_object())
    return where(i) + ": must be an object like {\"type\": \"ReLU\"}, got " + describe(d);
  const auto type = d.find("type");
  if (type == d.end()) return where(i) + ": \"type\" is missing; it is one of " + type_list();
  if (!type->is_string())
    return where(i) + ": \"type\" must be a string, one of " + type_list() + ", got " +
           describe(*type);
  const std::string& tname = type->get_ref<const std::string&>();
  const TypeInfo* t = find_type(tname);
  if (!t)
    return where(i) + ": unknown type " + quote(tname) + type_hint(tname) +
           "; supported types: " + type_list();

  l->kind = t->kind;
  const std::string at = where(i, *l) + ": ";
  bool stride_given = false;
  for (const auto& kv : d.items()) {
    const std::string& k = kv.key();
    const json& v = kv.value();
    if (k == "type") continue;
    if (k == "name") {
      if (!v.is_string() || !valid_name(v.get_ref<const std::string&>()))
        return at + "\"name\" must be a string of 1 to " + std::to_string(kMaxNameLen) +
               " letters, digits and _, not all digits (unnamed layers are named by their "
               "index), got " + describe(v);
      l->name = v.get<std::string>();
      l->named = true;
      continue;
    }
    const Arg* a = nullptr;
    for (const Arg& x : t->args)
      if (k == x.key) a = &x;
    if (!a) return at + "unknown argument " + quote(k) + "; " + arg_list(*t);
    const std::string e = read_arg(*a, v, l, &stride_given);
    if (!e.empty()) return at + e;
  }
  for (const Arg& a : t->args)
    if (a.required && !d.contains(a.key))
      return at + quote(a.key) + " is missing (" + expectation(a.field) + ")";
  const bool pool = t->kind == LayerKind::MaxPool2d || t->kind == LayerKind::AvgPool2d;
  if (pool && !stride_given) {  // PyTorch: stride defaults to kernel_size
    l->sh = l->kh;
    l->sw = l->kw;
  }
  if (!l->named) l->name = std::to_string(i);
  return "";
}

// The stated memory limit: parameters x4 (values, gradients, Adam's two moments);
// a batch's activations x2 (values and gradients), the input included. Sums
// saturate, so the sizes of a hostile spec cannot wrap around.
std::string check_memory(const NetSpec& s, const SpecLimits& limits) {
  uint64_t params = 0, activations = s.input.numel(), most_params = 0;
  size_t largest_params = 0, largest_out = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const uint64_t n = layer_param_count(s.layers[i]);
    params = sat_add(params, n);
    if (n > most_params) {
      most_params = n;
      largest_params = i;
    }
    activations = sat_add(activations, s.layers[i].out_shape.numel());
    if (s.layers[i].out_shape.numel() > s.layers[largest_out].out_shape.numel()) largest_out = i;
  }
  const std::string biggest = "; the largest is " + where(largest_params, s.layers[largest_params]) +
                              " with " + std::to_string(most_params) + " parameters";
  const uint64_t param_bytes = sat_mul(params, 16);
  if (param_bytes > limits.max_bytes)
    return "the model has " + std::to_string(params) + " parameters, which need " +
           mib(param_bytes) + " (values, gradients and Adam's two moments, 4 bytes each), more "
           "than the limit of " + mib(limits.max_bytes) + biggest;
  if (params > kMaxParams)
    return "the model has " + std::to_string(params) + " parameters, more than the 2^31 - 1 "
           "supported" + biggest;
  const uint64_t batch = (uint64_t)std::max(1, limits.batch_size);
  const uint64_t act_bytes = sat_mul(sat_mul(activations, 8), batch);
  if (act_bytes > limits.max_bytes)
    return "a batch of " + std::to_string(batch) + " needs " + mib(act_bytes) +
           " for activations (" + std::to_string(activations) +
           " values per image, with gradients, 4 bytes each), more than the limit of " +
           mib(limits.max_bytes) + "; the largest output is " +
           where(largest_out, s.layers[largest_out]) + ", " + s.layers[largest_out].out_shape.str();
  return "";
}

// The whole validation of a parsed document into *s (a fresh NetSpec).
std::string build_spec(const json& doc, const SpecLimits& limits, NetSpec* s) {
  if (!doc.is_object())
    return "the spec must be a JSON object {\"input\": [C, H, W], \"layers\": [...]}, got " +
           describe(doc);
  for (const auto& kv : doc.items()) {
    const std::string& k = kv.key();
    if (k == "input" || k == "layers") continue;
    if (k == "name" || k == "description") {  // for people; not part of the network
      if (!kv.value().is_string()) return quote(k) + " must be a string, got " + describe(kv.value());
      continue;
    }
    return "unknown key " + quote(k) +
           " at the top level; a spec has \"input\", \"layers\" and optionally \"name\" and "
           "\"description\"";
  }
  std::string e = read_input(doc, &s->input);
  if (!e.empty()) return e;

  const auto layers = doc.find("layers");
  if (layers == doc.end())
    return "\"layers\" is missing: a non-empty array of layers like {\"type\": \"Linear\", "
           "\"out_features\": 10}";
  if (!layers->is_array() || layers->empty())
    return "\"layers\" must be a non-empty array of layers, got " + describe(*layers);
  if (layers->size() > kMaxLayers)
    return "\"layers\" has " + std::to_string(layers->size()) + " layers; at most " +
           std::to_string(kMaxLayers) + " are supported";

  std::map<std::string, size_t> names;
  Shape shape = s->input;
  for (size_t i = 0; i < layers->size(); ++i) {
    Layer l;
    e = read_layer(i, (*layers)[i], &l);
    if (!e.empty()) return e;
    const auto seen = names.find(l.name);
    if (seen != names.end())
      return where(i, l) + ": \"name\" " + quote(l.name) + " is already the name of " +
             where(seen->second, s->layers[seen->second]) + "; names must be unique";
    names.emplace(l.name, i);
    l.in = shape;
    e = infer_shape(&l);
    if (!e.empty()) return where(i, l) + ": " + e;
    shape = l.out_shape;
    s->layers.push_back(std::move(l));
  }

  const size_t last = s->layers.size() - 1;
  if (!shape.flat)
    return where(last, s->layers[last]) +
           ": the last layer's output must be flat class scores (end with Flatten/Linear); it is " +
           shape.str();
  if (shape.c < 2 || shape.c > kMaxClasses)
    return where(last, s->layers[last]) + ": the last layer's output is the class scores, " +
           std::to_string(shape.c) + " of them; there must be 2 to " +
           std::to_string(kMaxClasses) + " classes (labels are bytes)";
  s->classes = shape.c;

  e = check_memory(*s, limits);
  if (!e.empty()) return e;
  lay_out(s);

  json c = json::object();
  c["input"] = {s->input.c, s->input.h, s->input.w};
  json arr = json::array();
  for (const Layer& l : s->layers) arr.push_back(layer_json(l));
  c["layers"] = std::move(arr);
  s->canonical = c.dump();
  return "";
}

// The message for a key given twice, naming the layer when it is inside one.
std::string duplicate_message(const JsonDoc& b) {
  const std::vector<std::string>& p = b.dup_path;
  const std::string twice = quote(b.dup_key) + " is given twice";
  if (p.size() == 1) return twice + " at the top level";
  if (p.size() == 3 && p[1] == "layers" && b.root.is_object()) {
    const auto layers = b.root.find("layers");
    // p[2] is an index when "layers" held the array at the time; the document may
    // have replaced it since ("layers" given twice), so check before using it.
    size_t i = 0;
    bool index = !p[2].empty() && p[2].size() <= 9;
    for (char c : p[2]) index = index && c >= '0' && c <= '9';
    if (index) i = (size_t)std::atol(p[2].c_str());
    if (index && layers != b.root.end() && layers->is_array() && i < layers->size()) {
      const json& d = (*layers)[i];
      const auto type = d.find("type");
      const TypeInfo* t = type != d.end() && type->is_string()
                              ? find_type(type->get_ref<const std::string&>())
                              : nullptr;
      return where(i) + (t ? std::string(" (") + t->name + ")" : "") + ": " + twice;
    }
  }
  std::string at;
  for (size_t i = 1; i < p.size(); ++i) at += "/" + clip(p[i], 40);
  return twice + " in the object at " + quote(at);
}

}  // namespace

// ---------------------------------------------------------------------------

const char* layer_kind_name(LayerKind k) {
  return (size_t)k < types().size() ? types()[(size_t)k].name : "?";
}

std::string Shape::str() const {
  if (flat) return "[" + std::to_string(c) + "]";
  return "[" + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]";
}

bool Layer::has_params() const {
  return kind == LayerKind::Conv2d || kind == LayerKind::Linear ||
         ((kind == LayerKind::BatchNorm2d || kind == LayerKind::BatchNorm1d) && affine);
}

const ParamSpec* NetSpec::find(const std::string& name) const {
  for (const ParamSpec& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

Status parse_spec(const std::string& text, NetSpec* out, const SpecLimits& limits) {
  JsonDoc b;
  if (!read_json_doc(text, kMaxDepth, &b)) {
    if (b.too_deep)
      return Status::Error("the spec nests arrays and objects more than " + std::to_string(kMaxDepth) +
                           " levels deep; a model spec needs 4");
    return Status::Error(valid_utf8("the spec is not valid JSON " + clip(b.error, 300)));
  }
  if (b.duplicate) return Status::Error(valid_utf8(duplicate_message(b)));
  NetSpec s;
  const std::string e = build_spec(b.root, limits, &s);
  if (!e.empty()) return Status::Error(valid_utf8(e));
  *out = std::move(s);
  return Status::Ok();
}

std::string spec_difference(const NetSpec& a, const NetSpec& b) {
  if (a.canonical == b.canonical) return "";
  if (!(a.input == b.input))
    return "the input is " + a.input.str() + " here but " + b.input.str() + " in the checkpoint";
  const size_t n = std::min(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < n; ++i) {
    const Layer& x = a.layers[i];
    const Layer& y = b.layers[i];
    const std::string at = "layer " + std::to_string(i);
    if (x.kind != y.kind)
      return at + " differs: " + x.name + " = " + layer_repr(x) + " here but " + y.name + " = " +
             layer_repr(y) + " in the checkpoint";
    const std::string named = at + " (" + x.name + ", " + layer_kind_name(x.kind) + ") differs: ";
    for (const Arg& arg : type_info(x.kind).args) {
      const json u = arg_value(arg.field, x), v = arg_value(arg.field, y);
      if (u != v)
        return named + "\"" + arg.key + "\" is " + u.dump() + " here but " + v.dump() +
               " in the checkpoint";
    }
    if (x.name != y.name)
      return named + "it is named \"" + x.name + "\" here but \"" + y.name + "\" in the checkpoint";
  }
  if (a.layers.size() != b.layers.size())
    return "the checkpoint's model has " + std::to_string(b.layers.size()) + " layers, this one " +
           std::to_string(a.layers.size());
  return "the canonical specs differ";  // only for NetSpecs not made by parse_spec
}

}  // namespace wt
