// One process-wide pool of worker threads that runs `fn(task, worker)` for
// task = 0..n-1 and waits. Tasks are the fixed gradient chunks of a batch, so
// which thread runs which task never changes a result (see trainer.h).
//
// Shared, and only ever grown: in the wasm pthreads build a thread can start only
// from a pre-started Web Worker (PTHREAD_POOL_SIZE) or by returning to the event
// loop, which a blocked caller cannot do. Creating threads per trainer exhausted
// that pool when a page made trainer after trainer and deadlocked; one pool that
// never shrinks cannot. Built on std::thread (native threads natively, Web
// Workers in the wasm pthreads build); without thread support (the single-thread
// wasm build) everything runs on the caller.
#pragma once
#include <functional>
#include <memory>

namespace wt {

class ThreadPool {
 public:
  static ThreadPool& shared();
  static bool supported();  // false in a build without threads
  static int max_threads();  // 4 in wasm (3 pre-started workers + the caller)

  // Makes at least `threads` participants available (including the caller);
  // returns how many run() may use (capped by max_threads()).
  int ensure(int threads);
  // fn(task, worker) for every task, on `threads` participants (worker ids
  // 0..threads-1; the caller is 0), then returns. Calls are serialized.
  void run(int threads, int tasks, const std::function<void(int task, int worker)>& fn);

  ~ThreadPool();

 private:
  ThreadPool();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wt
