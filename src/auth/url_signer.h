#pragma once

#include <array>
#include <string>
#include <string_view>

namespace chatd::auth {

// Signs what a URL grants, so that a link can open something without a token for a while (the
// `url` of an attachment, which <img src> fetches with no Authorization header): HMAC-SHA-256
// under a key derived from the server's secret (every node of a cluster derives the same one),
// base64url without padding.
class UrlSigner {
 public:
  // The key is HMAC-SHA-256(secret, a label of this use), so no other use of the secret can
  // produce a valid signature.
  explicit UrlSigner(std::string_view secret);

  std::string sign(std::string_view message) const;
  // In constant time.
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace chatd::auth
