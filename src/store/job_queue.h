#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

// The queue between the coroutines that submit store jobs and the threads that run them, shared by
// the backends (store/sqlite, store/postgres).
namespace chatd::store {

// A closable multi-producer queue of jobs.
template <class Job>
class JobQueue {
 public:
  // False when the queue is closed: the caller keeps ownership and must abandon the job.
  bool push(std::unique_ptr<Job>& job) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

  // Waits for at least one job and takes up to `max` of them; empty once closed and drained.
  std::vector<std::unique_ptr<Job>> pop(std::size_t max) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    std::vector<std::unique_ptr<Job>> taken;
    while (!jobs_.empty() && taken.size() < max) {
      taken.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    return taken;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Job>> jobs_;
  bool closed_ = false;
};

}  // namespace chatd::store
