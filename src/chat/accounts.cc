#include "chat/accounts.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "auth/opaque_token.h"
#include "auth/recovery_codes.h"
#include "auth/totp.h"
#include "chat/members.h"
#include "chat/validation.h"
#include "util/clock.h"
#include "util/text.h"

// Note for every co_await below: arguments are named variables, never temporaries built inside the
// co_await expression (g++ 12 can destroy such temporaries twice; see util/async.h).
namespace chatd::chat {

using detail::invalid;

namespace {

Error token_failed() {
  return make_error(Errc::unauthorized, "Not authorized, token failed");
}

// How many recent audit events are searched for an earlier login from the same IP.
constexpr int kKnownIpLookback = 50;
// The issuer authenticator apps show beside the account.
constexpr std::string_view kTotpIssuer = "chatd";

Error otp_invalid() {
  return make_error(Errc::otp_invalid, "The two-factor code is wrong or was already used");
}

// Binds a sealed TOTP secret to its user: copied into another user's row it does not open.
std::string totp_binding(const std::string& user_id) {
  return "totp:" + user_id;
}

std::int64_t unix_now_s() {
  return clock::now_ms() / 1000;
}

}  // namespace

AccountService::AccountService(store::Store& store, auth::PasswordHasher& hasher,
                               const auth::TokenIssuer& tokens, const auth::SecretBox& secrets,
                               util::RateLimiter& limiter, AccountLimits account_limits,
                               Limits limits, std::string default_pic)
    : store_(store),
      hasher_(hasher),
      tokens_(tokens),
      secrets_(secrets),
      limiter_(&limiter),
      account_limits_(account_limits),
      limits_(limits),
      default_pic_(std::move(default_pic)) {}

asio::awaitable<Status> AccountService::take(std::string key, util::RateRule rule) {
  auto decision = co_await limiter().acquire(std::move(key), rule);
  if (!decision.allowed) co_return util::rate_limited(decision);
  co_return Status{};
}

asio::awaitable<void> AccountService::record(std::string user_id, std::string type,
                                             const ClientInfo& client) {
  store::NewAuditEvent event{std::move(user_id), std::move(type), clock::now_ms(), client.ip,
                             client.user_agent};
  // The audit trail must not turn a done logout or login into an error: a failed write is logged
  // by the store and the request goes on.
  auto written = co_await store_.record_audit(std::move(event));
  (void)written;
}

// ---- Registration and login --------------------------------------------------------------------

asio::awaitable<Result<Session>> AccountService::register_user(Registration registration,
                                                               ClientInfo client) {
  std::string ip_key = "register:ip:" + client.ip;
  if (auto allowed = co_await take(std::move(ip_key), account_limits_.registrations_per_ip);
      !allowed) {
    co_return allowed.error();
  }
  auto name = required_text(registration.name, "Name", limits_.name_max);
  if (!name) co_return name.error();
  auto email = valid_email(registration.email, limits_.email_max);
  if (!email) co_return email.error();
  if (auto ok = valid_password(registration.password, limits_.password_min, limits_.password_max);
      !ok) {
    co_return ok.error();
  }
  std::string pic = default_pic_;
  if (registration.pic && !text::trim(*registration.pic).empty()) {
    auto given = required_text(*registration.pic, "Picture", limits_.pic_max);
    if (!given) co_return given.error();
    pic = std::move(*given);
  }
  auto hash = co_await hasher_.hash(std::move(registration.password));
  store::NewUser user{std::move(*name), std::move(*email), std::move(pic), std::move(hash)};
  auto created = co_await store_.create_user(std::move(user));
  if (!created) {
    if (created.error().code == Errc::conflict) co_return invalid("User already exists");
    co_return created.error();
  }
  co_return co_await open_session(std::move(*created), std::move(client));
}

// The failed-login budget a login attempt draws on: the account's own for an IP the account
// logged in from before (its live sessions or recent audit trail), a shared one otherwise. An
// attacker spending the shared one does not lock the owner out at their usual address.
asio::awaitable<std::string> AccountService::login_account_key(const std::optional<User>& user,
                                                               const std::string& email,
                                                               const ClientInfo& client) {
  if (!user) co_return "login:email:" + text::ascii_lower(email);
  auto id = user->id;
  auto sessions = co_await store_.list_sessions(std::move(id));
  bool known = sessions && std::any_of(sessions->begin(), sessions->end(),
                                       [&](const auto& s) { return s.ip == client.ip; });
  if (!known) {
    store::AuditQuery query{user->id, std::nullopt, kKnownIpLookback};
    auto events = co_await store_.list_audit(std::move(query));
    known = events && std::any_of(events->begin(), events->end(), [&](const auto& e) {
              return e.type == "login" && e.ip == client.ip;
            });
  }
  if (known) co_return "login:known:" + user->id + ":" + client.ip;
  co_return "login:account:" + user->id;
}

asio::awaitable<Result<Session>> AccountService::login(LoginRequest request, ClientInfo client) {
  const auto failed = make_error(Errc::unauthorized, "Invalid Email or Password");
  std::string ip_key = "login:ip:" + client.ip;
  if (auto allowed = co_await take(std::move(ip_key), account_limits_.login_per_ip); !allowed) {
    co_return allowed.error();
  }
  const auto email = std::string(text::trim(request.email));
  std::string stored_hash;
  std::optional<User> user;
  bool two_factor = false;
  if (!email.empty() && request.password.size() <= limits_.password_max * 4) {
    auto wanted = email;
    auto credentials = co_await store_.find_credentials(std::move(wanted));
    if (credentials) {
      stored_hash = std::move(credentials->password_hash);
      user = std::move(credentials->user);
      two_factor = credentials->two_factor;
    } else if (credentials.error().code != Errc::not_found) {
      co_return credentials.error();
    }
  }
  auto account_key = co_await login_account_key(user, email, client);
  const auto rule = account_key.starts_with("login:known:")
                        ? account_limits_.login_failures_per_known_ip
                        : account_limits_.login_failures_per_account;
  auto budget_key = account_key;
  if (auto allowed = co_await take(std::move(budget_key), rule); !allowed) {
    if (user) co_await record(user->id, "login_failed", client);
    co_return allowed.error();
  }
  // An unknown email costs one verification too (against a dummy hash): timing does not tell.
  const bool match = co_await hasher_.verify(std::move(stored_hash), std::move(request.password));
  if (!match || !user) {
    if (user) co_await record(user->id, "login_failed", client);
    co_return failed;
  }
  if (user->disabled) co_return make_error(Errc::forbidden, "This account is disabled");
  if (two_factor) {
    if (!request.otp || request.otp->empty()) {
      co_return make_error(Errc::otp_required, "A two-factor code is required");
    }
    auto checked = co_await check_second_factor(user->id, std::move(*request.otp), true);
    if (!checked) {
      co_await record(user->id, "login_failed", client);
      co_return checked.error();
    }
  }
  co_await limiter().reset(std::move(account_key));
  co_return co_await open_session(std::move(*user), std::move(client));
}

asio::awaitable<Result<Session>> AccountService::open_session(User user, ClientInfo client) {
  auto refresh_token = auth::new_opaque_token();
  store::NewSession session{user.id, auth::hash_opaque_token(refresh_token), client.ip,
                            client.user_agent, clock::now_ms()};
  auto created = co_await store_.create_session(std::move(session));
  if (!created) co_return created.error();
  co_await record(user.id, "login", client);
  auto token = tokens_.issue(auth::TokenClaims{user.id, created->id});
  co_return Session{std::move(user), std::move(token), std::move(refresh_token)};
}

// ---- Tokens and sessions -----------------------------------------------------------------------

asio::awaitable<Result<Caller>> AccountService::authenticate(std::string token) {
  auto claims = tokens_.verify(token);
  if (!claims) co_return claims.error();
  if (claims->session_id.empty()) co_return co_await authenticate_sessionless(*claims);
  auto& session_id = claims->session_id;
  auto cached = sessions_.find(session_id);
  if (!cached) {
    const auto epoch = sessions_.epoch();
    auto id = session_id;
    auto session = co_await store_.find_session(std::move(id));
    if (!session) {
      if (session.error().code == Errc::not_found) co_return token_failed();
      co_return session.error();
    }
    SessionCache::Entry entry{{}, session->revoked};
    if (!session->revoked) {
      auto user_id = session->user_id;
      auto user = co_await store_.find_user(std::move(user_id));
      if (!user) {
        if (user.error().code == Errc::not_found) co_return token_failed();
        co_return user.error();
      }
      entry.user = std::move(*user);
    }
    sessions_.remember(session_id, entry, epoch);
    cached = std::move(entry);
  }
  // A session is its user's: a token that pairs it with another user was not issued here.
  if (cached->revoked || cached->user.id != claims->user_id) co_return token_failed();
  sessions_.note_use(session_id, clock::now_ms());
  co_return Caller{std::move(cached->user), std::move(session_id)};
}

asio::awaitable<Result<Caller>> AccountService::authenticate_sessionless(auth::TokenClaims claims) {
  if (!account_limits_.accept_sessionless_tokens) co_return token_failed();
  auto user = co_await store_.find_user(std::move(claims.user_id));
  if (!user) {
    if (user.error().code == Errc::not_found) co_return token_failed();
    co_return user.error();
  }
  if (user->disabled) co_return token_failed();
  co_return Caller{std::move(*user), {}};
}

asio::awaitable<Result<TokenPair>> AccountService::refresh(std::string refresh_token,
                                                           ClientInfo client) {
  auto next = auth::new_opaque_token();
  store::RefreshRotation rotation{auth::hash_opaque_token(refresh_token),
                                  auth::hash_opaque_token(next), client.ip, client.user_agent,
                                  clock::now_ms()};
  auto rotated = co_await store_.rotate_refresh(std::move(rotation));
  if (!rotated) co_return rotated.error();
  const auto& session = rotated->session;
  switch (rotated->outcome) {
    case store::RefreshOutcome::rotated:
      co_return TokenPair{tokens_.issue(auth::TokenClaims{session.user_id, session.id}),
                          std::move(next)};
    case store::RefreshOutcome::reused:
      co_await record(session.user_id, "refresh_reuse", client);
      co_return make_error(Errc::unauthorized, "Refresh token reused: the session is revoked");
    case store::RefreshOutcome::unknown:
      break;
  }
  co_return make_error(Errc::unauthorized, "Invalid refresh token");
}

asio::awaitable<Status> AccountService::logout(Caller caller, ClientInfo client) {
  auto user_id = caller.user.id;
  auto revoked = co_await store_.revoke_session(std::move(user_id), std::move(caller.session_id));
  if (!revoked) co_return revoked;
  co_await record(caller.user.id, "logout", client);
  co_return Status{};
}

asio::awaitable<Status> AccountService::logout_others(Caller caller, ClientInfo client) {
  auto user_id = caller.user.id;
  std::optional<std::string> keep = caller.session_id;
  auto revoked = co_await store_.revoke_sessions(std::move(user_id), std::move(keep));
  if (!revoked) co_return revoked.error();
  if (!revoked->empty()) co_await record(caller.user.id, "session_revoked", client);
  co_return Status{};
}

asio::awaitable<Result<std::vector<SessionView>>> AccountService::list_sessions(Caller caller) {
  auto user_id = caller.user.id;
  auto sessions = co_await store_.list_sessions(std::move(user_id));
  if (!sessions) co_return sessions.error();
  std::vector<SessionView> views;
  views.reserve(sessions->size());
  for (auto& session : *sessions) {
    const bool current = session.id == caller.session_id;
    views.push_back(SessionView{std::move(session), current});
  }
  co_return views;
}

asio::awaitable<Status> AccountService::revoke_session(Caller caller, std::string session_id,
                                                       ClientInfo client) {
  auto user_id = caller.user.id;
  auto revoked = co_await store_.revoke_session(std::move(user_id), std::move(session_id));
  if (!revoked) co_return revoked;
  co_await record(caller.user.id, "session_revoked", client);
  co_return Status{};
}

asio::awaitable<Result<store::UserCredentials>> AccountService::verify_password(
    const User& user, std::string password) {
  auto email = user.email;
  auto credentials = co_await store_.find_credentials(std::move(email));
  if (!credentials) co_return credentials.error();
  std::string account_key = "password:" + user.id;
  if (auto allowed = co_await take(account_key, account_limits_.login_failures_per_account);
      !allowed) {
    co_return allowed.error();
  }
  auto hash = credentials->password_hash;
  const bool match = co_await hasher_.verify(std::move(hash), std::move(password));
  if (!match) co_return make_error(Errc::unauthorized, "The password is wrong");
  co_await limiter().reset(std::move(account_key));
  co_return credentials;
}

asio::awaitable<Status> AccountService::change_password(Caller caller, std::string current_password,
                                                        std::string new_password,
                                                        ClientInfo client) {
  if (auto ok = valid_password(new_password, limits_.password_min, limits_.password_max); !ok) {
    co_return ok.error();
  }
  auto verified = co_await verify_password(caller.user, std::move(current_password));
  if (!verified) co_return verified.error();
  auto hash = co_await hasher_.hash(std::move(new_password));
  auto user_id = caller.user.id;
  std::optional<std::string> keep = caller.session_id;
  auto changed =
      co_await store_.change_password(std::move(user_id), std::move(hash), std::move(keep));
  if (!changed) co_return changed.error();
  co_await record(caller.user.id, "password_changed", client);
  co_return Status{};
}

asio::awaitable<Status> AccountService::confirm_identity(Caller caller, std::string password,
                                                         std::optional<std::string> otp) {
  auto verified = co_await verify_password(caller.user, std::move(password));
  if (!verified) co_return verified.error();
  if (!verified->two_factor) co_return Status{};
  if (!otp || otp->empty()) {
    co_return make_error(Errc::otp_required, "A two-factor code is required");
  }
  co_return co_await check_second_factor(caller.user.id, std::move(*otp), true);
}

asio::awaitable<Status> AccountService::set_disabled(std::string user_id, bool disabled,
                                                     ClientInfo client) {
  auto id = user_id;
  auto revoked = co_await store_.set_disabled(std::move(id), disabled);
  if (!revoked) co_return revoked.error();
  co_await record(std::move(user_id), disabled ? "account_disabled" : "account_enabled", client);
  co_return Status{};
}

// ---- Two-factor authentication -----------------------------------------------------------------

asio::awaitable<Result<store::TwoFactor>> AccountService::start_otp_attempt(
    const std::string& user_id) {
  // Every attempt draws on the budget; a good code gives it back (end_otp_attempt).
  auto budget = otp_budget(user_id);
  if (auto allowed = co_await take(std::move(budget), account_limits_.otp_failures_per_account);
      !allowed) {
    co_return allowed.error();
  }
  auto id = user_id;
  co_return co_await store_.find_two_factor(std::move(id));
}

asio::awaitable<void> AccountService::end_otp_attempt(const std::string& user_id) {
  auto budget = otp_budget(user_id);
  co_await limiter().reset(std::move(budget));
}

asio::awaitable<Status> AccountService::check_second_factor(const std::string& user_id,
                                                            std::string code, bool enabled_only) {
  auto state = co_await start_otp_attempt(user_id);
  if (!state) {
    if (state.error().code == Errc::not_found) co_return otp_invalid();
    co_return state.error();
  }
  if (enabled_only && !state->enabled) co_return otp_invalid();
  auto secret = secrets_.open(state->sealed_secret, totp_binding(user_id));
  if (!secret) co_return secret.error();
  if (auto step = auth::verify_totp(*secret, code, unix_now_s(), state->last_step)) {
    auto owner = user_id;
    auto fresh = co_await store_.consume_totp_step(std::move(owner), *step);
    if (!fresh) co_return fresh.error();
    if (*fresh) {
      co_await end_otp_attempt(user_id);
      co_return Status{};
    }
  } else if (state->enabled) {
    auto owner = user_id;
    auto spent = co_await store_.consume_recovery_code(std::move(owner),
                                                       auth::hash_recovery_code(code, user_id));
    if (!spent) co_return spent.error();
    if (*spent) {
      co_await end_otp_attempt(user_id);
      co_return Status{};
    }
  }
  co_return otp_invalid();
}

asio::awaitable<Result<TwoFactorSetup>> AccountService::setup_two_factor(Caller caller) {
  const auto secret_base32 = auth::generate_totp_secret();
  const auto secret = auth::base32_decode(secret_base32);
  auto sealed = secrets_.seal(*secret, totp_binding(caller.user.id));
  auto user_id = caller.user.id;
  auto stored = co_await store_.set_pending_two_factor(std::move(user_id), std::move(sealed));
  if (!stored) co_return stored.error();
  co_return TwoFactorSetup{secret_base32,
                           auth::otpauth_url(kTotpIssuer, caller.user.email, secret_base32)};
}

asio::awaitable<Result<std::vector<std::string>>> AccountService::enable_two_factor(
    Caller caller, std::string code, ClientInfo client) {
  auto state = co_await start_otp_attempt(caller.user.id);
  if (!state) {
    if (state.error().code == Errc::not_found) {
      co_return make_error(Errc::not_found, "Set two-factor authentication up first");
    }
    co_return state.error();
  }
  if (state->enabled) {
    co_return make_error(Errc::conflict, "Two-factor authentication is already enabled");
  }
  auto secret = secrets_.open(state->sealed_secret, totp_binding(caller.user.id));
  if (!secret) co_return secret.error();
  const auto step = auth::verify_totp(*secret, code, unix_now_s());
  if (!step) co_return otp_invalid();
  co_await end_otp_attempt(caller.user.id);
  auto codes = auth::generate_recovery_codes();
  std::vector<std::string> hashes;
  hashes.reserve(codes.size());
  for (const auto& c : codes) hashes.push_back(auth::hash_recovery_code(c, caller.user.id));
  auto owner = caller.user.id;
  auto enabled = co_await store_.enable_two_factor(std::move(owner), std::move(hashes), *step);
  if (!enabled) co_return enabled.error();
  co_await record(caller.user.id, "2fa_enabled", client);
  co_return codes;
}

asio::awaitable<Status> AccountService::disable_two_factor(Caller caller, std::string password,
                                                           std::string code, ClientInfo client) {
  auto verified = co_await verify_password(caller.user, std::move(password));
  if (!verified) co_return verified.error();
  if (!verified->two_factor) {
    co_return make_error(Errc::conflict, "Two-factor authentication is not enabled");
  }
  if (auto checked = co_await check_second_factor(caller.user.id, std::move(code), true);
      !checked) {
    co_return checked;
  }
  auto user_id = caller.user.id;
  auto disabled = co_await store_.disable_two_factor(std::move(user_id));
  if (!disabled) co_return disabled;
  co_await record(caller.user.id, "2fa_disabled", client);
  co_return Status{};
}

asio::awaitable<Result<std::vector<store::AuditEvent>>> AccountService::audit(
    Caller caller, std::optional<std::string> before, std::optional<int> limit) {
  if (limit && *limit < 1) co_return invalid("limit must be a positive integer");
  store::AuditQuery query{caller.user.id, std::move(before),
                          std::min(limit.value_or(limits_.history_default), limits_.history_max)};
  co_return co_await store_.list_audit(std::move(query));
}

asio::awaitable<void> AccountService::flush_session_uses_every(std::chrono::seconds period) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(period);
    co_await timer.async_wait(asio::use_awaitable);
    co_await flush_session_uses();
  }
}

asio::awaitable<void> AccountService::flush_session_uses() {
  auto uses = sessions_.take_uses();
  if (uses.empty()) co_return;
  auto written = co_await store_.touch_sessions(std::move(uses));
  (void)written;  // lastUsedAt is informative: a lost batch is retried by the next use
}

}  // namespace chatd::chat
