#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "chat/chat_service.h"
#include "chat/events.h"
#include "cluster/commit_feed.h"
#include "cluster/redis.h"
#include "cluster/redis_presence.h"
#include "cluster/redis_rate_limit.h"
#include "cluster/redis_typing.h"
#include "store/store.h"
#include "util/loop_thread.h"

// This node's part in a cluster (DESIGN.md, "Scale-out"): its Redis connections on a loop thread
// of their own, the feed of every node's commits, presence across nodes, the relay of what nodes
// do not store (typing, presence announcements), and the registry of node addresses that lets a
// node forward a request for a session another node owns; typing state is shared too. See README.md
// beside this file.
namespace chatd::cluster {

struct ClusterOptions {
  RedisEndpoint redis;
  std::string node_id;
  // host:port where the other nodes reach this one (forwarded Engine.IO requests).
  std::string advertise_address;
  CommitFeedOptions feed;
  chat::Limits limits;  // the typing allowance and expiry
};

class ClusterNode {
 public:
  // Joins `chats` to the cluster: the store reports commits to the feed (set_change_listener),
  // which hands every node's to the domain; `sockets` hear typing and presence of every node; the
  // domain asks presence of the others. `history_lost` makes every local client resync.
  ClusterNode(ClusterOptions options, store::Store& store, store::ChangeLog& log,
              chat::ChatService& chats, chat::EventSink& sockets,
              CommitFeed::HistoryLost history_lost);
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;
  ~ClusterNode();

  // Reads the log's head, connects to Redis and clears what a previous run under this node id
  // left there (waiting a few seconds at most for Redis); throws when the log cannot be read.
  void start();
  // Before the store closes: no more reads from it.
  void stop();

  bool redis_up() const { return redis_up_.load(std::memory_order_relaxed); }
  // Rate budgets every node shares (logins, sends...), in Redis.
  util::RateLimiter& rate_limiter() { return rate_limits_; }
  // Where another node listens, as last registered (any thread).
  std::optional<std::string> locate(std::string_view node_id) const;

 private:
  class Relay;

  asio::awaitable<Status> start_on_loop();
  void on_redis_up();
  asio::awaitable<void> first_time_up();
  asio::awaitable<void> refresh_periodically();
  asio::awaitable<void> refresh();
  void on_node_joined(std::string_view message);
  void on_typing_published(std::string_view message);
  void on_presence_published(std::string_view message);

  const ClusterOptions options_;
  chat::ChatService& chats_;
  LoopThread loop_;  // first in, last out: everything below lives on it
  RedisConnection commands_;
  RedisConnection subscriber_;
  std::unique_ptr<CommitFeed> feed_;
  std::unique_ptr<Relay> relay_;
  RedisPresence presence_;
  RedisTyping typing_;
  RedisRateLimiter rate_limits_;
  // The store reports here first: this node refuses a revoked session before the commit's turn in
  // the feed comes (a logout answers only after that).
  chat::RevocationTap revocations_;
  std::atomic<bool> redis_up_{false};
  std::atomic<bool> stopped_{false};
  bool was_up_ = false;         // on the loop
  std::promise<void> settled_;  // the first connection's clean-up is done

  mutable std::mutex nodes_mutex_;
  std::map<std::string, std::string, std::less<>> nodes_;  // node id -> host:port
};

}  // namespace chatd::cluster
