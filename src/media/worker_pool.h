#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace chatd::media {

// Threads for CPU-heavy jobs (decoding images) with a bounded backlog: a job is admitted only while
// fewer than `threads + max_queued` are admitted and unfinished, so a burst of uploads costs a
// refusal (the caller answers "unavailable, retry"), never unbounded memory or latency.
class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t max_queued);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Runs the jobs already admitted, then joins the threads.
  ~WorkerPool();

  // Queues `job`; false (and `job` is dropped unrun) when the backlog is full or the pool stops.
  bool try_post(std::function<void()> job);

  // Jobs admitted and not finished yet (running or waiting).
  std::size_t outstanding() const;

 private:
  void work();

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::size_t outstanding_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace chatd::media
