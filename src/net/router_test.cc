#include "net/router.h"

#include <gtest/gtest.h>

namespace chatd::net {
namespace {

Handler named(int& hits) {
  return [&hits](Request&) -> boost::asio::awaitable<HttpResponse> {
    ++hits;
    co_return text_response(http::status::ok, "");
  };
}

TEST(SplitPath, DropsTheLeadingAndTrailingSlash) {
  EXPECT_EQ(split_path("/api/user"), (std::vector<std::string>{"api", "user"}));
  EXPECT_EQ(split_path("/api/user/"), (std::vector<std::string>{"api", "user"}));
  EXPECT_TRUE(split_path("/").empty());
}

TEST(Router, MatchesLiteralsCaseInsensitivelyAndCapturesParams) {
  Router router;
  int a = 0, b = 0;
  router.add(http::verb::put, "/api/chat/grouprename", named(a));
  router.add(http::verb::get, "/api/message/:chatId/:messageId/status", named(b));

  auto m = router.match(http::verb::put, {"API", "Chat", "groupRename"});
  ASSERT_NE(m.handler, nullptr);

  m = router.match(http::verb::get, {"api", "message", "c1", "m 2", "status"});
  ASSERT_NE(m.handler, nullptr);
  ASSERT_EQ(m.params.size(), 2U);
  EXPECT_EQ(m.params[0], (std::pair<std::string, std::string>{"chatId", "c1"}));
  EXPECT_EQ(m.params[1], (std::pair<std::string, std::string>{"messageId", "m 2"}));
}

TEST(Router, RefusesOtherMethodsLengthsAndEmptyParams) {
  Router router;
  int a = 0;
  router.add(http::verb::get, "/api/message/:chatId", named(a));
  EXPECT_EQ(router.match(http::verb::post, {"api", "message", "x"}).handler, nullptr);
  EXPECT_EQ(router.match(http::verb::get, {"api", "message"}).handler, nullptr);
  EXPECT_EQ(router.match(http::verb::get, {"api", "message", "x", "y"}).handler, nullptr);
  EXPECT_EQ(router.match(http::verb::get, {"api", "message", ""}).handler, nullptr);
}

TEST(Router, FirstRegisteredRouteWins) {
  Router router;
  int literal = 0, param = 0;
  router.add(http::verb::post, "/api/chat/group", named(literal));
  router.add(http::verb::post, "/api/chat/:id", named(param));
  auto m = router.match(http::verb::post, {"api", "chat", "group"});
  ASSERT_NE(m.handler, nullptr);
  EXPECT_TRUE(m.params.empty());
}

}  // namespace
}  // namespace chatd::net
