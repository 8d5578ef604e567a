#include "core/parallel.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define WT_NO_THREADS 1
#endif

#ifndef WT_NO_THREADS
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace wt {

ThreadPool& ThreadPool::shared() {
  static ThreadPool* pool = new ThreadPool();  // never destroyed: workers live as long as the process
  return *pool;
}

#ifdef WT_NO_THREADS
struct ThreadPool::Impl {};
ThreadPool::ThreadPool() = default;
ThreadPool::~ThreadPool() = default;
bool ThreadPool::supported() { return false; }
int ThreadPool::max_threads() { return 1; }
int ThreadPool::ensure(int) { return 1; }
void ThreadPool::run(int, int tasks, const std::function<void(int, int)>& fn) {
  for (int t = 0; t < tasks; ++t) fn(t, 0);
}
#else
struct ThreadPool::Impl {
  std::mutex run_mu;  // one job at a time
  std::mutex mu;
  std::condition_variable start, done;
  const std::function<void(int, int)>* fn = nullptr;
  int tasks = 0, active = 1;
  std::atomic<int> next{0};
  int busy = 0;  // participants still inside the current job
  unsigned long generation = 0;
  std::vector<std::thread> workers;  // worker ids 1..size

  void work(int worker) {
    for (int t; (t = next.fetch_add(1)) < tasks;) (*fn)(t, worker);
  }
  void loop(int worker) {
    unsigned long seen = 0;
    for (;;) {
      bool take = false;
      {
        std::unique_lock<std::mutex> lk(mu);
        start.wait(lk, [&] { return generation != seen; });
        seen = generation;
        take = worker < active;
      }
      if (!take) continue;
      work(worker);
      std::lock_guard<std::mutex> lk(mu);
      if (--busy == 0) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool() : impl_(new Impl) {}
ThreadPool::~ThreadPool() = default;  // never runs (shared() leaks on purpose)
bool ThreadPool::supported() { return true; }

int ThreadPool::max_threads() {
#ifdef __EMSCRIPTEN__
  return 4;  // PTHREAD_POOL_SIZE=3 in CMakeLists.txt, plus the caller
#else
  return 64;
#endif
}

int ThreadPool::ensure(int threads) {
  if (threads > max_threads()) threads = max_threads();
  if (threads < 1) threads = 1;
  std::lock_guard<std::mutex> run_lk(impl_->run_mu);
  while ((int)impl_->workers.size() + 1 < threads) {
    const int id = (int)impl_->workers.size() + 1;
    impl_->workers.emplace_back([this, id] { impl_->loop(id); });
  }
  return threads;
}

void ThreadPool::run(int threads, int tasks, const std::function<void(int, int)>& fn) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> run_lk(m.run_mu);
  const int n = std::min(threads, (int)m.workers.size() + 1);
  if (n <= 1 || tasks <= 1) {
    for (int t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(m.mu);
    m.fn = &fn;
    m.tasks = tasks;
    m.next = 0;
    m.active = n;
    m.busy = n - 1;
    ++m.generation;
  }
  m.start.notify_all();
  m.work(0);  // the caller is worker 0
  std::unique_lock<std::mutex> lk(m.mu);
  m.done.wait(lk, [&] { return m.busy == 0; });
}
#endif

}  // namespace wt
