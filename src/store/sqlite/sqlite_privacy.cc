// SqliteStore's privacy calls (store.h, "Privacy"): profiles, export pages, erasure, retention.
//
// Erased bytes must leave the file, not only the tables: every connection runs with
// secure_delete (freed space is zeroed); a finished account erasure rebuilds the file, which drops
// the stale copies page rebuilds leave behind (rebuild_file), and every erasing call empties the
// WAL, whose older frames still hold the pages as they were (truncate_wal).
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/jobs.h"
#include "store/sqlite/queries.h"
#include "store/sqlite/rows.h"
#include "util/clock.h"
#include "util/text.h"

namespace chatd::store::sqlite {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

// Messages selected as "chat_id, seq, id", ordered by chat then seq.
struct Doomed {
  std::string chat_id;
  ErasedMessage message;
};

std::vector<Doomed> read_doomed(Statement& s) {
  std::vector<Doomed> doomed;
  while (s.step()) doomed.push_back(Doomed{s.text(0), ErasedMessage{s.text(2), s.int64(1)}});
  return doomed;
}

// Turns the messages into tombstones and reports them, one MessagesErased per chat.
// Each tombstone is a change of its chat (a rev of its own, which sync hands out); reactions and
// the reply go with the content.
int tombstone(Connection& c, const std::vector<Doomed>& doomed, std::vector<Change>& changes) {
  auto erase = c.prepare(
      "UPDATE messages SET content = '', client_msg_id = NULL, deleted = 1, edited_at = NULL, "
      "reply_to = NULL, reactions = 0, rev = ? WHERE chat_id = ? AND seq = ?");
  auto reactions = c.prepare("DELETE FROM message_reactions WHERE message_id = ?");
  std::map<std::string, std::vector<ErasedMessage>> by_chat;
  for (const auto& d : doomed) {
    erase.bind_all(next_rev(c, d.chat_id), d.chat_id, d.message.seq).run();
    erase.reset();
    reactions.bind_all(d.message.id).run();
    reactions.reset();
    by_chat[d.chat_id].push_back(d.message);
  }
  for (auto& [chat_id, messages] : by_chat) {
    std::sort(messages.begin(), messages.end(),
              [](const ErasedMessage& a, const ErasedMessage& b) { return a.seq < b.seq; });
    changes.emplace_back(MessagesErased{chat_id, std::move(messages), member_ids(c, chat_id)});
  }
  return static_cast<int>(doomed.size());
}

// The shortest retention in effect anywhere (days), if any.
std::optional<std::int64_t> shortest_retention(Connection& c, std::optional<int> server_days) {
  auto s = c.prepare("SELECT min(retention_days) FROM chats");
  s.step();
  auto shortest = s.optional_int64(0);
  if (server_days && (!shortest || *server_days < *shortest)) shortest = *server_days;
  return shortest;
}

std::vector<std::string> group_ids_of(Connection& c, std::string_view user_id) {
  auto s = c.prepare(
      "SELECT c.id FROM chat_members m JOIN chats c ON c.id = m.chat_id "
      "WHERE m.user_id = ? AND c.is_group");
  s.bind_all(user_id);
  return first_texts(s);
}

std::vector<std::string> live_session_ids(Connection& c, std::string_view user_id) {
  auto s = c.prepare("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL");
  s.bind_all(user_id);
  return first_texts(s);
}

// Everything of the user's account but the row itself and their messages.
void delete_account_records(Connection& c, std::string_view user_id) {
  c.prepare(
       "DELETE FROM spent_refresh_tokens WHERE session_id IN "
       "(SELECT id FROM sessions WHERE user_id = ?)")
      .bind_all(user_id)
      .run();
  c.prepare("DELETE FROM sessions WHERE user_id = ?").bind_all(user_id).run();
  c.prepare("DELETE FROM audit_events WHERE user_id = ?").bind_all(user_id).run();
  c.prepare("DELETE FROM recovery_codes WHERE user_id = ?").bind_all(user_id).run();
  c.prepare("DELETE FROM two_factor WHERE user_id = ?").bind_all(user_id).run();
}

}  // namespace

asio::awaitable<Result<User>> SqliteStore::update_profile(ProfileUpdate update) {
  return write<User>(
      [u = std::move(update)](Connection& c, std::vector<Change>& changes) -> Result<User> {
        auto s = c.prepare(
            "UPDATE users SET name = coalesce(?, name), pic = coalesce(?, pic), updated_at = ? "
            "WHERE id = ? AND erased_at IS NULL");
        s.bind_all(u.name, u.pic, clock::now_ms(), u.user_id).run();
        if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "User not found");
        auto user = select_user(c, u.user_id);
        changes.emplace_back(UserChanged{*user});
        return std::move(*user);
      });
}

asio::awaitable<Result<std::vector<Message>>> SqliteStore::list_sent_messages(
    SentMessagesQuery query) {
  return read<std::vector<Message>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<Message>> {
        auto s = c.prepare(
            "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
            "edited_at, rev, reply_to, reactions "
            "FROM messages WHERE sender_id = ? AND NOT deleted AND (chat_id, seq) > (?, ?) "
            "ORDER BY chat_id, seq LIMIT ?");
        s.bind_all(q.user_id, q.after_chat_id, q.after_seq, q.limit);
        return read_messages(c, s);
      });
}

