#include "auth/password.h"

#include <sodium.h>

#include <stdexcept>

#include "util/async.h"

namespace chatd::auth {

PasswordHasher::PasswordHasher(PasswordCost cost, std::size_t threads)
    : cost_(cost), pool_(threads == 0 ? 1 : threads) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  dummy_hash_ = hash_now("chatd dummy password, never a real one");
}

PasswordHasher::~PasswordHasher() {
  pool_.join();
}

std::string PasswordHasher::hash_now(std::string_view password) const {
  char encoded[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(encoded, password.data(), password.size(), cost_.ops,
                            cost_.memory_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id: out of memory");
  }
  return encoded;
}

bool PasswordHasher::verify_now(const std::string& encoded, std::string_view password) const {
  const std::string& against = encoded.empty() ? dummy_hash_ : encoded;
  const bool match =
      crypto_pwhash_str_verify(against.c_str(), password.data(), password.size()) == 0;
  return match && !encoded.empty();
}

boost::asio::awaitable<std::string> PasswordHasher::hash(std::string password) {
  auto work = [this, password = std::move(password)] { return hash_now(password); };
  return run_elsewhere([this](auto job) { boost::asio::post(pool_, std::move(job)); },
                       std::move(work));
}

boost::asio::awaitable<bool> PasswordHasher::verify(std::string encoded, std::string password) {
  auto work = [this, encoded = std::move(encoded), password = std::move(password)] {
    return verify_now(encoded, password);
  };
  return run_elsewhere([this](auto job) { boost::asio::post(pool_, std::move(job)); },
                       std::move(work));
}

}  // namespace chatd::auth
