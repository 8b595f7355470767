#include "store/postgres/postgres_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <variant>

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
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
    "erased_at IS NOT NULL FROM users WHERE id = $1";
// An erased user's email key ('erased:<id>') matches no lower-cased email; the condition says so
// once more.
constexpr const char* kSelectCredentials =
    "SELECT u.id, u.name, u.email, u.pic, u.is_admin, u.created_at, u.updated_at, u.disabled, "
    "false, u.password_hash, "
    "EXISTS (SELECT FROM two_factor t WHERE t.user_id = u.id AND t.enabled) "
    "FROM users u WHERE u.email_key = $1 AND u.erased_at IS NULL";
constexpr const char* kSelectUsers =
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
    "erased_at IS NOT NULL FROM users WHERE id = ANY ($1::text[])";
// strpos rather than LIKE: the query is matched literally, '%' and '_' included. Erased users are
// never found.
constexpr const char* kSearchUsers =
    "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, false FROM users "
    "WHERE id <> $1 AND erased_at IS NULL "
    "AND ($2 = '' OR strpos(name_key, $2) > 0 OR strpos(email_key, $2) > 0) "
    "ORDER BY name_key, id LIMIT $3 OFFSET $4";
// Name and pic when given ($2 and $4; $3 is the name's key).
constexpr const char* kUpdateProfile =
    "UPDATE users SET name = coalesce($2, name), name_key = coalesce($3, name_key), "
    "pic = coalesce($4, pic), updated_at = $5 WHERE id = $1 AND erased_at IS NULL "
    "RETURNING id, name, email, pic, is_admin, created_at, updated_at, disabled, false";
constexpr const char* kInsertUser =
    "INSERT INTO users (id, name, name_key, email, email_key, pic, password_hash, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (email_key) DO NOTHING";
constexpr const char* kSelectContacts =
    "SELECT DISTINCT other.user_id FROM chat_members mine JOIN chat_members other "
    "ON other.chat_id = mine.chat_id WHERE mine.user_id = $1 AND other.user_id <> $1";
// An erased user's last seen stays NULL (a socket of theirs may close after the erasure).
constexpr const char* kUpdateLastSeen =
    "UPDATE users SET last_seen = CASE WHEN erased_at IS NULL THEN $1::bigint END WHERE id = $2";
constexpr const char* kSelectLastSeen =
    "SELECT id, last_seen FROM users WHERE id = ANY ($1::text[])";

// Chats are read from chat_view (schema.cc): one row per chat, members and latest message
// included; the columns are those read_chat reads.
constexpr const char* kChatById =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at, latest_deleted, retention_days, last_rev "
    "FROM chat_view WHERE id = $1";
constexpr const char* kChatByDirectKey =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at, latest_deleted, retention_days, last_rev "
    "FROM chat_view WHERE direct_key = $1";
constexpr const char* kChatsOfUser =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at, latest_deleted, retention_days, last_rev "
    "FROM chat_view WHERE id IN (SELECT chat_id FROM chat_members WHERE user_id = $1) ORDER BY "
    "activity DESC";
constexpr const char* kChatsByIds =
    "SELECT id, name, is_group, last_seq, created_at, updated_at, user_ids, roles, joined_ats, "
    "delivered_seqs, read_seqs, latest_id, latest_sender_id, latest_content, "
    "latest_client_msg_id, latest_created_at, latest_deleted, retention_days, last_rev "
    "FROM chat_view WHERE id = ANY ($1::text[]) ORDER BY id";

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
constexpr const char* kSetRetention =
    "WITH updated AS (UPDATE chats SET retention_days = $2::integer WHERE id = $1 RETURNING id) "
    "SELECT CASE WHEN EXISTS (SELECT FROM updated) THEN 'changed' ELSE 'chat_not_found' END";

// The sender's `disabled` and `erased` are joined in here rather than returned by the function
// (schema.cc, migration 3). The message as stored follows (kAppendedMessage).
constexpr const char* kAppendMessage =
    "SELECT a.*, u.disabled, u.erased_at IS NOT NULL "
    "FROM chatd_append_message($1, $2, $3, $4, $5, $6, $7, $8::text[]) a "
    "LEFT JOIN users u ON u.id = $3";
constexpr const char* kAdvanceCursors = "SELECT * FROM chatd_advance_cursors($1, $2, $3, $4)";
// Messages are read from message_rows (schema.cc, migration 5): the columns read_message reads.
constexpr const char* kAppendedMessage =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE id = $1 OR (sender_id = $2 AND client_msg_id = $3)";
constexpr const char* kMessagesAfter =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
constexpr const char* kMessagesBefore =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
constexpr const char* kSelectMessage =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE id = $1 AND chat_id = $2";
constexpr const char* kChangesAfter =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE chat_id = $1 AND rev > $2 AND seq <= $3 ORDER BY rev LIMIT $4";
// Ids compare as bytes (COLLATE "C"), as in SQLite: one range of messages_by_sender.
constexpr const char* kSentMessages =
    "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at, "
    "rev, quote_id, quote_seq, quote_sender_id, quote_sender_name, quote_sender_pic, "
    "quote_content, quote_deleted, reaction_emojis, reaction_users, attachments FROM message_rows "
    "WHERE sender_id = $1 AND NOT deleted AND (chat_id, seq) > ($2, $3) "
    "ORDER BY chat_id, seq LIMIT $4";
constexpr const char* kChangeMessage =
    "SELECT * FROM chatd_change_message($1, $2, $3, $4::smallint, $5::smallint, $6, $7, "
    "$8::integer, $9)";
constexpr const char* kChatOfMessage = "SELECT chat_id FROM messages WHERE id = $1";
constexpr const char* kChatCounters = "SELECT last_seq, last_rev FROM chats WHERE id = $1";
constexpr const char* kSenderOfMessage =
    "SELECT u.id, u.name, u.email, u.pic, u.is_admin, u.created_at, u.updated_at, u.disabled, "
    "u.erased_at IS NOT NULL FROM users u JOIN messages m ON m.sender_id = u.id WHERE m.id = $1";

