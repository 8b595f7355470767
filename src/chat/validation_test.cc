#include "chat/validation.h"

#include <gtest/gtest.h>

namespace chatd::chat {
namespace {

TEST(Validation, RequiredTextIsTrimmedAndBounded) {
  EXPECT_EQ(*required_text("  Alice  ", "Name", 100), "Alice");
  EXPECT_EQ(required_text("   ", "Name", 100).error().message, "Name is required");
  EXPECT_TRUE(required_text(std::string(100, 'a'), "Name", 100).ok());
  EXPECT_FALSE(required_text(std::string(101, 'a'), "Name", 100).ok());
  // Characters, not bytes: 100 two-byte characters fit.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xc3\xa9";
  EXPECT_TRUE(required_text(accents, "Name", 100).ok());
  EXPECT_EQ(required_text("\xff", "Name", 100).error().code, Errc::invalid_input);
}

TEST(Validation, Emails) {
  EXPECT_EQ(*valid_email(" Bob@Example.com ", 254), "Bob@Example.com");
  for (const char* bad : {"bob", "@x.io", "bob@", "a@b@c", "a b@c.io", ""}) {
    EXPECT_FALSE(valid_email(bad, 254).ok()) << bad;
  }
  EXPECT_FALSE(valid_email(std::string(250, 'a') + "@x.io", 254).ok());
}

TEST(Validation, PasswordsKeepTheirSpaces) {
  EXPECT_TRUE(valid_password(" 8 chars", 8, 128).ok());
  EXPECT_FALSE(valid_password("short", 8, 128).ok());
  EXPECT_FALSE(valid_password(std::string(129, 'p'), 8, 128).ok());
}

TEST(Validation, Content) {
  EXPECT_TRUE(valid_content(" hi ", 4000).ok());
  EXPECT_FALSE(valid_content(" \n ", 4000).ok());
  EXPECT_FALSE(valid_content(std::string(4001, 'x'), 4000).ok());
  EXPECT_FALSE(valid_content("bad \xc0\xaf", 4000).ok());
}

TEST(Validation, IdsThatCannotExistAreNotFound) {
  EXPECT_EQ(*valid_id("0123456789ABCDEF01234567", "Chat"), "0123456789abcdef01234567");
  EXPECT_EQ(valid_id("42", "Chat").error().code, Errc::not_found);
  EXPECT_EQ(valid_id("' OR 1=1 --", "Chat").error().message, "Chat not found");
}

}  // namespace
}  // namespace chatd::chat
