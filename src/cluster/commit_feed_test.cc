#include "cluster/commit_feed.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "store/change_codec.h"

namespace chatd::cluster {
namespace {

using namespace std::chrono_literals;

// A change log held in memory; `pruned_below` hides older positions as a pruned log does.
class FakeLog final : public store::ChangeLog {
 public:
  asio::awaitable<Result<std::int64_t>> last_position() override {
    co_return commits.empty() ? 0 : commits.back().position;
  }
  asio::awaitable<Result<std::vector<store::Commit>>> read_commits(std::int64_t after,
                                                                   int limit) override {
    ++reads;
    std::vector<store::Commit> found;
    for (const auto& c : commits) {
      if (c.position > after && c.position >= pruned_below &&
          found.size() < static_cast<std::size_t>(limit)) {
        found.push_back(c);
      }
    }
    co_return found;
  }

  std::vector<store::Commit> commits;
  std::int64_t pruned_below = 0;
  int reads = 0;
};

class Recorder final : public store::ChangeListener {
 public:
  void on_commit(store::Commit commit) override { positions.push_back(commit.position); }
  std::vector<std::int64_t> positions;
};

store::Commit commit_at(std::int64_t position) {
  store::Message message{"m" + std::to_string(position), "chat", position, "u", "hi", {}, 1};
  std::vector<store::Change> changes{store::MessageAppended{message, {}, {"u"}, {}}};
  auto encoded = store::encode_changes(changes);
  return store::Commit{position, std::move(changes), std::move(encoded)};
}

class CommitFeedTest : public ::testing::Test {
 protected:
  CommitFeedTest()
      : redis_(io_.get_executor(), RedisEndpoint{}, "test"),  // never started: nothing published
        feed_(
            io_.get_executor(), log_, redis_, "self", recorder_, [this] { ++history_lost_; },
            CommitFeedOptions{20ms, 50ms, 2}) {}

  void start() {
    auto started = asio::co_spawn(io_, feed_.start(), asio::use_future);
    io_.run_for(10ms);
    ASSERT_TRUE(started.get().ok());
  }

  // Another node published the commit at `position`.
  void published_by_other(std::int64_t position) {
    auto c = commit_at(position);
    feed_.on_published(publication(position, "other", c.encoded));
  }

  asio::io_context io_;
  FakeLog log_;
  Recorder recorder_;
  RedisConnection redis_;
  int history_lost_ = 0;
  CommitFeed feed_;
};

TEST(Publication, RoundTripsAndRefusesGarbage) {
  const auto message = publication(42, "node-1", "[1,2]");  // the views below point into it
  auto parsed = parse_publication(message);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->position, 42);
  EXPECT_EQ(parsed->node_id, "node-1");
  EXPECT_EQ(parsed->encoded, "[1,2]");
  for (const char* bad : {"", "42", "x node\n[]", "0 node\n[]", "-1 node\n[]", "42\nnode []"}) {
    EXPECT_FALSE(parse_publication(bad).has_value()) << bad;
  }
}

TEST_F(CommitFeedTest, StartsFromTheLogsHead) {
  log_.commits = {commit_at(1), commit_at(2)};
  start();
  published_by_other(2);  // old: delivered before this node started
  published_by_other(3);
  io_.run_for(10ms);
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{3}));
}

TEST_F(CommitFeedTest, DeliversOutOfOrderPublicationsInPositionOrder) {
  start();
  feed_.on_commit(commit_at(2));  // this node's own commit, after one of another node
  published_by_other(3);
  io_.run_for(5ms);
  EXPECT_TRUE(recorder_.positions.empty());  // 1 has not come
  published_by_other(1);
  published_by_other(1);  // a duplicate is dropped
  io_.run_for(5ms);
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(CommitFeedTest, ReadsAMissingPositionFromTheLogAfterTheGapTimeout) {
  start();
  log_.commits = {commit_at(1), commit_at(2), commit_at(3), commit_at(4)};
  published_by_other(4);  // 1..3 were never published (their node could not reach Redis)
  io_.run_for(100ms);
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_GE(log_.reads, 2);  // batches of two
}

TEST_F(CommitFeedTest, ThePollFindsCommitsNobodyAnnounced) {
  start();
  log_.commits = {commit_at(1), commit_at(2)};
  io_.run_for(200ms);  // one poll sees the head, the next reads what is still missing
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{1, 2}));
}

TEST_F(CommitFeedTest, ARestoredSubscriptionCatchesUpAtOnce) {
  start();
  log_.commits = {commit_at(1)};
  feed_.on_subscribed();
  io_.run_for(5ms);
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{1}));
}

TEST_F(CommitFeedTest, PrunedHistoryIsReportedAndSkipped) {
  start();
  log_.commits = {commit_at(1), commit_at(2), commit_at(3)};
  log_.pruned_below = 3;
  published_by_other(3);
  io_.run_for(100ms);
  EXPECT_EQ(history_lost_, 1);
  EXPECT_EQ(recorder_.positions, (std::vector<std::int64_t>{3}));
}

}  // namespace
}  // namespace chatd::cluster