// Privacy (schema.cc, migration 4). The erasures return one row per chat: chat_id,
// message_ids, seqs, member_ids.
constexpr const char* kEraseUser = "SELECT * FROM chatd_erase_user($1, $2, $3, $4, $5)";
constexpr const char* kEraseSentMessages = "SELECT * FROM chatd_erase_sent_messages($1, $2)";
constexpr const char* kEraseExpiredMessages =
    "SELECT * FROM chatd_erase_expired_messages($1, $2::integer, $3)";
// The user's messages they deleted themselves keep their client_msg_id (a retried send finds
// them); an erasure takes it too.
constexpr const char* kForgetDeletedKeys =
    "UPDATE messages SET client_msg_id = NULL WHERE sender_id = $1 AND deleted "
    "AND client_msg_id IS NOT NULL";
constexpr const char* kUnfinishedErasures =
    "SELECT u.id FROM users u WHERE u.erased_at IS NOT NULL "
    "AND EXISTS (SELECT FROM messages m WHERE m.sender_id = u.id AND NOT m.deleted) "
    "ORDER BY u.id LIMIT $1";
// The change-log rows whose body holds one of the patterns (a byte search of each body).
constexpr const char* kLogRowsHolding =
    "SELECT position, body FROM change_log l "
    "WHERE EXISTS (SELECT FROM unnest($1::text[]) AS p (pattern) WHERE strpos(l.body, p.pattern) "
    "> 0) ORDER BY position";
// The rows about to be rewritten, locked and read again: two erasures that rewrite one row do it
// one after the other, each on the row as the other left it.
constexpr const char* kLockLogRows =
    "SELECT position, body FROM change_log WHERE position = ANY ($1::bigint[]) ORDER BY position "
    "FOR UPDATE";
constexpr const char* kRewriteLogRow = "UPDATE change_log SET body = $2 WHERE position = $1";

// Accounts. Sessions' columns are those read_session reads.
constexpr const char* kSetServerAdmin =
    "UPDATE users SET is_admin = $2, updated_at = $3 WHERE email_key = $1 "
    "RETURNING id, name, email, pic, is_admin, created_at, updated_at, disabled, "
    "erased_at IS NOT NULL";
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
constexpr const char* kPruneAccounts = "SELECT chatd_prune_accounts($1, $2, $3)";
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

}  // namespace

// A write in rounds, for one whose next statements depend on the results of its first ones: each
// round's statements go out together, and its `receive` reads their results and either ends the
// job with its result or names the next round, which runs in the same transaction one round trip
// later (WriteJob::send_next). Rounds are made again when the transaction is (it may be tried more
// than once).
template <class T>
struct Round {
  using Next = std::variant<Result<T>, Round<T>>;
  std::vector<Statement> statements;
  std::function<Next(Pipeline&, std::vector<Change>&)> receive;
};

namespace {

// A job in rounds that commits alone: the erasures, which rewrite the change log as committed
// before them (WriteJob::alone).
template <class T>
class RoundsJobImpl final : public WriteJob {
 public:
  RoundsJobImpl(Round<T> first, std::function<void(Result<T>)> done)
      : first_(std::move(first)), done_(std::move(done)) {}

  void send(Pipeline& pipeline) override {
    result_.reset();
    current_ = first_;
    send_current(pipeline);
  }
  bool send_next(Pipeline& pipeline) override {
    if (result_) return false;
    send_current(pipeline);
    return true;
  }
  void receive(Pipeline& pipeline, std::vector<Change>& changes) override {
    auto next = current_.receive(pipeline, changes);
    if (auto* result = std::get_if<Result<T>>(&next)) {
      result_.emplace(std::move(*result));
    } else {
      current_ = std::move(std::get<Round<T>>(next));
    }
  }
  bool alone() const override { return true; }
  void finish(const Status& outcome) override {
    if (!outcome.ok()) return done_(outcome.error());
    if (!result_) return done_(internal_error());
    done_(std::move(*result_));
  }

 private:
  void send_current(Pipeline& pipeline) {
    for (const auto& statement : current_.statements) {
      pipeline.send(statement.sql, statement.params);
    }
  }

  Round<T> first_;
  Round<T> current_;
  std::function<void(Result<T>)> done_;
  std::optional<Result<T>> result_;
};

// ---- Rows --------------------------------------------------------------------------------------

// Columns: id, name, email, pic, is_admin, created_at, updated_at, disabled, erased.
User read_user(const Row& row) {
  return User{row.text(0),  row.text(1),  row.text(2),    row.text(3),   row.boolean(4),
              row.int64(5), row.int64(6), row.boolean(7), row.boolean(8)};
}

std::vector<User> read_users(const Rows& rows) {
  std::vector<User> users;
  users.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) users.push_back(read_user(rows[i]));
  return users;
}

// Reactions from parallel arrays of emojis and users (by rev): emojis in the order first used.
std::vector<Reaction> group_reactions(const std::vector<std::string>& emojis,
                                      const std::vector<std::string>& users) {
  if (emojis.size() != users.size()) {
    throw std::runtime_error("postgres: reaction arrays of different lengths");
  }
  std::vector<Reaction> reactions;
  for (std::size_t i = 0; i < emojis.size(); ++i) {
    auto same = std::find_if(reactions.begin(), reactions.end(),
                             [&](const Reaction& r) { return r.emoji == emojis[i]; });
    if (same == reactions.end()) same = reactions.insert(reactions.end(), Reaction{emojis[i], {}});
    same->user_ids.push_back(users[i]);
  }
  return reactions;
}

// One attachment row as a JSON array of the attachments table's columns (schema.cc, migration 7).
Attachment read_attachment(const boost::json::array& r) {
  auto text = [&](std::size_t i) { return std::string(r.at(i).as_string()); };
  auto optional_int = [&](std::size_t i) -> std::optional<int> {
    if (r.at(i).is_null()) return std::nullopt;
    return static_cast<int>(r.at(i).to_number<std::int64_t>());
  };
  Attachment a;
  a.id = text(0);
  a.uploader_id = text(1);
  a.name = text(2);
  a.size = r.at(3).to_number<std::uint64_t>();
  a.mime = text(4);
  a.sha256 = text(5);
  a.width = optional_int(6);
  a.height = optional_int(7);
  if (!r.at(8).is_null()) {
    a.thumbnail = AttachmentThumbnail{text(8), text(9), optional_int(10).value_or(0),
                                      optional_int(11).value_or(0)};
  }
  a.created_at = r.at(12).to_number<std::int64_t>();
  return a;
}

