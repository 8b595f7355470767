#include "media/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace chatd::media {
namespace {

TEST(WorkerPool, RunsJobsOnItsOwnThreads) {
  std::promise<std::thread::id> ran_on;
  {
    WorkerPool pool(1, 1);
    ASSERT_TRUE(pool.try_post([&] { ran_on.set_value(std::this_thread::get_id()); }));
  }
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
}

TEST(WorkerPool, RefusesJobsBeyondThreadsPlusBacklog) {
  std::promise<void> release;
  const std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran = 0;
  {
    WorkerPool pool(2, 1);
    const auto blocked = [&] {
      released.wait();
      ++ran;
    };
    EXPECT_TRUE(pool.try_post(blocked));
    EXPECT_TRUE(pool.try_post(blocked));
    EXPECT_TRUE(pool.try_post(blocked));
    EXPECT_FALSE(pool.try_post(blocked));  // 2 running (or about to) and 1 waiting: full
    EXPECT_EQ(pool.outstanding(), 3U);
    release.set_value();
  }  // the destructor runs what was admitted
  EXPECT_EQ(ran, 3);
}

TEST(WorkerPool, AdmitsAgainOnceJobsFinish) {
  WorkerPool pool(1, 0);
  std::promise<void> first_done;
  ASSERT_TRUE(pool.try_post([&] { first_done.set_value(); }));
  first_done.get_future().wait();
  while (pool.outstanding() != 0) std::this_thread::yield();
  std::promise<void> second_done;
  EXPECT_TRUE(pool.try_post([&] { second_done.set_value(); }));
  second_done.get_future().wait();
}

}  // namespace
}  // namespace chatd::media
