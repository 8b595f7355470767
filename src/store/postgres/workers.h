#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/job_queue.h"
#include "store/postgres/connection.h"
#include "store/store.h"

// The threads that own PostgreSQL connections. Network threads never call libpq: they queue a job
// here and are resumed with its result (see postgres_store.cc).
namespace chatd::store::postgres {

// What clients are told when the database cannot be reached, and when something went wrong that
// the log explains (never with SQL or libpq's text).
Error unavailable_error();
Error internal_error();

// One statement of a write and its parameters.
struct Statement {
  const char* sql;  // a string literal: the prepared-statement cache is keyed by its address
  Params params;
};

class ReadJob {
 public:
  virtual ~ReadJob() = default;
  // Runs the query on the link's connection and hands the result back.
  virtual void run(Link& link) = 0;
  // The store is closing and the job will never run.
  virtual void abandon() = 0;
};

// A write runs inside a batch's transaction, which the writer sends in one round trip: a job
// queues all its statements up front and reads their results afterwards. An expected refusal is a
// result (its statements wrote nothing), never an error: an error aborts the transaction.
class WriteJob {
 public:
  virtual ~WriteJob() = default;
  // Queues the job's statements; they run after those of the jobs before it.
  virtual void send(Pipeline& pipeline) = 0;
  // Reads the results of what send() (or send_next()) queued, in order, and appends what clients
  // must hear of to `changes`. Throws (PgError) when a statement failed: the transaction is then
  // lost.
  virtual void receive(Pipeline& pipeline, std::vector<Change>& changes) = 0;
  // For a write whose next statements depend on the results it just read: queues them and
  // returns true; they run in the same transaction, one round trip later, after every job's
  // earlier results were read, and receive() reads them. False: the job is done.
  virtual bool send_next(Pipeline& /*pipeline*/) { return false; }
  // A job that must be the only one in its transaction (an erasure, which rewrites the change
  // log: the changes of other jobs in its batch would reach the log only at its commit, unseen).
  virtual bool alone() const { return false; }
  // Called once the job's fate is known: `outcome` is ok when its transaction committed, or the
  // error it ends with. Only now may results be handed out, so nobody is told of a write that a
  // failed commit took back.
  virtual void finish(const Status& outcome) = 0;
};

// The writer: takes every queued write job (up to max_batch) and commits them in one transaction
// (group commit), in two round trips whatever the batch's size: BEGIN and every job's statements
// in one pipeline, then the change-log row and COMMIT in another (plus one per further round of
// the jobs that have some, WriteJob::send_next). While it commits, new jobs pile up and form the
// next batch. A job that must be alone commits in a transaction of its own, in its place among
// the others. It reports each commit's changes, with their change-log position, to the listener
// before it hands out any result.
class Writer {
 public:
  Writer(const ConnInfo& info, std::unique_ptr<Connection> connection, std::size_t max_batch);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // Commits what is queued, then stops.
  ~Writer();

  void submit(std::unique_ptr<WriteJob> job);
  void set_change_listener(ChangeListener* listener) { listener_ = listener; }

 private:
  using Batch = std::vector<std::unique_ptr<WriteJob>>;
  struct Attempt;
  struct FailedJob {
    std::size_t index;
    bool transient;  // a deadlock or serialization failure: the batch may pass as it is
  };

  void loop();
  void commit_batch(Batch& batch);
  Attempt attempt(Batch& batch);
  std::optional<FailedJob> run_jobs(Pipeline& pipeline, Batch& batch, std::vector<Change>& changes);
  static std::optional<FailedJob> receive_round(Pipeline& pipeline, Batch& batch,
                                                const std::vector<std::size_t>& jobs,
                                                const std::vector<std::size_t>& ends,
                                                std::vector<std::vector<Change>>& changes);
  Commit commit(Pipeline& pipeline, std::vector<Change> changes);

  Link link_;
  std::size_t max_batch_;
  std::atomic<ChangeListener*> listener_{nullptr};
  JobQueue<WriteJob> queue_;
  std::thread thread_;
};

// Reader threads, each with its own connection.
class ReaderPool {
 public:
  ReaderPool(const ConnInfo& info, std::size_t connections);
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;
  ~ReaderPool();

  void submit(std::unique_ptr<ReadJob> job);

 private:
  JobQueue<ReadJob> queue_;
  std::vector<std::thread> threads_;
};

// Deletes change-log rows older than the retention, from a thread and a connection of its own,
// every so often: off the writer's path. Also vacuums the tables an erasure rewrote, soon after it
// (request_vacuum): VACUUM cannot run inside the writer's transactions.
class Pruner {
 public:
  Pruner(const ConnInfo& info, std::chrono::milliseconds retention);
  Pruner(const Pruner&) = delete;
  Pruner& operator=(const Pruner&) = delete;
  ~Pruner();

  // Something was erased: a plain VACUUM of the tables that held it runs about a second from now,
  // or later if one ran recently (README.md, "Erasure"). Requests meanwhile are merged into it.
  void request_vacuum();

 private:
  using Clock = std::chrono::steady_clock;
  void loop(const ConnInfo& info);

  const std::chrono::milliseconds retention_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<Clock::time_point> vacuum_due_;  // guarded by mutex_
  Clock::time_point last_vacuum_{};              // guarded by mutex_
  std::thread thread_;
};

}  // namespace chatd::store::postgres
