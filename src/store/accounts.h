#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// What the store keeps of accounts beyond the user record: login sessions with their refresh
// tokens, the security audit trail and two-factor state (API.md, "Sessions, 2FA, limits").
// Secrets never reach the store in the clear: refresh tokens and recovery codes arrive hashed,
// the TOTP secret encrypted (auth/).
namespace chatd::store {

// One login: what an access token's `sid` names. A revoked session stays (for the audit trail and
// so that a reused refresh token can be recognized) but is never listed or accepted again.
struct Session {
  std::string id;
  std::string user_id;
  std::int64_t created_at = 0;    // epoch ms
  std::int64_t last_used_at = 0;  // epoch ms: login, refresh, or an authenticated request
  std::string ip;
  std::string user_agent;
  bool revoked = false;
};

struct NewSession {
  std::string user_id;
  std::string refresh_hash;  // of the session's first refresh token
  std::string ip;
  std::string user_agent;
  std::int64_t at = 0;
};

// A refresh token presented for rotation, and the one that replaces it.
struct RefreshRotation {
  std::string presented_hash;
  std::string next_hash;
  std::string ip;
  std::string user_agent;
  std::int64_t at = 0;
};

enum class RefreshOutcome {
  rotated,  // the presented token was the session's current one: it is spent, `next_hash` rules
  reused,   // the presented token was already spent: the session was revoked (theft)
  unknown,  // no session ever had it, or its session was revoked before
};

struct RefreshResult {
  RefreshOutcome outcome = RefreshOutcome::unknown;
  Session session;  // as stored afterwards; set unless `unknown`
};

// An authenticated request of a session, noted in memory and written in batches.
struct SessionUse {
  std::string session_id;
  std::int64_t at = 0;
};

struct AuditEvent {
  std::string id;
  std::string user_id;
  std::string type;  // login, login_failed, logout, refresh_reuse, password_changed, ...
  std::int64_t at = 0;
  std::string ip;
  std::string user_agent;
};

struct NewAuditEvent {
  std::string user_id;
  std::string type;
  std::int64_t at = 0;
  std::string ip;
  std::string user_agent;
};

// Newest first; `user_id` empty for every user's events (server admins).
struct AuditQuery {
  std::string user_id;
  std::optional<std::string> before_id;  // the page after this event
  int limit = 50;
};

struct AccountPruning {
  std::int64_t revoked_before_ms = 0;
  std::int64_t audit_before_ms = 0;
  int limit = 1000;
};

// A user's TOTP state. The secret is set up (pending) first and enabled once a code proved that
// the user's authenticator has it.
struct TwoFactor {
  std::string sealed_secret;  // encrypted by auth/ (opaque here)
  bool enabled = false;
  std::int64_t last_step = 0;  // the newest TOTP time step accepted: older are replays
  std::vector<std::string> recovery_hashes;  // codes not used yet
};

}  // namespace chatd::store
