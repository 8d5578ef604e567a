// libFuzzer target: the checkpoint reader (parse_safetensors and
// Trainer::load_checkpoint) on hostile bytes.
//
// The first input byte picks a mode (byte % 4); the rest is the payload:
//   0  raw file bytes, as given (the checksum stops most mutations early);
//   1  raw file bytes with the checksum rewritten to match (CHECKPOINT_FORMAT.md),
//      so mutations reach the validation behind it;
//   2  the JSON header only: the target adds the 8-byte length and a data section
//      of zeros as long as the largest "data_offsets" end, then fixes the checksum;
//   3  as 2, with the data section a cycle of 0.5, -0.5, NaN, 0, -inf (bit patterns).
// Every file is checked by parse_safetensors with and without require_checksum,
// then loaded by a trainer with data and one without. Invariants (abort on failure):
//   - a view that parses points inside the file, and its tensors tile the data
//     section exactly; a file with a checksum that the lax parse accepts is not
//     refused by require_checksum;
//   - a refused load leaves the trainer's whole state unchanged (bit for bit);
//   - an accepted load gives a consistent state: history lengths match step and
//     epoch, save_checkpoint() of it loads back to the same state, and training
//     from it stays inside the data (epoch_step within the epoch).
// Build with -DWT_FUZZ_SKIP_KNOWN_BUGS=1 to step over the bugs listed in
// tests/fuzz/regressions/README.md (all fixed by 7228582; CMake option, default OFF).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "core/safetensors.h"
#include "core/trainer.h"
#include "fuzz_common.h"

namespace {

struct Globals {
  std::string baseline;  // a trained checkpoint of the built-in data
  std::string data_fingerprint;
  std::unique_ptr<wt::Trainer> with_data, no_data;
};

Globals& G() {
  static Globals* g = [] {
    Globals* g = new Globals;
    g->baseline = fuzz::trained_checkpoint();
    g->with_data.reset(new wt::Trainer(fuzz::config()));
    fuzz::give_data(*g->with_data);
    g->data_fingerprint = g->with_data->state().train_fingerprint;
    const wt::Status s = g->with_data->load_checkpoint((const uint8_t*)g->baseline.data(), g->baseline.size());
    if (!s.ok()) fuzz::fail("the baseline checkpoint does not load", s.message);
    g->no_data.reset(new wt::Trainer(fuzz::config()));
    return g;
  }();
  return *g;
}

volatile uint8_t g_sink;

// Reads the first and last byte of [p, p + n) so ASan checks the range is real.
void touch(const uint8_t* p, size_t n) {
  if (n == 0) return;
  g_sink = p[0];
  g_sink = p[n - 1];
}

void check_view(const wt::SafetensorsView& v, const uint8_t* b, size_t n) {
  if (v.data < b + 8 || v.data > b + n || v.data_size != (size_t)(b + n - v.data))
    fuzz::fail("the data section is not the rest of the file");
  size_t total = 0;
  for (size_t i = 0; i < v.tensors.size(); ++i) {
    const wt::TensorInfo& t = v.tensors[i];
    if (i > 0 && !(v.tensors[i - 1].name < t.name)) fuzz::fail("tensors not in name order", t.name);
    const size_t es = wt::dtype_size(t.dtype);
    if (es == 0) fuzz::fail("a tensor with an unknown dtype was accepted", t.dtype);
    size_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fuzz::fail("negative dimension accepted", t.name);
      numel *= (size_t)d;
    }
    if (numel != t.numel) fuzz::fail("numel is not the product of the shape", t.name);
    if (t.begin > t.end || t.end > v.data_size || t.end - t.begin != t.numel * es)
      fuzz::fail("tensor bytes do not match its offsets", t.name);
    touch(v.data + t.begin, t.end - t.begin);
    total += t.end - t.begin;
  }
  if (total != v.data_size) fuzz::fail("tensors do not tile the data section");
  auto cs = v.metadata.find("checksum");
  if (cs != v.metadata.end() && cs->second.size() != 14) fuzz::fail("malformed checksum accepted");
}

#ifdef WT_FUZZ_SKIP_KNOWN_BUGS
bool parse_u64_prefix(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  *out = strtoull(s.c_str(), nullptr, 10);
  return true;
}

