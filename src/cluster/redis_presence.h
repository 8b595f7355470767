#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "chat/presence_directory.h"
#include "cluster/redis.h"

// Presence across nodes, in Redis (DESIGN.md, "Presence and counters"): per user, the nodes where
// they have clients; per node, its users; and per node an alive key with a TTL (keys.h).
// A node's entries count only while its alive key exists, so a node that dies stops counting
// within the TTL, and a living node reaps it: removes its entries and announces offline those of
// its users who have no client elsewhere. Each change of a user's entries and its answer is one
// Lua script, so two nodes never both think they hold a user's last client.
namespace chatd::cluster {

class RedisPresence final : public chat::PresenceDirectory {
 public:
  // `user_lost`: a user whose clients were all on a dead node (runs on the cluster loop).
  using UserLost = std::function<void(std::string user_id)>;

  RedisPresence(asio::any_io_executor loop, RedisConnection& redis, std::string node_id,
                UserLost user_lost);

  // From any thread; hop to the cluster loop and back. Redis down: the node answers for itself
  // (joined/left false, nobody elsewhere), so presence degrades to per node, never blocks.
  asio::awaitable<bool> joined(std::string user_id) override;
  asio::awaitable<bool> left(std::string user_id) override;
  asio::awaitable<std::set<std::string>> online_elsewhere(
      std::vector<std::string> user_ids) override;

  // On the cluster loop, every few seconds: refreshes this node's alive key and reaps dead nodes
  // among `nodes`. At start, before serving, reap this node's own id too: entries a previous run
  // under the same id left behind when it was killed.
  asio::awaitable<void> heartbeat(const std::vector<std::string>& nodes);
  asio::awaitable<void> reap(std::string node_id);

  static constexpr std::chrono::seconds kAliveTtl{10};

 private:
  asio::awaitable<bool> change(const std::string& script, std::string node_id, std::string user_id);
  asio::awaitable<bool> alive(const std::string& node_id);

  asio::any_io_executor loop_;
  RedisConnection& redis_;
  const std::string node_id_;
  UserLost user_lost_;
};

}  // namespace chatd::cluster
