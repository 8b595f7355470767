#include "util/json.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace chatd::json {
namespace {

std::string round_trip(std::string_view text) {
  auto value = parse(text);
  return value ? boost::json::serialize(*value) : "<invalid>";
}

TEST(Json, ReadsDoublesExactly) {
  auto value = parse("[123456789.12345679,0.30000000000000004,1234.5678901234567,5e-324]");
  ASSERT_TRUE(value.has_value());
  const auto& a = value->as_array();
  EXPECT_EQ(a[0].as_double(), 123456789.12345679);
  EXPECT_EQ(a[1].as_double(), 0.1 + 0.2);
  EXPECT_EQ(a[2].as_double(), 1234.5678901234567);
  EXPECT_EQ(a[3].as_double(), 5e-324);
}

TEST(Json, NumbersBeyondADoubleBecomeNull) {
  EXPECT_EQ(round_trip("[1e999,-1e999,1]"), "[null,null,1]");
  EXPECT_EQ(round_trip("{\"a\":[2e400]}"), R"({"a":[null]})");
}

TEST(Json, LoneSurrogatesBecomeReplacementCharacters) {
  EXPECT_EQ(round_trip(R"(["\ud800","a\udc00b","\ud83d\ude00","\\ud800"])"),
            "[\"\xef\xbf\xbd\",\"a\xef\xbf\xbd"
            "b\",\"\xf0\x9f\x98\x80\",\"\\\\ud800\"]");
}

TEST(Json, AcceptsDeepNesting) {
  const std::string deep = std::string(200, '[') + "1" + std::string(200, ']');
  EXPECT_EQ(round_trip(deep), deep);
}

TEST(Json, RefusesWhatIsNotOneDocument) {
  for (const char* bad : {"", "[", "[1,]", "{} {}", "nul", "\"\xff\"", "[1] x"}) {
    EXPECT_FALSE(parse(bad).has_value()) << bad;
  }
  EXPECT_EQ(round_trip(R"( {"k":[true,false,null,-1,18446744073709551615]} )"),
            R"({"k":[true,false,null,-1,18446744073709551615]})");
}

}  // namespace
}  // namespace chatd::json
