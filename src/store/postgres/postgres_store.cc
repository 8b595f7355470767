#include "store/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <cstdint>
#include <functional>
#include <set>

#include "store/change_codec.h"
#include "store/postgres/connection.h"
#include "store/postgres/schema.h"
#include "store/postgres/workers.h"
#include "util/async.h"
#include "util/clock.h"
#include "util/object_id.h"
#include "util/text.h"

namespace chatd::store::postgres {

namespace {

// ---- SQL ---------------------------------------------------------------------------------------

// The columns of a user are those read_user reads.
constexpr const char* kSelectUser =
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled FROM users "
    "WHERE id = $1";
constexpr const char* kSelectCredentials =
    "SELECT u.id, u.name, u.email, u.pic, u.is_admin, u.created_at, u.updated_at, u.disabled, "
    "u.password_hash, "
    "EXISTS (SELECT FROM two_factor t WHERE t.user_id = u.id AND t.enabled) "
    "FROM users u WHERE u.email_key = $1";
constexpr const char* kSelectUsers =
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled FROM users "
    "WHERE id = ANY ($1::text[])";
// strpos rather than LIKE: the query is matched literally, '%' and '_' included.
constexpr const char* kSearchUsers =
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled FROM users "
    "WHERE id <> $1 AND ($2 = '' OR strpos(name_key, $2) > 0 OR strpos(email_key, $2) > 0) "
    "ORDER BY name_key, id LIMIT $3 OFFSET $4";
constexpr const char* kInsertUser =
    "INSERT INTO users (id, name, name_key, email, email_key, pic, password_hash, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (email_key) DO NOTHING";
constexpr const char* kSelectContacts =
    "SELECT DISTINCT other.user_id FROM chat_members mine JOIN chat_members other "
    "ON other.chat_id = mine.chat_id WHERE mine.user_id = $1 AND other.user_id <> $1";
constexpr const char* kUpdateLastSeen = "UPDATE users SET last_seen = $1 WHERE id = $2";
constexpr const char* kSelectLastSeen =
    "SELECT id, last_seen FROM users WHERE id = ANY ($1::text[])";

// Chats are read from chat_view (schema.cc): one row per chat, members and latest message
// included; the columns are those read_chat reads.
constexpr const char* kChatById =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at FROM chat_view WHERE id = $1";
constexpr const char* kChatByDirectKey =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at FROM chat_view WHERE direct_key = $1";
constexpr const char* kChatsOfUser =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at FROM chat_view "
    "WHERE id IN (SELECT chat_id FROM chat_members WHERE user_id = $1) ORDER BY activity DESC";

// The writes that change a chat return a status (schema.cc) and are followed by kChatById.
constexpr const char* kDirectChat = "SELECT chatd_direct_chat($1, $2, $3, $4, $5)";
constexpr const char* kCreateGroup = "SELECT chatd_create_group($1, $2, $3, $4::text[], $5)";
constexpr const char* kRenameChat =
    "WITH renamed AS (UPDATE chats SET name = $2, activity = nextval('chat_activity'), "
    "updated_at = $3 WHERE id = $1 RETURNING id) "
    "SELECT CASE WHEN EXISTS (SELECT FROM renamed) THEN 'changed' ELSE 'chat_not_found' END";
constexpr const char* kAddMember = "SELECT chatd_add_member($1, $2, $3, $4)";
constexpr const char* kRemoveMember = "SELECT chatd_remove_member($1, $2, $3)";
constexpr const char* kSetRole = "SELECT chatd_set_role($1, $2, $3, $4)";

// The sender's `disabled` is joined in here rather than returned by the function (schema.cc,
// migration 3).
constexpr const char* kAppendMessage =
    "SELECT a.*, u.disabled FROM chatd_append_message($1, $2, $3, $4, $5, $6) a "
    "LEFT JOIN users u ON u.id = $3";
constexpr const char* kAdvanceCursors = "SELECT * FROM chatd_advance_cursors($1, $2, $3, $4)";
constexpr const char* kMessagesAfter =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at FROM messages "
    "WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
constexpr const char* kMessagesBefore =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at FROM messages "
    "WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
constexpr const char* kSelectMessage =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at FROM messages "
    "WHERE id = $1 AND chat_id = $2";

// Accounts. Sessions' columns are those read_session reads.
constexpr const char* kSetServerAdmin =
    "UPDATE users SET is_admin = $2, updated_at = $3 WHERE email_key = $1 "
    "RETURNING id, name, email, pic, is_admin, created_at, updated_at, disabled";
constexpr const char* kSetDisabled = "SELECT * FROM chatd_set_disabled($1, $2, $3)";
constexpr const char* kCreateSession = "SELECT chatd_create_session($1, $2, $3, $4, $5, $6)";
constexpr const char* kSelectSession =
    "SELECT id, user_id, created_at, last_used_at, ip, user_agent, revoked_at IS NOT NULL "
    "FROM sessions WHERE id = $1";
constexpr const char* kSessionsOfUser =
    "SELECT id, user_id, created_at, last_used_at, ip, user_agent, false FROM sessions "
    "WHERE user_id = $1 AND revoked_at IS NULL ORDER BY last_used_at DESC, id DESC";
constexpr const char* kRotateRefresh = "SELECT * FROM chatd_rotate_refresh($1, $2, $3, $4, $5)";
constexpr const char* kRevokeSession = "SELECT chatd_revoke_session($1, $2, $3)";
constexpr const char* kRevokeSessions = "SELECT chatd_revoke_sessions($1, $2, $3)";
// Each session once, at its latest use; rows locked in id order, as every write that locks
// several sessions does (schema.cc).
constexpr const char* kTouchSessions =
    "WITH uses AS (SELECT u.id, max(u.at) AS at "
    "FROM unnest($1::text[], $2::bigint[]) AS u (id, at) GROUP BY u.id), "
    "moved AS MATERIALIZED (SELECT s.id, uses.at FROM sessions s JOIN uses ON uses.id = s.id "
    "WHERE s.last_used_at < uses.at ORDER BY s.id FOR NO KEY UPDATE OF s) "
    "UPDATE sessions s SET last_used_at = greatest(s.last_used_at, moved.at) FROM moved "
    "WHERE s.id = moved.id";
constexpr const char* kChangePassword = "SELECT * FROM chatd_change_password($1, $2, $3, $4)";
constexpr const char* kInsertAudit =
    "INSERT INTO audit_events (user_id, type, at, ip, user_agent) VALUES ($1, $2, $3, $4, $5)";
constexpr const char* kSelectAudit =
    "SELECT id, user_id, type, at, ip, user_agent FROM audit_events "
    "WHERE ($1 = '' OR user_id = $1) AND id < $2 ORDER BY id DESC LIMIT $3";
constexpr const char* kSelectTwoFactor =
    "SELECT sealed_secret, enabled, last_step, recovery_hashes FROM two_factor WHERE user_id = $1";
constexpr const char* kSetPendingTwoFactor = "SELECT chatd_set_pending_two_factor($1, $2)";
constexpr const char* kEnableTwoFactor = "SELECT chatd_enable_two_factor($1, $2::text[], $3)";
constexpr const char* kDeleteTwoFactor = "DELETE FROM two_factor WHERE user_id = $1";
// The row lock makes these atomic across nodes: a concurrent second UPDATE waits, then finds its
// condition false on the row the first one wrote.
constexpr const char* kConsumeTotpStep =
    "UPDATE two_factor SET last_step = $2 WHERE user_id = $1 AND last_step < $2";
constexpr const char* kConsumeRecoveryCode =
    "UPDATE two_factor SET recovery_hashes = array_remove(recovery_hashes, $2::text) "
    "WHERE user_id = $1 AND $2::text = ANY (recovery_hashes)";

constexpr const char* kLastPosition = "SELECT position FROM change_log_head";
constexpr const char* kReadCommits =
    "SELECT position, body FROM change_log WHERE position > $1 ORDER BY position LIMIT $2";

// /readyz must answer within a load balancer's patience even when the server is unreachable.
constexpr auto kReadyTimeout = std::chrono::milliseconds(1500);

// ---- Errors ------------------------------------------------------------------------------------

Error text_with_nul_error() {
  return make_error(Errc::invalid_input, "Text must not contain NUL characters");
}

Error chat_not_found() {
  return make_error(Errc::not_found, "Chat not found");
}

Error user_not_found() {
  return make_error(Errc::not_found, "User not found");
}

// Runs a read job's queries. libpq's and the server's text is logged, never returned.
template <class T, class Fn>
Result<T> run_read(Fn& fn, Link& link) {
  for (int attempt = 0;; ++attempt) {
    Connection* connection = nullptr;
    try {
      connection = &link.get();
    } catch (const PgError&) {
      return unavailable_error();  // the link logged why
    }
    const bool fresh = link.fresh();
    try {
      return fn(*connection);
    } catch (const PgError& e) {
      if (!e.unavailable()) {
        spdlog::error("store: {}", e.what());
        return internal_error();
      }
      link.drop();
      // A connection that sat idle may have died with a server restart: one more try on a new one.
      if (!fresh && attempt == 0) continue;
      spdlog::warn("store: {}", e.what());
      return unavailable_error();
    } catch (const InvalidText&) {
      return text_with_nul_error();
    } catch (const std::exception& e) {
      spdlog::error("store: {}", e.what());
      return internal_error();
    }
  }
}

template <class T, class Fn>
class ReadJobImpl final : public ReadJob {
 public:
  ReadJobImpl(Fn fn, std::function<void(Result<T>)> done)
      : fn_(std::move(fn)), done_(std::move(done)) {}
  void run(Link& link) override { done_(run_read<T>(fn_, link)); }
  void abandon() override { done_(unavailable_error()); }

