#include "store/postgres/connection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "util/text.h"

namespace chatd::store::postgres {

namespace {

// What chatd sets when the operator's connection string leaves it out. A server that is down or
// unreachable must make calls fail within seconds (Errc::unavailable), never hang them:
// connect_timeout bounds connecting, tcp_user_timeout bounds waiting for the server to acknowledge
// what we sent, and keepalives notice a dead peer on an idle connection.
constexpr std::array<std::pair<const char*, const char*>, 7> kDefaultSettings = {{
    {"connect_timeout", "2"},
    {"tcp_user_timeout", "2000"},
    {"keepalives", "1"},
    {"keepalives_idle", "5"},
    {"keepalives_interval", "2"},
    {"keepalives_count", "2"},
    {"application_name", "chatd"},
}};

// How long after a failed attempt to connect the next job may try again.
constexpr auto kRetryAfter = std::chrono::milliseconds(250);

// SQLSTATEs that say "not now" rather than "never": connection exceptions (08), insufficient
// resources (53: too many connections, disk full), the server shutting down or starting
// (57P01-57P03), and a read-only server (25006: we reached a standby after a failover).
bool is_unavailable_state(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate.starts_with("57P0") ||
         sqlstate == "25006";
}

// libpq's and the server's messages on one line: some span several, indented with tabs.
std::string one_line(const char* message) {
  std::string line;
  for (const char c : text::trim(message ? message : "")) {
    if (c != '\n' && c != '\t') {
      line.push_back(c);
    } else if (!line.empty() && line.back() != ' ') {
      line.push_back(' ');
    }
  }
  return line;
}

void log_notice(void* /*unused*/, const char* message) {
  spdlog::debug("postgres: {}", one_line(message));
}

void append_quoted(std::string& literal, std::string_view element) {
  literal.push_back('"');
  for (const char c : element) {
    if (c == '"' || c == '\\') literal.push_back('\\');
    literal.push_back(c);
  }
  literal.push_back('"');
}

std::int64_t parse_int64(std::string_view digits) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) {
    throw std::runtime_error(fmt::format("postgres: {} is not an integer", digits));
  }
  return value;
}

[[noreturn]] void malformed_array(std::string_view literal) {
  throw std::runtime_error(fmt::format("postgres: malformed text[] value {}", literal));
}

}  // namespace

// ---- Params ------------------------------------------------------------------------------------

Params& Params::add(std::string_view value) {
  has_nul_ = has_nul_ || value.find('\0') != std::string_view::npos;
  values_.emplace_back(std::string(value));
  return *this;
}

Params& Params::add(std::int64_t value) {
  values_.emplace_back(std::to_string(value));
  return *this;
}

Params& Params::add(const std::optional<std::string>& value) {
  if (value) return add(std::string_view(*value));
  values_.emplace_back(std::nullopt);
  return *this;
}

Params& Params::add(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (const auto& value : values) {
    if (literal.size() > 1) literal.push_back(',');
    append_quoted(literal, value);
  }
  literal.push_back('}');
  return add(std::string_view(literal));
}

const char* const* Params::pointers() const {
  pointers_.clear();
  for (const auto& value : values_) pointers_.push_back(value ? value->c_str() : nullptr);
  return pointers_.data();
}

// ---- Rows --------------------------------------------------------------------------------------

std::string_view Row::view(int column) const {
  return {PQgetvalue(result_, row_, column),
          static_cast<std::size_t>(PQgetlength(result_, row_, column))};
}

std::optional<std::string> Row::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

std::int64_t Row::int64(int column) const {
  return parse_int64(view(column));
}

std::optional<std::int64_t> Row::optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

// PostgreSQL's text form of a one-dimensional array: {a,"b c","d\"e"}; an element is quoted when
// it holds a delimiter, a quote, a backslash or white space, or is empty.
std::vector<std::string> Row::text_array(int column) const {
  std::vector<std::string> elements;
  if (is_null(column)) return elements;
  const auto literal = view(column);
  if (literal.size() < 2 || literal.front() != '{' || literal.back() != '}') {
    malformed_array(literal);
  }
  const auto body = literal.substr(1, literal.size() - 2);
  std::size_t at = 0;
  while (at < body.size()) {
    std::string element;
    if (body[at] == '"') {
      for (++at; at < body.size() && body[at] != '"'; ++at) {
        if (body[at] == '\\') ++at;
        if (at >= body.size()) malformed_array(literal);
        element.push_back(body[at]);
      }
      if (at >= body.size()) malformed_array(literal);
      ++at;  // the closing quote
    } else {
      const auto end = std::min(body.find(',', at), body.size());
      element = body.substr(at, end - at);
      at = end;
    }
    elements.push_back(std::move(element));
    if (at < body.size() && body[at++] != ',') malformed_array(literal);
  }
  return elements;
}

