// libFuzzer target: the model-spec parser (parse_spec, spec_from_name_or_json,
// layer_table, spec_difference) on hostile bytes.
//
// The whole input is the document. Invariants (abort on failure):
//   - a refusal is one line of valid UTF-8, at most 1000 bytes, and leaves the
//     NetSpec it was given unchanged;
//   - an accepted spec's canonical form parses again to the same canonical form
//     and spec_difference finds no difference;
//   - every shape is positive, each layer's input is the previous layer's output,
//     flat shapes are [n, 1, 1], the last output is flat with 2..256 classes;
//   - parameters and buffers are laid out consecutively, each tensor's size is the
//     product of its shape, names are unique, one counter per BatchNorm layer, and
//     the layer table's parameters add up to num_params.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "core/spec.h"

namespace {

// As fuzz::fail (fuzz_common.h), which is not included: it pulls in the trainer,
// and this target needs only the spec.
namespace fuzz {
[[noreturn]] void fail(const char* what, const std::string& detail = "") {
  fprintf(stderr, "\nFUZZ INVARIANT VIOLATED: %s%s%s\n", what, detail.empty() ? "" : ": ",
          detail.c_str());
  abort();
}
}  // namespace fuzz

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size() || (len == 2 && c < 0xC2)) return false;
    for (size_t k = 1; k < len; ++k)
      if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

void check_refusal(const wt::Status& s, const wt::NetSpec& out, const wt::NetSpec& before) {
  if (s.message.empty()) fuzz::fail("refused without a message");
  if (s.message.find('\n') != std::string::npos) fuzz::fail("message is not one line", s.message);
  if (s.message.size() > 1000) fuzz::fail("message longer than 1000 bytes", s.message.substr(0, 200));
  if (!valid_utf8(s.message)) fuzz::fail("message is not valid UTF-8", s.message);
  if (out.canonical != before.canonical || out.layers.size() != before.layers.size() ||
      out.params.size() != before.params.size() || out.num_params != before.num_params ||
      out.buffers.size() != before.buffers.size() || out.counters.size() != before.counters.size() ||
      out.classes != before.classes || !(out.input == before.input))
    fuzz::fail("a refused spec changed the NetSpec", s.message);
}

bool positive(const wt::Shape& s) {
  return s.c > 0 && s.h > 0 && s.w > 0 && (!s.flat || (s.h == 1 && s.w == 1));
}

void check_spec(const wt::NetSpec& s) {
  if (!positive(s.input) || s.input.flat) fuzz::fail("input shape not positive 4-d", s.canonical);
  if (s.layers.empty()) fuzz::fail("no layers accepted");
  wt::Shape shape = s.input;
  std::set<std::string> names;
  size_t bn = 0;
  for (const wt::Layer& l : s.layers) {
    if (!(l.in == shape)) fuzz::fail("a layer's input is not the previous output", s.canonical);
    if (!positive(l.out_shape)) fuzz::fail("a shape is not positive", s.canonical);
    if (l.out_shape.numel() > (size_t(1) << 28)) fuzz::fail("an output above 2^28 values");
    if (l.name.empty() || !names.insert(l.name).second) fuzz::fail("empty or duplicate name", l.name);
    if (l.kind == wt::LayerKind::BatchNorm2d || l.kind == wt::LayerKind::BatchNorm1d) ++bn;
    shape = l.out_shape;
  }
  if (!shape.flat || s.classes != shape.c || s.classes < 2 || s.classes > 256)
    fuzz::fail("classes are not the flat last output in 2..256", s.canonical);
  size_t off = 0;
  for (const wt::ParamSpec& p : s.params) {
    size_t n = 1;
    for (int64_t d : p.shape) {
      if (d <= 0) fuzz::fail("parameter dimension not positive", p.name);
      n *= (size_t)d;
    }
    if (p.offset != off || p.size != n) fuzz::fail("parameters not consecutive", p.name);
    if (p.init == wt::Init::Uniform && p.fan_in <= 0) fuzz::fail("Uniform init without fan_in", p.name);
    if (p.layer < 0 || p.layer >= (int)s.layers.size()) fuzz::fail("parameter of no layer", p.name);
    if (p.name.rfind(s.layers[p.layer].name + ".", 0) != 0) fuzz::fail("parameter misnamed", p.name);
    off += n;
  }
  if (off != s.num_params) fuzz::fail("num_params is not the sum of the tensors");
  off = 0;
  for (const wt::BufferSpec& b : s.buffers) {
    if (b.offset != off || b.shape.size() != 1 || (size_t)b.shape[0] != b.size)
      fuzz::fail("buffers not consecutive", b.name);
    off += b.size;
  }
  if (off != s.num_buffers || s.buffers.size() != 2 * bn || s.counters.size() != bn)
    fuzz::fail("BatchNorm buffers or counters missing");

  const std::vector<wt::LayerRow> rows = wt::layer_table(s);
  if (rows.size() != s.layers.size()) fuzz::fail("layer table rows != layers");
  size_t params = 0;
  for (const wt::LayerRow& r : rows) params += r.params;
  if (params != s.num_params) fuzz::fail("layer table parameters != num_params");

  wt::NetSpec again;
  const wt::Status st = wt::parse_spec(s.canonical, &again);
  if (!st.ok()) fuzz::fail("canonical form refused", st.message + " in " + s.canonical);
  if (again.canonical != s.canonical) fuzz::fail("canonical form not idempotent", s.canonical);
  if (!wt::spec_difference(s, again).empty()) fuzz::fail("spec differs from its canonical form");
}

const wt::NetSpec& reference() {
  static const wt::NetSpec r = [] {
    wt::NetSpec s;
    if (!wt::preset_spec("bn-cnn", &s).ok()) fuzz::fail("the bn-cnn preset does not parse");
    return s;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text((const char*)data, size);
  const wt::NetSpec& before = reference();

  wt::NetSpec out = before;
  const wt::Status s = wt::parse_spec(text, &out);
  if (!s.ok()) {
    check_refusal(s, out, before);
  } else {
    check_spec(out);
    // Against another spec: a sentence, or "" only for the same canonical form.
    const std::string d = wt::spec_difference(out, before);
    if (d.empty() != (out.canonical == before.canonical)) fuzz::fail("spec_difference disagrees");
  }

  // The CLI's --model: a preset name, else the document.
  wt::NetSpec m = before;
  const wt::Status n = wt::spec_from_name_or_json(text, &m);
  if (!n.ok()) check_refusal(n, m, before);
  else check_spec(m);
  return 0;
}
