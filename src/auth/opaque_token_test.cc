#include "auth/opaque_token.h"

#include <gtest/gtest.h>

#include <set>

namespace chatd::auth {
namespace {

TEST(OpaqueToken, Is256BitsOfBase64Url) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto token = new_opaque_token();
    EXPECT_EQ(token.size(), 43U);  // 32 bytes, no padding
    EXPECT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos)
        << token;
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 100U);
}

TEST(OpaqueToken, HashIsHexSha256) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(hash_opaque_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_opaque_token(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto token = new_opaque_token();
  EXPECT_EQ(hash_opaque_token(token), hash_opaque_token(token));
  EXPECT_NE(hash_opaque_token(token), hash_opaque_token(new_opaque_token()));
}

}  // namespace
}  // namespace chatd::auth
