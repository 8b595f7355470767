// SqliteStore's account calls (store.h, "Accounts"): sessions, audit trail, two-factor state.
#include <sqlite3.h>

#include <charconv>
#include <limits>
#include <string>
#include <vector>

#include "store/sqlite/jobs.h"
#include "store/sqlite/rows.h"
#include "util/clock.h"
#include "util/object_id.h"
#include "util/text.h"

namespace chatd::store::sqlite {

namespace {

// Whether `sql` (a literal) with these arguments selects a row.
template <class... Args>
bool select_exists(Connection& c, const char* sql, const Args&... args) {
  auto s = c.prepare(sql);
  s.bind_all(args...);
  return s.step();
}

// Columns: id, user_id, created_at, last_used_at, ip, user_agent, revoked_at IS NOT NULL.
Session read_session(const Statement& s) {
  return Session{s.text(0), s.text(1), s.int64(2),     s.int64(3),
                 s.text(4), s.text(5), s.int64(6) != 0};
}

std::optional<Session> select_session(Connection& c, std::string_view id) {
  auto s = c.prepare(
      "SELECT id, user_id, created_at, last_used_at, ip, user_agent, revoked_at IS NOT NULL "
      "FROM sessions WHERE id = ?");
  s.bind_all(id);
  if (!s.step()) return std::nullopt;
  return read_session(s);
}

// Revokes the user's live sessions but `keep`, reporting them to the change feed.
std::vector<std::string> revoke_all(Connection& c, std::string_view user_id,
                                    const std::optional<std::string>& keep,
                                    std::vector<Change>& changes) {
  auto s = c.prepare(
      "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL "
      "AND (?3 IS NULL OR id <> ?3) RETURNING id");
  s.bind_all(clock::now_ms(), user_id, keep);
  std::vector<std::string> revoked;
  while (s.step()) revoked.push_back(s.text(0));
  if (!revoked.empty()) changes.emplace_back(SessionsRevoked{std::string(user_id), revoked});
  return revoked;
}

}  // namespace

asio::awaitable<Result<User>> SqliteStore::set_server_admin(std::string email, bool admin) {
  return write<User>([email = std::move(email), admin](Connection& c) -> Result<User> {
    auto s = c.prepare(
        "UPDATE users SET is_admin = ?, updated_at = ? WHERE email_key = ? RETURNING id, name, "
        "email, pic, is_admin, created_at, updated_at, disabled, erased_at IS NOT NULL");
    s.bind_all(admin ? 1 : 0, clock::now_ms(), text::ascii_lower(text::trim(email)));
    if (!s.step()) return make_error(Errc::not_found, "User not found");
    return read_user(s);
  });
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::set_disabled(std::string user_id,
                                                                            bool disabled) {
  return write<std::vector<std::string>>(
      [user = std::move(user_id), disabled](
          Connection& c, std::vector<Change>& changes) -> Result<std::vector<std::string>> {
        auto s = c.prepare("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?");
        s.bind_all(disabled ? 1 : 0, clock::now_ms(), user).run();
        if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "User not found");
        if (!disabled) return std::vector<std::string>{};
        return revoke_all(c, user, std::nullopt, changes);
      });
}

asio::awaitable<Result<Session>> SqliteStore::create_session(NewSession session) {
  return write<Session>([n = std::move(session)](Connection& c) -> Result<Session> {
    Session created{new_object_id(), n.user_id, n.at, n.at, n.ip, n.user_agent, false};
    auto s = c.prepare(
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, ip, "
        "user_agent) SELECT ?1, ?2, ?3, ?4, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM users "
        "WHERE id = ?2 AND NOT disabled)");
    s.bind_all(created.id, n.user_id, n.refresh_hash, n.at, n.ip, n.user_agent).run();
    if (sqlite3_changes(c.handle()) == 0) {
      if (select_exists(c, "SELECT 1 FROM users WHERE id = ?", n.user_id)) {
        return make_error(Errc::forbidden, "This account is disabled");
      }
      return make_error(Errc::not_found, "User not found");
    }
    return created;
  });
}

asio::awaitable<Result<Session>> SqliteStore::find_session(std::string session_id) {
  return read<Session>([id = std::move(session_id)](Connection& c) -> Result<Session> {
    auto session = select_session(c, id);
    if (!session) return make_error(Errc::not_found, "Session not found");
    return std::move(*session);
  });
}

asio::awaitable<Result<std::vector<Session>>> SqliteStore::list_sessions(std::string user_id) {
  return read<std::vector<Session>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<Session>> {
        auto s = c.prepare(
            "SELECT id, user_id, created_at, last_used_at, ip, user_agent, revoked_at IS NOT NULL "
            "FROM sessions WHERE user_id = ? AND revoked_at IS NULL "
            "ORDER BY last_used_at DESC, id DESC");
        s.bind_all(user);
        std::vector<Session> sessions;
        while (s.step()) sessions.push_back(read_session(s));
        return sessions;
      });
}

