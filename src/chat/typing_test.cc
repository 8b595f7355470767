#include "chat/typing.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "util/run_blocking.h"

namespace chatd::chat {
namespace {

using std::chrono::milliseconds;

TEST(TypingTracker, AnnouncesChangesOnly) {
  boost::asio::io_context io;
  TypingTracker typing(10, 2);
  auto first = run_blocking(io, typing.start("c", "u"));
  EXPECT_TRUE(first.changed);
  auto refresh = run_blocking(io, typing.start("c", "u"));
  EXPECT_FALSE(refresh.changed);
  EXPECT_FALSE(run_blocking(io, typing.expire("c", "u", first.generation)));  // refreshed since
  EXPECT_TRUE(run_blocking(io, typing.expire("c", "u", refresh.generation)));
  EXPECT_FALSE(run_blocking(io, typing.stop("c", "u")));  // already ended
  EXPECT_TRUE(run_blocking(io, typing.start("c", "u")).changed);
  EXPECT_TRUE(run_blocking(io, typing.stop("c", "u")));
}

TEST(TypingTracker, RateLimitsEachUser) {
  TypingTracker typing(3, 2);
  const auto t0 = TypingTracker::Clock::now();
  EXPECT_TRUE(typing.allow_at("u", t0));
  EXPECT_TRUE(typing.allow_at("u", t0));
  EXPECT_TRUE(typing.allow_at("u", t0));
  EXPECT_FALSE(typing.allow_at("u", t0));
  EXPECT_TRUE(typing.allow_at("other", t0));
  EXPECT_TRUE(typing.allow_at("u", t0 + milliseconds(500)));  // one more after half a second
  EXPECT_FALSE(typing.allow_at("u", t0 + milliseconds(500)));
}

}  // namespace
}  // namespace chatd::chat
