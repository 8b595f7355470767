#include "engineio/forwarder.h"

#include <gtest/gtest.h>

#include <string>

namespace chatd::engineio {
namespace {

namespace http = net::http;

TEST(Forwarder, SplitsHostAndPort) {
  using Address = std::optional<std::pair<std::string, std::uint16_t>>;
  EXPECT_EQ(split_host_port("10.0.0.7:5000"), Address({"10.0.0.7", 5000}));
  EXPECT_EQ(split_host_port("chatd-2:80"), Address({"chatd-2", 80}));
  EXPECT_EQ(split_host_port("[::1]:5001"), Address({"::1", 5001}));
  EXPECT_EQ(split_host_port("10.0.0.7"), std::nullopt);
  EXPECT_EQ(split_host_port(":5000"), std::nullopt);
  EXPECT_EQ(split_host_port("host:"), std::nullopt);
  EXPECT_EQ(split_host_port("host:0"), std::nullopt);
  EXPECT_EQ(split_host_port("host:65536"), std::nullopt);
  EXPECT_EQ(split_host_port("host:50x"), std::nullopt);
  EXPECT_EQ(split_host_port("::1:5000"), std::nullopt);  // IPv6 must be bracketed
}

net::HttpRequest client_post() {
  net::HttpRequest request(http::verb::post, "/socket.io/?EIO=4&transport=polling&sid=b.xyz", 11);
  request.set(http::field::host, "chat.example.com");
  request.set(http::field::origin, "https://app.example.com");
  request.set(http::field::content_type, "text/plain;charset=UTF-8");
  request.set(http::field::cookie, "io=b.xyz");
  request.set(http::field::connection, "keep-alive");
  request.set("Keep-Alive", "timeout=5");
  request.body() =
      "40\x1e"
      "42[\"message\",1]";
  request.prepare_payload();
  return request;
}

TEST(Forwarder, PassesTheRequestOnWithoutThisHopsHeaders) {
  auto request = client_post();
  const auto body = request.body();
  const auto outbound = forwarded_request(request, "a", "203.0.113.9");
  EXPECT_EQ(outbound.method(), http::verb::post);
  EXPECT_EQ(outbound.target(), "/socket.io/?EIO=4&transport=polling&sid=b.xyz");
  EXPECT_EQ(outbound.version(), 11U);
  EXPECT_EQ(outbound.body(), body);
  EXPECT_EQ(outbound[http::field::content_length], std::to_string(body.size()));
  EXPECT_EQ(outbound[http::field::host], "chat.example.com");
  EXPECT_EQ(outbound[http::field::origin], "https://app.example.com");
  EXPECT_EQ(outbound[http::field::content_type], "text/plain;charset=UTF-8");
  EXPECT_EQ(outbound[http::field::cookie], "io=b.xyz");
  EXPECT_EQ(outbound.count("Keep-Alive"), 0U);
  EXPECT_EQ(outbound.count(http::field::connection), 0U);  // HTTP/1.1 keeps it alive by default
  EXPECT_TRUE(outbound.keep_alive());
}

TEST(Forwarder, MarksTheRequestForwardedAndAppendsTheClientAddress) {
  auto request = client_post();
  EXPECT_FALSE(Forwarder::was_forwarded(request));
  auto outbound = forwarded_request(request, "node-a", "203.0.113.9");
  EXPECT_TRUE(Forwarder::was_forwarded(outbound));
  EXPECT_EQ(outbound[kForwardedByHeader], "node-a");
  EXPECT_EQ(outbound[kForwardedForHeader], "203.0.113.9");

  auto behind_proxies = client_post();
  behind_proxies.insert(kForwardedForHeader, "198.51.100.1");
  behind_proxies.insert(kForwardedForHeader, "198.51.100.2, 198.51.100.3");
  outbound = forwarded_request(behind_proxies, "node-a", "10.0.0.2");
  EXPECT_EQ(outbound.count(kForwardedForHeader), 1U);
  EXPECT_EQ(outbound[kForwardedForHeader], "198.51.100.1, 198.51.100.2, 198.51.100.3, 10.0.0.2");

  auto unknown_address = client_post();
  unknown_address.set(kForwardedForHeader, "198.51.100.1");
  outbound = forwarded_request(unknown_address, "node-a", "");
  EXPECT_EQ(outbound[kForwardedForHeader], "198.51.100.1");
}

TEST(Forwarder, ForwardsABodilessGetWithoutContentLength) {
  net::HttpRequest request(http::verb::get, "/socket.io/?EIO=4&transport=polling&sid=b.xyz", 11);
  const auto outbound = forwarded_request(request, "a", "127.0.0.1");
  EXPECT_EQ(outbound.method(), http::verb::get);
  EXPECT_EQ(outbound.count(http::field::content_length), 0U);
  EXPECT_EQ(outbound.count(http::field::transfer_encoding), 0U);
}

}  // namespace
}  // namespace chatd::engineio
