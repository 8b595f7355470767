#include "store/postgres/workers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "store/change_codec.h"

namespace chatd::store::postgres {

namespace {

// How often one batch is tried again: after a deadlock or serialization failure (another node's
// transaction held what this one wanted), or when a connection that had been idle turned out to
// be dead (the server restarted since).
constexpr int kMaxRetries = 3;

// The last statement before COMMIT: takes the next change-log position and writes the log row.
// The head's row lock, which orders the commits of every node, is held from here to the end of
// the COMMIT only.
constexpr const char* kAppendToLog =
    "WITH next AS (UPDATE change_log_head SET position = position + 1 RETURNING position) "
    "INSERT INTO change_log (position, committed_at, body) "
    "SELECT position, clock_timestamp(), $1 FROM next RETURNING position";

// After an erasure, the tables that held what it erased: a plain VACUUM removes the dead row
// versions (and their index entries) that still hold the old bytes, and blocks no reader or
// writer. SKIP_LOCKED: a table another vacuum holds is left to it.
constexpr const char* kVacuumErased =
    "VACUUM (SKIP_LOCKED) users, sessions, spent_refresh_tokens, audit_events, two_factor, "
    "messages, change_log";
// How soon after an erasure it runs (an erasure comes in batches: most of them share one), and
// how often at most.
constexpr auto kVacuumDelay = std::chrono::seconds(1);
constexpr auto kVacuumSpacing = std::chrono::seconds(30);

}  // namespace

Error unavailable_error() {
  return make_error(Errc::unavailable, "The database is unavailable: retry in a moment");
}

Error internal_error() {
  return make_error(Errc::internal, "Internal server error");
}

// ---- Writer ------------------------------------------------------------------------------------

// How one attempt at committing a batch ended.
struct Writer::Attempt {
  std::optional<Commit> committed;
  // A job whose statement failed: the transaction was rolled back, the others may go again.
  std::optional<std::size_t> failed_job;
  // The batch may succeed if tried again as it is.
  bool retry = false;
  // What every job reports when the batch fails as a whole.
  Error error = internal_error();
};

Writer::Writer(const ConnInfo& info, std::unique_ptr<Connection> connection, std::size_t max_batch)
    : link_(info, std::move(connection)),
      max_batch_(std::max<std::size_t>(1, max_batch)),
      thread_([this] { loop(); }) {}

Writer::~Writer() {
  queue_.close();
  thread_.join();
}

void Writer::submit(std::unique_ptr<WriteJob> job) {
  if (!queue_.push(job)) job->finish(unavailable_error());
}

void Writer::loop() {
  for (;;) {
    auto jobs = queue_.pop(max_batch_);
    if (jobs.empty()) return;  // closed and drained
    // A job that must be alone commits by itself, after the jobs queued before it and before
    // those queued after it.
    Batch batch;
    for (auto& job : jobs) {
      if (!job->alone()) {
        batch.push_back(std::move(job));
        continue;
      }
      if (!batch.empty()) commit_batch(batch);
      batch.clear();
      batch.push_back(std::move(job));
      commit_batch(batch);
      batch.clear();
    }
    if (!batch.empty()) commit_batch(batch);
  }
}

void Writer::commit_batch(Batch& batch) {
  int retries = 0;
  while (!batch.empty()) {
    auto attempt = this->attempt(batch);
    if (attempt.committed) {
      auto* listener = listener_.load();
      if (listener && attempt.committed->position > 0) {
        listener->on_commit(std::move(*attempt.committed));
      }
      for (auto& job : batch) job->finish(Status{});
      return;
    }
    if (attempt.retry && retries++ < kMaxRetries) continue;
    if (attempt.failed_job) {
      // The others go again without it.
      const auto failed = batch.begin() + static_cast<std::ptrdiff_t>(*attempt.failed_job);
      (*failed)->finish(internal_error());
      batch.erase(failed);
      continue;
    }
    for (auto& job : batch) job->finish(attempt.error);
    return;
  }
}

Writer::Attempt Writer::attempt(Batch& batch) {
  Connection* connection = nullptr;
  try {
    connection = &link_.get();
  } catch (const PgError&) {
    return Attempt{.error = unavailable_error()};  // the link logged why
  }
  const bool fresh = link_.fresh();
  bool commit_sent = false;
  try {
    Pipeline pipeline(*connection);
    std::vector<Change> changes;
    if (auto failed = run_jobs(pipeline, batch, changes)) {
      pipeline.send("ROLLBACK");
      pipeline.sync();
      pipeline.next();
      pipeline.end_sync();
      return Attempt{.failed_job = failed->index, .retry = failed->transient};
    }
    commit_sent = true;
    return Attempt{.committed = commit(pipeline, std::move(changes))};
  } catch (const PgError& e) {
    spdlog::error("store: a batch of {} writes failed: {}", batch.size(), e.what());
    link_.drop();  // whatever state the failure left it in, the server rolls back when it closes
    // Before COMMIT was sent nothing can have committed: a connection that died while idle (the
    // server restarted) is worth a retry on a new one. After, the outcome is unknown: clients
    // retry with the same clientMsgId, which is idempotent.
    return Attempt{.retry = e.unavailable() && !fresh && !commit_sent,
                   .error = e.unavailable() ? unavailable_error() : internal_error()};
  } catch (const std::exception& e) {  // a result we could not read: a bug
    spdlog::error("store: a batch of {} writes failed: {}", batch.size(), e.what());
    link_.drop();
    return Attempt{};
  }
}

// Sends BEGIN and every job's statements in one pipeline and reads their results, then the
// further rounds of the jobs that have some (WriteJob::send_next), one round trip each. Returns
// the job whose statement failed, if one did, with the rest of its round read and discarded; the
// transaction is then aborted. Each job's changes are kept apart, then appended in job order.
std::optional<Writer::FailedJob> Writer::run_jobs(Pipeline& pipeline, Batch& batch,
                                                  std::vector<Change>& changes) {
  pipeline.send("BEGIN");
  std::vector<std::size_t> jobs;  // the jobs in the round
  std::vector<std::size_t> ends;  // how many statements were sent up to each one's last
  jobs.reserve(batch.size());
  ends.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->send(pipeline);
    jobs.push_back(i);
    ends.push_back(pipeline.statements_sent());
  }
  pipeline.sync();
  pipeline.next();
  std::vector<std::vector<Change>> made(batch.size());
  for (;;) {
    if (auto failed = receive_round(pipeline, batch, jobs, ends, made)) return failed;
    jobs.clear();
    ends.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i]->send_next(pipeline)) continue;
      jobs.push_back(i);
      ends.push_back(pipeline.statements_sent());
    }
    if (jobs.empty()) break;
    pipeline.sync();
  }
  for (auto& job_changes : made) {
    changes.insert(changes.end(), std::make_move_iterator(job_changes.begin()),
                   std::make_move_iterator(job_changes.end()));
  }
  return std::nullopt;
}