// A message's attachments as message_rows aggregates them: a JSON array of rows.
std::vector<Attachment> read_attachments(std::string_view json_rows) {
  const auto rows = boost::json::parse(json_rows);
  std::vector<Attachment> attachments;
  for (const auto& row : rows.as_array()) attachments.push_back(read_attachment(row.as_array()));
  return attachments;
}

// The columns of kSelectMessage (message_rows).
Message read_message(const Row& row) {
  Message m{row.text(2), row.text(0),          row.int64(1), row.text(3),
            row.text(4), row.optional_text(5), row.int64(6), row.boolean(7)};
  m.edited_at = row.optional_int64(8);
  m.rev = row.int64(9);
  if (!row.is_null(10)) {
    m.reply_to = Quote{row.text(10), row.int64(11), row.text(12),   row.text(13),
                       row.text(14), row.text(15),  row.boolean(16)};
  }
  if (!row.is_null(17)) m.reactions = group_reactions(row.text_array(17), row.text_array(18));
  if (!row.is_null(19)) m.attachments = read_attachments(row.view(19));
  return m;
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
        Message{row.text(11),          chat.id,       chat.last_seq,  row.text(12), row.text(13),
                row.optional_text(14), row.int64(15), row.boolean(16)};
  }
  if (!row.is_null(17)) chat.retention_days = static_cast<int>(row.int64(17));
  chat.last_rev = row.int64(18);
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

// ---- Erasure -----------------------------------------------------------------------------------
//
// An erasure tombstones messages (or replaces a user's record) in its first round, then scrubs the
// change log, whose rows hold copies: a MessageAppended holds the message and its sender's record,
// a GroupChanged its chat's latest message, a UserChanged the user's record. Rows are found by a
// byte search for a JSON field that every copy carries (`"sender_id":"<id>"`, `"chat_id":"<id>"`,
// `"id":"<user id>"`; encode_changes writes compact JSON), decoded, scrubbed and written back in
// place: positions stay, and so do the other changes of each row. The chats' locks (schema.cc,
// migration 4) keep any transaction from committing a new copy after the scan.

// What the erasures' rows (chatd_tombstone_messages) turned into tombstones.
struct Tombstones {
  int count = 0;
  std::set<std::string> message_ids;
  std::vector<std::string> chat_ids;
};

// Reports the rows (chat_id, message_ids, seqs, member_ids) as MessagesErased, one per chat.
Tombstones report_tombstones(const Rows& rows, std::vector<Change>& changes) {
  Tombstones made;
  for (int i = 0; i < rows.size(); ++i) {
    const auto row = rows[i];
    MessagesErased erased{row.text(0), {}, row.text_array(3)};
    const auto ids = row.text_array(1);
    const auto seqs = row.int64_array(2);
    if (ids.size() != seqs.size()) {
      throw std::runtime_error("postgres: erased ids and seqs of different lengths");
    }
    for (std::size_t k = 0; k < ids.size(); ++k) {
      erased.messages.push_back(ErasedMessage{ids[k], seqs[k]});
      made.message_ids.insert(ids[k]);
    }
    made.count += static_cast<int>(ids.size());
    made.chat_ids.push_back(erased.chat_id);
    changes.emplace_back(std::move(erased));
  }
  return made;
}

// What the change log must lose.
struct Scrub {
  std::set<std::string> message_ids;  // their copies become tombstones
  std::optional<User> user;           // every copy of this user's record becomes this one
};

// `"key":"value"` as encode_changes writes it.
std::string json_field(std::string_view key, std::string_view value) {
  return fmt::format("\"{}\":{}", key, boost::json::serialize(boost::json::string_view(value)));
}

bool tombstone(Quote& quote) {
  if (quote.deleted && quote.content.empty()) return false;
  quote.content.clear();
  quote.deleted = true;
  return true;
}

bool tombstone(Message& message) {
  if (message.deleted && message.content.empty() && !message.client_msg_id && !message.reply_to &&
      message.reactions.empty() && message.attachments.empty()) {
    return false;
  }
  message.content.clear();
  message.client_msg_id.reset();
  message.deleted = true;
  message.edited_at.reset();
  message.reply_to.reset();
  message.reactions.clear();
  message.attachments.clear();
  return true;
}

bool same_user(const User& a, const User& b) {
  return a.id == b.id && a.name == b.name && a.email == b.email && a.pic == b.pic &&
         a.is_admin == b.is_admin && a.created_at == b.created_at && a.updated_at == b.updated_at &&
         a.disabled == b.disabled && a.erased == b.erased;
}

bool replace_user(User& copy, const std::optional<User>& user) {
  if (!user || copy.id != user->id || same_user(copy, *user)) return false;
  copy = *user;
  return true;
}

// What a reply quotes of an erased message or user goes as it went from the message itself.
bool scrub_quote(std::optional<Quote>& quote, const Scrub& scrub) {
  if (!quote) return false;
  const bool erased_sender = scrub.user && quote->sender_id == scrub.user->id;
  bool changed = (erased_sender || scrub.message_ids.contains(quote->id)) && tombstone(*quote);
  if (erased_sender &&
      (quote->sender_name != scrub.user->name || quote->sender_pic != scrub.user->pic)) {
    quote->sender_name = scrub.user->name;
    quote->sender_pic = scrub.user->pic;
    changed = true;
  }
  return changed;
}

