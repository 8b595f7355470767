#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chatd::auth {

inline constexpr int kRecoveryCodeCount = 10;

// One-time codes that stand in for a TOTP code when the authenticator is lost. Each is
// "xxxx-xxxx-xxxx": 12 characters drawn uniformly from 31 that cannot be misread for one another
// (no 0/o, 1/l/i), about 59 bits of entropy. The codes of one call are distinct.
std::vector<std::string> generate_recovery_codes(int count = kRecoveryCodeCount);

// What is stored for a code: lower-case hex SHA-256 of the user id and the code normalized as
// people type it back (any case; spaces and dashes ignored). A fast hash is right: 59 random bits
// cost an attacker with the database about 2^55 hashes per code found, where a password costs a
// dictionary. The user id salts it, so that one brute force cannot try every user's codes at once
// (unsalted, the work per code found would shrink with the number of codes stored).
std::string hash_recovery_code(std::string_view code, std::string_view user_id);

}  // namespace chatd::auth
