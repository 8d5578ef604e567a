// Native training throughput (images/s) of the core on real MNIST, for
// scripts/bench.js. Usage: wt_bench_native DATA_DIR STEPS [BATCH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/trainer.h"

static std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: wt_bench_native DATA_DIR STEPS [BATCH]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int steps = atoi(argv[2]);
  wt::TrainerConfig cfg;
  if (argc > 3) cfg.batch_size = atoi(argv[3]);
  wt::Trainer t(cfg);
  wt::Status s = t.set_data(slurp(dir + "/train-images-idx3-ubyte"), slurp(dir + "/train-labels-idx1-ubyte"),
                            slurp(dir + "/t10k-images-idx3-ubyte"), slurp(dir + "/t10k-labels-idx1-ubyte"), 0, 0);
  if (!s.ok()) {
    fprintf(stderr, "%s\n", s.message.c_str());
    return 1;
  }
  t.train_steps(20, nullptr);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  while (done < steps) done += t.train_steps(steps - done, nullptr).steps;
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("{\"images_per_second\": %.1f, \"steps\": %d, \"seconds\": %.3f}\n",
         steps * cfg.batch_size / sec, steps, sec);
  return 0;
}
