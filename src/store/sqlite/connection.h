#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chatd::store::sqlite {

// An SQLite failure that is not an expected outcome (a constraint we check for is reported through
// `extended_code`). Thrown inside a store job and turned into Errc::internal at the job boundary.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int extended_code, const std::string& what)
      : std::runtime_error(what), extended_code_(extended_code) {}
  int extended_code() const { return extended_code_; }
  bool is_unique_violation() const {
    return extended_code_ == SQLITE_CONSTRAINT_UNIQUE ||
           extended_code_ == SQLITE_CONSTRAINT_PRIMARYKEY;
  }

 private:
  int extended_code_;
};

// A cached prepared statement, borrowed for one use: binds, steps, reads columns, and resets
// itself when it goes out of scope so the next user finds it clean.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind(int index, std::optional<std::int64_t> value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);

  // Binds the arguments to parameters 1..N.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances to the next row; false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run();
  // Makes it ready to be bound and run again (as going out of scope does).
  void reset();

  std::int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

// One SQLite connection, used by one thread only, with its prepared statements kept for reuse.
class Connection {
 public:
  Connection(const std::string& path, bool read_only);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // A statement prepared once per connection and reused. `sql` must be a string literal (the cache
  // is keyed by its address).
  Statement prepare(const char* sql);
  // Runs one statement that returns no rows through the cache: what every batch and every read
  // runs (BEGIN, SAVEPOINT, COMMIT...) is parsed once, not on each use as by exec.
  void run(const char* sql) { prepare(sql).run(); }
  // Runs SQL text (any number of statements), parsed on each call.
  void exec(const char* sql);
  sqlite3* handle() { return db_; }

 private:
  [[noreturn]] void fail(int rc, std::string_view what) const;

  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace chatd::store::sqlite
