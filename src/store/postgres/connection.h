#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

// libpq, wrapped for the store's threads: one Connection per thread, statements prepared once per
// connection, and a Pipeline that sends many statements in one round trip.
namespace chatd::store::postgres {

// A failure talking to PostgreSQL. Its text comes from libpq or the server and may quote SQL: it
// is logged, never shown to clients. `unavailable` means the server could not be reached, the
// connection dropped, or the server is shutting down or starting up: worth retrying later.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& what, std::string sqlstate, bool unavailable)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)), unavailable_(unavailable) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool unavailable() const { return unavailable_; }
  // A deadlock or a serialization failure: the same transaction may well succeed when run again.
  bool transient() const { return sqlstate_ == "40P01" || sqlstate_ == "40001"; }

 private:
  std::string sqlstate_;
  bool unavailable_;
};

// Text PostgreSQL cannot hold (a NUL character), met while building a query's parameters.
class InvalidText : public std::invalid_argument {
 public:
  InvalidText() : std::invalid_argument("text with a NUL character") {}
};

// A statement's parameters in PostgreSQL's text format.
class Params {
 public:
  Params() = default;
  template <class... Args>
  explicit Params(const Args&... args) {
    (add(args), ...);
  }

  Params& add(std::string_view value);
  Params& add(const std::string& value) { return add(std::string_view(value)); }
  Params& add(const char* value) { return add(std::string_view(value)); }
  Params& add(std::int64_t value);
  Params& add(int value) { return add(static_cast<std::int64_t>(value)); }
  Params& add(bool value) { return add(std::string_view(value ? "t" : "f")); }
  Params& add(const std::optional<std::string>& value);
  // A text[] literal.
  Params& add(const std::vector<std::string>& values);

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object: valid until it is changed or destroyed.
  const char* const* pointers() const;
  // PostgreSQL's text cannot hold NUL characters: such a query is refused (InvalidText).
  bool has_nul() const { return has_nul_; }

 private:
  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> pointers_;
  bool has_nul_ = false;
};

// One row of a result. Columns are read by index, in the order the query lists them.
class Row {
 public:
  Row(const PGresult* result, int row) : result_(result), row_(row) {}
  bool is_null(int column) const { return PQgetisnull(result_, row_, column) != 0; }
  std::string_view view(int column) const;
  std::string text(int column) const { return std::string(view(column)); }
  std::optional<std::string> optional_text(int column) const;
  std::int64_t int64(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;
  bool boolean(int column) const { return view(column) == "t"; }
  // Array columns (text[], bigint[], smallint[]); NULL reads as empty.
  std::vector<std::string> text_array(int column) const;
  std::vector<std::int64_t> int64_array(int column) const;

 private:
  const PGresult* result_;
  int row_;
};

// A statement's result, owned.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  Row operator[](int row) const { return Row(result_.get(), row); }
  // Rows an INSERT, UPDATE or DELETE touched.
  std::int64_t affected() const;
  // The command tag, e.g. "COMMIT" (or "ROLLBACK" for a COMMIT of a failed transaction).
  std::string_view command() const { return PQcmdStatus(result_.get()); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

// Where and how to connect: the operator's URL or conninfo string, with chatd's defaults for what
// it leaves out (connect_timeout=2, tcp_user_timeout=2000, keepalives), so that an unreachable or
// silent server makes calls fail within seconds instead of hanging. Throws std::invalid_argument
// for a string libpq cannot parse.
class ConnInfo {
 public:
  explicit ConnInfo(const std::string& conninfo);
  // host:port/dbname, for logs (never the password).
  std::string describe() const;

 private:
  friend class Connection;
  std::vector<std::pair<std::string, std::string>> settings_;
};

// One connection, used by one thread at a time, with the statements it prepared.
class Connection {
 public:
  // Connects; throws PgError (unavailable) when the server cannot be reached or refuses us.
  explicit Connection(const ConnInfo& info);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one statement: one round trip (two the first time this connection runs it, to prepare
  // it). `sql` must be a string literal: the cache is keyed by its address. Throws PgError, or
  // InvalidText for parameters PostgreSQL cannot hold.
  Rows query(const char* sql, const Params& params = Params());
  // Runs SQL text (any number of statements, no parameters), parsed on each call: migrations.
  void exec(const std::string& sql);
  // The server closed the connection or it was lost: it must be replaced.
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

 private:
  friend class Pipeline;
  enum class Prepared { no, sending, yes };
  struct Statement {
    std::string name;
    Prepared prepared = Prepared::no;
  };

  Statement& statement(const char* sql);
  // The result of a statement, checked: PgError unless it succeeded.
  Rows checked(PGresult* result) const;
  PgError error(const PGresult* result) const;
  PgError lost() const;

  PGconn* conn_ = nullptr;
  std::unordered_map<const char*, Statement> statements_;
};

// Statements sent back to back and answered together (libpq's pipeline mode): a batch of writes
// costs one round trip, not one per statement. Statements are grouped in units that end with
// sync(); when one fails, the server skips the rest of its unit. Results are read in the order the
// statements were sent.
class Pipeline {
 public:
  explicit Pipeline(Connection& connection);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  // Leaves pipeline mode; a connection left with unread results is closed (it is unusable).
  ~Pipeline();

  // Queues a statement (and its preparation, the first time this connection sees it). `sql` must
  // be a string literal, as for Connection::query.
  void send(const char* sql, const Params& params = Params());
  // Ends the unit and sends everything queued.
  void sync();
  // The result of the next statement sent; PgError when it failed or was skipped.
  Rows next();
  // Reads the end of the current unit, once all its statements' results are read.
  void end_sync();
  // Drops what is left of the current unit (after a failure), up to and including its end.
  void discard();
  std::size_t statements_sent() const { return statements_sent_; }
  std::size_t results_read() const { return results_read_; }

 private:
  struct Expected {
    enum class Kind { prepare, statement, sync } kind;
    Connection::Statement* statement = nullptr;  // the one being prepared
  };

  PGresult* take_result();
  void finish_prepare(Connection::Statement& statement);

  Connection& connection_;
  std::deque<Expected> expected_;
  std::optional<PgError> skipped_because_;  // why the rest of the unit is being skipped
  std::size_t statements_sent_ = 0;
  std::size_t results_read_ = 0;
};

// A connection made when first needed and again after it broke. A failed attempt is not repeated
// for 250 ms: while the server is down every job fails at once, instead of each waiting out a
// connect timeout.
class Link {
 public:
  // Starts with `connection` when given (the one that ran the migrations).
  explicit Link(const ConnInfo& info, std::unique_ptr<Connection> connection = nullptr)
      : info_(info), connection_(std::move(connection)) {}

  // The connection, made now if needed; PgError (unavailable) when that fails.
  Connection& get();
  // Whether the connection get() returned was made by that call: a failure on an older one may
  // come from a server restart since, and is worth one retry on a new connection.
  bool fresh() const { return fresh_; }
  // Closes the connection (after it broke, or a failure left it in doubt).
  void drop() { connection_.reset(); }

 private:
  const ConnInfo& info_;
  std::unique_ptr<Connection> connection_;
  std::chrono::steady_clock::time_point failed_at_{};
  std::optional<PgError> last_failure_;
  bool fresh_ = false;
};

}  // namespace chatd::store::postgres
