#include "auth/password.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "util/run_blocking.h"

namespace chatd::auth {
namespace {

// The cheapest Argon2id cost libsodium accepts: these tests are about behaviour, not strength.
constexpr PasswordCost kFast{1, 8192};

TEST(PasswordHasher, HashesWithArgon2idAndVerifies) {
  PasswordHasher hasher(kFast, 1);
  const auto encoded = hasher.hash_now("correct horse");
  EXPECT_EQ(encoded.rfind("$argon2id$", 0), 0U);
  EXPECT_TRUE(hasher.verify_now(encoded, "correct horse"));
  EXPECT_FALSE(hasher.verify_now(encoded, "correct horsE"));
  EXPECT_NE(hasher.hash_now("correct horse"), encoded);  // salted
}

TEST(PasswordHasher, UnknownUserNeverVerifies) {
  PasswordHasher hasher(kFast, 1);
  EXPECT_FALSE(hasher.verify_now("", "chatd dummy password, never a real one"));
  EXPECT_FALSE(hasher.verify_now("not a hash", "x"));
}

TEST(PasswordHasher, RunsOffTheCallingThread) {
  // The loop outlives the hasher: a hashing thread may still be waking it (inside its post) when
  // the coroutine it resumed has already finished (ThreadSanitizer saw the loop destroyed then).
  boost::asio::io_context io;
  PasswordHasher hasher(kFast, 2);
  const auto encoded = run_blocking(io, hasher.hash("pa55word"));
  EXPECT_TRUE(run_blocking(io, hasher.verify(encoded, "pa55word")));
  EXPECT_FALSE(run_blocking(io, hasher.verify(encoded, "other")));
}

}  // namespace
}  // namespace chatd::auth
