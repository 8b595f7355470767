#include "util/rate_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace chatd::util {
namespace {

using namespace std::chrono_literals;
using TimePoint = LocalRateLimiter::TimePoint;

const TimePoint kStart = TimePoint() + 1000h;
constexpr RateRule kThreePerSecondBurstFive{3, 5};

// How many of `n` requests at one instant are allowed.
int allowed_of(LocalRateLimiter& limiter, std::string_view key, RateRule rule, int n, TimePoint at,
               double cost = 1) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += limiter.try_acquire(key, rule, cost, at).allowed ? 1 : 0;
  return allowed;
}

TEST(LocalRateLimiter, AllowsTheBurstThenRefuses) {
  LocalRateLimiter limiter;
  EXPECT_EQ(allowed_of(limiter, "ip:1", kThreePerSecondBurstFive, 5, kStart), 5);
  const auto refused = limiter.try_acquire("ip:1", kThreePerSecondBurstFive, 1, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, 0ms);
  // Refusals take nothing: still one token a third of a second later.
  EXPECT_TRUE(limiter.try_acquire("ip:1", kThreePerSecondBurstFive, 1, kStart + 334ms).allowed);
}

TEST(LocalRateLimiter, RetryAfterIsWhenTheRequestWouldPass) {
  LocalRateLimiter limiter;
  const RateRule rule{4, 2};  // a token every 250 ms
  EXPECT_EQ(allowed_of(limiter, "k", rule, 2, kStart), 2);
  auto refused = limiter.try_acquire("k", rule, 1, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 250ms);
  refused = limiter.try_acquire("k", rule, 1, kStart + 100ms);
  EXPECT_EQ(refused.retry_after, 150ms);
  // Rounded up to the millisecond: waiting exactly retry_after is enough, a nanosecond less not.
  refused = limiter.try_acquire("k", rule, 1, kStart + 100ms + 300us);
  EXPECT_EQ(refused.retry_after, 150ms);
  EXPECT_FALSE(limiter.try_acquire("k", rule, 1, kStart + 250ms - 1ns).allowed);
  const auto allowed = limiter.try_acquire("k", rule, 1, kStart + 250ms);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.retry_after, 0ms);
}

TEST(LocalRateLimiter, RefillsOverTimeUpToTheBurst) {
  LocalRateLimiter limiter;
  const RateRule rule{10, 3};  // a token every 100 ms
  EXPECT_EQ(allowed_of(limiter, "k", rule, 3, kStart), 3);
  EXPECT_EQ(allowed_of(limiter, "k", rule, 3, kStart + 200ms), 2);
  // Idle for an hour: the bucket holds the burst, not more.
  EXPECT_EQ(allowed_of(limiter, "k", rule, 10, kStart + 1h), 3);
  // A steady 10 per second passes indefinitely.
  int allowed = 0;
  for (int i = 1; i <= 100; ++i) {
    allowed += limiter.try_acquire("k", rule, 1, kStart + 1h + i * 100ms).allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 100);
}

TEST(LocalRateLimiter, KeysHaveTheirOwnBudgets) {
  LocalRateLimiter limiter;
  const RateRule rule{1, 2};
  EXPECT_EQ(allowed_of(limiter, "login:ann@example.com", rule, 5, kStart), 2);
  EXPECT_EQ(allowed_of(limiter, "login:bob@example.com", rule, 5, kStart), 2);
  EXPECT_EQ(allowed_of(limiter, "ip:10.0.0.1", rule, 5, kStart), 2);
}

TEST(LocalRateLimiter, ACostTakesThatManyTokens) {
  LocalRateLimiter limiter;
  const RateRule rule{1, 10};
  EXPECT_EQ(allowed_of(limiter, "k", rule, 5, kStart, 3), 3);  // 9 of 10 taken
  EXPECT_TRUE(limiter.try_acquire("k", rule, 1, kStart).allowed);
  const auto refused = limiter.try_acquire("k", rule, 4, kStart + 1s);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 3s);  // 1 token back after 1 s, 3 more needed
  EXPECT_TRUE(limiter.try_acquire("k", rule, 4, kStart + 4s).allowed);
  // Fractional costs count as such.
  EXPECT_EQ(allowed_of(limiter, "half", rule, 30, kStart, 0.5), 20);
}

TEST(LocalRateLimiter, ACostAboveTheBurstNeverPasses) {
  LocalRateLimiter limiter;
  const RateRule rule{1, 3};
  EXPECT_TRUE(limiter.try_acquire("k", rule, 1, kStart).allowed);
  const auto refused = limiter.try_acquire("k", rule, 4, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 1s);  // when the bucket is full again
  EXPECT_FALSE(limiter.try_acquire("k", rule, 4, kStart + 1h).allowed);
}

TEST(LocalRateLimiter, UnlimitedRulesAllowEverythingAndKeepNothing) {
  LocalRateLimiter limiter;
  EXPECT_EQ(allowed_of(limiter, "k", RateRule{0, 1}, 1000, kStart), 1000);
  EXPECT_EQ(allowed_of(limiter, "k", RateRule{-1, 1}, 1000, kStart), 1000);
  EXPECT_EQ(allowed_of(limiter, "k", RateRule{std::nan(""), 1}, 10, kStart), 10);
  EXPECT_EQ(limiter.size(), 0U);
}

TEST(LocalRateLimiter, ABurstBelowOneCountsAsOne) {
  LocalRateLimiter limiter;
  EXPECT_EQ(allowed_of(limiter, "k", RateRule{1, 0}, 3, kStart), 1);
}

