#include "cluster/redis_presence.h"

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

// Two nodes' presence on one Redis, each with its own connection, on one test loop.
class RedisPresenceTest : public ::testing::Test {
 protected:
  RedisPresenceTest()
      : server_(port_),
        redis_a_(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "a"),
        redis_b_(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "b"),
        a_(io_.get_executor(), redis_a_, "node-a",
           [this](const std::string& u) { lost_by_a_.push_back(u); }),
        b_(io_.get_executor(), redis_b_, "node-b",
           [this](const std::string& u) { lost_by_b_.push_back(u); }) {}

  void SetUp() override {
    redis_a_.start([] {}, [] {});
    redis_b_.start([] {}, [] {});
    ASSERT_TRUE(run_until(io_, [&] { return redis_a_.up() && redis_b_.up(); }));
    beat(a_, {"node-a"});
    beat(b_, {"node-b"});
  }

  template <class T>
  T await(asio::awaitable<T> task) {
    std::optional<T> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result = co_await std::move(task); }, asio::detached);
    EXPECT_TRUE(run_until(io_, [&] { return result.has_value(); }));
    return result.value_or(T{});
  }

  void beat(RedisPresence& node, std::vector<std::string> nodes) {
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await node.heartbeat(nodes);
          done = true;
        },
        asio::detached);
    ASSERT_TRUE(run_until(io_, [&] { return done; }));
  }

  int port_ = free_port();
  RedisServer server_;
  asio::io_context io_;
  RedisConnection redis_a_;
  RedisConnection redis_b_;
  std::vector<std::string> lost_by_a_;
  std::vector<std::string> lost_by_b_;
  RedisPresence a_;
  RedisPresence b_;
};

TEST_F(RedisPresenceTest, AUserIsOnlineWhileAnyNodeHoldsThem) {
  EXPECT_FALSE(await(a_.joined("ann")));  // first anywhere: announce
  EXPECT_TRUE(await(b_.joined("ann")));   // online on a already
  EXPECT_EQ(await(a_.online_elsewhere({"ann", "bob"})), (std::set<std::string>{"ann"}));
  EXPECT_TRUE(await(a_.left("ann")));  // still on b
  EXPECT_TRUE(await(b_.online_elsewhere({"ann"})).empty());
  EXPECT_FALSE(await(b_.left("ann")));  // the last one anywhere: announce
  EXPECT_TRUE(await(a_.online_elsewhere({"ann"})).empty());
}

TEST_F(RedisPresenceTest, ADeadNodesUsersAreReapedByALivingOne) {
  EXPECT_FALSE(await(a_.joined("ann")));
  EXPECT_FALSE(await(a_.joined("bob")));
  EXPECT_TRUE(await(b_.joined("bob")));
  // a stops refreshing: once its alive key expires, b's heartbeat reaps it.
  RedisConnection admin(io_.get_executor(), RedisEndpoint{"127.0.0.1", port_}, "admin");
  admin.start([] {}, [] {});
  ASSERT_TRUE(run_until(io_, [&] { return admin.up(); }));
  bool expired = false;
  admin.send({"DEL", "chatd:alive:node-a"}, [&](const Result<RedisReply>&) { expired = true; });
  ASSERT_TRUE(run_until(io_, [&] { return expired; }));
  EXPECT_TRUE(await(b_.online_elsewhere({"ann", "bob"})).empty());  // a counts no more
  beat(b_, {"node-a", "node-b"});
  EXPECT_EQ(lost_by_b_, (std::vector<std::string>{"ann"}));  // bob is still on b
  EXPECT_TRUE(lost_by_a_.empty());
  // a comes back under the same id (a restart): nothing of its old run counts.
  beat(a_, {"node-a", "node-b"});
  EXPECT_TRUE(await(b_.online_elsewhere({"ann", "bob"})).empty());
  admin.stop();
  io_.run_for(10ms);
}

TEST_F(RedisPresenceTest, ANodeRestartedUnderItsIdClearsWhatItsLastRunLeft) {
  EXPECT_FALSE(await(a_.joined("ann")));
  bool reaped = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        co_await a_.reap("node-a");
        reaped = true;
      },
      asio::detached);
  ASSERT_TRUE(run_until(io_, [&] { return reaped; }));
  EXPECT_EQ(lost_by_a_, (std::vector<std::string>{"ann"}));
  EXPECT_TRUE(await(b_.online_elsewhere({"ann"})).empty());
}

TEST_F(RedisPresenceTest, WithRedisDownEachNodeAnswersForItself) {
  server_.stop();
  ASSERT_TRUE(run_until(io_, [&] { return !redis_a_.up(); }));
  EXPECT_FALSE(await(a_.joined("ann")));
  EXPECT_FALSE(await(a_.left("ann")));
  EXPECT_TRUE(await(a_.online_elsewhere({"ann"})).empty());
}

}  // namespace
}  // namespace chatd::cluster
