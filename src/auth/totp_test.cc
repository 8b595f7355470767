#include "auth/totp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace chatd::auth {
namespace {

// The seed of RFC 4226 appendix D and RFC 6238 appendix B (SHA-1).
constexpr std::string_view kRfcSecret = "12345678901234567890";

TEST(Base32, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base32_encode(""), "");
  EXPECT_EQ(base32_encode("f"), "MY");
  EXPECT_EQ(base32_encode("fo"), "MZXQ");
  EXPECT_EQ(base32_encode("foo"), "MZXW6");
  EXPECT_EQ(base32_encode("foob"), "MZXW6YQ");
  EXPECT_EQ(base32_encode("fooba"), "MZXW6YTB");
  EXPECT_EQ(base32_encode("foobar"), "MZXW6YTBOI");
}

TEST(Base32, DecodesRfc4648VectorsWithOrWithoutPadding) {
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "MY======"},
                                                                   {"fo", "MZXQ===="},
                                                                   {"foo", "MZXW6==="},
                                                                   {"foob", "MZXW6YQ="},
                                                                   {"fooba", "MZXW6YTB"},
                                                                   {"foobar", "MZXW6YTBOI======"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base32_decode(encoded), std::string(plain)) << encoded;
    auto bare = std::string(encoded);
    bare.erase(std::min(bare.find('='), bare.size()));
    EXPECT_EQ(base32_decode(bare), std::string(plain)) << bare;
  }
}

TEST(Base32, DecodesAsPeopleTypeIt) {
  EXPECT_EQ(base32_decode("mzxw 6ytb oi"), "foobar");
  EXPECT_EQ(base32_decode("MzXw6YtBoI=="), "foobar");
  EXPECT_EQ(base32_decode(" MZXW6YTBOI\n"), "foobar");
}

TEST(Base32, RefusesWhatIsNotBase32) {
  EXPECT_FALSE(base32_decode("MZXW0"));  // 0, 1, 8, 9 are not in the alphabet
  EXPECT_FALSE(base32_decode("MZXW1"));
  EXPECT_FALSE(base32_decode("MZXW8"));
  EXPECT_FALSE(base32_decode("MZ-XW"));
  EXPECT_FALSE(base32_decode("M"));  // lengths that encode no whole byte
  EXPECT_FALSE(base32_decode("MZX"));
  EXPECT_FALSE(base32_decode("MZXW6Y"));
  EXPECT_FALSE(base32_decode("MZXW6YTBM"));
}

TEST(Base32, RoundTripsEveryByteAndLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes += static_cast<char>(i);
    const auto encoded = base32_encode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    EXPECT_EQ(base32_decode(encoded), bytes) << i;
  }
}

TEST(Totp, GeneratesRandom160BitSecrets) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const auto secret = generate_totp_secret();
    EXPECT_EQ(secret.size(), 32U);
    const auto bytes = base32_decode(secret);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(bytes->size(), 20U);
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 20U);
}

TEST(Hotp, MatchesRfc4226AppendixD) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t counter = 0; counter < 10; ++counter) {
    EXPECT_EQ(hotp_code(kRfcSecret, counter), expected[counter]) << counter;
  }
}

struct Rfc6238Vector {
  std::int64_t time;
  std::int64_t step;
  std::string_view code8;
};

// RFC 6238 appendix B, SHA-1 rows. Its codes have 8 digits; ours are the same truncation modulo
// 10^6, that is its last 6 digits.
constexpr Rfc6238Vector kRfc6238[] = {
    {59, 1, "94287082"},
    {1111111109, 37037036, "07081804"},
    {1111111111, 37037037, "14050471"},
    {1234567890, 41152263, "89005924"},
    {2000000000, 66666666, "69279037"},
    {20000000000, 666666666, "65353130"},
};

TEST(Totp, MatchesRfc6238AppendixB) {
  for (const auto& v : kRfc6238) {
    EXPECT_EQ(totp_step(v.time), v.step) << v.time;
    EXPECT_EQ(hotp_code(kRfcSecret, static_cast<std::uint64_t>(v.step), 8), v.code8) << v.time;
    const auto code6 = std::string(v.code8.substr(2));
    EXPECT_EQ(totp_code(kRfcSecret, v.step), code6) << v.time;
    EXPECT_EQ(verify_totp(kRfcSecret, code6, v.time), v.step) << v.time;
  }
}