std::vector<std::int64_t> Row::int64_array(int column) const {
  std::vector<std::int64_t> numbers;
  for (const auto& element : text_array(column)) numbers.push_back(parse_int64(element));
  return numbers;
}

std::int64_t Rows::affected() const {
  const std::string_view digits = PQcmdTuples(result_.get());
  std::int64_t count = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), count);
  return count;
}

// ---- ConnInfo ----------------------------------------------------------------------------------

ConnInfo::ConnInfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (!options) {
    std::string message = error ? one_line(error) : "out of memory";
    PQfreemem(error);
    throw std::invalid_argument("database URL: " + message);
  }
  for (const auto* option = options; option->keyword; ++option) {
    if (option->val) settings_.emplace_back(option->keyword, option->val);
  }
  PQconninfoFree(options);
  for (const auto& fallback : kDefaultSettings) {
    const bool given = std::any_of(settings_.begin(), settings_.end(), [&](const auto& setting) {
      return setting.first == fallback.first;
    });
    if (!given) settings_.emplace_back(fallback.first, fallback.second);
  }
}

std::string ConnInfo::describe() const {
  auto setting = [&](std::string_view key, std::string_view fallback) {
    for (const auto& [k, v] : settings_) {
      if (k == key) return v;
    }
    return std::string(fallback);
  };
  return fmt::format("{}:{}/{}", setting("host", setting("hostaddr", "local socket")),
                     setting("port", "5432"), setting("dbname", "(default database)"));
}

// ---- Connection --------------------------------------------------------------------------------

Connection::Connection(const ConnInfo& info) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : info.settings_) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (!conn_) throw PgError("postgres: out of memory", "", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = one_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError(fmt::format("postgres: cannot connect to {}: {}", info.describe(), message), "",
                  /*unavailable=*/true);
  }
  // Notices (e.g. "relation already exists, skipping") go to the log, not to stderr.
  PQsetNoticeProcessor(conn_, &log_notice, nullptr);
}

Connection::~Connection() {
  PQfinish(conn_);
}

Connection::Statement& Connection::statement(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it = statements_.emplace(sql, Statement{"s" + std::to_string(statements_.size() + 1)}).first;
  }
  return it->second;
}

Rows Connection::query(const char* sql, const Params& params) {
  if (params.has_nul()) throw InvalidText();
  auto& prepared = statement(sql);
  if (prepared.prepared != Prepared::yes) {
    checked(PQprepare(conn_, prepared.name.c_str(), sql, 0, nullptr));
    prepared.prepared = Prepared::yes;
  }
  return checked(PQexecPrepared(conn_, prepared.name.c_str(), params.size(), params.pointers(),
                                nullptr, nullptr, 0));
}

void Connection::exec(const std::string& sql) {
  checked(PQexec(conn_, sql.c_str()));
}

Rows Connection::checked(PGresult* result) const {
  if (!result) throw lost();
  const auto status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(result);
  auto failure = error(result);
  PQclear(result);
  throw failure;
}

PgError Connection::error(const PGresult* result) const {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string state = sqlstate ? sqlstate : "";
  const bool unavailable = broken() || is_unavailable_state(state);
  // The primary message only: the server's DETAIL can quote a row (an email, a password hash).
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  auto what = fmt::format("postgres: {} (SQLSTATE {})",
                          one_line(primary ? primary : PQresultErrorMessage(result)), state);
  return PgError(what, std::move(state), unavailable);
}

PgError Connection::lost() const {
  return PgError("postgres: connection lost: " + one_line(PQerrorMessage(conn_)), "",
                 /*unavailable=*/true);
}

// ---- Pipeline ----------------------------------------------------------------------------------

Pipeline::Pipeline(Connection& connection) : connection_(connection) {
  if (PQenterPipelineMode(connection_.conn_) != 1) throw connection_.lost();
}

