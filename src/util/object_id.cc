#include "util/object_id.h"

#include <sodium.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace chatd {

namespace {

struct ProcessRandom {
  std::array<unsigned char, 5> bytes{};
  std::atomic<std::uint32_t> counter{0};
  ProcessRandom() {
    if (sodium_init() < 0) std::abort();
    randombytes_buf(bytes.data(), bytes.size());
    counter = randombytes_random();
  }
};

ProcessRandom& process_random() {
  static ProcessRandom random;
  return random;
}

}  // namespace

std::string new_object_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<unsigned char, 12> raw{};
  const auto seconds = static_cast<std::uint32_t>(std::time(nullptr));
  auto& random = process_random();
  const std::uint32_t count = random.counter.fetch_add(1, std::memory_order_relaxed);
  for (int i = 0; i < 4; ++i) raw[i] = static_cast<unsigned char>(seconds >> (24 - 8 * i));
  for (int i = 0; i < 5; ++i) raw[4 + i] = random.bytes[i];
  for (int i = 0; i < 3; ++i) raw[9 + i] = static_cast<unsigned char>(count >> (16 - 8 * i));
  std::string id(24, '0');
  for (std::size_t i = 0; i < raw.size(); ++i) {
    id[2 * i] = kHex[raw[i] >> 4];
    id[2 * i + 1] = kHex[raw[i] & 0xF];
  }
  return id;
}

bool is_object_id(std::string_view s) {
  if (s.size() != 24) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string random_token() {
  process_random();  // libsodium initialised
  unsigned char bytes[15];
  randombytes_buf(bytes, sizeof bytes);
  char encoded[sodium_base64_ENCODED_LEN(sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(encoded, sizeof encoded, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return encoded;
}

}  // namespace chatd
