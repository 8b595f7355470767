#include "auth/url_signer.h"

#include <gtest/gtest.h>

namespace chatd::auth {
namespace {

TEST(UrlSigner, VerifiesWhatItSignedAndNothingElse) {
  const UrlSigner signer("server secret");
  const auto signature = signer.sign("attachment:abc:1700000000");
  EXPECT_EQ(signature.size(), 43U);  // 32 bytes, base64url without padding
  EXPECT_EQ(signature.find_first_of("+/="), std::string::npos);
  EXPECT_TRUE(signer.verify("attachment:abc:1700000000", signature));
  EXPECT_FALSE(signer.verify("attachment:abc:1700000001", signature));
  EXPECT_FALSE(signer.verify("attachment:abc:1700000000", signature.substr(1)));
  EXPECT_FALSE(signer.verify("attachment:abc:1700000000", ""));
  auto flipped = signature;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(signer.verify("attachment:abc:1700000000", flipped));
}

TEST(UrlSigner, TheKeyDependsOnTheSecret) {
  const UrlSigner one("secret one");
  const UrlSigner same("secret one");
  const UrlSigner other("secret two");
  EXPECT_EQ(one.sign("m"), same.sign("m"));
  EXPECT_NE(one.sign("m"), other.sign("m"));
  EXPECT_FALSE(other.verify("m", one.sign("m")));
}

}  // namespace
}  // namespace chatd::auth
