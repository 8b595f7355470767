#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/redis.h"
#include "store/store.h"

// Committed changes of every node, to this node's sequencer, in commit order (DESIGN.md,
// "Fan-out" and "Catch-up").
//
// The store numbers each commit in its change log: gapless and in commit order across all nodes
// (store::Commit::position). A node publishes its own commits on a Redis channel; every node hears
// them there, and feeds them, with its own, to its sequencer strictly by position. So every node
// delivers every chat's changes in commit order, whichever node committed them.
//
// Redis is only the fast road: the log is the truth. A position that does not come (a publish
// lost, Redis down, the link dropped) is read from the log: when a later one is waiting longer than
// the gap timeout, when the subscription comes back, and by a poll of the log's head that catches
// what nobody announced at all. So Redis down means latency, never loss.
//
// Everything runs on one single-threaded executor (the cluster loop), except on_commit, which the
// store calls from its writer thread and which hands over to that executor.
namespace chatd::cluster {

namespace asio = boost::asio;

struct CommitFeedOptions {
  // A missing position is read from the log when a later one has waited this long.
  std::chrono::milliseconds gap_timeout{100};
  // How often the log's head is checked for commits that were never announced.
  std::chrono::milliseconds poll_interval{1'000};
  int read_batch = 500;  // commits read from the log at a time
};

class CommitFeed final : public store::ChangeListener {
 public:
  // Called when commits were pruned from the log before this node saw them: its clients may have
  // missed changes and must resync (on the cluster loop).
  using HistoryLost = std::function<void()>;

  CommitFeed(asio::any_io_executor executor, store::ChangeLog& log, RedisConnection& publisher,
             std::string node_id, store::ChangeListener& downstream, HistoryLost history_lost,
             CommitFeedOptions options = {});

  // Before the node serves (on the cluster loop): starts from the log's head, since clients that
  // connect from now on sync what came before themselves; then polls.
  asio::awaitable<Status> start();
  // On the cluster loop, before the loop stops.
  void stop();

  // A commit of this node (the store's writer thread).
  void on_commit(store::Commit commit) override;

  // What another node published on keys::kCommits (on the cluster loop).
  void on_published(std::string_view message);
  // The subscription to keys::kCommits is (again) in place: what was published before is in the
  // log.
  void on_subscribed() { request_catch_up(); }

 private:
  void accept(store::Commit commit);
  void deliver_in_order();
  void skip_to(std::int64_t position);
  void watch_gap();
  void request_catch_up();
  asio::awaitable<void> catch_up();
  asio::awaitable<void> poll();

  asio::any_io_executor executor_;
  store::ChangeLog& log_;
  RedisConnection& publisher_;
  const std::string node_id_;
  store::ChangeListener& downstream_;
  HistoryLost history_lost_;
  const CommitFeedOptions options_;

  std::int64_t delivered_ = 0;                     // every position up to this one went downstream
  std::map<std::int64_t, store::Commit> waiting_;  // later positions, until the gap closes
  asio::steady_timer gap_timer_;
  bool gap_watched_ = false;
  bool catching_up_ = false;
  bool catch_up_again_ = false;
  bool stopped_ = false;
};

// The message a node publishes for a commit: "<position> <node id>\n<encoded changes>".
std::string publication(std::int64_t position, std::string_view node_id, std::string_view encoded);
struct Publication {
  std::int64_t position = 0;
  std::string_view node_id;
  std::string_view encoded;
};
std::optional<Publication> parse_publication(std::string_view message);

}  // namespace chatd::cluster
