#include "auth/token.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>

namespace chatd::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::string b64url(std::string_view s) {
  std::string out(sodium_base64_encoded_len(s.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

// A token signed by libjwt with any algorithm and key, to attack the verifier with.
std::string forge(jwt_alg_t alg, const std::string& key, const std::string& payload_json) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, payload_json.c_str());
  jwt_set_alg(jwt, alg,
              alg == JWT_ALG_NONE ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
              alg == JWT_ALG_NONE ? 0 : static_cast<int>(key.size()));
  char* s = jwt_encode_str(jwt);
  std::string token(s ? s : "");
  free(s);
  jwt_free(jwt);
  return token;
}

TEST(TokenIssuer, IssuesAndVerifiesIdIatExp) {
  TokenIssuer issuer("secret", std::chrono::hours(24));
  const auto token = issuer.issue_at({"abc123", "s1"}, kNow);
  auto claims = issuer.verify_at(token, kNow + 10);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->user_id, "abc123");
  EXPECT_EQ(claims->session_id, "s1");

  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_decode(&jwt, token.c_str(), nullptr, 0), 0);
  EXPECT_EQ(jwt_get_grant_int(jwt, "iat"), kNow);
  EXPECT_EQ(jwt_get_grant_int(jwt, "exp"), kNow + 24 * 3600);
  jwt_free(jwt);
}

TEST(TokenIssuer, RefusesExpiredTokens) {
  TokenIssuer issuer("secret", std::chrono::seconds(60));
  const auto token = issuer.issue_at({"u", "s"}, kNow);
  EXPECT_TRUE(issuer.verify_at(token, kNow + 59).ok());
  auto expired = issuer.verify_at(token, kNow + 60);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, Errc::unauthorized);
  EXPECT_EQ(expired.error().message, "Not authorized, token failed");
}

TEST(TokenIssuer, RefusesOtherSecretsAndTampering) {
  TokenIssuer issuer("secret", std::chrono::hours(1));
  TokenIssuer other("other secret", std::chrono::hours(1));
  EXPECT_FALSE(issuer.verify_at(other.issue_at({"u", "s"}, kNow), kNow).ok());

  auto token = issuer.issue_at({"u", "s"}, kNow);
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  const std::string payload =
      b64url(R"({"id":"admin","sid":"s","iat":1800000000,"exp":1900000000})");
  const auto tampered = token.substr(0, first + 1) + payload + token.substr(second);
  EXPECT_FALSE(issuer.verify_at(tampered, kNow).ok());
}

TEST(TokenIssuer, PinsTheAlgorithm) {
  TokenIssuer issuer("secret", std::chrono::hours(1));
  const std::string claims = R"({"id":"u","sid":"s","iat":1800000000,"exp":1900000000})";
  EXPECT_TRUE(issuer.verify_at(forge(JWT_ALG_HS256, "secret", claims), kNow).ok());
  EXPECT_FALSE(issuer.verify_at(forge(JWT_ALG_HS512, "secret", claims), kNow).ok());
  EXPECT_FALSE(issuer.verify_at(forge(JWT_ALG_HS384, "secret", claims), kNow).ok());
  // alg "none", built by hand as an attacker would: header.payload. with no signature.
  const auto none = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims) + ".";
  EXPECT_FALSE(issuer.verify_at(none, kNow).ok());
  const auto none_upper = b64url(R"({"alg":"NONE"})") + "." + b64url(claims) + ".";
  EXPECT_FALSE(issuer.verify_at(none_upper, kNow).ok());
}

TEST(TokenIssuer, RefusesMalformedTokens) {
  TokenIssuer issuer("secret", std::chrono::hours(1));
  for (const char* bad : {"", ".", "..", "abc", "a.b.c", "Bearer x", "eyJ.eyJ.sig"}) {
    EXPECT_FALSE(issuer.verify_at(bad, kNow).ok()) << bad;
  }
  const std::string no_exp = R"({"id":"u","sid":"s","iat":1800000000})";
  EXPECT_FALSE(issuer.verify_at(forge(JWT_ALG_HS256, "secret", no_exp), kNow).ok());
  const std::string no_id = R"({"sid":"s","iat":1800000000,"exp":1900000000})";
  EXPECT_FALSE(issuer.verify_at(forge(JWT_ALG_HS256, "secret", no_id), kNow).ok());
  // A classic token without a session verifies, with no session (the caller decides).
  const std::string no_sid = R"({"id":"u","iat":1800000000,"exp":1900000000})";
  auto classic = issuer.verify_at(forge(JWT_ALG_HS256, "secret", no_sid), kNow);
  ASSERT_TRUE(classic.ok());
  EXPECT_EQ(classic->user_id, "u");
  EXPECT_EQ(classic->session_id, "");
}

TEST(Secret, IsCreatedOnceWithMode0600) {
  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "chatd-secret-XXXXXX").string();
  const fs::path dir = mkdtemp(pattern.data());
  const auto first = load_or_create_secret(dir);
  EXPECT_EQ(first.size(), 64U);
  EXPECT_EQ(load_or_create_secret(dir), first);
  struct stat st {};
  ASSERT_EQ(stat((dir / "jwt_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chatd::auth