 private:
  Fn fn_;
  std::function<void(Result<T>)> done_;
};

// `receive(pipeline, changes)` reads the results of `statements` and makes the job's result; it
// may run more than once (the batch is tried again after another job's failure).
template <class T, class Receive>
class WriteJobImpl final : public WriteJob {
 public:
  WriteJobImpl(std::vector<Statement> statements, Receive receive,
               std::function<void(Result<T>)> done)
      : statements_(std::move(statements)), receive_(std::move(receive)), done_(std::move(done)) {}

  void send(Pipeline& pipeline) override {
    for (const auto& statement : statements_) pipeline.send(statement.sql, statement.params);
  }
  void receive(Pipeline& pipeline, std::vector<Change>& changes) override {
    result_.emplace(receive_(pipeline, changes));
  }
  void finish(const Status& outcome) override {
    if (!outcome.ok()) return done_(outcome.error());
    if (!result_) return done_(internal_error());
    done_(std::move(*result_));
  }

 private:
  std::vector<Statement> statements_;
  Receive receive_;
  std::function<void(Result<T>)> done_;
  std::optional<Result<T>> result_;
};

// ---- Rows --------------------------------------------------------------------------------------

// Columns: id, name, email, pic, is_admin, created_at, updated_at, disabled.
User read_user(const Row& row) {
  return User{row.text(0),    row.text(1),  row.text(2),  row.text(3),
              row.boolean(4), row.int64(5), row.int64(6), row.boolean(7)};
}

std::vector<User> read_users(const Rows& rows) {
  std::vector<User> users;
  users.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) users.push_back(read_user(rows[i]));
  return users;
}

// Columns: chat_id, seq, id, sender_id, content, client_msg_id, created_at.
Message read_message(const Row& row) {
  return Message{row.text(2), row.text(0),          row.int64(1), row.text(3),
                 row.text(4), row.optional_text(5), row.int64(6)};
}

// The columns of kChatById.
Chat read_chat(const Row& row) {
  Chat chat;
  chat.id = row.text(0);
  chat.name = row.text(1);
  chat.is_group = row.boolean(2);
  chat.last_seq = row.int64(3);
  chat.created_at = row.int64(4);
  chat.updated_at = row.int64(5);
  const auto user_ids = row.text_array(6);
  const auto roles = row.int64_array(7);
  const auto joined = row.int64_array(8);
  const auto delivered = row.int64_array(9);
  const auto read = row.int64_array(10);
  if (roles.size() != user_ids.size() || joined.size() != user_ids.size() ||
      delivered.size() != user_ids.size() || read.size() != user_ids.size()) {
    throw std::runtime_error("postgres: member arrays of different lengths");
  }
  chat.members.reserve(user_ids.size());
  for (std::size_t i = 0; i < user_ids.size(); ++i) {
    chat.members.push_back(
        Member{user_ids[i], static_cast<Role>(roles[i]), joined[i], delivered[i], read[i]});
  }
  if (!row.is_null(11)) {
    chat.latest_message =
        Message{row.text(11),          chat.id,      chat.last_seq, row.text(12), row.text(13),
                row.optional_text(14), row.int64(15)};
  }
  return chat;
}

// A chat write's function status (schema.cc) and the chat as the write left it.
struct ChatOutcome {
  std::string status;
  Rows chat;
};

ChatOutcome read_chat_outcome(Pipeline& pipeline) {
  auto status = pipeline.next()[0].text(0);
  return ChatOutcome{std::move(status), pipeline.next()};
}

// The result of a write that changes a group: refusals as errors, the group as committed on the
// change feed when it changed.
Result<Chat> group_result(const ChatOutcome& outcome, std::vector<Change>& changes,
                          std::vector<std::string> removed_user_ids = {}) {
  const auto& status = outcome.status;
  if (status == "chat_not_found") return chat_not_found();
  if (status == "user_not_found") return user_not_found();
  if (status == "not_member") {
    return make_error(Errc::not_member, "User is not a member of this chat");
  }
  if (status == "last_admin") return make_error(Errc::conflict, "A group needs at least one admin");
  if (outcome.chat.empty()) return chat_not_found();
  auto chat = read_chat(outcome.chat[0]);
  if (status == "created" || status == "changed") {
    changes.emplace_back(GroupChanged{chat, std::move(removed_user_ids)});
  }
  return chat;
}

// Columns from `first` on: id, user_id, created_at, last_used_at, ip, user_agent, revoked.
Session read_session(const Row& row, int first = 0) {
  return Session{row.text(first),       row.text(first + 1), row.int64(first + 2),
                 row.int64(first + 3),  row.text(first + 4), row.text(first + 5),
                 row.boolean(first + 6)};
}

// The sessions a write revoked, on the change feed when there are any; returned to the caller.
std::vector<std::string> report_revoked(const std::string& user_id, std::vector<std::string> ids,
                                        std::vector<Change>& changes) {
  if (!ids.empty()) changes.emplace_back(SessionsRevoked{user_id, ids});
  return ids;
}

// The result of chatd_set_disabled and chatd_change_password: a status and the sessions revoked.
Result<std::vector<std::string>> revocation_result(Pipeline& pipeline, const std::string& user_id,
                                                   std::vector<Change>& changes) {
  const auto rows = pipeline.next();
  if (rows[0].view(0) == "user_not_found") return user_not_found();
  return report_revoked(user_id, rows[0].text_array(1), changes);
}

Error session_not_found() {
  return make_error(Errc::not_found, "Session not found");
}

Error two_factor_not_set_up() {
  return make_error(Errc::not_found, "Two-factor authentication is not set up");
}

Error two_factor_enabled() {
  return make_error(Errc::conflict, "Two-factor authentication is already enabled");
}

Result<Chat> load_chat(Connection& connection, const Params& params, const char* sql) {
  const auto rows = connection.query(sql, params);
  if (rows.empty()) return chat_not_found();
  return read_chat(rows[0]);
}

}  // namespace