// Reads one round's results: those of `jobs`, whose statements end at `ends`.
std::optional<Writer::FailedJob> Writer::receive_round(Pipeline& pipeline, Batch& batch,
                                                       const std::vector<std::size_t>& jobs,
                                                       const std::vector<std::size_t>& ends,
                                                       std::vector<std::vector<Change>>& changes) {
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    const auto i = jobs[k];
    try {
      batch[i]->receive(pipeline, changes[i]);
      while (pipeline.results_read() < ends[k]) pipeline.next();  // what the job left unread
    } catch (const PgError& e) {
      if (e.unavailable()) throw;
      if (e.transient()) {
        spdlog::warn("store: a write met another node's, its batch goes again: {}", e.what());
      } else {
        spdlog::error("store: a write failed: {}", e.what());
      }
      pipeline.discard();
      return FailedJob{i, e.transient()};
    }
  }
  pipeline.end_sync();
  return std::nullopt;
}

// Takes the next change-log position (when the batch changed something clients must hear of) and
// commits, in one round trip.
Commit Writer::commit(Pipeline& pipeline, std::vector<Change> changes) {
  Commit commit;
  if (!changes.empty()) {
    commit.encoded = encode_changes(changes);
    pipeline.send(kAppendToLog, Params(commit.encoded));
  }
  pipeline.send("COMMIT");
  pipeline.sync();
  if (!changes.empty()) commit.position = pipeline.next()[0].int64(0);
  const auto committed = pipeline.next();
  pipeline.end_sync();
  if (committed.command() != "COMMIT") throw std::runtime_error("postgres: COMMIT rolled back");
  commit.changes = std::move(changes);
  return commit;
}

// ---- Readers -----------------------------------------------------------------------------------

ReaderPool::ReaderPool(const ConnInfo& info, std::size_t connections) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, connections); ++i) {
    threads_.emplace_back([this, &info] {
      Link link(info);  // connects on the first job
      for (;;) {
        auto jobs = queue_.pop(1);
        if (jobs.empty()) return;
        jobs.front()->run(link);
      }
    });
  }
}

ReaderPool::~ReaderPool() {
  queue_.close();
  for (auto& thread : threads_) thread.join();
}

void ReaderPool::submit(std::unique_ptr<ReadJob> job) {
  if (!queue_.push(job)) job->abandon();
}

// ---- Pruner ------------------------------------------------------------------------------------

Pruner::Pruner(const ConnInfo& info, std::chrono::milliseconds retention)
    : retention_(retention), thread_([this, &info] { loop(info); }) {}

Pruner::~Pruner() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Pruner::request_vacuum() {
  {
    std::lock_guard lock(mutex_);
    if (vacuum_due_) return;
    vacuum_due_ = std::max(Clock::now() + kVacuumDelay, last_vacuum_ + kVacuumSpacing);
  }
  wake_.notify_one();
}

void Pruner::loop(const ConnInfo& info) {
  // A few rounds per retention period: rows live at most about 1.25 retentions.
  const auto interval = std::clamp<std::chrono::milliseconds>(
      retention_ / 4, std::chrono::milliseconds(50), std::chrono::minutes(1));
  auto next_prune = Clock::now() + interval;
  Link link(info);
  for (;;) {
    bool prune = false;
    bool vacuum = false;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stopping_) return;
        const auto now = Clock::now();
        prune = now >= next_prune;
        vacuum = vacuum_due_ && now >= *vacuum_due_;
        if (prune || vacuum) break;
        wake_.wait_until(lock, vacuum_due_ ? std::min(next_prune, *vacuum_due_) : next_prune);
      }
      if (vacuum) {
        vacuum_due_.reset();
        last_vacuum_ = Clock::now();
      }
    }
    if (prune) {
      next_prune = Clock::now() + interval;
      try {
        link.get().query(
            "DELETE FROM change_log WHERE committed_at < now() - $1 * interval '1 millisecond'",
            Params(static_cast<std::int64_t>(retention_.count())));
      } catch (const PgError& e) {
        spdlog::warn("store: pruning the change log failed: {}", e.what());
        if (e.unavailable()) link.drop();
      }
    }
    if (vacuum) {
      try {
        link.get().exec(kVacuumErased);
      } catch (const PgError& e) {
        spdlog::warn("store: vacuuming after an erasure failed: {}", e.what());
        if (e.unavailable()) link.drop();
      }
    }
  }
}

}  // namespace chatd::store::postgres