asio::awaitable<Status> SqliteStore::erase_user(UserErasure erasure) {
  return write<void>(
      [this, e = std::move(erasure)](Connection& c, std::vector<Change>& changes) -> Status {
        auto user = select_user(c, e.user_id);
        if (!user) return make_error(Errc::not_found, "User not found");
        if (user->erased) return {};
        if (auto revoked = live_session_ids(c, e.user_id); !revoked.empty()) {
          changes.emplace_back(SessionsRevoked{e.user_id, std::move(revoked)});
        }
        delete_account_records(c, e.user_id);
        const auto now = clock::now_ms();
        auto scrub = c.prepare(
            "UPDATE users SET name = ?1, email = '', email_key = 'erased:' || id, pic = ?2, "
            "password_hash = '', is_admin = 0, disabled = 0, last_seen = NULL, erased_at = ?3, "
            "updated_at = ?3 WHERE id = ?4");
        scrub.bind_all(e.name, e.pic, now, e.user_id).run();
        // Messages they deleted themselves keep their client_msg_id (a retried send finds them);
        // an erasure takes it too.
        auto keys = c.prepare(
            "UPDATE messages SET client_msg_id = NULL WHERE sender_id = ? AND deleted AND "
            "client_msg_id IS NOT NULL");
        keys.bind_all(e.user_id).run();
        for (const auto& chat_id : group_ids_of(c, e.user_id)) {
          if (auto left = leave_group(c, chat_id, e.user_id, ++activity_, changes); !left) {
            return left.error();
          }
        }
        changes.emplace_back(UserChanged{*select_user(c, e.user_id)});
        return {};
      });
}

asio::awaitable<Result<int>> SqliteStore::erase_sent_messages(std::string user_id, int limit) {
  // A named job, not a temporary in the co_await expression (g++ 12 destroys those twice).
  auto job = [user = std::move(user_id), limit](Connection& c,
                                                std::vector<Change>& changes) -> Result<int> {
    auto s = c.prepare(
        "SELECT chat_id, seq, id FROM messages WHERE sender_id = ? AND NOT deleted "
        "ORDER BY chat_id, seq LIMIT ?");
    s.bind_all(user, limit);
    auto doomed = read_doomed(s);
    s.reset();
    const int erased = tombstone(c, doomed, changes);
    // The last page: no message carries the user's uploads any more, and their rows go before
    // the file is rebuilt.
    if (erased < limit) delete_uploads_of(c, user);
    return erased;
  };
  auto erased = co_await write<int>(std::move(job));
  if (erased && *erased < limit) co_await rebuild_file();
  co_return erased;
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::find_unfinished_erasures(int limit) {
  return read<std::vector<std::string>>([limit](Connection& c) -> Result<std::vector<std::string>> {
    auto s = c.prepare(
        "SELECT id FROM users WHERE erased_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages "
        "WHERE sender_id = users.id AND NOT deleted) LIMIT ?");
    s.bind_all(limit);
    return first_texts(s);
  });
}

asio::awaitable<Result<Chat>> SqliteStore::set_retention(std::string chat_id,
                                                         std::optional<int> days) {
  return write<Chat>([id = std::move(chat_id), days](Connection& c) -> Result<Chat> {
    std::optional<std::int64_t> stored;
    if (days) stored = *days;
    auto s = c.prepare("UPDATE chats SET retention_days = ? WHERE id = ?");
    s.bind_all(stored, id).run();
    if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "Chat not found");
    return load_chat(c, id);
  });
}

asio::awaitable<Result<int>> SqliteStore::erase_expired_messages(RetentionSweep sweep) {
  auto job = [sweep](Connection& c, std::vector<Change>& changes) -> Result<int> {
    const auto shortest = shortest_retention(c, sweep.server_days);
    if (!shortest) return 0;
    std::optional<std::int64_t> server_days;
    if (sweep.server_days) server_days = *sweep.server_days;
    // The first bound (no chat keeps messages for less than the shortest retention) lets the
    // index on age find the candidates; the second is each chat's own.
    auto s = c.prepare(
        "SELECT m.chat_id, m.seq, m.id FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE NOT m.deleted AND m.created_at < ?1 AND m.created_at < ?2 - ?3 * CASE "
        "WHEN c.retention_days IS NULL THEN ?4 WHEN ?4 IS NULL THEN c.retention_days "
        "ELSE min(c.retention_days, ?4) END ORDER BY m.chat_id, m.seq LIMIT ?5");
    s.bind_all(sweep.now_ms - *shortest * kDayMs, sweep.now_ms, kDayMs, server_days, sweep.limit);
    auto doomed = read_doomed(s);
    s.reset();
    return tombstone(c, doomed, changes);
  };
  auto erased = co_await write<int>(std::move(job));
  if (erased && *erased > 0) co_await truncate_wal();
  co_return erased;
}

asio::awaitable<void> SqliteStore::rebuild_file() {
  auto vacuum = [](Connection& c) -> Result<bool> {
    // The search index drops a deleted row's words only when it merges the segments holding them.
    c.exec("INSERT INTO message_search (message_search) VALUES ('optimize')");
    c.exec("VACUUM");
    return true;
  };
  if (auto rebuilt = co_await write<bool>(std::move(vacuum), WriteMode::alone); !rebuilt) {
    spdlog::warn(
        "store: rebuilding the database file failed; stale copies of erased rows may stay");
  }
  co_await truncate_wal();
}

asio::awaitable<void> SqliteStore::truncate_wal() {
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<bool>)>(
      [this](auto handler) {
        auto completion =
            std::make_shared<detail::Completion<bool, decltype(handler)>>(std::move(handler));
        checkpointer_->truncate([completion] { completion->complete(true); });
      },
      asio::use_awaitable);
}

}  // namespace chatd::store::sqlite