// ---- Set-up ------------------------------------------------------------------------------------

PostgresStore::PostgresStore(const PostgresOptions& options)
    : info_(std::make_unique<ConnInfo>(options.url)) {
  auto connection = std::make_unique<Connection>(*info_);
  migrate(*connection);
  spdlog::info("store: PostgreSQL at {}, schema version {}", info_->describe(), schema_version());
  writer_ = std::make_unique<Writer>(*info_, std::move(connection), options.max_batch);
  readers_ = std::make_unique<ReaderPool>(*info_, options.reader_connections);
  pruner_ = std::make_unique<Pruner>(*info_, options.change_log_retention);
}

PostgresStore::~PostgresStore() {
  readers_.reset();
  writer_.reset();  // commits queued writes
  pruner_.reset();
}

void PostgresStore::set_change_listener(ChangeListener* listener) {
  writer_->set_change_listener(listener);
}

template <class T, class Fn>
asio::awaitable<Result<T>> PostgresStore::read(Fn fn) {
  return async_callback<Result<T>>(
      [this, fn = std::move(fn)](std::function<void(Result<T>)> done) mutable {
        readers_->submit(std::make_unique<ReadJobImpl<T, Fn>>(std::move(fn), std::move(done)));
      });
}

template <class T, class Receive>
asio::awaitable<Result<T>> PostgresStore::write(std::vector<Statement> statements,
                                                Receive receive) {
  return async_callback<Result<T>>(
      [this, statements = std::move(statements),
       receive = std::move(receive)](std::function<void(Result<T>)> done) mutable {
        const bool has_nul = std::any_of(statements.begin(), statements.end(),
                                         [](const Statement& s) { return s.params.has_nul(); });
        if (has_nul) return done(text_with_nul_error());
        writer_->submit(std::make_unique<WriteJobImpl<T, Receive>>(
            std::move(statements), std::move(receive), std::move(done)));
      });
}

