#include "auth/recovery_codes.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace chatd::auth {

namespace {

// Digits and lower-case letters less 0, 1, i, l and o.
constexpr std::string_view kAlphabet = "23456789abcdefghjkmnpqrstuvwxyz";
constexpr int kGroups = 3;
constexpr int kGroupLength = 4;

std::string new_code() {
  std::string code;
  for (int group = 0; group < kGroups; ++group) {
    if (group > 0) code += '-';
    for (int i = 0; i < kGroupLength; ++i) {
      // randombytes_uniform draws without modulo bias.
      code += kAlphabet[randombytes_uniform(static_cast<std::uint32_t>(kAlphabet.size()))];
    }
  }
  return code;
}

}  // namespace

std::vector<std::string> generate_recovery_codes(int count) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  std::vector<std::string> codes;
  codes.reserve(static_cast<std::size_t>(std::max(count, 0)));
  while (static_cast<int>(codes.size()) < count) {
    auto code = new_code();
    if (std::find(codes.begin(), codes.end(), code) == codes.end())
      codes.push_back(std::move(code));
  }
  return codes;
}

std::string hash_recovery_code(std::string_view code, std::string_view user_id) {
  std::string normalized;
  normalized.reserve(code.size());
  for (const char c : code) {
    if (c == ' ' || c == '-' || c == '\t') continue;
    normalized += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  // Domain-separated and unambiguous: a user id never holds a NUL.
  std::string input = "chatd recovery code";
  input += '\0';
  input += user_id;
  input += '\0';
  input += normalized;
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size());
  sodium_memzero(input.data(), input.size());
  sodium_memzero(normalized.data(), normalized.size());
  std::string hex(digest.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  hex.pop_back();
  return hex;
}

}  // namespace chatd::auth
