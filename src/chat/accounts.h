#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "auth/password.h"
#include "auth/secret_box.h"
#include "auth/token.h"
#include "chat/limits.h"
#include "chat/session_cache.h"
#include "chat/views.h"
#include "store/store.h"
#include "util/rate_limit.h"
#include "util/result.h"

namespace chatd::chat {

namespace asio = boost::asio;

// Where a request comes from, as the edge established it (net/client_address.h): what sessions
// and the audit trail record and what per-IP limits count.
struct ClientInfo {
  std::string ip;
  std::string user_agent;
};

// An authenticated caller: the user and the session their token belongs to (empty for a
// session-less token, when those are accepted).
struct Caller {
  User user;
  std::string session_id;
};

struct Registration {
  std::string name;
  std::string email;
  std::string password;
  std::optional<std::string> pic;
};

struct LoginRequest {
  std::string email;
  std::string password;
  std::optional<std::string> otp;  // a TOTP code or a recovery code, when 2FA is on
};

// The access token and the refresh token that renews it.
struct TokenPair {
  std::string token;
  std::string refresh_token;
};

// A TOTP secret being set up: shown once, to be put into the user's authenticator.
struct TwoFactorSetup {
  std::string secret;       // base32
  std::string otpauth_url;  // otpauth://totp/... (a QR code of it is what apps scan)
};

struct SessionView {
  store::Session session;
  bool current = false;  // the caller's own
};

// Every limit of the account rules, with defaults no honest client reaches (docs/SECURITY.md).
struct AccountLimits {
  // Login attempts per client IP (any account): room for an office behind one NAT address.
  util::RateRule login_per_ip{1, 60};
  // Failed logins per account from IPs the account never logged in from: an attacker guessing a
  // password gets 10 tries, then one a minute (1,440 a day instead of thousands a second)...
  util::RateRule login_failures_per_account{1.0 / 60, 10};
  // ...while the owner, from an IP they logged in from before, has a budget of their own.
  util::RateRule login_failures_per_known_ip{1.0 / 30, 10};
  util::RateRule registrations_per_ip{10.0 / 3600, 10};
  // Wrong TOTP or recovery codes per account.
  util::RateRule otp_failures_per_account{1.0 / 30, 5};
  // Accept access tokens without a session ({id, iat, exp}, as a classic backend sharing the JWT
  // secret issues them) while clients migrate. Such tokens cannot be revoked one by one: off by
  // default.
  bool accept_sessionless_tokens = false;
};

// Accounts and their security (API.md, "Sessions, 2FA, limits"): registration and login with
// throttling, sessions with rotating refresh tokens, revocation, password change, the audit
// trail. Access tokens are checked against the SessionCache, so that revocation costs no store
// round trip per request.
class AccountService {
 public:
  // `secrets` seals TOTP secrets at rest (every node of a cluster needs the same key).
  AccountService(store::Store& store, auth::PasswordHasher& hasher, const auth::TokenIssuer& tokens,
                 const auth::SecretBox& secrets, util::RateLimiter& limiter,
                 AccountLimits account_limits, Limits limits, std::string default_pic);

  // The cache that the change feed keeps current (Sequencer revokes through it).
  SessionCache& sessions() { return sessions_; }
  // In a cluster: the budgets in Redis (any thread, while serving).
  void set_rate_limiter(util::RateLimiter& limiter) {
    limiter_.store(&limiter, std::memory_order_release);
  }

  asio::awaitable<Result<Session>> register_user(Registration registration, ClientInfo client);
  asio::awaitable<Result<Session>> login(LoginRequest request, ClientInfo client);
  // The caller an access token stands for; `unauthorized` when the token is bad, its session is
  // revoked or its user is gone.
  asio::awaitable<Result<Caller>> authenticate(std::string token);