// A message copy in the log: its own content, and what it quotes. An erased user's messages go
// whole, those they had deleted themselves included (the log still holds what they said).
bool scrub_message(Message& message, const Scrub& scrub) {
  const bool erased_sender = scrub.user && message.sender_id == scrub.user->id;
  bool changed = (erased_sender || scrub.message_ids.contains(message.id)) && tombstone(message);
  if (scrub_quote(message.reply_to, scrub)) changed = true;
  return changed;
}

// Applies the scrub to one change; true when it changed.
bool scrub_change(Change& change, const Scrub& scrub) {
  bool changed = false;
  if (auto* appended = std::get_if<MessageAppended>(&change)) {
    if (scrub_message(appended->message, scrub)) changed = true;
    if (replace_user(appended->sender, scrub.user)) changed = true;
  } else if (auto* edited = std::get_if<MessageChanged>(&change)) {
    if (scrub_message(edited->message, scrub)) changed = true;
    if (replace_user(edited->sender, scrub.user)) changed = true;
  } else if (auto* group = std::get_if<GroupChanged>(&change)) {
    auto& latest = group->chat.latest_message;
    if (latest && scrub.message_ids.contains(latest->id) && tombstone(*latest)) changed = true;
  } else if (auto* user = std::get_if<UserChanged>(&change)) {
    if (replace_user(user->user, scrub.user)) changed = true;
  }
  return changed;
}

// The rows (position, body) that the scrub changes, with their new bodies. A body that does not
// decode cannot be scrubbed: the erasure fails (its transaction rolls back) rather than leave a
// copy behind; the pruner deletes the row within the log's retention.
std::vector<std::pair<std::int64_t, std::string>> scrubbed_rows(const Rows& rows,
                                                                const Scrub& scrub) {
  std::vector<std::pair<std::int64_t, std::string>> scrubbed;
  for (int i = 0; i < rows.size(); ++i) {
    const auto position = rows[i].int64(0);
    auto changes = decode_changes(rows[i].view(1));
    if (!changes) {
      throw std::runtime_error(
          fmt::format("postgres: change log position {} does not decode ({}): cannot erase from it",
                      position, changes.error().message));
    }
    bool changed = false;
    for (auto& change : *changes) {
      if (scrub_change(change, scrub)) changed = true;
    }
    if (changed) scrubbed.emplace_back(position, encode_changes(*changes));
  }
  return scrubbed;
}

// A round that ends the job with `result` once its statements ran.
template <class T>
Round<T> ending_with(std::vector<Statement> statements, T result) {
  return Round<T>{std::move(statements),
                  [result = std::move(result)](Pipeline&, std::vector<Change>&) {
                    return typename Round<T>::Next(Result<T>(result));
                  }};
}

// The rounds that scrub the change log, found in `candidates` (read unlocked), and then end the
// job with `result`: the rows to rewrite are locked and read again (another erasure may have
// rewritten one since), then rewritten.
template <class T>
typename Round<T>::Next scrub_log_then(const Rows& candidates, Scrub scrub, T result) {
  std::vector<std::string> positions;
  for (const auto& [position, body] : scrubbed_rows(candidates, scrub)) {
    positions.push_back(std::to_string(position));
  }
  if (positions.empty()) return Result<T>(std::move(result));
  std::vector<Statement> lock;
  lock.push_back({kLockLogRows, Params(positions)});
  auto rewrite = [scrub = std::move(scrub), result = std::move(result)](
                     Pipeline& p, std::vector<Change>&) -> typename Round<T>::Next {
    std::vector<Statement> rewrites;
    for (auto& [position, body] : scrubbed_rows(p.next(), scrub)) {
      rewrites.push_back({kRewriteLogRow, Params(position, body)});
    }
    if (rewrites.empty()) return Result<T>(result);
    return ending_with(std::move(rewrites), result);
  };
  return Round<T>{std::move(lock), std::move(rewrite)};
}

// erase_user's second round: the user as stored now (UserChanged), the groups it left
// (GroupChanged each) and the change-log rows that hold a copy of the user's record.
Round<bool> erased_user_round(const std::string& id, const std::vector<std::string>& group_ids) {
  std::vector<Statement> statements;
  statements.push_back({kSelectUser, Params(id)});
  statements.push_back({kChatsByIds, Params(group_ids)});
  statements.push_back({kLogRowsHolding, Params(std::vector<std::string>{json_field("id", id)})});
  auto receive = [id](Pipeline& p, std::vector<Change>& changes) -> Round<bool>::Next {
    const auto users = p.next();
    if (users.empty()) throw std::runtime_error("postgres: the erased user is not found");
    auto user = read_user(users[0]);
    const auto groups = p.next();
    for (int i = 0; i < groups.size(); ++i) {
      changes.emplace_back(GroupChanged{read_chat(groups[i]), {id}});
    }
    changes.emplace_back(UserChanged{user});
    return scrub_log_then(p.next(), Scrub{{}, std::move(user)}, true);
  };
  return Round<bool>{std::move(statements), std::move(receive)};
}

// erase_sent_messages' second round: the sender as stored now and the change-log rows that hold
// a message of theirs. An erased sender's records in those rows become the placeholder too: a
// send that raced the user's erasure may have logged the old one.
Round<int> sent_messages_scrub_round(const std::string& user_id, Tombstones made) {
  std::vector<Statement> statements;
  statements.push_back({kSelectUser, Params(user_id)});
  statements.push_back(
      {kLogRowsHolding, Params(std::vector<std::string>{json_field("sender_id", user_id)})});
  auto receive = [made = std::move(made)](Pipeline& p, std::vector<Change>&) -> Round<int>::Next {
    Scrub scrub{made.message_ids, std::nullopt};
    const auto users = p.next();
    if (!users.empty()) {
      auto user = read_user(users[0]);
      if (user.erased) scrub.user = std::move(user);
    }
    return scrub_log_then(p.next(), std::move(scrub), made.count);
  };
  return Round<int>{std::move(statements), std::move(receive)};
}

