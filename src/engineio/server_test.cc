#include "engineio/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "engineio/forwarder.h"
#include "engineio/sid.h"
#include "net/router.h"

namespace chatd::engineio {
namespace {

namespace http = net::http;

ServerOptions cluster_options(std::string node_id) {
  ServerOptions options;
  options.node_id = std::move(node_id);
  return options;
}

TEST(ServerOptions, NodeIdIsOptional) {
  asio::io_context io;
  EXPECT_NO_THROW(Server(ServerOptions{}, {io.get_executor()}));
  EXPECT_NO_THROW(Server(cluster_options("node-1"), {io.get_executor()}));
  EXPECT_NO_THROW(Server(cluster_options(std::string(32, 'n')), {io.get_executor()}));
}

TEST(ServerOptions, RefusesNodeIdsThatCannotNameANodeInASid) {
  asio::io_context io;
  for (const auto* bad : {"node.1", "node 1", "nöde", "a/b", "x?y"}) {
    EXPECT_THROW(Server(cluster_options(bad), {io.get_executor()}), std::invalid_argument) << bad;
  }
  EXPECT_THROW(Server(cluster_options(std::string(33, 'n')), {io.get_executor()}),
               std::invalid_argument);
}

asio::awaitable<void> call(const net::Handler& handler, net::Request& request,
                           std::optional<net::HttpResponse>& response) {
  response = co_await handler(request);
}

// A polling server on one io_context, driven through its routes as the HTTP server would.
class PollingServer {
 public:
  explicit PollingServer(ServerOptions options)
      : server_(std::move(options), {io_.get_executor()}) {
    server_.attach(router_, "/engine.io/");
  }
  ~PollingServer() {
    server_.close_all();
    io_.restart();
    io_.poll();
  }
  PollingServer(const PollingServer&) = delete;
  PollingServer& operator=(const PollingServer&) = delete;

  net::HttpResponse request(http::verb method, const std::string& target, std::string body = {},
                            std::string_view forwarded_by = {}) {
    const auto parsed = net::parse_target(target);
    net::Request request{net::HttpRequest(method, target, 11), parsed->path, {}, parsed->query, {}};
    request.message.body() = std::move(body);
    if (!forwarded_by.empty()) request.message.set(kForwardedByHeader, forwarded_by);
    const auto match = router_.match(method, parsed->segments);
    std::optional<net::HttpResponse> response;
    // Sessions keep timers: run until the answer, not until the io_context is out of work.
    asio::co_spawn(io_, call(*match.handler, request, response),
                   [this](const std::exception_ptr&) { io_.stop(); });
    io_.restart();
    io_.run();
    return std::move(*response);
  }

  // The sid of a new session.
  std::string handshake() {
    const auto response = request(http::verb::get, "/engine.io/?EIO=4&transport=polling");
    EXPECT_EQ(response.result(), http::status::ok);
    const auto& body = response.body();
    EXPECT_EQ(body.front(), '0');
    const auto open = boost::json::parse(body.substr(1, body.find('\x1e') - 1));
    return std::string(open.at("sid").as_string());
  }

 private:
  asio::io_context io_;
  net::Router router_;
  Server server_;
};

void expect_unknown_session(const net::HttpResponse& response) {
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_EQ(boost::json::parse(response.body()),
            boost::json::parse(R"({"code":1,"message":"Session ID unknown"})"));
}

TEST(ServerSessions, SidsAreTokensOnASingleNode) {
  PollingServer server(ServerOptions{});
  const auto sid = server.handshake();
  EXPECT_EQ(sid.find('.'), std::string::npos);
  EXPECT_EQ(owner_node(sid), "");
}

TEST(ServerSessions, SidsNameTheirNodeInACluster) {
  PollingServer server(cluster_options("node-a"));
  const auto sid = server.handshake();
  EXPECT_EQ(owner_node(sid), "node-a");
  const auto poll =
      server.request(http::verb::post, "/engine.io/?EIO=4&transport=polling&sid=" + sid, "3");
  EXPECT_EQ(poll.result(), http::status::ok);
  EXPECT_EQ(poll.body(), "ok");
}

// A cluster node whose peers are all in `peers`, counting the look-ups.
struct Cluster {
  std::map<std::string, std::string> peers;
  std::shared_ptr<std::atomic<int>> lookups = std::make_shared<std::atomic<int>>(0);

  ServerOptions options(std::string node_id) const {
    auto options = cluster_options(std::move(node_id));
    options.locate_node = [peers = peers, lookups = lookups](std::string_view node) {
      ++*lookups;
      const auto it = peers.find(std::string(node));
      return it == peers.end() ? std::nullopt : std::optional(it->second);
    };
    return options;
  }
};

TEST(ServerForwarding, AnUnknownNodesSidIsUnknown) {
  Cluster cluster;
  PollingServer server(cluster.options("node-a"));
  expect_unknown_session(
      server.request(http::verb::get, "/engine.io/?EIO=4&transport=polling&sid=node-z.abc"));
  EXPECT_EQ(*cluster.lookups, 1);
}

TEST(ServerForwarding, ItsOwnAndNodelessSidsAreNeverForwarded) {
  Cluster cluster;
  PollingServer server(cluster.options("node-a"));
  for (const auto* sid : {"node-a.abc", "abc", "bad%20node.abc"}) {
    expect_unknown_session(server.request(
        http::verb::post, std::string("/engine.io/?EIO=4&transport=polling&sid=") + sid, "3"));
  }
  EXPECT_EQ(*cluster.lookups, 0);
}

// A loopback port nothing listens on: connecting to it is refused at once.
std::string closed_port_address() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
}

TEST(ServerForwarding, AnUnreachableOwnerMeansAnUnknownSessionAtOnce) {
  Cluster cluster;
  cluster.peers["node-b"] = closed_port_address();
  PollingServer server(cluster.options("node-a"));
  const auto started = std::chrono::steady_clock::now();
  expect_unknown_session(
      server.request(http::verb::get, "/engine.io/?EIO=4&transport=polling&sid=node-b.abc"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  EXPECT_EQ(*cluster.lookups, 1);
}

TEST(ServerForwarding, AForwardedRequestIsNeverForwardedAgain) {
  Cluster cluster;
  cluster.peers["node-b"] = closed_port_address();
  PollingServer server(cluster.options("node-a"));
  expect_unknown_session(server.request(
      http::verb::get, "/engine.io/?EIO=4&transport=polling&sid=node-b.abc", "", "node-c"));
  EXPECT_EQ(*cluster.lookups, 0);
}

TEST(ServerForwarding, OnlyPollingMethodsAreForwarded) {
  Cluster cluster;
  cluster.peers["node-b"] = closed_port_address();
  PollingServer server(cluster.options("node-a"));
  expect_unknown_session(
      server.request(http::verb::put, "/engine.io/?EIO=4&transport=polling&sid=node-b.abc"));
  EXPECT_EQ(*cluster.lookups, 0);
}

}  // namespace
}  // namespace chatd::engineio