// A probe on a reader connection, answered within kReadyTimeout whatever happens to it: the
// probe's answer and the deadline both arrive on one strand, and the first one wins (a completion
// callback ignores its second call).
asio::awaitable<Status> PostgresStore::check_ready() {
  auto strand = asio::make_strand(co_await asio::this_coro::executor);
  auto probe = [this, strand](const std::function<void(Status)>& done) {
    auto deadline = std::make_shared<asio::steady_timer>(strand, kReadyTimeout);
    deadline->async_wait(
        [done, deadline](const boost::system::error_code&) { done(unavailable_error()); });
    auto answer = [strand, done, deadline](Status status) {
      asio::post(strand, [done, deadline, status = std::move(status)] {
        deadline->cancel();
        done(status);
      });
    };
    auto select_one = [](Connection& c) -> Status {
      c.query("SELECT 1");
      return {};
    };
    readers_->submit(std::make_unique<ReadJobImpl<void, decltype(select_one)>>(
        std::move(select_one), std::move(answer)));
  };
  co_return co_await async_callback<Status>(std::move(probe));
}

// ---- Users -------------------------------------------------------------------------------------

asio::awaitable<Result<User>> PostgresStore::create_user(NewUser user) {
  const auto now = clock::now_ms();
  User created{new_object_id(), user.name, user.email, user.pic, false, now, now, false};
  std::vector<Statement> statements;
  statements.push_back(
      {kInsertUser,
       Params(created.id, created.name, text::ascii_lower(created.name), created.email,
              text::ascii_lower(created.email), created.pic, user.password_hash, now)});
  return write<User>(std::move(statements),
                     [created = std::move(created)](Pipeline& p, std::vector<Change>&) {
                       if (p.next().affected() == 0) {
                         return Result<User>(make_error(Errc::conflict, "User already exists"));
                       }
                       return Result<User>(created);
                     });
}

asio::awaitable<Result<User>> PostgresStore::find_user(std::string id) {
  return read<User>([id = std::move(id)](Connection& c) -> Result<User> {
    const auto rows = c.query(kSelectUser, Params(id));
    if (rows.empty()) return user_not_found();
    return read_user(rows[0]);
  });
}

asio::awaitable<Result<UserCredentials>> PostgresStore::find_credentials(std::string email) {
  return read<UserCredentials>(
      [email = std::move(email)](Connection& c) -> Result<UserCredentials> {
        const auto rows = c.query(kSelectCredentials, Params(text::ascii_lower(email)));
        if (rows.empty()) return user_not_found();
        return UserCredentials{read_user(rows[0]), rows[0].text(8), rows[0].boolean(9)};
      });
}

