// Embind glue: data checked without keeping it (checkData in the JS API).
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/dataset.h"
#include "core/network.h"
#include "core/safetensors.h"
#include "core/spec.h"
#include "core/trainer.h"
#include "bindings/js_values.h"
#include "kernels/kernels.h"

using emscripten::val;
using namespace wt;
using namespace wt::bind;

namespace {

// ---- checking data without keeping it (scanIdx, scanCifar10) ----
// What setData or setCifar10 would say of the data for a model of `classes`
// classes, any input shape: {error, shape: [c, h, w], trainCount, testCount}
// (the limits applied). The pixels are never copied into this memory: an IDX
// images file's header is, the labels are, and CIFAR-10's files are read a
// megabyte at a time for their labels.
val scan_result(const Status& scanned, const ImageSet& tr, const ImageSet& te, int classes, const std::string& config) {
  val o = val::object();
  Status s = scanned;
  DataConfig c;
  if (s.ok() && !config.empty()) s = parse_data_config(config, (int)tr.channels, &c);
  if (s.ok()) s = check_data(tr, tr.count, te, te.count, nullptr, "", classes, c);
  o.set("error", s.message);
  if (!s.ok()) return o;
  val shape = val::array();
  for (uint32_t d : {tr.channels, tr.rows, tr.cols}) shape.call<void>("push", d);
  o.set("shape", shape);
  o.set("trainCount", tr.count);
  o.set("testCount", te.count);
  return o;
}

val scanIdx(val ti, val tl, val vi, val vl, int train_limit, int test_limit, int classes, std::string config) {
  ImageSet sets[2];
  Status s;
  for (int k = 0; k < 2 && s.ok(); ++k) {
    const val& images = k ? vi : ti;
    const size_t n = images["length"].as<size_t>(), head_n = std::min<size_t>(n, 20);
    std::string head(head_n, '\0');
    val(emscripten::typed_memory_view(head_n, (uint8_t*)head.data())).call<void>("set", images.call<val>("subarray", 0, head_n));
    s = scan_idx((const uint8_t*)head.data(), n, bytes_from_js(k ? vl : tl), k ? "test" : "train",
                 (uint32_t)std::max(0, k ? test_limit : train_limit), &sets[k]);
  }
  return scan_result(s, sets[0], sets[1], classes, config);
}

// train, test: arrays of {name, bytes} (CIFAR-10's batch files).
val scanCifar10(val train, val test, int train_limit, int test_limit, int classes, std::string config) {
  ImageSet sets[2];
  Status s;
  for (int k = 0; k < 2 && s.ok(); ++k) {
    const val& files = k ? test : train;
    const int limit = k ? test_limit : train_limit;
    const unsigned nfiles = files["length"].as<unsigned>();
    for (unsigned i = 0; i < nfiles && s.ok(); ++i) {
      const val bytes = files[i]["bytes"];
      const size_t keep = limit > 0 ? (size_t)limit - std::min<size_t>((size_t)limit, sets[k].count) : SIZE_MAX;
      const ByteReader read = [&bytes](size_t offset, size_t n, uint8_t* dst) {
        val(emscripten::typed_memory_view(n, dst)).call<void>("set", bytes.call<val>("subarray", offset, offset + n));
      };
      s = scan_cifar10(bytes["length"].as<size_t>(), files[i]["name"].as<std::string>(), read, &sets[k], keep);
    }
  }
  if (s.ok() && sets[0].count == 0) s = Status::Error("no CIFAR-10 training records (data_batch_1.bin ... data_batch_5.bin)");
  if (s.ok() && sets[1].count == 0) s = Status::Error("no CIFAR-10 test records (test_batch.bin)");
  return scan_result(s, sets[0], sets[1], classes, config);
}

}  // namespace

EMSCRIPTEN_BINDINGS(wasm_trainer_data) {
  emscripten::function("scanIdx", &scanIdx);
  emscripten::function("scanCifar10", &scanCifar10);
}
