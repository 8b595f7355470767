#include "auth/totp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>
#include <stdexcept>

namespace chatd::auth {

namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// The value of a base32 character, or -1.
int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(std::string_view s) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;  // only the low `bits` bits are pending
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(buffer >> bits) & 0x1F];
    }
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 0x1F];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t chars = 0;
  for (const char c : text) {
    if (c == '=' || is_space(c)) continue;
    const int value = base32_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    ++chars;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // 8 characters encode 5 bytes; 1, 3 or 6 left over encode no whole byte.
  const auto rest = chars % 8;
  if (rest == 1 || rest == 3 || rest == 6) return std::nullopt;
  return out;
}

std::string generate_totp_secret() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  std::array<unsigned char, 20> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  auto secret =
      base32_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  sodium_memzero(bytes.data(), bytes.size());
  return secret;
}

std::string hotp_code(std::string_view secret_bytes, std::uint64_t counter, int digits) {
  if (digits < 1 || digits > 9) throw std::invalid_argument("hotp_code: digits must be 1 to 9");
  std::array<unsigned char, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<std::size_t>(i)] = static_cast<unsigned char>(counter & 0xFF);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_length = 0;
  // OpenSSL takes a null key for "no key given" rather than an empty one.
  static constexpr char kEmpty = 0;
  const char* key = secret_bytes.empty() ? &kEmpty : secret_bytes.data();
  if (HMAC(EVP_sha1(), key, static_cast<int>(secret_bytes.size()), message.data(), message.size(),
           mac.data(), &mac_length) == nullptr ||
      mac_length != 20) {
    throw std::runtime_error("HMAC-SHA-1 failed");
  }
  // Dynamic truncation (RFC 4226 5.3): 31 bits at the offset the last nibble names.
  const std::size_t offset = mac[19] & 0x0F;
  const std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7F) << 24) |
                               (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                               (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                               static_cast<std::uint32_t>(mac[offset + 3]);
  std::uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  auto value = binary % modulus;
  std::string code(static_cast<std::size_t>(digits), '0');
  for (auto it = code.rbegin(); it != code.rend(); ++it) {
    *it = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return code;
}

std::int64_t totp_step(std::int64_t unix_seconds) {
  std::int64_t step = unix_seconds / kTotpStepSeconds;
  if (unix_seconds % kTotpStepSeconds < 0) --step;  // floor, before the epoch too
  return step;
}

std::string totp_code(std::string_view secret_bytes, std::int64_t step) {
  return hotp_code(secret_bytes, static_cast<std::uint64_t>(step), kTotpDigits);
}

std::optional<std::int64_t> verify_totp(std::string_view secret_bytes, std::string_view code,
                                        std::int64_t unix_seconds, std::int64_t used_up_to) {
  if (secret_bytes.empty()) return std::nullopt;
  std::array<char, kTotpDigits> digits{};
  std::size_t count = 0;
  for (const char c : code) {
    if (c == ' ') continue;
    if (c < '0' || c > '9' || count == digits.size()) return std::nullopt;
    digits[count++] = c;
  }
  if (count != digits.size()) return std::nullopt;

  // Every step of the window is computed and compared, matched or not. The earliest match wins:
  // when a later step's code happens to equal a spent one's (one chance in a million), a caller
  // that refuses steps <= the last one used still refuses the replay.
  const std::int64_t now = totp_step(unix_seconds);
  std::optional<std::int64_t> matched;
  for (std::int64_t step = now - 1; step <= now + 1; ++step) {
    if (step <= used_up_to) continue;
    const auto expected = totp_code(secret_bytes, step);
    const bool equal = CRYPTO_memcmp(expected.data(), digits.data(), digits.size()) == 0;
    if (equal && !matched) matched = step;
  }
  return matched;
}

std::string otpauth_url(std::string_view issuer, std::string_view account,
                        std::string_view secret_base32) {
  std::string secret;
  for (const char c : secret_base32) {
    if (c == '=' || is_space(c)) continue;
    secret += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  std::string url = "otpauth://totp/";
  if (!issuer.empty()) url += percent_encode(issuer) + ":";
  url += percent_encode(account);
  url += "?secret=" + percent_encode(secret);
  if (!issuer.empty()) url += "&issuer=" + percent_encode(issuer);
  url += "&algorithm=SHA1&digits=6&period=30";
  return url;
}

}  // namespace chatd::auth
