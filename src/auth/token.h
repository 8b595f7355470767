#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

namespace chatd::auth {

// Who an access token stands for: a user, through one of their login sessions.
struct TokenClaims {
  std::string user_id;
  std::string session_id;
};

// JWTs as classic MERN backends issue them, HS256 over {id, iat, exp}, plus `sid`: the session
// the token belongs to, so that a logout can revoke it (classic clients ignore the extra claim).
// Verification pins the algorithm (a token that names any other, "none" included, is refused
// before its signature is looked at) and checks expiry. A token without `sid` (one a classic
// backend sharing the secret issued) verifies with an empty session id: whether it is accepted is
// the caller's policy (chat::AccountService).
class TokenIssuer {
 public:
  TokenIssuer(std::string secret, std::chrono::seconds lifetime);

  std::string issue(const TokenClaims& claims) const;
  std::string issue_at(const TokenClaims& claims, std::int64_t issued_at_s) const;

  // The claims of a good token; `unauthorized` for anything else.
  Result<TokenClaims> verify(std::string_view token) const;
  Result<TokenClaims> verify_at(std::string_view token, std::int64_t now_s) const;

 private:
  std::string secret_;
  std::chrono::seconds lifetime_;
};

// The secret kept in `<data_dir>/jwt_secret` (mode 0600), created with 32 random bytes on first
// start, so that tokens survive restarts without anyone having to configure one.
std::string load_or_create_secret(const std::filesystem::path& data_dir);

}  // namespace chatd::auth
