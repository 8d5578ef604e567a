// A fixed pool of worker threads that runs `fn(task)` for task = 0..n-1 and waits.
// Tasks are the fixed gradient chunks of a batch, so which thread runs which
// task never changes a result (see trainer.h). Built on std::thread, which is
// native threads natively and Web Workers in the wasm pthreads build; without
// thread support (the single-thread wasm build) everything runs on the caller.
#pragma once
#include <functional>
#include <memory>

namespace wt {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // total threads including the caller; >= 1
  ~ThreadPool();
  int threads() const { return threads_; }
  // fn(task, worker): worker in 0..threads()-1 identifies per-thread scratch.
  void run(int tasks, const std::function<void(int task, int worker)>& fn);
  static bool supported();  // false in a build without threads

 private:
  struct Impl;
  int threads_ = 1;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wt
