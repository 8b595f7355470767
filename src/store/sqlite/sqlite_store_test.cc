#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/workers.h"
#include "store/store_conformance.h"

namespace chatd::store::sqlite {
namespace {

namespace fs = std::filesystem;

// A database file in a directory of its own, removed with the backend.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "chatd-store-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class SqliteBackend : public conformance::Backend {
 public:
  std::unique_ptr<Store> open() override {
    return std::make_unique<SqliteStore>(SqliteOptions{(dir_.path() / "chatd.db").string()});
  }

 private:
  TempDir dir_;
};

std::unique_ptr<conformance::Backend> make_sqlite_backend() {
  return std::make_unique<SqliteBackend>();
}

using conformance::Attachments;
using conformance::RichMessages;
using conformance::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(&make_sqlite_backend));
INSTANTIATE_TEST_SUITE_P(Sqlite, RichMessages, ::testing::Values(&make_sqlite_backend));
INSTANTIATE_TEST_SUITE_P(Sqlite, Attachments, ::testing::Values(&make_sqlite_backend));

TEST(SqliteStore, UsesWalAndTheConfiguredSynchronousMode) {
  TempDir dir;
  const auto path = (dir.path() / "chatd.db").string();
  { SqliteStore store(SqliteOptions{path, Synchronous::normal}); }
  Connection connection(path, /*read_only=*/true);
  auto mode = connection.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.text(0), "wal");  // WAL is persistent: it is a property of the file
  auto version = connection.prepare("PRAGMA user_version");
  ASSERT_TRUE(version.step());
  EXPECT_EQ(version.int64(0), schema_version());
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  const auto path = (dir.path() / "chatd.db").string();
  {
    Connection connection(path, /*read_only=*/false);
    connection.exec("PRAGMA user_version = 999");
  }
  EXPECT_THROW(SqliteStore(SqliteOptions{path}), SqliteError);
}

TEST(SqliteStore, RefusesAnInMemoryDatabase) {
  EXPECT_THROW(SqliteStore(SqliteOptions{":memory:"}), SqliteError);
}

// What each job saw when it ran, in the order they ran.
struct Ran {
  std::string name;
  bool in_transaction;
  bool committed = false;
};

class RecordingJob final : public WriteJob {
 public:
  RecordingJob(std::string name, WriteMode mode, std::vector<Ran>& log, std::mutex& mutex,
               std::shared_future<void> go = {})
      : name_(std::move(name)), mode_(mode), log_(log), mutex_(mutex), go_(std::move(go)) {}
  bool execute(Connection& c, std::vector<Change>&) override {
    if (go_.valid()) go_.wait();
    if (mode_ == WriteMode::alone) c.exec("VACUUM");  // fails inside a transaction
    std::lock_guard lock(mutex_);
    log_.push_back(Ran{name_, sqlite3_get_autocommit(c.handle()) == 0});
    index_ = log_.size() - 1;
    return true;
  }
  void finish(bool committed) override {
    std::lock_guard lock(mutex_);
    log_[index_].committed = committed;
  }
  bool outside_transaction() const override { return mode_ == WriteMode::alone; }

 private:
  std::string name_;
  WriteMode mode_;
  std::vector<Ran>& log_;
  std::mutex& mutex_;
  std::shared_future<void> go_;
  std::size_t index_ = 0;
};

TEST(SqliteWriter, AJobThatRunsAloneSplitsTheBatchAndKeepsQueueOrder) {
  TempDir dir;
  const auto path = (dir.path() / "chatd.db").string();
  { SqliteStore store(SqliteOptions{path}); }  // creates the schema
  std::vector<Ran> log;
  std::mutex mutex;
  std::promise<void> go;
  {
    Writer writer(std::make_unique<Connection>(path, /*read_only=*/false), /*max_batch=*/64);
    // The first job holds the writer until the rest are queued, so they form one batch.
    writer.submit(std::make_unique<RecordingJob>("first", WriteMode::batched, log, mutex,
                                                 go.get_future().share()));
    writer.submit(std::make_unique<RecordingJob>("before", WriteMode::batched, log, mutex));
    writer.submit(std::make_unique<RecordingJob>("alone", WriteMode::alone, log, mutex));
    writer.submit(std::make_unique<RecordingJob>("after", WriteMode::batched, log, mutex));
    go.set_value();
  }  // the destructor drains the queue
  ASSERT_EQ(log.size(), 4U);
  const std::vector<std::string> order{"first", "before", "alone", "after"};
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(log[i].name, order[i]);
    EXPECT_EQ(log[i].in_transaction, order[i] != "alone") << order[i];
    EXPECT_TRUE(log[i].committed) << order[i];
  }
}

}  // namespace
}  // namespace chatd::store::sqlite
