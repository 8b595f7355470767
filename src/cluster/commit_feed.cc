#include "cluster/commit_feed.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "cluster/keys.h"
#include "store/change_codec.h"
#include "util/async.h"

namespace chatd::cluster {

std::string publication(std::int64_t position, std::string_view node_id, std::string_view encoded) {
  std::string message = std::to_string(position);
  message.reserve(message.size() + node_id.size() + encoded.size() + 2);
  message += ' ';
  message += node_id;
  message += '\n';
  message += encoded;
  return message;
}

std::optional<Publication> parse_publication(std::string_view message) {
  const auto space = message.find(' ');
  const auto newline = message.find('\n');
  if (space == std::string_view::npos || newline == std::string_view::npos || newline < space) {
    return std::nullopt;
  }
  Publication parsed;
  const auto* end = message.data() + space;
  auto [ptr, ec] = std::from_chars(message.data(), end, parsed.position);
  if (ec != std::errc() || ptr != end || parsed.position < 1) return std::nullopt;
  parsed.node_id = message.substr(space + 1, newline - space - 1);
  parsed.encoded = message.substr(newline + 1);
  return parsed;
}

CommitFeed::CommitFeed(asio::any_io_executor executor, store::ChangeLog& log,
                       RedisConnection& publisher, std::string node_id,
                       store::ChangeListener& downstream, HistoryLost history_lost,
                       CommitFeedOptions options)
    : executor_(std::move(executor)),
      log_(log),
      publisher_(publisher),
      node_id_(std::move(node_id)),
      downstream_(downstream),
      history_lost_(std::move(history_lost)),
      options_(options),
      gap_timer_(executor_) {}

asio::awaitable<Status> CommitFeed::start() {
  auto head = co_await log_.last_position();
  if (!head) co_return head.error();
  delivered_ = *head;
  asio::co_spawn(executor_, poll(), log_if_failed("cluster: log poll"));
  co_return Status{};
}

void CommitFeed::stop() {
  stopped_ = true;
  gap_timer_.cancel();
}

void CommitFeed::on_commit(store::Commit commit) {
  asio::post(executor_, [this, commit = std::move(commit)]() mutable {
    if (publisher_.up()) {
      // Fire and forget: a publish that fails is caught up from the log by the other nodes.
      publisher_.send({"PUBLISH", std::string(keys::kCommits),
                       publication(commit.position, node_id_, commit.encoded)},
                      [](const Result<RedisReply>&) {});
    }
    accept(std::move(commit));
  });
}

void CommitFeed::on_published(std::string_view message) {
  auto parsed = parse_publication(message);
  if (!parsed) {
    spdlog::warn("cluster: ignored a malformed publication");
    return;
  }
  // This node's own commits reach it from its store, and old ones were delivered already.
  if (parsed->node_id == node_id_ || parsed->position <= delivered_ ||
      waiting_.count(parsed->position)) {
    return;
  }
  auto changes = store::decode_changes(parsed->encoded);
  if (!changes) {
    spdlog::warn("cluster: commit {} unreadable ({}), reading it from the log", parsed->position,
                 changes.error().message);
    request_catch_up();
    return;
  }
  accept(store::Commit{parsed->position, std::move(*changes), {}});
}

void CommitFeed::accept(store::Commit commit) {
  if (stopped_ || commit.position <= delivered_) return;
  waiting_.emplace(commit.position, std::move(commit));
  deliver_in_order();
}

void CommitFeed::deliver_in_order() {
  while (!waiting_.empty() && waiting_.begin()->first == delivered_ + 1) {
    auto next = waiting_.extract(waiting_.begin());
    delivered_ = next.key();
    downstream_.on_commit(std::move(next.mapped()));
  }
  if (!waiting_.empty()) watch_gap();
}

// Delivers what waits up to `position`, over the holes: they are gone from the log.
void CommitFeed::skip_to(std::int64_t position) {
  while (!waiting_.empty() && waiting_.begin()->first <= position) {
    auto next = waiting_.extract(waiting_.begin());
    downstream_.on_commit(std::move(next.mapped()));
  }
  delivered_ = position;
}

// A later commit waits for an earlier one: it was committed, so it will come, from Redis in a
// moment or from the log.
void CommitFeed::watch_gap() {
  if (gap_watched_) return;
  gap_watched_ = true;
  gap_timer_.expires_after(options_.gap_timeout);
  gap_timer_.async_wait([this](const boost::system::error_code& ec) {
    gap_watched_ = false;
    if (ec || stopped_ || waiting_.empty()) return;
    request_catch_up();
  });
}

void CommitFeed::request_catch_up() {
  if (stopped_) return;
  if (std::exchange(catching_up_, true)) {
    catch_up_again_ = true;
    return;
  }
  asio::co_spawn(executor_, catch_up(), log_if_failed("cluster: catch-up"));
}

asio::awaitable<void> CommitFeed::catch_up() {
  do {
    catch_up_again_ = false;
    for (;;) {
      auto after = delivered_;
      auto commits = co_await log_.read_commits(after, options_.read_batch);
      if (!commits) {
        spdlog::warn("cluster: cannot read the change log: {}", commits.error().message);
        break;  // the poll tries again
      }
      if (commits->empty()) break;
      if (commits->front().position > delivered_ + 1) {
        spdlog::error(
            "cluster: commits {}..{} were pruned from the log before this node saw them; "
            "its clients resync",
            delivered_ + 1, commits->front().position - 1);
        history_lost_();
        skip_to(commits->front().position - 1);
      }
      const auto read = commits->size();
      for (auto& commit : *commits) accept(std::move(commit));
      if (read < static_cast<std::size_t>(options_.read_batch)) break;
    }
  } while (catch_up_again_ && !stopped_);
  catching_up_ = false;
}

// Catches commits that no publication announced (their node could not reach Redis): a position
// already in the log at the previous poll and still not delivered is read from the log.
asio::awaitable<void> CommitFeed::poll() {
  asio::steady_timer timer(executor_);
  std::int64_t previous_head = 0;
  while (!stopped_) {
    timer.expires_after(options_.poll_interval);
    co_await timer.async_wait(asio::use_awaitable);
    if (stopped_) co_return;
    if (previous_head > delivered_) request_catch_up();
    auto head = co_await log_.last_position();
    if (head) previous_head = *head;
  }
}

}  // namespace chatd::cluster