TEST(Totp, StepsAreThirtySecondsFromTheEpoch) {
  EXPECT_EQ(totp_step(0), 0);
  EXPECT_EQ(totp_step(29), 0);
  EXPECT_EQ(totp_step(30), 1);
  EXPECT_EQ(totp_step(-1), -1);
  EXPECT_EQ(totp_step(-30), -1);
  EXPECT_EQ(totp_step(-31), -2);
}

TEST(Totp, AcceptsOneStepOfDriftEitherSide) {
  constexpr std::int64_t kNow = 1'800'000'015;  // step 60000000, 15 s in
  const std::int64_t step = totp_step(kNow);
  EXPECT_EQ(verify_totp(kRfcSecret, totp_code(kRfcSecret, step), kNow), step);
  EXPECT_EQ(verify_totp(kRfcSecret, totp_code(kRfcSecret, step - 1), kNow), step - 1);
  EXPECT_EQ(verify_totp(kRfcSecret, totp_code(kRfcSecret, step + 1), kNow), step + 1);
  EXPECT_FALSE(verify_totp(kRfcSecret, totp_code(kRfcSecret, step - 2), kNow));
  EXPECT_FALSE(verify_totp(kRfcSecret, totp_code(kRfcSecret, step + 2), kNow));
  // The window moves with the clock: a code is good from one step before its own to one after.
  const auto code = totp_code(kRfcSecret, step);
  EXPECT_EQ(verify_totp(kRfcSecret, code, kNow - 30), step);
  EXPECT_EQ(verify_totp(kRfcSecret, code, kNow + 30), step);
  EXPECT_FALSE(verify_totp(kRfcSecret, code, kNow + 60));
}

TEST(Totp, SkipsStepsAlreadyUsed) {
  constexpr std::int64_t kNow = 1'800'000'015;
  const std::int64_t step = totp_step(kNow);
  const auto code = totp_code(kRfcSecret, step);
  EXPECT_EQ(verify_totp(kRfcSecret, code, kNow, step - 1), step);
  EXPECT_FALSE(verify_totp(kRfcSecret, code, kNow, step));  // the replay
  EXPECT_FALSE(verify_totp(kRfcSecret, totp_code(kRfcSecret, step - 1), kNow, step));
  EXPECT_EQ(verify_totp(kRfcSecret, totp_code(kRfcSecret, step + 1), kNow, step), step + 1);
}

TEST(Totp, ToleratesSpacesRefusesGarbage) {
  constexpr std::int64_t kTime = 59;  // code 287082 at step 1
  EXPECT_EQ(verify_totp(kRfcSecret, "287 082", kTime), 1);
  EXPECT_EQ(verify_totp(kRfcSecret, " 287082 ", kTime), 1);
  for (const std::string_view garbage :
       {"", "      ", "28708", "2870820", "94287082", "287o82", "287-082", "28708x", "+87082",
        "287082\n", "２８７０８２"}) {
    EXPECT_FALSE(verify_totp(kRfcSecret, garbage, kTime)) << garbage;
  }
  EXPECT_FALSE(verify_totp(kRfcSecret, "287083", kTime));
  EXPECT_FALSE(verify_totp("", totp_code("", 1), kTime));  // no secret, no login
  EXPECT_FALSE(verify_totp("another secret", "287082", kTime));
}

TEST(Totp, CodesAreZeroPadded) {
  // Step 37037036 of the RFC secret is ...081804: a leading zero in 6 digits.
  EXPECT_EQ(totp_code(kRfcSecret, 37037036), "081804");
  EXPECT_EQ(hotp_code(kRfcSecret, 37037036, 8), "07081804");
}

TEST(OtpauthUrl, FollowsTheKeyUriFormat) {
  EXPECT_EQ(otpauth_url("chatd", "alice@example.com", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/chatd:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=chatd"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUrl, PercentEncodesIssuerAndAccount) {
  EXPECT_EQ(otpauth_url("Acme Co: Chat", "zoë&bob?x=1/2#3", "jbsw y3dp ehpk 3pxp===="),
            "otpauth://totp/Acme%20Co%3A%20Chat:zo%C3%AB%26bob%3Fx%3D1%2F2%233"
            "?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Co%3A%20Chat&algorithm=SHA1&digits=6"
            "&period=30");
  EXPECT_EQ(otpauth_url("", "a+b", "MZXW6"),
            "otpauth://totp/a%2Bb?secret=MZXW6&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace chatd::auth