// Known bug 2 (regressions/README.md, fixed in 7228582): without history,
// load_checkpoint allocated `step` (<= 2^40) and 3 x `epoch` (<= 2^30) floats
// whatever the file size.
bool triggers_history_allocation_bug(const wt::SafetensorsView& v) {
  uint64_t step = 0, epoch = 0;
  auto it = v.metadata.find("step");
  if (it != v.metadata.end()) parse_u64_prefix(it->second, &step);
  it = v.metadata.find("epoch");
  if (it != v.metadata.end()) parse_u64_prefix(it->second, &epoch);
  const wt::TensorInfo* sl = v.find("history.step_loss");
  const wt::TensorInfo* el = v.find("history.epoch_loss");
  const uint64_t kLimit = uint64_t(1) << 24;  // 64 MiB of floats
  return ((!sl || sl->numel == 0) && step > kLimit) || ((!el || el->numel == 0) && epoch > kLimit);
}

#endif

void check_loaded_state(const wt::Trainer& t) {
  const wt::TrainState& s = t.state();
  const size_t np = (size_t)t.spec().num_params;
  if (s.params.size() != np || s.exp_avg.size() != np || s.exp_avg_sq.size() != np)
    fuzz::fail("parameter vectors of the wrong size after a load");
  if (s.step_loss.size() != s.step || s.step_accuracy.size() != s.step)
    fuzz::fail("step_loss/step_accuracy length != step after a load");
  if (s.epoch_loss.size() != s.epoch || s.epoch_test_loss.size() != s.epoch ||
      s.epoch_test_accuracy.size() != s.epoch)
    fuzz::fail("per-epoch history length != epoch after a load");
  if (s.config.batch_size < 1) fuzz::fail("batch_size < 1 after a load");
  for (size_t i = 0; i < np; ++i)
    if (!std::isfinite(s.params[i]) || !std::isfinite(s.exp_avg[i]) || !(s.exp_avg_sq[i] >= 0.f) ||
        !std::isfinite(s.exp_avg_sq[i]))
      fuzz::fail("non-finite parameter or moment accepted");
}

// train_steps reads perm_[epoch_step * batch_size ...]: a state whose position is
// past the end of an epoch of the loaded data must be refused by train_steps, not
// trained on (known bug 3, fixed in 7228582: it read out of bounds). Returns false
// if the position is past the end (the state is then not round-tripped).
bool check_trainable(wt::Trainer& t, const std::string& data_fp) {
  const wt::TrainState& s = t.state();
  if (!t.has_data() || s.step == 0) return true;
  if (!s.train_fingerprint.empty() && s.train_fingerprint != data_fp) return true;  // train_steps refuses
  if ((uint64_t)s.epoch_step * (uint64_t)s.config.batch_size < t.train_count()) return true;
#ifndef WT_FUZZ_SKIP_KNOWN_BUGS
  const wt::StepsResult r = t.train_steps(1, nullptr);  // ASan reports an out-of-bounds read here
  if (r.status.ok() || r.steps != 0)
    fuzz::fail("train_steps trained from a position past the end of the loaded data",
               "epoch_step " + std::to_string(s.epoch_step) + " x batch " +
                   std::to_string(s.config.batch_size) + " >= " + std::to_string(t.train_count()) +
                   " images");
#endif
  return false;
}

// Returns whether the load was accepted.
bool load_into(wt::Trainer& t, const uint8_t* b, size_t n, bool parse_ok, bool round_trip,
               const std::string& data_fp) {
  const wt::TrainState before = t.state();
  const bool had_data = t.has_data();
  const wt::Status s = t.load_checkpoint(b, n);
  if (t.has_data() != had_data) fuzz::fail("load_checkpoint changed the data");
  if (!s.ok()) {
    if (s.message.rfind("refused checkpoint: ", 0) != 0) fuzz::fail("unexpected message", s.message);
    if (!fuzz::same_state(before, t.state())) fuzz::fail("a refused load changed the state", s.message);
    return false;
  }
  if (!parse_ok) fuzz::fail("load_checkpoint accepted a file that parse_safetensors(require_checksum) refuses");
  check_loaded_state(t);
  if (!check_trainable(t, data_fp)) return true;  // (known bug 3: its round trip failed too)
  if (!round_trip) return true;
  // What it saves loads back to the same state.
  const std::string saved = t.save_checkpoint();
  const wt::TrainState loaded = t.state();
  const wt::Status r = t.load_checkpoint((const uint8_t*)saved.data(), saved.size());
  if (!r.ok()) fuzz::fail("the saved state of an accepted checkpoint does not load", r.message);
  if (!fuzz::same_state(loaded, t.state())) fuzz::fail("save + load changed the state");
  return true;
}