  asio::awaitable<Result<TokenPair>> refresh(std::string refresh_token, ClientInfo client);
  asio::awaitable<Status> logout(Caller caller, ClientInfo client);
  asio::awaitable<Status> logout_others(Caller caller, ClientInfo client);
  asio::awaitable<Result<std::vector<SessionView>>> list_sessions(Caller caller);
  asio::awaitable<Status> revoke_session(Caller caller, std::string session_id, ClientInfo client);
  asio::awaitable<Status> change_password(Caller caller, std::string current_password,
                                          std::string new_password, ClientInfo client);
  // Two-factor authentication (TOTP, RFC 6238): a pending secret, enabled by a first good code,
  // which also yields the one-time recovery codes; disabling needs the password and a code.
  asio::awaitable<Result<TwoFactorSetup>> setup_two_factor(Caller caller);
  asio::awaitable<Result<std::vector<std::string>>> enable_two_factor(Caller caller,
                                                                      std::string code,
                                                                      ClientInfo client);
  asio::awaitable<Status> disable_two_factor(Caller caller, std::string password, std::string code,
                                             ClientInfo client);

  // The caller proves again that they are themselves (before erasing their account): the
  // password, and a TOTP or recovery code when 2FA is on (`otp_required` without one).
  asio::awaitable<Status> confirm_identity(Caller caller, std::string password,
                                           std::optional<std::string> otp);
  // A server admin disables (every session revoked, no login: 403) or enables an account; the
  // user's audit trail records it, with the admin's address.
  asio::awaitable<Status> set_disabled(std::string user_id, bool disabled, ClientInfo client);

  asio::awaitable<Result<std::vector<store::AuditEvent>>> audit(Caller caller,
                                                                std::optional<std::string> before,
                                                                std::optional<int> limit);

  // Writes the session uses noted since the last call (lastUsedAt).
  asio::awaitable<void> flush_session_uses();
  // flush_session_uses every `period`, until the executor stops.
  asio::awaitable<void> flush_session_uses_every(std::chrono::seconds period);

 private:
  asio::awaitable<Result<Session>> open_session(User user, ClientInfo client);
  // A token without a session: a store read per request, as classic backends do.
  asio::awaitable<Result<Caller>> authenticate_sessionless(auth::TokenClaims claims);
  // A rate limit check: `rate_limited` with the wait when the key's budget is spent.
  asio::awaitable<Status> take(std::string key, util::RateRule rule);
  asio::awaitable<std::string> login_account_key(const std::optional<User>& user,
                                                 const std::string& email,
                                                 const ClientInfo& client);
  asio::awaitable<void> record(std::string user_id, std::string type, const ClientInfo& client);
  // The user's credentials when `password` is theirs (`unauthorized` otherwise); failures draw on
  // the account's login budget.
  asio::awaitable<Result<store::UserCredentials>> verify_password(const User& user,
                                                                  std::string password);
  // The key of the account's budget for second-factor codes.
  static std::string otp_budget(const std::string& user_id) { return "otp:" + user_id; }
  // A second-factor attempt draws on the account's budget and reads its two-factor state; a good
  // code gives the attempt back (end_otp_attempt).
  asio::awaitable<Result<store::TwoFactor>> start_otp_attempt(const std::string& user_id);
  asio::awaitable<void> end_otp_attempt(const std::string& user_id);
  // Checks a second factor: a TOTP code (each time step accepted once, on every node) or an unused
  // recovery code (spent). Wrong codes draw on the account's budget.
  asio::awaitable<Status> check_second_factor(const std::string& user_id, std::string code,
                                              bool enabled_only);

  store::Store& store_;
  auth::PasswordHasher& hasher_;
  const auth::TokenIssuer& tokens_;
  const auth::SecretBox& secrets_;
  util::RateLimiter& limiter() { return *limiter_.load(std::memory_order_acquire); }

  std::atomic<util::RateLimiter*> limiter_;
  AccountLimits account_limits_;
  Limits limits_;
  std::string default_pic_;
  SessionCache sessions_;
};

}  // namespace chatd::chat
