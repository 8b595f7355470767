#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"
#include "net/socket_stream.h"

namespace chatd::net {

// Routes requests by method and path, the way Express does for the classic backends: literal
// segments match case-insensitively, `:name` segments capture (decoded) values, and a trailing
// slash is optional.
// Takes over a connection whose request asked to upgrade (to WebSocket): the handler owns the
// stream (plain or TLS) from then on, and the HTTP server forgets the connection.
using UpgradeHandler = std::function<boost::asio::awaitable<void>(SocketStream, HttpRequest)>;

class Router {
 public:
  void add(http::verb method, std::string_view pattern, Handler handler);
  // A route whose handler reads the body itself, piece by piece (Request::read_body), as it
  // arrives: uploads, which must never sit whole in memory. The server's body limit does not
  // apply; the handler enforces its own.
  void add_streamed(http::verb method, std::string_view pattern, Handler handler);
  void add_upgrade(std::string_view pattern, UpgradeHandler handler);

  // No handler when nothing matches (a wrong method is no match either, as in Express).
  struct Match {
    const Handler* handler = nullptr;
    std::vector<std::pair<std::string, std::string>> params;
    bool streamed_body = false;
  };

  // `segments` are the decoded path segments, a trailing empty one already dropped.
  Match match(http::verb method, const std::vector<std::string>& segments) const;
  // The handler for an upgrade request to this path, or nullptr.
  const UpgradeHandler* match_upgrade(const std::vector<std::string>& segments) const;

 private:
  struct Route {
    http::verb method;
    std::vector<std::string> segments;  // ":name" captures
    Handler handler;
    bool streamed_body = false;
  };
  struct UpgradeRoute {
    std::vector<std::string> segments;
    UpgradeHandler handler;
  };
  std::vector<Route> routes_;
  std::vector<UpgradeRoute> upgrades_;
};

// Splits a route pattern into segments: "/api/user/" -> {"api", "user"}.
std::vector<std::string> split_path(std::string_view path);

}  // namespace chatd::net
