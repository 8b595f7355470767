#include "util/object_id.h"

#include <gtest/gtest.h>

#include <set>

namespace chatd {
namespace {

TEST(ObjectId, HasTheShapeOfAMongoObjectId) {
  const auto id = new_object_id();
  EXPECT_EQ(id.size(), 24U);
  EXPECT_TRUE(is_object_id(id));
}

TEST(ObjectId, IsUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(new_object_id());
  EXPECT_EQ(ids.size(), 10000U);
}

TEST(ObjectId, RejectsOtherStrings) {
  EXPECT_FALSE(is_object_id(""));
  EXPECT_FALSE(is_object_id("12345"));
  EXPECT_FALSE(is_object_id("zzzzzzzzzzzzzzzzzzzzzzzz"));
  EXPECT_FALSE(is_object_id("0123456789abcdef012345678"));
  EXPECT_TRUE(is_object_id("0123456789abcdef01234567"));
}

TEST(RandomToken, IsTwentyUrlSafeCharactersAndUnique) {
  std::set<std::string> tokens;
  for (int i = 0; i < 1000; ++i) {
    const auto token = random_token();
    EXPECT_EQ(token.size(), 20U);
    EXPECT_EQ(
        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    tokens.insert(token);
  }
  EXPECT_EQ(tokens.size(), 1000U);
}

}  // namespace
}  // namespace chatd
