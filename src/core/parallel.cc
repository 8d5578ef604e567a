#include "core/parallel.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define WT_NO_THREADS 1
#endif

#ifndef WT_NO_THREADS
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace wt {

#ifdef WT_NO_THREADS
struct ThreadPool::Impl {};
ThreadPool::ThreadPool(int) : threads_(1) {}
ThreadPool::~ThreadPool() = default;
bool ThreadPool::supported() { return false; }
void ThreadPool::run(int tasks, const std::function<void(int, int)>& fn) {
  for (int t = 0; t < tasks; ++t) fn(t, 0);
}
#else
struct ThreadPool::Impl {
  std::mutex mu;
  std::condition_variable start, done;
  const std::function<void(int, int)>* fn = nullptr;
  int tasks = 0;
  std::atomic<int> next{0};
  int busy = 0;             // workers still inside the current job
  unsigned long generation = 0;
  bool quit = false;
  std::vector<std::thread> workers;

  void work(int worker) {
    for (int t; (t = next.fetch_add(1)) < tasks;) (*fn)(t, worker);
  }
  void loop(int worker) {
    unsigned long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu);
        start.wait(lk, [&] { return quit || generation != seen; });
        if (quit) return;
        seen = generation;
      }
      work(worker);
      std::lock_guard<std::mutex> lk(mu);
      if (--busy == 0) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads), impl_(new Impl) {
  for (int w = 1; w < threads_; ++w) impl_->workers.emplace_back([this, w] { impl_->loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->quit = true;
  }
  impl_->start.notify_all();
  for (auto& t : impl_->workers) t.join();
}

bool ThreadPool::supported() { return true; }

void ThreadPool::run(int tasks, const std::function<void(int, int)>& fn) {
  if (threads_ == 1 || tasks <= 1) {
    for (int t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    m.fn = &fn;
    m.tasks = tasks;
    m.next = 0;
    m.busy = threads_ - 1;
    ++m.generation;
  }
  m.start.notify_all();
  m.work(0);  // the caller is worker 0
  std::unique_lock<std::mutex> lk(m.mu);
  m.done.wait(lk, [&] { return m.busy == 0; });
}
#endif

}  // namespace wt
