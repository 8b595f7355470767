#include "cluster/redis_typing.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <optional>

#include "cluster/redis_test_server.h"

namespace chatd::cluster {
namespace {

using namespace std::chrono_literals;
using testing::free_port;
using testing::RedisServer;
using testing::run_until;

// Two nodes' typing state on one Redis.
class RedisTypingTest : public ::testing::Test {
 protected:
  RedisTypingTest()
      : server_(port_),
        redis_(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "test"),
        a_(io_.get_executor(), redis_, 3, 2, 5s),
        b_(io_.get_executor(), redis_, 3, 2, 5s) {}

  void SetUp() override {
    redis_.start([] {}, [] {});
    ASSERT_TRUE(run_until(io_, [&] { return redis_.up(); }));
  }

  template <class T>
  T await(asio::awaitable<T> task) {
    std::optional<T> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result = co_await std::move(task); }, asio::detached);
    EXPECT_TRUE(run_until(io_, [&] { return result.has_value(); }));
    return result.value_or(T{});
  }

  int port_ = free_port();
  RedisServer server_;
  asio::io_context io_;
  RedisConnection redis_;
  RedisTyping a_;
  RedisTyping b_;
};

TEST_F(RedisTypingTest, TheAllowanceIsSharedByAllNodes) {
  EXPECT_TRUE(await(a_.allow("ann")));
  EXPECT_TRUE(await(b_.allow("ann")));
  EXPECT_TRUE(await(a_.allow("ann")));
  EXPECT_FALSE(await(b_.allow("ann")));  // the burst of 3 is spent, whichever node asks
  EXPECT_TRUE(await(b_.allow("bob")));
}

TEST_F(RedisTypingTest, ChangesAreAnnouncedOnceWhicheverNodeHearsThem) {
  auto first = await(a_.start("chat", "ann"));
  EXPECT_TRUE(first.changed);
  auto refresh = await(b_.start("chat", "ann"));  // another device of hers, another node
  EXPECT_FALSE(refresh.changed);
  EXPECT_FALSE(await(a_.expire("chat", "ann", first.generation)));  // refreshed on b since
  EXPECT_TRUE(await(b_.expire("chat", "ann", refresh.generation)));
  EXPECT_FALSE(await(a_.stop("chat", "ann")));  // already ended
  EXPECT_TRUE(await(a_.start("chat", "ann")).changed);
  EXPECT_TRUE(await(b_.stop("chat", "ann")));
}

TEST_F(RedisTypingTest, WithRedisDownTypingStillFlows) {
  server_.stop();
  ASSERT_TRUE(run_until(io_, [&] { return !redis_.up(); }));
  EXPECT_TRUE(await(a_.allow("ann")));
  auto started = await(a_.start("chat", "ann"));
  EXPECT_TRUE(started.changed);
  EXPECT_TRUE(await(a_.expire("chat", "ann", started.generation)));
}

}  // namespace
}  // namespace chatd::cluster
