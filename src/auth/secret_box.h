#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

namespace chatd::auth {

// Encrypts secrets kept at rest (a user's TOTP secret) under one server key, with libsodium's
// XChaCha20-Poly1305 (random 192-bit nonces, so no nonce bookkeeping). A sealed value is
// printable and names its format: "v1." + base64url(nonce || ciphertext || tag), so a later
// format (another cipher, a rotated key) can still tell and read the old one.
//
// `associated` data is authenticated, not stored: seal with what the value belongs to (e.g.
// "totp:" + user id) and a sealed value copied to another user's row, or used for another
// purpose, does not open.
class SecretBox {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  using Key = std::array<unsigned char, kKeyBytes>;

  explicit SecretBox(const Key& key);
  // A key from configuration: 64 hex digits, or base64 of 32 bytes (standard or URL-safe
  // alphabet, padding optional); surrounding white space is ignored. `invalid_input` otherwise.
  static Result<SecretBox> from_hex(std::string_view hex);
  static Result<SecretBox> from_base64(std::string_view base64);

  SecretBox(const SecretBox&) = default;
  SecretBox& operator=(const SecretBox&) = default;
  ~SecretBox();  // wipes the key

  std::string seal(std::string_view plaintext, std::string_view associated = {}) const;

  // The plaintext; `internal` when `sealed` is malformed, altered, sealed under another key or
  // with other associated data (a stored secret that does not open is the server's problem).
  Result<std::string> open(std::string_view sealed, std::string_view associated = {}) const;

 private:
  Key key_;
};

// The box whose key is kept in `<data_dir>/secret_key` (mode 0600, 64 hex digits), created with
// 32 random bytes on first start like the JWT secret. Losing that file loses every secret sealed
// under it. Throws when the file cannot be read or created or does not hold a key.
SecretBox load_or_create_secret_box(const std::filesystem::path& data_dir);

}  // namespace chatd::auth
