#pragma once

#include <string>
#include <string_view>

namespace chatd::auth {

// Opaque bearer tokens (refresh tokens): 32 random bytes (256 bits), base64url without padding
// (43 characters). The server keeps only hash_opaque_token() of one, so a stolen database does not
// hand out live sessions.
std::string new_opaque_token();

// Lower-case hex SHA-256 of a token. A fast hash is right here: a 256-bit random token cannot be
// guessed, so nothing is gained by making each guess slow (that is for passwords).
std::string hash_opaque_token(std::string_view token);

}  // namespace chatd::auth