asio::awaitable<Result<std::vector<User>>> PostgresStore::find_users(std::vector<std::string> ids) {
  return read<std::vector<User>>(
      [ids = std::move(ids)](Connection& c) -> Result<std::vector<User>> {
        return read_users(c.query(kSelectUsers, Params(ids)));
      });
}

asio::awaitable<Result<std::vector<User>>> PostgresStore::search_users(UserSearch search) {
  return read<std::vector<User>>(
      [search = std::move(search)](Connection& c) -> Result<std::vector<User>> {
        return read_users(
            c.query(kSearchUsers, Params(search.exclude_id, text::ascii_lower(search.query),
                                         search.limit, search.offset)));
      });
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::find_contacts(
    std::string user_id) {
  return read<std::vector<std::string>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<std::string>> {
        const auto rows = c.query(kSelectContacts, Params(user));
        std::vector<std::string> ids;
        ids.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) ids.push_back(rows[i].text(0));
        return ids;
      });
}

asio::awaitable<Status> PostgresStore::record_last_seen(std::string user_id, std::int64_t at) {
  std::vector<Statement> statements;
  statements.push_back({kUpdateLastSeen, Params(at, user_id)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    if (p.next().affected() == 0) return user_not_found();
    return {};
  });
}

asio::awaitable<Result<std::vector<LastSeen>>> PostgresStore::find_last_seen(
    std::vector<std::string> ids) {
  return read<std::vector<LastSeen>>(
      [ids = std::move(ids)](Connection& c) -> Result<std::vector<LastSeen>> {
        const auto rows = c.query(kSelectLastSeen, Params(ids));
        std::vector<LastSeen> seen;
        seen.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) {
          seen.push_back(LastSeen{rows[i].text(0), rows[i].optional_int64(1)});
        }
        return seen;
      });
}

// ---- Chats -------------------------------------------------------------------------------------

asio::awaitable<Result<Chat>> PostgresStore::find_or_create_direct_chat(std::string user_a,
                                                                        std::string user_b) {
  const std::string key = user_a < user_b ? user_a + ":" + user_b : user_b + ":" + user_a;
  std::vector<Statement> statements;
  statements.push_back(
      {kDirectChat, Params(new_object_id(), user_a, user_b, key, clock::now_ms())});
  statements.push_back({kChatByDirectKey, Params(key)});
  return write<Chat>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<Chat> {
    const auto outcome = read_chat_outcome(p);
    if (outcome.status == "user_not_found") return user_not_found();
    if (outcome.chat.empty()) return chat_not_found();
    return read_chat(outcome.chat[0]);
  });
}

asio::awaitable<Result<Chat>> PostgresStore::create_group(std::string name, std::string creator_id,
                                                          std::vector<std::string> members) {
  // Each member once, in the order given, the creator (who joins as owner) left out.
  std::vector<std::string> others;
  std::set<std::string> seen{creator_id};
  for (auto& member : members) {
    if (seen.insert(member).second) others.push_back(std::move(member));
  }
  const auto id = new_object_id();
  std::vector<Statement> statements;
  statements.push_back({kCreateGroup, Params(id, name, creator_id, others, clock::now_ms())});
  statements.push_back({kChatById, Params(id)});
  return write<Chat>(std::move(statements),
                     [](Pipeline& p, std::vector<Change>& changes) -> Result<Chat> {
                       return group_result(read_chat_outcome(p), changes);
                     });
}

asio::awaitable<Result<Chat>> PostgresStore::find_chat(std::string chat_id) {
  return read<Chat>(
      [id = std::move(chat_id)](Connection& c) { return load_chat(c, Params(id), kChatById); });
}

asio::awaitable<Result<std::vector<Chat>>> PostgresStore::list_chats(std::string user_id) {
  return read<std::vector<Chat>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<Chat>> {
        const auto rows = c.query(kChatsOfUser, Params(user));
        std::vector<Chat> chats;
        chats.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) chats.push_back(read_chat(rows[i]));
        return chats;
      });
}

asio::awaitable<Result<Chat>> PostgresStore::rename_chat(std::string chat_id, std::string name) {
  std::vector<Statement> statements;
  statements.push_back({kRenameChat, Params(chat_id, name, clock::now_ms())});
  statements.push_back({kChatById, Params(chat_id)});
  return write<Chat>(std::move(statements),
                     [](Pipeline& p, std::vector<Change>& changes) -> Result<Chat> {
                       return group_result(read_chat_outcome(p), changes);
                     });
}

asio::awaitable<Result<Chat>> PostgresStore::add_member(std::string chat_id, std::string user_id,
                                                        int max_members) {
  std::vector<Statement> statements;
  statements.push_back({kAddMember, Params(chat_id, user_id, max_members, clock::now_ms())});
  statements.push_back({kChatById, Params(chat_id)});
  return write<Chat>(
      std::move(statements),
      [max_members](Pipeline& p, std::vector<Change>& changes) -> Result<Chat> {
        const auto outcome = read_chat_outcome(p);
        if (outcome.status == "too_many") {
          return make_error(Errc::invalid_input,
                            "A group can have at most " + std::to_string(max_members) + " members");
        }
        return group_result(outcome, changes);
      });
}

