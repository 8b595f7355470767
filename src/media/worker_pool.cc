#include "media/worker_pool.h"

#include <algorithm>
#include <utility>

namespace chatd::media {

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queued)
    : capacity_(std::max<std::size_t>(threads, 1) + max_queued) {
  threads = std::max<std::size_t>(threads, 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& thread : threads_) thread.join();
}

bool WorkerPool::try_post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || outstanding_ >= capacity_) return false;
    ++outstanding_;
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
  return true;
}

std::size_t WorkerPool::outstanding() const {
  std::lock_guard lock(mutex_);
  return outstanding_;
}

void WorkerPool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every admitted job has been taken
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
    job = nullptr;  // what the job holds is released before it stops counting
    std::lock_guard lock(mutex_);
    --outstanding_;
  }
}

}  // namespace chatd::media
