#include "auth/url_signer.h"

#include <sodium.h>

#include <stdexcept>

namespace chatd::auth {

namespace {

constexpr std::string_view kLabel = "chatd url signatures v1";
constexpr int kBase64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

using Mac = std::array<unsigned char, crypto_auth_hmacsha256_BYTES>;

Mac hmac(const unsigned char* key, std::size_t key_length, std::string_view message) {
  Mac mac{};
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key, key_length);
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  return mac;
}

}  // namespace

UrlSigner::UrlSigner(std::string_view secret) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to start");
  key_ = hmac(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), kLabel);
}

std::string UrlSigner::sign(std::string_view message) const {
  const auto mac = hmac(key_.data(), key_.size(), message);
  std::string text(sodium_base64_ENCODED_LEN(mac.size(), kBase64), '\0');
  sodium_bin2base64(text.data(), text.size(), mac.data(), mac.size(), kBase64);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

bool UrlSigner::verify(std::string_view message, std::string_view signature) const {
  const auto expected = sign(message);
  return expected.size() == signature.size() &&
         sodium_memcmp(expected.data(), signature.data(), expected.size()) == 0;
}

}  // namespace chatd::auth