void run_file(const uint8_t* b, size_t n) {
  Globals& g = G();
#ifdef WT_FUZZ_SKIP_KNOWN_BUGS
  // Known bug 1 (regressions/README.md, fixed in 7228582): the checksum pattern
  // with fewer than 8 bytes after it made the CRC run past the end of the file.
  const size_t d = fuzz::checksum_digits(b, n);
  if (d != std::string::npos && d + 8 > n) return;
#endif
  wt::SafetensorsView strict;
  const wt::Status s2 = wt::parse_safetensors(b, n, true, &strict);
  if (s2.ok()) {
    check_view(strict, b, n);
#ifdef WT_FUZZ_SKIP_KNOWN_BUGS
    if (triggers_history_allocation_bug(strict)) return;
#endif
  } else {
    // Without require_checksum (a file the strict parse accepts has a checksum,
    // so the lax parse would do the same work: not repeated, for speed).
    wt::SafetensorsView lax;
    const wt::Status s1 = wt::parse_safetensors(b, n, false, &lax);
    if (s1.ok()) {
      check_view(lax, b, n);
      if (lax.metadata.count("checksum")) fuzz::fail("require_checksum refused a file with a good checksum", s2.message);
    }
  }

  // A trainer with data. An accepted load is not undone: what load_checkpoint
  // accepts depends on the trainer's data, not on its state.
  wt::Trainer& a = *g.with_data;
  load_into(a, b, n, s2.ok(), /*round_trip=*/true, g.data_fingerprint);

  // A trainer without data (load first, data second, as the page can do). A file
  // the parser refuses was already seen refused above.
  if (!s2.ok()) return;
  wt::Trainer& z = *g.no_data;
  if (load_into(z, b, n, true, /*round_trip=*/false, g.data_fingerprint) && z.state().step > 0) {
    // set_data does not change a state with step > 0, so train_steps after
    // set_data(built-in data) would start at epoch_step x batch_size of 8 images.
    const wt::TrainState& s = z.state();
    const bool would_train = s.train_fingerprint.empty() || s.train_fingerprint == g.data_fingerprint;
    if (would_train && (uint64_t)s.epoch_step * (uint64_t)s.config.batch_size >= 8) {
#ifndef WT_FUZZ_SKIP_KNOWN_BUGS
      fuzz::give_data(z);
      check_trainable(z, g.data_fingerprint);
      g.no_data.reset(new wt::Trainer(fuzz::config()));  // without data again
#endif
    }
  }
}

// Largest end of any "data_offsets":[begin,end] in the header text (capped).
size_t data_size_for(const std::string& header) {
  static const char kKey[] = "\"data_offsets\":[";
  size_t best = 0, pos = 0;
  while ((pos = header.find(kKey, pos)) != std::string::npos) {
    pos += sizeof(kKey) - 1;
    const size_t comma = header.find(',', pos);
    if (comma == std::string::npos || comma - pos > 24) continue;
    uint64_t end = 0;
    size_t i = comma + 1;
    int digits = 0;
    while (i < header.size() && header[i] >= '0' && header[i] <= '9' && digits < 19)
      end = end * 10 + (uint64_t)(header[i++] - '0'), ++digits;
    if (end > best) best = (size_t)end;
  }
  return best > (1u << 20) ? (1u << 20) : best;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  G();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 4;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  if (mode == 0) {  // the input as is (libFuzzer's exact-size buffer: over-reads show)
    run_file(p, n);
    return 0;
  }
  size_t total = n;
  std::string header;
  size_t dsize = 0;
  if (mode >= 2) {
    header.assign((const char*)p, n);
    dsize = data_size_for(header);
    total = 8 + n + dsize;
  }
  // Exact-size heap copy, so ASan sees a read one byte past the end.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[total ? total : 1]);
  if (mode == 1) {
    if (n) std::memcpy(buf.get(), p, n);
  } else {
    const uint64_t hl = n;
    for (int i = 0; i < 8; ++i) buf[i] = (uint8_t)(hl >> (8 * i));
    if (n) std::memcpy(buf.get() + 8, p, n);
    uint8_t* d = buf.get() + 8 + n;
    if (mode == 2) {
      std::memset(d, 0, dsize);
    } else {
      static const uint32_t cycle[5] = {0x3f000000u, 0xbf000000u, 0x7fc00000u, 0u, 0xff800000u};
      for (size_t i = 0; i < dsize; ++i) d[i] = (uint8_t)(cycle[(i / 4) % 5] >> (8 * (i % 4)));
    }
  }
  fuzz::patch_checksum(buf.get(), total);
  run_file(buf.get(), total);
  return 0;
}