TEST(LocalRateLimiter, ResetGivesTheFullBudgetBack) {
  LocalRateLimiter limiter;
  const RateRule rule{0.01, 5};
  EXPECT_EQ(allowed_of(limiter, "login:ann", rule, 10, kStart), 5);
  limiter.forget("login:ann");
  EXPECT_EQ(limiter.size(), 0U);
  EXPECT_EQ(allowed_of(limiter, "login:ann", rule, 10, kStart), 5);
  limiter.forget("never-seen");
}

TEST(LocalRateLimiter, TheCoroutineFormsUseTheSameBudget) {
  LocalRateLimiter limiter;
  RateLimiter& base = limiter;
  boost::asio::io_context io;
  std::vector<bool> results;
  boost::asio::co_spawn(
      io,
      [](RateLimiter& base, std::vector<bool>& results) -> boost::asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          const auto decision = co_await base.acquire("k", RateRule{0.01, 2});
          results.push_back(decision.allowed);
        }
        co_await base.reset("k");
        const auto decision = co_await base.acquire("k", RateRule{0.01, 2});
        results.push_back(decision.allowed);
      }(base, results),
      boost::asio::detached);
  io.run();
  EXPECT_EQ(results, (std::vector<bool>{true, true, false, true}));
}

TEST(LocalRateLimiter, KeysThatAreFullAgainAreSwept) {
  LocalRateLimiter limiter;
  const RateRule rule{1, 5};  // a key is full again 1 s after one request
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(limiter.try_acquire("ip:" + std::to_string(i), rule, 1, kStart).allowed);
  }
  EXPECT_EQ(limiter.size(), 10'000U);
  // Later calls (a few thousand per shard, on keys spread over all shards) sweep the keys that
  // are full again, and only those.
  for (int i = 0; i < 40'000; ++i) {
    (void)limiter.try_acquire("busy:" + std::to_string(i % 1000), rule, 1, kStart + 2s);
  }
  EXPECT_EQ(limiter.size(), 1000U);
  EXPECT_FALSE(limiter.try_acquire("busy:7", rule, 1, kStart + 2s).allowed);  // still known
}

TEST(LocalRateLimiter, MemoryIsBoundedAndKnownKeysStayLimited) {
  LocalRateLimiter limiter(1600);  // 100 keys per shard
  const RateRule rule{0.001, 1};   // no key is full again for 1000 s
  EXPECT_TRUE(limiter.try_acquire("known", rule, 1, kStart).allowed);
  for (int i = 0; i < 100'000; ++i) {
    (void)limiter.try_acquire("ip:" + std::to_string(i), rule, 1, kStart + 1s);
  }
  EXPECT_LE(limiter.size(), 1600U);
  EXPECT_GE(limiter.size(), 1500U);
  // A key recorded before the table filled is still limited; new keys pass unrecorded.
  EXPECT_FALSE(limiter.try_acquire("known", rule, 1, kStart + 2s).allowed);
  // Once keys are full again, the next sweep makes room for new ones.
  for (int i = 0; i < 2'000; ++i) {
    (void)limiter.try_acquire("later:" + std::to_string(i), rule, 1, kStart + 2000s);
  }
  EXPECT_LE(limiter.size(), 1600U);
  EXPECT_EQ(allowed_of(limiter, "later:1", rule, 3, kStart + 2000s), 0);
}

TEST(LocalRateLimiter, ConcurrentCallersLoseNoUpdate) {
  LocalRateLimiter limiter;
  const RateRule rule{1, 1000};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&limiter, &allowed, rule, t] {
      for (int i = 0; i < 2000; ++i) {
        if (limiter.try_acquire("shared", rule, 1, kStart).allowed) ++allowed;
        // Other keys in the same and other shards meanwhile.
        (void)limiter.try_acquire("own:" + std::to_string(t * 10'000 + i), rule, 1, kStart);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);
  EXPECT_EQ(limiter.size(), 8001U);
}

}  // namespace
}  // namespace chatd::util

TEST(RateRule, ParsesCountPerPeriod) {
  auto per_minute = chatd::util::parse_rate_rule("20/min");
  ASSERT_TRUE(per_minute.ok());
  EXPECT_DOUBLE_EQ(per_minute->burst, 20);
  EXPECT_DOUBLE_EQ(per_minute->per_second, 20.0 / 60);
  auto slow = chatd::util::parse_rate_rule("10/10min");
  ASSERT_TRUE(slow.ok());
  EXPECT_DOUBLE_EQ(slow->burst, 10);
  EXPECT_DOUBLE_EQ(slow->per_second, 1.0 / 60);
  EXPECT_DOUBLE_EQ(chatd::util::parse_rate_rule("5/150s")->per_second, 1.0 / 30);
  EXPECT_DOUBLE_EQ(chatd::util::parse_rate_rule("1/d")->per_second, 1.0 / 86400);
  EXPECT_EQ(chatd::util::parse_rate_rule("off")->per_second, 0);
  for (const char* bad : {"", "20", "/min", "20/", "20/m", "0/min", "-1/min", "20/0min", "x/s",
                          "20/min ", "20 /min", "1e999/s"}) {
    EXPECT_FALSE(chatd::util::parse_rate_rule(bad).ok()) << bad;
  }
  EXPECT_EQ(chatd::util::format_rate_rule(*chatd::util::parse_rate_rule("10/10min")), "10/600s");
  EXPECT_EQ(chatd::util::format_rate_rule(*chatd::util::parse_rate_rule("off")), "off");
}
