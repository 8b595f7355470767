#include "cluster/redis_rate_limit.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <optional>

#include "cluster/keys.h"
#include "cluster/redis_test_server.h"

namespace chatd::cluster {
namespace {

using namespace std::chrono_literals;
using testing::free_port;
using testing::RedisServer;
using testing::run_until;
using util::RateDecision;
using util::RateRule;

// Two nodes, each with its own connection and limiter, on one Redis.
class RedisRateLimiterTest : public ::testing::Test {
 protected:
  RedisRateLimiterTest()
      : server_(port_),
        redis_a_(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "a"),
        redis_b_(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "b"),
        a_(io_.get_executor(), redis_a_),
        b_(io_.get_executor(), redis_b_) {}

  void SetUp() override {
    redis_a_.start([] {}, [] {});
    redis_b_.start([] {}, [] {});
    ASSERT_TRUE(run_until(io_, [&] { return redis_a_.up() && redis_b_.up(); }));
  }

  template <class T>
  std::optional<T> await(asio::awaitable<T> task) {
    std::optional<T> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(task)); },
        asio::detached);
    EXPECT_TRUE(run_until(io_, [&] { return result.has_value(); }));
    return result;
  }
  void await_void(asio::awaitable<void> task) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await std::move(task);
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(run_until(io_, [&] { return done; }));
  }

  RateDecision acquire(util::RateLimiter& limiter, std::string key, RateRule rule,
                       double cost = 1) {
    return await(limiter.acquire(std::move(key), rule, cost)).value_or(RateDecision{});
  }

  RedisReply redis(std::vector<std::string> command) {
    auto reply = await(redis_a_.command(std::move(command)));
    EXPECT_TRUE(reply && reply->ok());
    return reply && *reply ? **reply : RedisReply{};
  }

  int port_ = free_port();
  RedisServer server_;
  asio::io_context io_;
  RedisConnection redis_a_;
  RedisConnection redis_b_;
  RedisRateLimiter a_;
  RedisRateLimiter b_;
};

TEST_F(RedisRateLimiterTest, NodesShareOneBudget) {
  const RateRule rule{0.01, 3};
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
  EXPECT_TRUE(acquire(b_, "login:ann", rule).allowed);
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
  EXPECT_FALSE(acquire(b_, "login:ann", rule).allowed);  // the burst is spent, whichever node asks
  EXPECT_FALSE(acquire(a_, "login:ann", rule).allowed);
  EXPECT_TRUE(acquire(b_, "login:bob", rule).allowed);
  // Neither node kept anything of its own.
  EXPECT_EQ(a_.local().size(), 0U);
  EXPECT_EQ(b_.local().size(), 0U);
}

TEST_F(RedisRateLimiterTest, RetryAfterIsWhenTheRequestWouldPass) {
  const RateRule rule{2, 2};  // a token every 500 ms
  EXPECT_TRUE(acquire(a_, "k", rule).allowed);
  EXPECT_TRUE(acquire(b_, "k", rule).allowed);
  const auto refused = acquire(a_, "k", rule);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, 300ms);  // less whatever the round trips took
  EXPECT_LE(refused.retry_after, 500ms);
  // Cost 3 never fits a burst of 2: wait for the bucket to be full (about 1 s).
  const auto never = acquire(b_, "k", rule, 3);
  EXPECT_FALSE(never.allowed);
  EXPECT_GT(never.retry_after, 800ms);
  EXPECT_LE(never.retry_after, 1000ms);

  const auto deadline = std::chrono::steady_clock::now() + refused.retry_after;
  run_until(io_, [&] { return std::chrono::steady_clock::now() >= deadline; });
  EXPECT_TRUE(acquire(b_, "k", rule).allowed);
}

TEST_F(RedisRateLimiterTest, KeysExpireWhenTheirBucketIsFull) {
  const RateRule rule{1, 5};
  EXPECT_TRUE(acquire(a_, "ip:10.0.0.1", rule, 2).allowed);  // full again in 2 s
  const auto ttl = redis({"PTTL", keys::rate("ip:10.0.0.1")});
  ASSERT_EQ(ttl.type, RedisReply::Type::integer);
  EXPECT_GT(ttl.integer, 1500);
  EXPECT_LE(ttl.integer, 2000);

  EXPECT_TRUE(acquire(a_, "ip:10.0.0.2", RateRule{50, 1}).allowed);  // full again in 20 ms
  const auto gone_at = std::chrono::steady_clock::now() + 100ms;
  run_until(io_, [&] { return std::chrono::steady_clock::now() >= gone_at; });
  EXPECT_EQ(redis({"EXISTS", keys::rate("ip:10.0.0.2")}).integer, 0);
}

TEST_F(RedisRateLimiterTest, UnlimitedRulesDoNotTouchRedis) {
  EXPECT_TRUE(acquire(a_, "k", RateRule{0, 1}).allowed);
  EXPECT_EQ(redis({"EXISTS", keys::rate("k")}).integer, 0);
}

TEST_F(RedisRateLimiterTest, ResetForgivesOnEveryNode) {
  const RateRule rule{0.01, 1};
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
  EXPECT_FALSE(acquire(b_, "login:ann", rule).allowed);
  await_void(b_.reset("login:ann"));
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
}

TEST_F(RedisRateLimiterTest, SurvivesAFlushedScriptCache) {
  const RateRule rule{0.01, 2};
  EXPECT_TRUE(acquire(a_, "k", rule).allowed);
  EXPECT_EQ(redis({"SCRIPT", "FLUSH"}).type, RedisReply::Type::status);
  EXPECT_TRUE(acquire(a_, "k", rule).allowed);   // NOSCRIPT, then EVAL
  EXPECT_FALSE(acquire(a_, "k", rule).allowed);  // EVALSHA again
  const auto stats = redis({"INFO", "commandstats"}).text;
  EXPECT_NE(stats.find("cmdstat_eval:calls=1,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_evalsha:calls="), std::string::npos) << stats;
  EXPECT_EQ(a_.local().size(), 0U);
}

TEST_F(RedisRateLimiterTest, WithRedisDownEachNodeStillLimits) {
  server_.stop();
  ASSERT_TRUE(run_until(io_, [&] { return !redis_a_.up() && !redis_b_.up(); }));
  const RateRule rule{0.01, 2};
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
  const auto refused = acquire(a_, "login:ann", rule);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, 99s);
  // The other node has a budget of its own meanwhile.
  EXPECT_TRUE(acquire(b_, "login:ann", rule).allowed);
  await_void(a_.reset("login:ann"));
  EXPECT_TRUE(acquire(a_, "login:ann", rule).allowed);
}

}  // namespace
}  // namespace chatd::cluster