asio::awaitable<Result<Chat>> PostgresStore::remove_member(std::string chat_id,
                                                           std::string user_id) {
  std::vector<Statement> statements;
  statements.push_back({kRemoveMember, Params(chat_id, user_id, clock::now_ms())});
  statements.push_back({kChatById, Params(chat_id)});
  return write<Chat>(std::move(statements),
                     [user = std::move(user_id)](Pipeline& p, std::vector<Change>& changes) {
                       return group_result(read_chat_outcome(p), changes, {user});
                     });
}

asio::awaitable<Result<Chat>> PostgresStore::set_role(std::string chat_id, std::string user_id,
                                                      Role role) {
  std::vector<Statement> statements;
  statements.push_back(
      {kSetRole, Params(chat_id, user_id, static_cast<int>(role), clock::now_ms())});
  statements.push_back({kChatById, Params(chat_id)});
  return write<Chat>(std::move(statements),
                     [](Pipeline& p, std::vector<Change>& changes) -> Result<Chat> {
                       return group_result(read_chat_outcome(p), changes);
                     });
}

// ---- Messages ----------------------------------------------------------------------------------

asio::awaitable<Result<AppendedMessage>> PostgresStore::append_message(NewMessage message) {
  Message stored{new_object_id(),       message.chat_id, 0, message.sender_id, message.content,
                 message.client_msg_id, clock::now_ms()};
  std::vector<Statement> statements;
  statements.push_back(
      {kAppendMessage, Params(stored.id, stored.chat_id, stored.sender_id, stored.content,
                              stored.client_msg_id, stored.created_at)});
  return write<AppendedMessage>(
      std::move(statements),
      [stored = std::move(stored), origin = std::move(message.origin)](
          Pipeline& p, std::vector<Change>& changes) -> Result<AppendedMessage> {
        // Columns: status, seq, original_chat_id, original_id, original_content,
        // original_created_at, member_ids, then the sender's name, email, pic, is_admin,
        // created_at, updated_at, disabled.
        const auto rows = p.next();
        const auto row = rows[0];
        const auto status = row.view(0);
        if (status == "created") {
          Message appended = stored;
          appended.seq = row.int64(1);
          User sender{stored.sender_id, row.text(7),   row.text(8),   row.text(9),
                      row.boolean(10),  row.int64(11), row.int64(12), row.boolean(13)};
          changes.emplace_back(
              MessageAppended{appended, std::move(sender), row.text_array(6), origin});
          return AppendedMessage{std::move(appended), true};
        }
        if (status == "exists") {
          return AppendedMessage{Message{row.text(3), row.text(2), row.int64(1), stored.sender_id,
                                         row.text(4), stored.client_msg_id, row.int64(5)},
                                 false};
        }
        if (status == "conflict") {
          return make_error(Errc::conflict, "clientMsgId was already used in another chat");
        }
        if (status == "not_member") {
          return make_error(Errc::not_member, "You are not a member of this chat");
        }
        if (status == "chat_not_found") return chat_not_found();
        return user_not_found();
      });
}

asio::awaitable<Result<std::vector<Message>>> PostgresStore::list_messages(HistoryQuery query) {
  return read<std::vector<Message>>([q = std::move(query)](
                                        Connection& c) -> Result<std::vector<Message>> {
    const auto rows = q.after ? c.query(kMessagesAfter, Params(q.chat_id, *q.after, q.limit))
                              : c.query(kMessagesBefore,
                                        Params(q.chat_id, q.before.value_or(INT64_MAX), q.limit));
    std::vector<Message> page;
    page.reserve(static_cast<std::size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) page.push_back(read_message(rows[i]));
    if (!q.after) std::reverse(page.begin(), page.end());
    return page;
  });
}

asio::awaitable<Result<Message>> PostgresStore::find_message(std::string chat_id,
                                                             std::string message_id) {
  return read<Message>(
      [chat = std::move(chat_id), id = std::move(message_id)](Connection& c) -> Result<Message> {
        const auto rows = c.query(kSelectMessage, Params(id, chat));
        if (rows.empty()) return make_error(Errc::not_found, "Message not found");
        return read_message(rows[0]);
      });
}

asio::awaitable<Result<CursorUpdate>> PostgresStore::advance_cursors(std::string chat_id,
                                                                     std::string user_id,
                                                                     std::int64_t delivered_seq,
                                                                     std::int64_t read_seq) {
  std::vector<Statement> statements;
  statements.push_back({kAdvanceCursors, Params(chat_id, user_id, delivered_seq, read_seq)});
  return write<CursorUpdate>(
      std::move(statements),
      [chat_id = std::move(chat_id), user_id = std::move(user_id)](
          Pipeline& p, std::vector<Change>& changes) -> Result<CursorUpdate> {
        // Columns: status, role, joined_at, delivered_seq, read_seq, member_ids.
        const auto rows = p.next();
        const auto row = rows[0];
        const auto status = row.view(0);
        if (status == "chat_not_found") return chat_not_found();
        if (status == "not_member") {
          return make_error(Errc::not_member, "You are not a member of this chat");
        }
        CursorUpdate update{Member{user_id, static_cast<Role>(row.int64(1)), row.int64(2),
                                   row.int64(3), row.int64(4)},
                            status == "changed"};
        if (update.changed) {
          changes.emplace_back(CursorsAdvanced{chat_id, update.member, row.text_array(5)});
        }
        return update;
      });
}

