// Native training throughput (images/s) of the core, for scripts/bench.js.
// Usage: wt_bench_native DATA_DIR STEPS [BATCH [THREADS [MODEL]]] | peak
// DATA_DIR holds the four IDX files (train-images-idx3-ubyte, ...; images 3-d or 4-d);
// MODEL is a preset name or a spec's JSON text (default: the default preset).
// Warm-up: 20 steps or WT_WARMUP_SECONDS (default 1), whichever ends first, at least 2.
// WT_PROFILE=1 adds the time per layer ("layers": {label: seconds}).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/trainer.h"
#include "kernels/kernels.h"

static std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "peak") {
    const int64_t iters = 50000000;
    wt::peak_probe_f32(iters / 10);
    const auto t0 = std::chrono::steady_clock::now();
    const float r = wt::peak_probe_f32(iters);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("{\"gflops\": %.2f, \"lanes\": %d, \"check\": %g}\n", iters * 8.0 * wt::simd_lanes_f32() * 2 / sec / 1e9, wt::simd_lanes_f32(), r);
    return 0;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: wt_bench_native DATA_DIR STEPS [BATCH [THREADS [MODEL]]] | peak\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int steps = atoi(argv[2]);
  wt::TrainerConfig cfg;
  if (argc > 3) cfg.batch_size = atoi(argv[3]);
  if (argc > 4) cfg.threads = atoi(argv[4]);
  wt::NetSpec spec;
  const wt::Status ss = wt::spec_from_name_or_json(argc > 5 ? argv[5] : wt::default_preset(), &spec);
  if (!ss.ok()) {
    fprintf(stderr, "%s\n", ss.message.c_str());
    return 2;
  }
  wt::Trainer t(cfg, spec);
  wt::Status s = t.set_data(slurp(dir + "/train-images-idx3-ubyte"), slurp(dir + "/train-labels-idx1-ubyte"),
                            slurp(dir + "/t10k-images-idx3-ubyte"), slurp(dir + "/t10k-labels-idx1-ubyte"), 0, 0);
  if (!s.ok()) {
    fprintf(stderr, "%s\n", s.message.c_str());
    return 1;
  }
  const double warmup_seconds = getenv("WT_WARMUP_SECONDS") ? atof(getenv("WT_WARMUP_SECONDS")) : 1.0;
  const auto w0 = std::chrono::steady_clock::now();
  int warm = 0;
  while (warm < 2 || (warm < 20 && std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() < warmup_seconds))
    warm += t.train_steps(1, nullptr).steps;
  wt::LayerProfile prof;
  const bool profile = getenv("WT_PROFILE") != nullptr;
  if (profile) wt::set_layer_profile(&prof);
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  while (done < steps) done += t.train_steps(steps - done, nullptr).steps;
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("{\"images_per_second\": %.1f, \"steps\": %d, \"warmup_steps\": %d, \"seconds\": %.3f, \"layers\": {",
         steps * cfg.batch_size / sec, steps, warm, sec);
  for (size_t i = 0; i < prof.names.size(); ++i)
    printf("%s\"%s\": %.9f", i ? ", " : "", prof.names[i].c_str(), prof.seconds[i]);
  printf("}}\n");
  return 0;
}
