#include "cluster/redis.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "cluster/redis_test_server.h"

namespace chatd::cluster {
namespace {

using namespace std::chrono_literals;
using testing::free_port;
using testing::RedisServer;
using testing::run_until;

TEST(RedisUrl, ReadsHostPortPasswordAndDatabase) {
  auto plain = parse_redis_url("redis://127.0.0.1:6380");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->database, 0);
  auto full = parse_redis_url("redis://:s3cret@redis.internal/2");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->host, "redis.internal");
  EXPECT_EQ(full->port, 6379);
  EXPECT_EQ(full->password, "s3cret");
  EXPECT_EQ(full->database, 2);
  for (const char* bad : {"", "http://x", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h/x", "redis://h/-1"}) {
    EXPECT_FALSE(parse_redis_url(bad).ok()) << bad;
  }
}

// Sends a command; the reply lands in the returned slot once it comes.
std::shared_ptr<std::optional<Result<RedisReply>>> send(RedisConnection& redis,
                                                        std::vector<std::string> args) {
  auto reply = std::make_shared<std::optional<Result<RedisReply>>>();
  redis.send(std::move(args), [reply](Result<RedisReply> r) { *reply = std::move(r); });
  return reply;
}

TEST(RedisConnection, CommandsPublishAndReconnect) {
  const int port = free_port();
  RedisServer server(port);
  asio::io_context io;
  RedisConnection commands(io.get_executor(), RedisEndpoint{"127.0.0.1", port}, "commands");
  RedisConnection subscriber(io.get_executor(), RedisEndpoint{"127.0.0.1", port}, "subscriber");
  std::vector<std::string> heard;
  int subscribed = 0;
  subscriber.subscribe("news", [&](std::string_view m) { heard.emplace_back(m); });
  subscriber.start([&] { ++subscribed; }, [] {});
  commands.start([] {}, [] {});
  ASSERT_TRUE(run_until(io, [&] { return commands.up() && subscribed == 1; }));

  auto set = send(commands, {"SET", "k", std::string("v\0w", 3)});
  auto get = send(commands, {"GET", "k"});
  auto wrong = send(commands, {"INCR", "k"});
  ASSERT_TRUE(run_until(io, [&] { return wrong->has_value(); }));
  EXPECT_EQ((**set)->type, RedisReply::Type::status);
  ASSERT_TRUE(get->has_value() && (*get)->ok());
  EXPECT_EQ((**get)->text, std::string("v\0w", 3));  // binary-safe
  EXPECT_EQ((**wrong)->type, RedisReply::Type::error);

  commands.send({"PUBLISH", "news", "one"}, [](const Result<RedisReply>&) {});
  ASSERT_TRUE(run_until(io, [&] { return heard.size() == 1; }));

  server.stop();
  ASSERT_TRUE(run_until(io, [&] { return !commands.up(); }));
  auto refused = send(commands, {"PING"});
  ASSERT_TRUE(run_until(io, [&] { return refused->has_value(); }));
  ASSERT_FALSE((*refused)->ok());
  EXPECT_EQ((*refused)->error().code, Errc::unavailable);

  server.start();  // same port: both connections come back, the subscription with them
  ASSERT_TRUE(run_until(
      io, [&] { return commands.up() && subscribed == 2; }, 10s));
  commands.send({"PUBLISH", "news", "two"}, [](const Result<RedisReply>&) {});
  ASSERT_TRUE(run_until(io, [&] { return heard.size() == 2; }));
  EXPECT_EQ(heard, (std::vector<std::string>{"one", "two"}));
  commands.stop();
  subscriber.stop();
  io.run_for(20ms);
}

}  // namespace
}  // namespace chatd::cluster
