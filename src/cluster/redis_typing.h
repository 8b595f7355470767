#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <string>

#include "chat/typing.h"
#include "cluster/redis.h"

// Typing across nodes, in Redis: the same answers as chat::TypingTracker for a user whose devices
// sit on several nodes. The allowance is a token bucket and each chat/user's typing a key holding
// the generation of its latest report (from a counter all nodes share), each changed by one Lua
// script. The node that took a report runs its expiry timer; the generation tells it whether a
// later report, on any node, refreshed or ended the typing meanwhile.
//
// Redis down: typing is allowed, and each report is announced as a change (typing is a moment:
// an extra "typing" beats a lost one).
namespace chatd::cluster {

class RedisTyping final : public chat::TypingState {
 public:
  RedisTyping(asio::any_io_executor loop, RedisConnection& redis, int burst, double per_second,
              std::chrono::milliseconds expiry);

  asio::awaitable<bool> allow(std::string user_id) override;
  asio::awaitable<chat::TypingStarted> start(std::string chat_id, std::string user_id) override;
  asio::awaitable<bool> stop(std::string chat_id, std::string user_id) override;
  asio::awaitable<bool> expire(std::string chat_id, std::string user_id,
                               std::uint64_t generation) override;

 private:
  // Runs a script on the cluster loop: its integer reply, or `fallback` when Redis cannot answer.
  asio::awaitable<std::int64_t> eval(const std::string& script, std::vector<std::string> keys,
                                     std::vector<std::string> args, std::int64_t fallback);

  asio::any_io_executor loop_;
  RedisConnection& redis_;
  const int burst_;
  const double per_second_;
  const std::chrono::milliseconds expiry_;
};

}  // namespace chatd::cluster