// ---- Accounts ----------------------------------------------------------------------------------

asio::awaitable<Result<User>> PostgresStore::set_server_admin(std::string email, bool admin) {
  std::vector<Statement> statements;
  statements.push_back(
      {kSetServerAdmin, Params(text::ascii_lower(text::trim(email)), admin, clock::now_ms())});
  return write<User>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<User> {
    const auto rows = p.next();
    if (rows.empty()) return user_not_found();
    return read_user(rows[0]);
  });
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::set_disabled(std::string user_id,
                                                                              bool disabled) {
  std::vector<Statement> statements;
  statements.push_back({kSetDisabled, Params(user_id, disabled, clock::now_ms())});
  return write<std::vector<std::string>>(
      std::move(statements),
      [user = std::move(user_id)](Pipeline& p, std::vector<Change>& changes) {
        return revocation_result(p, user, changes);
      });
}

asio::awaitable<Result<Session>> PostgresStore::create_session(NewSession session) {
  Session created{new_object_id(), session.user_id,    session.at, session.at,
                  session.ip,      session.user_agent, false};
  std::vector<Statement> statements;
  statements.push_back({kCreateSession, Params(created.id, created.user_id, session.refresh_hash,
                                               session.at, created.ip, created.user_agent)});
  return write<Session>(
      std::move(statements),
      [created = std::move(created)](Pipeline& p, std::vector<Change>&) -> Result<Session> {
        const auto rows = p.next();
        const auto status = rows[0].view(0);
        if (status == "user_not_found") return user_not_found();
        if (status == "disabled") {
          return make_error(Errc::forbidden, "This account is disabled");
        }
        return created;
      });
}

asio::awaitable<Result<Session>> PostgresStore::find_session(std::string session_id) {
  return read<Session>([id = std::move(session_id)](Connection& c) -> Result<Session> {
    const auto rows = c.query(kSelectSession, Params(id));
    if (rows.empty()) return session_not_found();
    return read_session(rows[0]);
  });
}

asio::awaitable<Result<std::vector<Session>>> PostgresStore::list_sessions(std::string user_id) {
  return read<std::vector<Session>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<Session>> {
        const auto rows = c.query(kSessionsOfUser, Params(user));
        std::vector<Session> sessions;
        sessions.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) sessions.push_back(read_session(rows[i]));
        return sessions;
      });
}

asio::awaitable<Result<RefreshResult>> PostgresStore::rotate_refresh(RefreshRotation rotation) {
  std::vector<Statement> statements;
  statements.push_back({kRotateRefresh, Params(rotation.presented_hash, rotation.next_hash,
                                               rotation.ip, rotation.user_agent, rotation.at)});
  return write<RefreshResult>(
      std::move(statements),
      [](Pipeline& p, std::vector<Change>& changes) -> Result<RefreshResult> {
        // Columns: status, then the session's (read_session).
        const auto rows = p.next();
        const auto status = rows[0].view(0);
        if (status == "unknown") return RefreshResult{};
        RefreshResult result{RefreshOutcome::rotated, read_session(rows[0], 1)};
        if (status == "reused") {
          result.outcome = RefreshOutcome::reused;
          report_revoked(result.session.user_id, {result.session.id}, changes);
        }
        return result;
      });
}

