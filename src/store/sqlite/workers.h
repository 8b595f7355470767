#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/job_queue.h"
#include "store/sqlite/connection.h"
#include "store/store.h"

// The threads that own SQLite connections. Network threads never touch SQLite: they queue a job
// here and are resumed with its result (see sqlite_store.cc).
namespace chatd::store::sqlite {

class ReadJob {
 public:
  virtual ~ReadJob() = default;
  // Runs the query and hands the result back to whoever waits for it.
  virtual void run(Connection& connection) = 0;
  // The store is closing and the job will never run.
  virtual void abandon() = 0;
};

class WriteJob {
 public:
  virtual ~WriteJob() = default;
  // Runs inside the batch's transaction, in a savepoint of its own; false means "my writes must be
  // rolled back" (the job failed), without disturbing the rest of the batch. What clients must
  // hear of is appended to `changes` (dropped again if the job fails).
  virtual bool execute(Connection& connection, std::vector<Change>& changes) = 0;
  // Called once the batch's transaction has ended: only now may results be handed out, so nobody
  // is ever told about a write that a failed commit took back.
  virtual void finish(bool committed) = 0;
  // A job that cannot run inside a transaction (VACUUM) runs alone, between two batches, with
  // `committed` reporting whether it succeeded.
  virtual bool outside_transaction() const { return false; }
};

// Copies the WAL back into the database file on a thread of its own, so that no commit (and no
// acknowledgement waiting for one) pays for a checkpoint: SQLite's automatic checkpoint runs inside
// the commit that crosses the threshold and fsyncs the database file there, which was the slowest
// commit of all. watch() hooks the writer's connection (sqlite3_wal_hook, which also turns the
// automatic checkpoint off on it); a PASSIVE checkpoint never blocks the writer or the readers.
class Checkpointer {
 public:
  Checkpointer(std::unique_ptr<Connection> connection, int wal_pages);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  ~Checkpointer();

  // From now on, commits on `writer` that leave the WAL at wal_pages or more start a checkpoint.
  void watch(Connection& writer);
  // Checkpoints everything and truncates the WAL to nothing, then calls `done` (on the
  // checkpointer's thread), whether or not readers let it finish (then it is logged).
  void truncate(std::function<void()> done);

 private:
  static int on_commit(void* self, sqlite3* db, const char* name, int wal_pages);
  void loop();
  void truncate_now();

  std::unique_ptr<Connection> connection_;
  const int wal_pages_;
  std::mutex mutex_;
  std::condition_variable wanted_;
  bool requested_ = false;
  bool stopping_ = false;
  std::vector<std::function<void()>> truncated_;  // waiting for a truncating checkpoint
  std::thread thread_;
};

// The single writer: takes every queued write job (up to max_batch) and commits them in one
// transaction (group commit), so one fsync covers the whole batch. While it commits, new jobs pile
// up and form the next batch: the busier the store, the larger the batches. Being the only thread
// that commits, it is also where commit order is known: it reports each batch's changes to the
// change listener before it hands out any result.
class Writer {
 public:
  Writer(std::unique_ptr<Connection> connection, std::size_t max_batch);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // Commits what is queued, then stops.
  ~Writer();

  void submit(std::unique_ptr<WriteJob> job);
  void set_change_listener(ChangeListener* listener) { listener_ = listener; }

 private:
  using Jobs = std::vector<std::unique_ptr<WriteJob>>;
  void loop();
  void run(Jobs& jobs);
  void commit_batch(Jobs::iterator first, Jobs::iterator last);
  void run_alone(WriteJob& job);

  std::unique_ptr<Connection> connection_;
  std::size_t max_batch_;
  std::atomic<ChangeListener*> listener_{nullptr};
  JobQueue<WriteJob> queue_;
  std::thread thread_;
};

// Reader threads, each with its own connection; in WAL mode they read committed data while the
// writer writes.
class ReaderPool {
 public:
  ReaderPool(const std::string& path, std::size_t threads);
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;
  ~ReaderPool();

  void submit(std::unique_ptr<ReadJob> job);

 private:
  JobQueue<ReadJob> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace chatd::store::sqlite
