#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace chatd::auth {

// Argon2id cost. The defaults are libsodium's "interactive" level (2 passes over 64 MiB, tens of
// milliseconds per hash here): the cost an attacker with a stolen database pays per guess.
struct PasswordCost {
  unsigned long long ops = 2;
  std::size_t memory_bytes = 64ULL << 20;
};

// Hashes and verifies passwords with Argon2id on threads of its own: a hash takes tens of
// milliseconds and tens of MiB, which must never stall a network thread. The number of threads
// bounds the memory spent on hashing at once (threads x memory_bytes).
class PasswordHasher {
 public:
  PasswordHasher(PasswordCost cost, std::size_t threads);
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;
  ~PasswordHasher();

  // The encoded hash ("$argon2id$v=19$m=...,t=...,p=1$salt$hash"), salt included.
  boost::asio::awaitable<std::string> hash(std::string password);

  // True when `password` matches `encoded`. With an empty `encoded` (unknown user) it still spends
  // the time of one verification, so response times do not tell which emails exist.
  boost::asio::awaitable<bool> verify(std::string encoded, std::string password);

  // The blocking forms, for the pool's threads and for tests.
  std::string hash_now(std::string_view password) const;
  bool verify_now(const std::string& encoded, std::string_view password) const;

 private:
  PasswordCost cost_;
  std::string dummy_hash_;  // verified against for unknown users
  boost::asio::thread_pool pool_;
};

}  // namespace chatd::auth
