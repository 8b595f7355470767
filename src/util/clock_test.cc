#include "util/clock.h"

#include <gtest/gtest.h>

namespace chatd::clock {
namespace {

TEST(Clock, FormatsIso8601WithMilliseconds) {
  EXPECT_EQ(iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601(1795508704123), "2026-11-24T08:25:04.123Z");
  EXPECT_EQ(iso8601(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Clock, NowIsAfter2020) {
  EXPECT_GT(now_ms(), 1577836800000);
}

}  // namespace
}  // namespace chatd::clock
