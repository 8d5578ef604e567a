#include "core/json_doc.h"

#include <algorithm>

namespace wt {
namespace {

using json = nlohmann::json;

// Through SAX: a syntax error comes back as a message with its line and column, and
// a key given twice is remembered (a spec with two "kernel_size" is ambiguous).
class DocBuilder : public nlohmann::json_sax<json> {
 public:
  DocBuilder(const std::string& text, size_t max_depth) : text_(text), max_depth_(max_depth) {}

  JsonDoc doc;

  bool null() override { return add(nullptr); }
  bool boolean(bool b) override { return add(b); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  bool number_float(number_float_t v, const string_t&) override { return add(v); }
  bool string(string_t& v) override { return add(std::move(v)); }
  bool binary(binary_t&) override { return false; }  // not produced by JSON text
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (!doc.duplicate && stack_.back()->contains(k)) {
      doc.duplicate = true;
      doc.dup_path = path_;
      doc.dup_key = k;
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // ex.what(): "[json.exception.parse_error.101] parse error at line 2, column 5: ..."
    std::string m = ex.what();
    const size_t tag = m.find("] ");
    if (!m.empty() && m[0] == '[' && tag != std::string::npos) m = m.substr(tag + 2);
    if (m.rfind("parse error ", 0) == 0) m = m.substr(12);
    if (m.rfind("at line ", 0) != 0) {  // e.g. "number overflow parsing '1e999'": no position
      const size_t end = std::min(position, text_.size());
      size_t line = 1, line_start = 0;
      for (size_t i = 0; i < end; ++i)
        if (text_[i] == '\n') {
          ++line;
          line_start = i + 1;
        }
      m = "at line " + std::to_string(line) + ", column " + std::to_string(end - line_start) +
          ": " + m;
    }
    doc.error = m;
    return false;
  }

 private:
  // Places v in the open container (or as the root); returns it.
  json* place(json&& v) {
    if (stack_.empty()) {
      doc.root = std::move(v);
      return &doc.root;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool add(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& v) {
    // Stopping early keeps a hostile "[[[[..." from costing ~100 bytes of memory
    // per byte of input.
    if (stack_.size() >= max_depth_) {
      doc.too_deep = true;
      return false;
    }
    std::string part;
    if (!stack_.empty()) part = stack_.back()->is_array() ? std::to_string(stack_.back()->size()) : key_;
    // Children of the open container are only appended, so pointers to the open
    // containers (each the last child of its parent) stay valid.
    stack_.push_back(place(std::move(v)));
    path_.push_back(std::move(part));
    return true;
  }
  bool close() {
    stack_.pop_back();
    path_.pop_back();
    return true;
  }

  const std::string& text_;
  size_t max_depth_;
  std::vector<json*> stack_;
  std::vector<std::string> path_;  // path_[0] is the root's ("")
  std::string key_;
};

}  // namespace

bool read_json_doc(const std::string& text, size_t max_depth, JsonDoc* out) {
  DocBuilder b(text, max_depth);
  const bool ok = json::sax_parse(text, &b);
  *out = std::move(b.doc);
  if (!ok && out->error.empty() && !out->too_deep) out->error = "(unexpected end)";
  return ok;
}

}  // namespace wt
