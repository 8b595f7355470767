#include "store/sqlite/workers.h"

#include <spdlog/spdlog.h>

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
    commit_batch(batch);
  }
}

void Writer::commit_batch(std::vector<std::unique_ptr<WriteJob>>& batch) {
  bool committed = false;
  try {
    connection_->exec("BEGIN IMMEDIATE");
    for (auto& job : batch) {
      connection_->exec("SAVEPOINT job");
      if (job->execute(*connection_)) {
        connection_->exec("RELEASE job");
      } else {
        connection_->exec("ROLLBACK TO job");
        connection_->exec("RELEASE job");
      }
    }
    connection_->exec("COMMIT");
    committed = true;
  } catch (const SqliteError& e) {
    spdlog::error("store: batch of {} writes failed: {}", batch.size(), e.what());
    if (!sqlite3_get_autocommit(connection_->handle())) {
      try {
        connection_->exec("ROLLBACK");
      } catch (const SqliteError& rollback) {
        spdlog::error("store: rollback failed: {}", rollback.what());
      }
    }
  }
  for (auto& job : batch) job->finish(committed);
}

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
        jobs.front()->run(*connection);
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
