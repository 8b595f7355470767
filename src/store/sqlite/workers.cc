#include "store/sqlite/workers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

namespace chatd::store::sqlite {

Writer::Writer(std::unique_ptr<Connection> connection, std::size_t max_batch)
    : connection_(std::move(connection)), max_batch_(max_batch), thread_([this] { loop(); }) {}

Writer::~Writer() {
  queue_.close();
  thread_.join();
}

void Writer::submit(std::unique_ptr<WriteJob> job) {
  if (!queue_.push(job)) job->finish(false);
}

void Writer::loop() {
  for (;;) {
    auto batch = queue_.pop(max_batch_);
    if (batch.empty()) return;  // closed and drained
    run(batch);
  }
}

void Writer::run(Jobs& jobs) {
  // A job that must run outside any transaction splits the batch, so that queue order holds.
  auto first = jobs.begin();
  for (;;) {
    const auto alone = std::find_if(first, jobs.end(), [](const std::unique_ptr<WriteJob>& job) {
      return job->outside_transaction();
    });
    if (first != alone) commit_batch(first, alone);
    if (alone == jobs.end()) return;
    run_alone(**alone);
    first = std::next(alone);
  }
}

void Writer::run_alone(WriteJob& job) {
  std::vector<Change> changes;
  const bool ok = job.execute(*connection_, changes);
  auto* listener = listener_.load();
  if (ok && listener && !changes.empty()) listener->on_commit(Commit{0, std::move(changes), {}});
  job.finish(ok);
}

void Writer::commit_batch(Jobs::iterator first, Jobs::iterator last) {
  bool committed = false;
  std::vector<Change> changes;
  const auto size = std::distance(first, last);
  try {
    connection_->run("BEGIN IMMEDIATE");
    for (auto job = first; job != last; ++job) {
      const auto before = changes.size();
      connection_->run("SAVEPOINT job");
      if ((*job)->execute(*connection_, changes)) {
        connection_->run("RELEASE job");
      } else {
        changes.erase(changes.begin() + static_cast<std::ptrdiff_t>(before), changes.end());
        connection_->run("ROLLBACK TO job");
        connection_->run("RELEASE job");
      }
    }
    connection_->run("COMMIT");
    committed = true;
  } catch (const SqliteError& e) {
    spdlog::error("store: batch of {} writes failed: {}", size, e.what());
    if (!sqlite3_get_autocommit(connection_->handle())) {
      try {
        connection_->exec("ROLLBACK");
      } catch (const SqliteError& rollback) {
        spdlog::error("store: rollback failed: {}", rollback.what());
      }
    }
  }
  auto* listener = listener_.load();
  if (committed && listener && !changes.empty())
    listener->on_commit(Commit{0, std::move(changes), {}});
  for (auto job = first; job != last; ++job) (*job)->finish(committed);
}

Checkpointer::Checkpointer(std::unique_ptr<Connection> connection, int wal_pages)
    : connection_(std::move(connection)), wal_pages_(wal_pages), thread_([this] { loop(); }) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_one();
  thread_.join();
}

void Checkpointer::watch(Connection& writer) {
  sqlite3_wal_hook(writer.handle(), &Checkpointer::on_commit, this);
}

int Checkpointer::on_commit(void* self, sqlite3*, const char*, int wal_pages) {
  auto& checkpointer = *static_cast<Checkpointer*>(self);
  if (wal_pages >= checkpointer.wal_pages_) {
    {
      std::lock_guard lock(checkpointer.mutex_);
      checkpointer.requested_ = true;
    }
    checkpointer.wanted_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::truncate(std::function<void()> done) {
  {
    std::lock_guard lock(mutex_);
    truncated_.push_back(std::move(done));
  }
  wanted_.notify_one();
}

void Checkpointer::truncate_now() {
  std::vector<std::function<void()>> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(truncated_);
  }
  // The busy timeout lets readers finish their snapshots; a few tries ride out a busy writer.
  int rc = SQLITE_BUSY;
  for (int attempt = 0; attempt < 5 && rc == SQLITE_BUSY; ++attempt) {
    rc = sqlite3_wal_checkpoint_v2(connection_->handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                   nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    spdlog::warn("store: truncating checkpoint failed: {}", sqlite3_errmsg(connection_->handle()));
  }
  for (auto& done : waiting) done();
}

void Checkpointer::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wanted_.wait(lock, [&] { return requested_ || stopping_ || !truncated_.empty(); });
      if (!truncated_.empty()) {
        lock.unlock();
        truncate_now();
        continue;
      }
      if (stopping_) return;
      requested_ = false;
    }
    int wal_pages = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(connection_->handle(), nullptr,
                                             SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("store: checkpoint failed: {}", sqlite3_errmsg(connection_->handle()));
    }
  }
}

namespace {

// A job's queries share one read transaction: they see one snapshot (a chat, its members and its
// latest message agree), and SQLite takes its file locks once per job instead of once per
// statement (four fcntl calls each: a history page that looked up 50 users made over 200).
void run_in_read_transaction(Connection& connection, ReadJob& job) {
  try {
    connection.run("BEGIN");
  } catch (const SqliteError& e) {
    spdlog::error("store: could not begin a read: {}", e.what());
    return job.abandon();
  }
  job.run(connection);
  if (sqlite3_get_autocommit(connection.handle())) return;
  try {
    connection.run("COMMIT");  // ends the read; nothing was written
  } catch (const SqliteError& e) {
    spdlog::error("store: could not end a read: {}", e.what());
    try {
      connection.exec("ROLLBACK");
    } catch (const SqliteError&) {
      // The next BEGIN fails and reports it; there is nothing more to do here.
    }
  }
}

}  // namespace

ReaderPool::ReaderPool(const std::string& path, std::size_t threads) {
  // All connections open before any thread starts, so a bad path fails the constructor cleanly.
  std::vector<std::shared_ptr<Connection>> connections;
  for (std::size_t i = 0; i < threads; ++i) {
    connections.push_back(std::make_shared<Connection>(path, /*read_only=*/true));
  }
  for (auto& connection : connections) {
    threads_.emplace_back([this, connection] {
      for (;;) {
        auto jobs = queue_.pop(1);
        if (jobs.empty()) return;
        run_in_read_transaction(*connection, *jobs.front());
      }
    });
  }
}

ReaderPool::~ReaderPool() {
  queue_.close();
  for (auto& t : threads_) t.join();
}

void ReaderPool::submit(std::unique_ptr<ReadJob> job) {
  if (!queue_.push(job)) job->abandon();
}

}  // namespace chatd::store::sqlite
