#include "net/byte_range.h"

#include <gtest/gtest.h>

namespace chatd::net {
namespace {

ByteRange range(std::string_view header, std::uint64_t size) {
  const auto parsed = parse_range(header, size);
  EXPECT_TRUE(std::holds_alternative<ByteRange>(parsed)) << header;
  return std::holds_alternative<ByteRange>(parsed) ? std::get<ByteRange>(parsed) : ByteRange{};
}

bool whole(std::string_view header, std::uint64_t size) {
  return std::holds_alternative<WholeBody>(parse_range(header, size));
}

bool unsatisfiable(std::string_view header, std::uint64_t size) {
  return std::holds_alternative<Unsatisfiable>(parse_range(header, size));
}

TEST(ByteRange, OneRangeInEachForm) {
  EXPECT_EQ(range("bytes=0-99", 1000), (ByteRange{0, 99}));
  EXPECT_EQ(range("bytes=100-199", 1000), (ByteRange{100, 199}));
  EXPECT_EQ(range("bytes=900-", 1000), (ByteRange{900, 999}));
  EXPECT_EQ(range("bytes=-500", 1000), (ByteRange{500, 999}));
  EXPECT_EQ(range("Bytes=5-5", 1000), (ByteRange{5, 5}));
  EXPECT_EQ(range("bytes=5-5", 1000).length(), 1U);
}

TEST(ByteRange, PastTheEndIsClampedOrUnsatisfiable) {
  EXPECT_EQ(range("bytes=990-2000", 1000), (ByteRange{990, 999}));
  EXPECT_EQ(range("bytes=-5000", 1000), (ByteRange{0, 999}));
  EXPECT_TRUE(unsatisfiable("bytes=1000-", 1000));
  EXPECT_TRUE(unsatisfiable("bytes=1000-1001", 1000));
  EXPECT_TRUE(unsatisfiable("bytes=-0", 1000));
  EXPECT_TRUE(unsatisfiable("bytes=0-", 0));
}

TEST(ByteRange, AnythingElseMeansTheWholeBody) {
  for (const auto* header :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-4", "bytes=0-1,5-6", "items=0-1",
        "bytes=+1-2", "bytes= 1 - 2", "bytes=99999999999999999999999-", "bytes=1-2x"}) {
    EXPECT_TRUE(whole(header, 1000)) << header;
  }
}

}  // namespace
}  // namespace chatd::net