asio::awaitable<Status> PostgresStore::revoke_session(std::string user_id, std::string session_id) {
  std::vector<Statement> statements;
  statements.push_back({kRevokeSession, Params(user_id, session_id, clock::now_ms())});
  return write<void>(std::move(statements),
                     [user = std::move(user_id), id = std::move(session_id)](
                         Pipeline& p, std::vector<Change>& changes) -> Status {
                       const auto rows = p.next();
                       const auto status = rows[0].view(0);
                       if (status == "not_found") return session_not_found();
                       if (status == "revoked") report_revoked(user, {id}, changes);
                       return {};
                     });
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::revoke_sessions(
    std::string user_id, std::optional<std::string> keep) {
  std::vector<Statement> statements;
  statements.push_back({kRevokeSessions, Params(user_id, keep, clock::now_ms())});
  return write<std::vector<std::string>>(
      std::move(statements),
      [user = std::move(user_id)](
          Pipeline& p, std::vector<Change>& changes) -> Result<std::vector<std::string>> {
        return report_revoked(user, p.next()[0].text_array(0), changes);
      });
}

asio::awaitable<Status> PostgresStore::touch_sessions(std::vector<SessionUse> uses) {
  std::vector<std::string> ids;
  std::vector<std::string> times;
  ids.reserve(uses.size());
  times.reserve(uses.size());
  for (auto& use : uses) {
    ids.push_back(std::move(use.session_id));
    times.push_back(std::to_string(use.at));
  }
  std::vector<Statement> statements;
  statements.push_back({kTouchSessions, Params(ids, times)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    p.next();
    return {};
  });
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::change_password(
    std::string user_id, std::string password_hash, std::optional<std::string> keep) {
  std::vector<Statement> statements;
  statements.push_back({kChangePassword, Params(user_id, password_hash, keep, clock::now_ms())});
  return write<std::vector<std::string>>(
      std::move(statements),
      [user = std::move(user_id)](Pipeline& p, std::vector<Change>& changes) {
        return revocation_result(p, user, changes);
      });
}

asio::awaitable<Status> PostgresStore::record_audit(NewAuditEvent event) {
  std::vector<Statement> statements;
  statements.push_back(
      {kInsertAudit, Params(event.user_id, event.type, event.at, event.ip, event.user_agent)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    p.next();
    return {};
  });
}

asio::awaitable<Result<std::vector<AuditEvent>>> PostgresStore::list_audit(AuditQuery query) {
  return read<std::vector<AuditEvent>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<AuditEvent>> {
        std::int64_t before = INT64_MAX;
        if (q.before_id) {
          // Ids are the decimal form of the identity column: anything else names no event, and
          // nothing follows it.
          const auto& id = *q.before_id;
          const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), before);
          if (error != std::errc() || end != id.data() + id.size()) {
            return std::vector<AuditEvent>{};
          }
        }
        const auto rows = c.query(kSelectAudit, Params(q.user_id, before, q.limit));
        std::vector<AuditEvent> events;
        events.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) {
          events.push_back(AuditEvent{rows[i].text(0), rows[i].text(1), rows[i].text(2),
                                      rows[i].int64(3), rows[i].text(4), rows[i].text(5)});
        }
        return events;
      });
}

asio::awaitable<Result<TwoFactor>> PostgresStore::find_two_factor(std::string user_id) {
  return read<TwoFactor>([user = std::move(user_id)](Connection& c) -> Result<TwoFactor> {
    const auto rows = c.query(kSelectTwoFactor, Params(user));
    if (rows.empty()) return two_factor_not_set_up();
    return TwoFactor{rows[0].text(0), rows[0].boolean(1), rows[0].int64(2), rows[0].text_array(3)};
  });
}

asio::awaitable<Status> PostgresStore::set_pending_two_factor(std::string user_id,
                                                              std::string sealed_secret) {
  std::vector<Statement> statements;
  statements.push_back({kSetPendingTwoFactor, Params(user_id, sealed_secret)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    const auto rows = p.next();
    const auto status = rows[0].view(0);
    if (status == "user_not_found") return user_not_found();
    if (status == "conflict") return two_factor_enabled();
    return {};
  });
}

asio::awaitable<Status> PostgresStore::enable_two_factor(std::string user_id,
                                                         std::vector<std::string> recovery_hashes,
                                                         std::int64_t step) {
  std::vector<Statement> statements;
  statements.push_back({kEnableTwoFactor, Params(user_id, recovery_hashes, step)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    const auto rows = p.next();
    const auto status = rows[0].view(0);
    if (status == "not_found") return two_factor_not_set_up();
    if (status == "conflict") return two_factor_enabled();
    return {};
  });
}

asio::awaitable<Status> PostgresStore::disable_two_factor(std::string user_id) {
  std::vector<Statement> statements;
  statements.push_back({kDeleteTwoFactor, Params(user_id)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    p.next();
    return {};
  });
}

asio::awaitable<Result<bool>> PostgresStore::consume_totp_step(std::string user_id,
                                                               std::int64_t step) {
  std::vector<Statement> statements;
  statements.push_back({kConsumeTotpStep, Params(user_id, step)});
  return write<bool>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<bool> {
    return p.next().affected() > 0;
  });
}

asio::awaitable<Result<bool>> PostgresStore::consume_recovery_code(std::string user_id,
                                                                   std::string code_hash) {
  std::vector<Statement> statements;
  statements.push_back({kConsumeRecoveryCode, Params(user_id, code_hash)});
  return write<bool>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<bool> {
    return p.next().affected() > 0;
  });
}

// ---- Change log --------------------------------------------------------------------------------

asio::awaitable<Result<std::int64_t>> PostgresStore::last_position() {
  return read<std::int64_t>(
      [](Connection& c) -> Result<std::int64_t> { return c.query(kLastPosition)[0].int64(0); });
}

asio::awaitable<Result<std::vector<Commit>>> PostgresStore::read_commits(std::int64_t after,
                                                                         int limit) {
  return read<std::vector<Commit>>([after, limit](Connection& c) -> Result<std::vector<Commit>> {
    const auto rows = c.query(kReadCommits, Params(after, limit));
    std::vector<Commit> commits;
    commits.reserve(static_cast<std::size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      auto body = rows[i].text(1);
      auto changes = decode_changes(body);
      if (!changes) {
        spdlog::error("store: change log position {} does not decode: {}", rows[i].int64(0),
                      changes.error().message);
        return internal_error();
      }
      commits.push_back(Commit{rows[i].int64(0), std::move(*changes), std::move(body)});
    }
    return commits;
  });
}

}  // namespace chatd::store::postgres