asio::awaitable<Result<RefreshResult>> SqliteStore::rotate_refresh(RefreshRotation rotation) {
  return write<RefreshResult>([r = std::move(rotation)](
                                  Connection& c,
                                  std::vector<Change>& changes) -> Result<RefreshResult> {
    auto current =
        c.prepare("SELECT id FROM sessions WHERE refresh_hash = ? AND revoked_at IS NULL");
    current.bind_all(r.presented_hash);
    if (current.step()) {
      const std::string id = current.text(0);
      current.reset();
      auto spend = c.prepare("INSERT INTO spent_refresh_tokens (hash, session_id) VALUES (?, ?)");
      spend.bind_all(r.presented_hash, id).run();
      auto rotate = c.prepare(
          "UPDATE sessions SET refresh_hash = ?, last_used_at = max(last_used_at, ?), ip = ?, "
          "user_agent = ? WHERE id = ?");
      rotate.bind_all(r.next_hash, r.at, r.ip, r.user_agent, id).run();
      return RefreshResult{RefreshOutcome::rotated, *select_session(c, id)};
    }
    current.reset();
    auto spent = c.prepare(
        "SELECT sessions.id, sessions.user_id FROM spent_refresh_tokens JOIN sessions "
        "ON sessions.id = spent_refresh_tokens.session_id WHERE hash = ? AND revoked_at IS NULL");
    spent.bind_all(r.presented_hash);
    if (!spent.step()) return RefreshResult{};
    const std::string id = spent.text(0);
    const std::string user = spent.text(1);
    spent.reset();
    auto revoke = c.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?");
    revoke.bind_all(r.at, id).run();
    changes.emplace_back(SessionsRevoked{user, {id}});
    return RefreshResult{RefreshOutcome::reused, *select_session(c, id)};
  });
}

asio::awaitable<Status> SqliteStore::revoke_session(std::string user_id, std::string session_id) {
  return write<void>([user = std::move(user_id), id = std::move(session_id)](
                         Connection& c, std::vector<Change>& changes) -> Status {
    auto session = select_session(c, id);
    if (!session || session->user_id != user) {
      return make_error(Errc::not_found, "Session not found");
    }
    if (session->revoked) return {};
    auto s = c.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?");
    s.bind_all(clock::now_ms(), id).run();
    changes.emplace_back(SessionsRevoked{user, {id}});
    return {};
  });
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::revoke_sessions(
    std::string user_id, std::optional<std::string> keep) {
  return write<std::vector<std::string>>(
      [user = std::move(user_id), keep = std::move(keep)](
          Connection& c, std::vector<Change>& changes) -> Result<std::vector<std::string>> {
        return revoke_all(c, user, keep, changes);
      });
}

asio::awaitable<Status> SqliteStore::touch_sessions(std::vector<SessionUse> uses) {
  return write<void>([uses = std::move(uses)](Connection& c) -> Status {
    auto s = c.prepare("UPDATE sessions SET last_used_at = max(last_used_at, ?) WHERE id = ?");
    for (const auto& use : uses) {
      s.bind_all(use.at, use.session_id).run();
      s.reset();
    }
    return {};
  });
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::change_password(
    std::string user_id, std::string password_hash, std::optional<std::string> keep) {
  return write<std::vector<std::string>>(
      [user = std::move(user_id), hash = std::move(password_hash), keep = std::move(keep)](
          Connection& c, std::vector<Change>& changes) -> Result<std::vector<std::string>> {
        auto s = c.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?");
        s.bind_all(hash, clock::now_ms(), user).run();
        if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "User not found");
        return revoke_all(c, user, keep, changes);
      });
}

asio::awaitable<Status> SqliteStore::record_audit(NewAuditEvent event) {
  return write<void>([e = std::move(event)](Connection& c) -> Status {
    auto s = c.prepare(
        "INSERT INTO audit_events (user_id, type, at, ip, user_agent) VALUES (?, ?, ?, ?, ?)");
    s.bind_all(e.user_id, e.type, e.at, e.ip, e.user_agent).run();
    return {};
  });
}

asio::awaitable<Result<std::vector<AuditEvent>>> SqliteStore::list_audit(AuditQuery query) {
  return read<std::vector<AuditEvent>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<AuditEvent>> {
        std::int64_t before = std::numeric_limits<std::int64_t>::max();
        if (q.before_id) {
          const auto& id = *q.before_id;
          // Ids are decimal row ids: anything else names no event, so nothing is before it.
          const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), before);
          if (ec != std::errc{} || end != id.data() + id.size()) return std::vector<AuditEvent>{};
        }
        auto s = c.prepare(
            "SELECT id, user_id, type, at, ip, user_agent FROM audit_events "
            "WHERE (?1 = '' OR user_id = ?1) AND id < ?2 ORDER BY id DESC LIMIT ?3");
        s.bind_all(q.user_id, before, q.limit);
        std::vector<AuditEvent> events;
        while (s.step()) {
          events.push_back(AuditEvent{std::to_string(s.int64(0)), s.text(1), s.text(2), s.int64(3),
                                      s.text(4), s.text(5)});
        }
        return events;
      });
}

