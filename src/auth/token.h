#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

namespace chatd::auth {

// JWTs as classic MERN backends issue them: HS256 over {id, iat, exp}. Verification pins the
// algorithm (a token that names any other, "none" included, is refused before its signature is
// looked at) and checks expiry.
class TokenIssuer {
 public:
  TokenIssuer(std::string secret, std::chrono::seconds lifetime);

  std::string issue(std::string_view user_id) const;
  std::string issue_at(std::string_view user_id, std::int64_t issued_at_s) const;

  // The user id the token was issued for; `unauthorized` for anything else.
  Result<std::string> verify(std::string_view token) const;
  Result<std::string> verify_at(std::string_view token, std::int64_t now_s) const;

 private:
  std::string secret_;
  std::chrono::seconds lifetime_;
};

// The secret kept in `<data_dir>/jwt_secret` (mode 0600), created with 32 random bytes on first
// start, so that tokens survive restarts without anyone having to configure one.
std::string load_or_create_secret(const std::filesystem::path& data_dir);

}  // namespace chatd::auth
