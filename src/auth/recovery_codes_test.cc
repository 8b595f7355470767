#include "auth/recovery_codes.h"

#include <gtest/gtest.h>

#include <set>

namespace chatd::auth {
namespace {

constexpr std::string_view kAlphabet = "23456789abcdefghjkmnpqrstuvwxyz";

TEST(RecoveryCodes, AreTenDistinctReadableCodes) {
  const auto codes = generate_recovery_codes();
  ASSERT_EQ(codes.size(), 10U);
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), 10U);
  for (const auto& code : codes) {
    ASSERT_EQ(code.size(), 14U) << code;
    for (std::size_t i = 0; i < code.size(); ++i) {
      if (i == 4 || i == 9) {
        EXPECT_EQ(code[i], '-') << code;
      } else {
        EXPECT_NE(kAlphabet.find(code[i]), std::string_view::npos) << code;
      }
    }
  }
  EXPECT_EQ(generate_recovery_codes(3).size(), 3U);
  EXPECT_TRUE(generate_recovery_codes(0).empty());
}

TEST(RecoveryCodes, UseTheWholeAlphabet) {
  std::set<char> seen;
  for (const auto& code : generate_recovery_codes(200)) seen.insert(code.begin(), code.end());
  seen.erase('-');
  EXPECT_EQ(seen.size(), kAlphabet.size());
}

TEST(RecoveryCodes, HashIgnoresCaseSpacesAndDashes) {
  const auto hash = hash_recovery_code("abcd-efgh-jkmn", "u1");
  EXPECT_EQ(hash.size(), 64U);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(hash_recovery_code("ABCD EFGH JKMN", "u1"), hash);
  EXPECT_EQ(hash_recovery_code(" abcdefghjkmn ", "u1"), hash);
  EXPECT_EQ(hash_recovery_code("abcd--efgh-JkMn", "u1"), hash);
  EXPECT_NE(hash_recovery_code("abcd-efgh-jkmp", "u1"), hash);
}

TEST(RecoveryCodes, HashIsSaltedWithTheUser) {
  EXPECT_NE(hash_recovery_code("abcd-efgh-jkmn", "u1"), hash_recovery_code("abcd-efgh-jkmn", "u2"));
  // The salt and the code cannot trade characters.
  EXPECT_NE(hash_recovery_code("1abcd", "u"), hash_recovery_code("abcd", "u1"));
}

}  // namespace
}  // namespace chatd::auth