// erase_expired_messages' second round: the change-log rows of the chats it erased from.
Round<int> expired_messages_scrub_round(Tombstones made) {
  std::vector<std::string> patterns;
  patterns.reserve(made.chat_ids.size());
  for (const auto& chat : made.chat_ids) patterns.push_back(json_field("chat_id", chat));
  std::vector<Statement> statements;
  statements.push_back({kLogRowsHolding, Params(patterns)});
  auto receive = [made = std::move(made)](Pipeline& p, std::vector<Change>&) -> Round<int>::Next {
    return scrub_log_then(p.next(), Scrub{made.message_ids, std::nullopt}, made.count);
  };
  return Round<int>{std::move(statements), std::move(receive)};
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

template <class T>
asio::awaitable<Result<T>> PostgresStore::write_alone(Round<T> first) {
  return async_callback<Result<T>>(
      [this, first = std::move(first)](std::function<void(Result<T>)> done) mutable {
        const bool has_nul = std::any_of(first.statements.begin(), first.statements.end(),
                                         [](const Statement& s) { return s.params.has_nul(); });
        if (has_nul) return done(text_with_nul_error());
        writer_->submit(std::make_unique<RoundsJobImpl<T>>(std::move(first), std::move(done)));
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
        return UserCredentials{read_user(rows[0]), rows[0].text(9), rows[0].boolean(10)};
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
  const auto id = new_object_id();
  std::vector<Statement> statements;
  statements.push_back(
      {kAppendMessage,
       Params(id, message.chat_id, message.sender_id, message.content, message.client_msg_id,
              clock::now_ms(), message.reply_to, message.attachments)});
  statements.push_back({kAppendedMessage, Params(id, message.sender_id, message.client_msg_id)});
  return write<AppendedMessage>(
      std::move(statements),
      [sender_id = message.sender_id, origin = std::move(message.origin)](
          Pipeline& p, std::vector<Change>& changes) -> Result<AppendedMessage> {
        // Columns: status, seq, original_chat_id, original_id, original_content,
        // original_created_at, member_ids, then the sender's name, email, pic, is_admin,
        // created_at, updated_at, disabled, erased.
        const auto rows = p.next();
        const auto row = rows[0];
        const auto status = row.view(0);
        const auto stored = p.next();  // the message created, or the original of a retry
        if (status == "created" || status == "exists") {
          auto appended = read_message(stored[0]);
          if (status == "exists") return AppendedMessage{std::move(appended), false};
          User sender{sender_id,     row.text(7),     row.text(8),
                      row.text(9),   row.boolean(10), row.int64(11),
                      row.int64(12), row.boolean(13), row.boolean(14)};
          changes.emplace_back(
              MessageAppended{appended, std::move(sender), row.text_array(6), origin});
          return AppendedMessage{std::move(appended), true};
        }
        if (status == "conflict") {
          return make_error(Errc::conflict, "clientMsgId was already used in another chat");
        }
        if (status == "not_member") {
          return make_error(Errc::not_member, "You are not a member of this chat");
        }
        if (status == "bad_reply") {
          return make_error(Errc::invalid_input, "replyTo must be a message of this chat");
        }
        if (status == "bad_attachment") {
          return make_error(Errc::invalid_input,
                            "Unknown attachment, or one listed twice, or more than " +
                                std::to_string(kMaxMessageAttachments));
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

namespace {

// What chatd_change_message's refusal (schema.cc, migration 5) means.
Error refused_change(std::string_view status, const MessageChange& change) {
  if (status == "chat_not_found") return chat_not_found();
  if (status == "message_not_found") return make_error(Errc::not_found, "Message not found");
  if (status == "not_member") {
    return make_error(Errc::not_member, "You are not a member of this chat");
  }
  if (status == "forbidden") {
    return make_error(Errc::forbidden, change.right == ChangeRight::sender
                                           ? "Only the sender can edit this message"
                                           : "Only the sender or a group admin can delete "
                                             "this message");
  }
  if (status == "deleted") return make_error(Errc::conflict, "The message was deleted");
  return make_error(
      Errc::invalid_input,
      "A message can carry at most " + std::to_string(change.max_emojis) + " different reactions");
}

// Rolls a read-only snapshot back unless committed: a read that throws leaves no transaction
// open on its connection.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& c) : c_(c) {
    c_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    if (open_) {
      try {
        if (!c_.broken()) c_.exec("ROLLBACK");
      } catch (const PgError&) {
        // The connection goes with the failure; closing it ends the transaction too.
      }
    }
  }
  void commit() {
    c_.exec("COMMIT");
    open_ = false;
  }

 private:
  Connection& c_;
  bool open_ = true;
};

std::vector<Message> read_messages(const Rows& rows) {
  std::vector<Message> messages;
  messages.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) messages.push_back(read_message(rows[i]));
  return messages;
}

}  // namespace

asio::awaitable<Result<std::string>> PostgresStore::locate_message(std::string message_id) {
  return read<std::string>([id = std::move(message_id)](Connection& c) -> Result<std::string> {
    const auto rows = c.query(kChatOfMessage, Params(id));
    if (rows.empty()) return make_error(Errc::not_found, "Message not found");
    return rows[0].text(0);
  });
}

namespace {

// $1 user, $2 tsquery text, $3 chat or NULL, $4-$7 the cursor (score, created_at, chat_id, seq),
// $8 limit, $9 ts_headline's options. ts_headline drops what its parser takes for HTML tags, so
// it reads the content with < and > as the bytes 0x04 and 0x05 (marker bytes in the content
// become spaces), and headline_text() turns them back; $10 kSearchCandidates. The newest
// candidates among the matches in the caller's chats are scored (ts_rank reads each one's
// document), the page is cut after the cursor (a row comparison: score, then newest, then chat,
// then seq newest first), and only the page's rows get a headline, which re-parses the content.
constexpr const char* kSearchMessages =
    "WITH q AS (SELECT to_tsquery('chatd_search', $2) AS query), "
    "newest AS MATERIALIZED (SELECT s.chat_id, s.seq, s.doc, m.created_at "
    "FROM message_search s CROSS JOIN q "
    "JOIN chat_members cm ON cm.chat_id = s.chat_id AND cm.user_id = $1 "
    "JOIN messages m ON m.chat_id = s.chat_id AND m.seq = s.seq "
    "WHERE s.doc @@ q.query AND ($3::text IS NULL OR s.chat_id = $3) "
    "ORDER BY m.created_at DESC, s.chat_id, s.seq DESC LIMIT $10), "
    "hits AS (SELECT n.chat_id, n.seq, n.created_at, -ts_rank(n.doc, q.query)::float8 AS score "
    "FROM newest n CROSS JOIN q), "
    "page AS (SELECT h.chat_id, h.seq, h.score, h.created_at FROM hits h "
    "WHERE (h.score, -h.created_at, h.chat_id, -h.seq) > ($4::float8, -$5::bigint, $6, "
    "-$7::bigint) "
    "ORDER BY h.score, h.created_at DESC, h.chat_id, h.seq DESC LIMIT $8) "
    "SELECT r.chat_id, r.seq, r.id, r.sender_id, r.content, r.client_msg_id, r.created_at, "
    "r.deleted, r.edited_at, r.rev, r.quote_id, r.quote_seq, r.quote_sender_id, "
    "r.quote_sender_name, r.quote_sender_pic, r.quote_content, r.quote_deleted, "
    "r.reaction_emojis, r.reaction_users, r.attachments, c.name, "
    "ts_headline('chatd_search', translate(r.content, chr(2) || chr(3) || chr(4) || chr(5) || "
    "'<>', '    ' || chr(4) || chr(5)), q.query, $9), "
    "p.score FROM page p JOIN message_rows r ON r.chat_id = p.chat_id AND r.seq = p.seq "
    "JOIN chats c ON c.id = p.chat_id CROSS JOIN q "
    "ORDER BY p.score, p.created_at DESC, p.chat_id, p.seq DESC";

const std::string kHeadlineOptions = fmt::format(
    "StartSel={}, StopSel={}, MaxFragments=2, MaxWords=24, MinWords=10, ShortWord=0, "
    "FragmentDelimiter=\" … \"",
    kMarkOpen, kMarkClose);

std::string headline_text(std::string headline) {
  for (auto& c : headline) {
    if (c == '\x04') c = '<';
    if (c == '\x05') c = '>';
  }
  return headline;
}

double parse_score(const std::string& text) {
  double score = 0;
  std::from_chars(text.data(), text.data() + text.size(), score);
  return score;
}

}  // namespace

asio::awaitable<Result<std::vector<SearchHit>>> PostgresStore::search_messages(
    MessageSearch search) {
  return read<std::vector<SearchHit>>(
      [q = std::move(search)](Connection& c) -> Result<std::vector<SearchHit>> {
        // No cursor: before every score (ranks are finite).
        const auto after = q.after.value_or(
            SearchCursor{-std::numeric_limits<double>::infinity(), INT64_MAX, {}, INT64_MAX});
        const auto rows = c.query(
            kSearchMessages, Params(q.user_id, to_tsquery(q.query), q.chat_id,
                                    fmt::format("{}", after.score), after.created_at, after.chat_id,
                                    after.seq, q.limit, kHeadlineOptions, kSearchCandidates));
        std::vector<SearchHit> hits;
        hits.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) {
          auto message = read_message(rows[i]);
          SearchCursor cursor{parse_score(rows[i].text(22)), message.created_at, message.chat_id,
                              message.seq};
          hits.push_back(SearchHit{std::move(message), rows[i].text(20),
                                   headline_text(rows[i].text(21)), std::move(cursor)});
        }
        return hits;
      });
}

asio::awaitable<Result<ChangedMessage>> PostgresStore::change_message(MessageChange change) {
  std::vector<Statement> statements;
  statements.push_back(
      {kChangeMessage, Params(change.chat_id, change.message_id, change.user_id,
                              static_cast<int>(change.kind), static_cast<int>(change.right),
                              change.content, change.emoji, change.max_emojis, clock::now_ms())});
  statements.push_back({kSelectMessage, Params(change.message_id, change.chat_id)});
  statements.push_back({kSenderOfMessage, Params(change.message_id)});
  return write<ChangedMessage>(
      std::move(statements),
      [change = std::move(change)](Pipeline& p,
                                   std::vector<Change>& changes) -> Result<ChangedMessage> {
        // Columns: status, member_ids.
        const auto outcome = p.next();
        const auto status = outcome[0].view(0);
        const auto rows = p.next();
        const auto sender = p.next();
        if (status != "changed" && status != "unchanged") {
          return refused_change(status, change);
        }
        auto message = read_message(rows[0]);
        if (status == "unchanged") return ChangedMessage{std::move(message), false};
        changes.emplace_back(MessageChanged{message, read_user(sender[0]), outcome[0].text_array(1),
                                            change.kind, change.user_id, change.emoji});
        return ChangedMessage{std::move(message), true};
      });
}

asio::awaitable<Result<SyncPage>> PostgresStore::sync_chat(SyncQuery query) {
  return read<SyncPage>([q = std::move(query)](Connection& c) -> Result<SyncPage> {
    ReadSnapshot snapshot(c);
    const auto counters = c.query(kChatCounters, Params(q.chat_id));
    if (counters.empty()) return chat_not_found();
    SyncPage page{{}, {}, counters[0].int64(0), counters[0].int64(1), true};
    if (q.after_rev && *q.after_rev < page.last_rev) {
      page.changes = read_messages(
          c.query(kChangesAfter, Params(q.chat_id, *q.after_rev, q.after_seq, q.limit + 1)));
      if (static_cast<int>(page.changes.size()) > q.limit) {
        page.changes.resize(static_cast<std::size_t>(q.limit));
        page.changes_complete = false;
      }
    }
    const int room = q.limit - static_cast<int>(page.changes.size());
    if (page.changes_complete && room > 0 && q.after_seq < page.last_seq) {
      page.messages = read_messages(c.query(kMessagesAfter, Params(q.chat_id, q.after_seq, room)));
    }
    snapshot.commit();
    return page;
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

// ---- Privacy -----------------------------------------------------------------------------------

asio::awaitable<Result<User>> PostgresStore::update_profile(ProfileUpdate update) {
  std::optional<std::string> name_key;
  if (update.name) name_key = text::ascii_lower(*update.name);
  std::vector<Statement> statements;
  statements.push_back(
      {kUpdateProfile, Params(update.user_id, update.name, name_key, update.pic, clock::now_ms())});
  return write<User>(std::move(statements),
                     [](Pipeline& p, std::vector<Change>& changes) -> Result<User> {
                       const auto rows = p.next();
                       if (rows.empty()) return user_not_found();
                       auto user = read_user(rows[0]);
                       changes.emplace_back(UserChanged{user});
                       return user;
                     });
}

asio::awaitable<Result<std::vector<Message>>> PostgresStore::list_sent_messages(
    SentMessagesQuery query) {
  return read<std::vector<Message>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<Message>> {
        const auto rows =
            c.query(kSentMessages, Params(q.user_id, q.after_chat_id, q.after_seq, q.limit));
        std::vector<Message> page;
        page.reserve(static_cast<std::size_t>(rows.size()));
        for (int i = 0; i < rows.size(); ++i) page.push_back(read_message(rows[i]));
        return page;
      });
}

// The erasure (chatd_erase_user), then erased_user_round, then the change log's scrub.
asio::awaitable<Status> PostgresStore::erase_user(UserErasure erasure) {
  std::vector<Statement> statements;
  statements.push_back(
      {kEraseUser, Params(erasure.user_id, erasure.name, text::ascii_lower(erasure.name),
                          erasure.pic, clock::now_ms())});
  statements.push_back({kForgetDeletedKeys, Params(erasure.user_id)});
  auto receive = [id = erasure.user_id](Pipeline& p,
                                        std::vector<Change>& changes) -> Round<bool>::Next {
    // Columns: status, revoked_ids, group_ids.
    const auto rows = p.next();
    p.next();  // kForgetDeletedKeys
    const auto status = rows[0].view(0);
    if (status == "user_not_found") return Result<bool>(user_not_found());
    if (status == "unchanged") return Result<bool>(false);
    report_revoked(id, rows[0].text_array(1), changes);
    return erased_user_round(id, rows[0].text_array(2));
  };
  Round<bool> first{std::move(statements), std::move(receive)};
  auto erased = co_await write_alone<bool>(std::move(first));
  if (!erased.ok()) co_return std::move(erased).take_error();
  if (*erased) pruner_->request_vacuum();
  co_return Status{};
}

// The tombstones (chatd_erase_sent_messages), then sent_messages_scrub_round, then the change
// log's scrub.
asio::awaitable<Result<int>> PostgresStore::erase_sent_messages(std::string user_id, int limit) {
  std::vector<Statement> statements;
  statements.push_back({kEraseSentMessages, Params(user_id, limit)});
  auto receive = [user_id](Pipeline& p, std::vector<Change>& changes) -> Round<int>::Next {
    auto made = report_tombstones(p.next(), changes);
    if (made.count == 0) return Result<int>(0);
    return sent_messages_scrub_round(user_id, std::move(made));
  };
  Round<int> first{std::move(statements), std::move(receive)};
  auto erased = co_await write_alone<int>(std::move(first));
  if (erased.ok() && *erased > 0) pruner_->request_vacuum();
  co_return erased;
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::find_unfinished_erasures(
    int limit) {
  return read<std::vector<std::string>>([limit](Connection& c) -> Result<std::vector<std::string>> {
    const auto rows = c.query(kUnfinishedErasures, Params(limit));
    std::vector<std::string> ids;
    ids.reserve(static_cast<std::size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) ids.push_back(rows[i].text(0));
    return ids;
  });
}

asio::awaitable<Result<Chat>> PostgresStore::set_retention(std::string chat_id,
                                                           std::optional<int> days) {
  std::optional<std::string> retention;
  if (days) retention = std::to_string(*days);
  std::vector<Statement> statements;
  statements.push_back({kSetRetention, Params(chat_id, retention)});
  statements.push_back({kChatById, Params(chat_id)});
  return write<Chat>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<Chat> {
    const auto outcome = read_chat_outcome(p);
    if (outcome.status == "chat_not_found" || outcome.chat.empty()) return chat_not_found();
    return read_chat(outcome.chat[0]);
  });
}

// The tombstones (chatd_erase_expired_messages), then expired_messages_scrub_round, then the
// change log's scrub.
asio::awaitable<Result<int>> PostgresStore::erase_expired_messages(RetentionSweep sweep) {
  std::optional<std::string> server_days;
  if (sweep.server_days) server_days = std::to_string(*sweep.server_days);
  std::vector<Statement> statements;
  statements.push_back({kEraseExpiredMessages, Params(sweep.now_ms, server_days, sweep.limit)});
  auto receive = [](Pipeline& p, std::vector<Change>& changes) -> Round<int>::Next {
    auto made = report_tombstones(p.next(), changes);
    if (made.count == 0) return Result<int>(0);
    return expired_messages_scrub_round(std::move(made));
  };
  Round<int> first{std::move(statements), std::move(receive)};
  auto erased = co_await write_alone<int>(std::move(first));
  if (erased.ok() && *erased > 0) pruner_->request_vacuum();
  co_return erased;
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

asio::awaitable<Result<int>> PostgresStore::prune_accounts(AccountPruning pruning) {
  std::vector<Statement> statements;
  statements.push_back(
      {kPruneAccounts, Params(pruning.revoked_before_ms, pruning.audit_before_ms, pruning.limit)});
  return write<int>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Result<int> {
    return static_cast<int>(p.next()[0].int64(0));
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

// ---- Attachments (store.h; schema.cc, migration 7) ----------------------------------------------

namespace {

constexpr const char* kInsertAttachment =
    "INSERT INTO attachments (id, uploader_id, name, size, mime, sha256, width, height, "
    "thumb_sha256, thumb_mime, thumb_width, thumb_height, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7::integer, $8::integer, $9, $10, $11::integer, "
    "$12::integer, $13)";
// One row's columns as read_attachments reads them.
constexpr const char* kFindAttachment =
    "SELECT json_build_array(a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256, a.width, "
    "a.height, a.thumb_sha256, a.thumb_mime, a.thumb_width, a.thumb_height, a.created_at) "
    "FROM attachments a WHERE a.id = $1 AND ($2::text IS NULL OR a.uploader_id = $2 OR EXISTS "
    "(SELECT FROM message_attachments ma JOIN chat_members cm ON cm.chat_id = ma.chat_id "
    "AND cm.user_id = $2 WHERE ma.attachment_id = a.id))";
constexpr const char* kListUploads =
    "SELECT json_build_array(a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256, a.width, "
    "a.height, a.thumb_sha256, a.thumb_mime, a.thumb_width, a.thumb_height, a.created_at) "
    "FROM attachments a WHERE a.uploader_id = $1 AND (a.created_at, a.id) > ($2, $3) "
    "ORDER BY a.created_at, a.id LIMIT $4";
// Rows no live message carries, old enough or of an erased user, are deleted (locked first, so
// that a send linking one of them waits, and then finds it gone: chatd_append_message); the
// blobs no remaining row refers to join the queue, which is returned.
constexpr const char* kCollectAttachments =
    "WITH doomed AS (DELETE FROM attachments a WHERE a.id IN ("
    "SELECT x.id FROM attachments x JOIN users u ON u.id = x.uploader_id "
    "WHERE (x.created_at < $1 OR u.erased_at IS NOT NULL) AND NOT EXISTS "
    "(SELECT FROM message_attachments ma WHERE ma.attachment_id = x.id) "
    "LIMIT $2 FOR UPDATE OF x SKIP LOCKED) RETURNING a.id, a.sha256, a.thumb_sha256), "
    "blobs AS (SELECT sha256 AS blob FROM doomed UNION "
    "SELECT thumb_sha256 FROM doomed WHERE thumb_sha256 IS NOT NULL), "
    "queued AS (INSERT INTO orphan_blobs (sha256) SELECT b.blob FROM blobs b WHERE NOT EXISTS "
    "(SELECT FROM attachments a WHERE (a.sha256 = b.blob OR a.thumb_sha256 = b.blob) "
    "AND a.id NOT IN (SELECT id FROM doomed)) ON CONFLICT DO NOTHING RETURNING sha256) "
    "SELECT sha256 FROM queued UNION SELECT sha256 FROM orphan_blobs LIMIT $2";
constexpr const char* kBlobInUse =
    "SELECT EXISTS (SELECT FROM attachments WHERE sha256 = $1) "
    "OR EXISTS (SELECT FROM attachments WHERE thumb_sha256 = $1)";
constexpr const char* kForgetBlobs = "DELETE FROM orphan_blobs WHERE sha256 = ANY ($1::text[])";

std::optional<std::string> optional_number(const std::optional<int>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

std::vector<std::string> first_texts(const Rows& rows) {
  std::vector<std::string> texts;
  texts.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) texts.push_back(rows[i].text(0));
  return texts;
}

// Rows of one json_build_array column each.
std::vector<Attachment> read_attachment_rows(const Rows& rows) {
  std::vector<Attachment> attachments;
  attachments.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    const auto row = boost::json::parse(rows[i].view(0));
    attachments.push_back(read_attachment(row.as_array()));
  }
  return attachments;
}

}  // namespace

asio::awaitable<Status> PostgresStore::create_attachment(Attachment a) {
  const auto& thumb = a.thumbnail;
  std::optional<std::string> thumb_sha;
  std::optional<std::string> thumb_mime;
  std::optional<int> thumb_width;
  std::optional<int> thumb_height;
  if (thumb) {
    thumb_sha = thumb->sha256;
    thumb_mime = thumb->mime;
    thumb_width = thumb->width;
    thumb_height = thumb->height;
  }
  std::vector<Statement> statements;
  statements.push_back(
      {kInsertAttachment,
       Params(a.id, a.uploader_id, a.name, static_cast<std::int64_t>(a.size), a.mime, a.sha256,
              optional_number(a.width), optional_number(a.height), thumb_sha, thumb_mime,
              optional_number(thumb_width), optional_number(thumb_height), a.created_at)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    p.next();
    return {};
  });
}

asio::awaitable<Result<Attachment>> PostgresStore::find_attachment(
    std::string attachment_id, std::optional<std::string> reader) {
  return read<Attachment>([id = std::move(attachment_id),
                           reader = std::move(reader)](Connection& c) -> Result<Attachment> {
    auto found = read_attachment_rows(c.query(kFindAttachment, Params(id, reader)));
    if (found.empty()) return make_error(Errc::not_found, "Attachment not found");
    return std::move(found.front());
  });
}

asio::awaitable<Result<std::vector<Attachment>>> PostgresStore::list_uploads(UploadsQuery query) {
  return read<std::vector<Attachment>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<Attachment>> {
        return read_attachment_rows(
            c.query(kListUploads, Params(q.user_id, q.after_created_at, q.after_id, q.limit)));
      });
}

asio::awaitable<Result<std::vector<std::string>>> PostgresStore::collect_attachments(
    AttachmentCollection collection) {
  std::vector<Statement> statements;
  statements.push_back({kCollectAttachments, Params(collection.uploaded_before, collection.limit)});
  return write<std::vector<std::string>>(
      std::move(statements),
      [](Pipeline& p, std::vector<Change>&) -> Result<std::vector<std::string>> {
        return first_texts(p.next());
      });
}

asio::awaitable<Result<bool>> PostgresStore::blob_in_use(std::string sha256) {
  return read<bool>([sha = std::move(sha256)](Connection& c) -> Result<bool> {
    return c.query(kBlobInUse, Params(sha))[0].boolean(0);
  });
}

asio::awaitable<Status> PostgresStore::forget_blobs(std::vector<std::string> sha256s) {
  std::vector<Statement> statements;
  statements.push_back({kForgetBlobs, Params(sha256s)});
  return write<void>(std::move(statements), [](Pipeline& p, std::vector<Change>&) -> Status {
    p.next();
    return {};
  });
}

}  // namespace chatd::store::postgres