asio::awaitable<Result<TwoFactor>> SqliteStore::find_two_factor(std::string user_id) {
  return read<TwoFactor>([user = std::move(user_id)](Connection& c) -> Result<TwoFactor> {
    auto s =
        c.prepare("SELECT sealed_secret, enabled, last_step FROM two_factor WHERE user_id = ?");
    s.bind_all(user);
    if (!s.step()) return make_error(Errc::not_found, "Two-factor authentication is not set up");
    TwoFactor state{s.text(0), s.int64(1) != 0, s.int64(2), {}};
    auto codes = c.prepare("SELECT hash FROM recovery_codes WHERE user_id = ? ORDER BY hash");
    codes.bind_all(user);
    while (codes.step()) state.recovery_hashes.push_back(codes.text(0));
    return state;
  });
}

asio::awaitable<Status> SqliteStore::set_pending_two_factor(std::string user_id,
                                                            std::string sealed_secret) {
  return write<void>(
      [user = std::move(user_id), sealed = std::move(sealed_secret)](Connection& c) -> Status {
        if (!select_exists(c, "SELECT 1 FROM users WHERE id = ?", user)) {
          return make_error(Errc::not_found, "User not found");
        }
        if (select_exists(c, "SELECT 1 FROM two_factor WHERE user_id = ? AND enabled", user)) {
          return make_error(Errc::conflict, "Two-factor authentication is already enabled");
        }
        auto s = c.prepare(
            "INSERT INTO two_factor (user_id, sealed_secret) VALUES (?1, ?2) ON CONFLICT "
            "(user_id) DO UPDATE SET sealed_secret = ?2, last_step = 0");
        s.bind_all(user, sealed).run();
        return {};
      });
}

asio::awaitable<Status> SqliteStore::enable_two_factor(std::string user_id,
                                                       std::vector<std::string> recovery_hashes,
                                                       std::int64_t step) {
  return write<void>([user = std::move(user_id), hashes = std::move(recovery_hashes),
                      step](Connection& c) -> Status {
    auto state = c.prepare("SELECT enabled FROM two_factor WHERE user_id = ?");
    state.bind_all(user);
    if (!state.step())
      return make_error(Errc::not_found, "Two-factor authentication is not set up");
    const bool enabled = state.int64(0) != 0;
    state.reset();
    if (enabled) return make_error(Errc::conflict, "Two-factor authentication is already enabled");
    auto s = c.prepare("UPDATE two_factor SET enabled = 1, last_step = ? WHERE user_id = ?");
    s.bind_all(step, user).run();
    auto clear = c.prepare("DELETE FROM recovery_codes WHERE user_id = ?");
    clear.bind_all(user).run();
    auto insert = c.prepare("INSERT OR IGNORE INTO recovery_codes (user_id, hash) VALUES (?, ?)");
    for (const auto& hash : hashes) {
      insert.bind_all(user, hash).run();
      insert.reset();
    }
    return {};
  });
}

asio::awaitable<Status> SqliteStore::disable_two_factor(std::string user_id) {
  return write<void>([user = std::move(user_id)](Connection& c) -> Status {
    auto codes = c.prepare("DELETE FROM recovery_codes WHERE user_id = ?");
    codes.bind_all(user).run();
    auto state = c.prepare("DELETE FROM two_factor WHERE user_id = ?");
    state.bind_all(user).run();
    return {};
  });
}

asio::awaitable<Result<bool>> SqliteStore::consume_totp_step(std::string user_id,
                                                             std::int64_t step) {
  return write<bool>([user = std::move(user_id), step](Connection& c) -> Result<bool> {
    auto s = c.prepare("UPDATE two_factor SET last_step = ? WHERE user_id = ? AND last_step < ?");
    s.bind_all(step, user, step).run();
    return sqlite3_changes(c.handle()) > 0;
  });
}

asio::awaitable<Result<bool>> SqliteStore::consume_recovery_code(std::string user_id,
                                                                 std::string code_hash) {
  return write<bool>(
      [user = std::move(user_id), hash = std::move(code_hash)](Connection& c) -> Result<bool> {
        auto s = c.prepare("DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?");
        s.bind_all(user, hash).run();
        return sqlite3_changes(c.handle()) > 0;
      });
}

asio::awaitable<Result<int>> SqliteStore::prune_accounts(AccountPruning pruning) {
  return write<int>([p = pruning](Connection& c) -> Result<int> {
    auto doomed = c.prepare(
        "SELECT id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at < ? LIMIT ?");
    doomed.bind_all(p.revoked_before_ms, p.limit);
    std::vector<std::string> sessions;
    while (doomed.step()) sessions.push_back(doomed.text(0));
    int pruned = 0;
    auto spent = c.prepare("DELETE FROM spent_refresh_tokens WHERE session_id = ?");
    auto session = c.prepare("DELETE FROM sessions WHERE id = ?");
    for (const auto& id : sessions) {
      spent.bind_all(id).run();
      spent.reset();
      session.bind_all(id).run();
      session.reset();
      ++pruned;
    }
    auto audit = c.prepare(
        "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? LIMIT ?)");
    audit.bind_all(p.audit_before_ms, p.limit).run();
    return pruned + sqlite3_changes(c.handle());
  });
}

}  // namespace chatd::store::sqlite