Pipeline::~Pipeline() {
  // Unread results (an exception cut the reading short) leave the connection unusable: the
  // owner sees broken() and replaces it.
  if (PQexitPipelineMode(connection_.conn_) != 1) {
    PQfinish(connection_.conn_);
    connection_.conn_ = nullptr;
  }
}

void Pipeline::send(const char* sql, const Params& params) {
  if (params.has_nul()) throw std::logic_error("postgres: NUL in a pipelined parameter");
  auto& statement = connection_.statement(sql);
  PGconn* conn = connection_.conn_;
  if (statement.prepared == Connection::Prepared::no) {
    if (PQsendPrepare(conn, statement.name.c_str(), sql, 0, nullptr) != 1) {
      throw connection_.lost();
    }
    statement.prepared = Connection::Prepared::sending;
    expected_.push_back({Expected::Kind::prepare, &statement});
  }
  if (PQsendQueryPrepared(conn, statement.name.c_str(), params.size(), params.pointers(), nullptr,
                          nullptr, 0) != 1) {
    throw connection_.lost();
  }
  expected_.push_back({Expected::Kind::statement});
  ++statements_sent_;
}

void Pipeline::sync() {
  if (PQpipelineSync(connection_.conn_) != 1) throw connection_.lost();
  expected_.push_back({Expected::Kind::sync});
}

PGresult* Pipeline::take_result() {
  PGresult* result = PQgetResult(connection_.conn_);
  if (!result) throw connection_.lost();
  if (PQresultStatus(result) != PGRES_PIPELINE_SYNC) {
    // A statement's result is followed by a null; the end of a unit is not.
    while (PGresult* extra = PQgetResult(connection_.conn_)) PQclear(extra);
  }
  return result;
}

void Pipeline::finish_prepare(Connection::Statement& statement) {
  PGresult* result = take_result();
  const auto status = PQresultStatus(result);
  statement.prepared =
      status == PGRES_COMMAND_OK ? Connection::Prepared::yes : Connection::Prepared::no;
  if (status == PGRES_FATAL_ERROR) skipped_because_ = connection_.error(result);
  PQclear(result);
}

Rows Pipeline::next() {
  while (!expected_.empty() && expected_.front().kind == Expected::Kind::prepare) {
    auto* statement = expected_.front().statement;
    expected_.pop_front();
    finish_prepare(*statement);
  }
  if (expected_.empty() || expected_.front().kind != Expected::Kind::statement) {
    throw std::logic_error("postgres: no statement result left to read");
  }
  expected_.pop_front();
  ++results_read_;
  PGresult* result = take_result();
  switch (PQresultStatus(result)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
      return Rows(result);
    case PGRES_PIPELINE_ABORTED:
      PQclear(result);
      if (skipped_because_) throw *skipped_because_;
      throw PgError("postgres: statement skipped after a failure", "", connection_.broken());
    default: {
      auto failure = connection_.error(result);
      PQclear(result);
      skipped_because_ = failure;
      throw failure;
    }
  }
}

void Pipeline::end_sync() {
  if (expected_.empty() || expected_.front().kind != Expected::Kind::sync) {
    throw std::logic_error("postgres: results left before the end of the unit");
  }
  expected_.pop_front();
  PGresult* result = take_result();
  const auto status = PQresultStatus(result);
  PQclear(result);
  if (status != PGRES_PIPELINE_SYNC) throw connection_.lost();
  skipped_because_.reset();
}

void Pipeline::discard() {
  while (!expected_.empty() && expected_.front().kind != Expected::Kind::sync) {
    try {
      next();
    } catch (const PgError&) {
      if (connection_.broken()) throw;  // nothing more will come
    }
  }
  end_sync();
}

// ---- Link --------------------------------------------------------------------------------------

Connection& Link::get() {
  fresh_ = false;
  if (connection_ && !connection_->broken()) return *connection_;
  connection_.reset();
  const auto now = std::chrono::steady_clock::now();
  if (last_failure_ && now - failed_at_ < kRetryAfter) throw *last_failure_;
  try {
    connection_ = std::make_unique<Connection>(info_);
  } catch (const PgError& e) {
    spdlog::warn("store: {}", e.what());
    last_failure_ = e;
    failed_at_ = now;
    throw;
  }
  last_failure_.reset();
  fresh_ = true;
  return *connection_;
}

}  // namespace chatd::store::postgres
