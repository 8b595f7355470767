#include "net/cors.h"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

namespace chatd::net {
namespace {

HttpRequest from(std::string_view origin) {
  HttpRequest request(http::verb::options, "/api/user", 11);
  request.set(http::field::origin, origin);
  request.set(http::field::access_control_request_method, "POST");
  request.set(http::field::access_control_request_headers, "authorization,content-type");
  return request;
}

TEST(Cors, ReflectsAnyOriginByDefault) {
  CorsPolicy cors;
  auto response = cors.preflight(from("http://localhost:3000"));
  EXPECT_EQ(response.result(), http::status::no_content);
  EXPECT_EQ(response[http::field::access_control_allow_origin], "http://localhost:3000");
  EXPECT_EQ(response[http::field::access_control_allow_headers], "authorization,content-type");
  EXPECT_NE(response[http::field::access_control_allow_methods].find("PUT"), std::string::npos);
}

TEST(Cors, AnAllowlistRefusesOtherOrigins) {
  CorsPolicy cors({"https://chat.example.com"});
  EXPECT_TRUE(cors.allows("https://chat.example.com"));
  EXPECT_FALSE(cors.allows("https://evil.example.com"));
  auto refused = cors.preflight(from("https://evil.example.com"));
  EXPECT_EQ(refused.find(http::field::access_control_allow_origin), refused.end());

  HttpResponse response(http::status::ok, 11);
  cors.decorate(from("https://chat.example.com"), response);
  EXPECT_EQ(response[http::field::access_control_allow_origin], "https://chat.example.com");
  EXPECT_EQ(response[http::field::vary], "Origin");
}

TEST(Cors, StarAllowsEveryOrigin) {
  CorsPolicy cors({"https://a.example", "*"});
  EXPECT_TRUE(cors.allows("https://anything.example"));
}

}  // namespace
}  // namespace chatd::net
