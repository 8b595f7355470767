#include "chat/typing.h"

#include <gtest/gtest.h>

namespace chatd::chat {
namespace {

using std::chrono::milliseconds;

TEST(TypingTracker, AnnouncesChangesOnly) {
  TypingTracker typing(10, 2);
  auto first = typing.start("c", "u");
  EXPECT_TRUE(first.changed);
  auto refresh = typing.start("c", "u");
  EXPECT_FALSE(refresh.changed);
  EXPECT_FALSE(typing.expire("c", "u", first.generation));  // refreshed since
  EXPECT_TRUE(typing.expire("c", "u", refresh.generation));
  EXPECT_FALSE(typing.stop("c", "u"));  // already ended
  EXPECT_TRUE(typing.start("c", "u").changed);
  EXPECT_TRUE(typing.stop("c", "u"));
}

TEST(TypingTracker, RateLimitsEachUser) {
  TypingTracker typing(3, 2);
  const auto t0 = TypingTracker::Clock::now();
  EXPECT_TRUE(typing.allow("u", t0));
  EXPECT_TRUE(typing.allow("u", t0));
  EXPECT_TRUE(typing.allow("u", t0));
  EXPECT_FALSE(typing.allow("u", t0));
  EXPECT_TRUE(typing.allow("other", t0));
  EXPECT_TRUE(typing.allow("u", t0 + milliseconds(500)));  // one more after half a second
  EXPECT_FALSE(typing.allow("u", t0 + milliseconds(500)));
}

}  // namespace
}  // namespace chatd::chat
