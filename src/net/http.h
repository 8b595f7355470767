#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace chatd::net {

namespace http = boost::beast::http;

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// A body produced piece by piece: each call yields the next piece, an empty one ends it. An error
// cuts the connection, so the client sees an incomplete body, never a complete-looking wrong one.
using BodyStream = std::function<boost::asio::awaitable<Result<std::string>>()>;

// A request body read piece by piece: each call yields the next piece as it arrives, an empty one
// at the end. Errors: invalid_input (a malformed body, or the client went away or stalled).
using BodySource = std::function<boost::asio::awaitable<Result<std::string>>()>;

// What a handler sees of a request: the message, and the target already parsed and
// percent-decoded.
struct Request {
  HttpRequest message;
  std::string path;                                         // decoded, as sent
  std::vector<std::pair<std::string, std::string>> params;  // from the route's :names, decoded
  std::vector<std::pair<std::string, std::string>> query;   // decoded, in order

  // The route parameter `name` (empty when the route has none of that name).
  std::string_view param(std::string_view name) const;
  // The first query value named `name`.
  std::optional<std::string_view> query_value(std::string_view name) const;
  std::string_view header(std::string_view name) const;

  // Calls `gone` (on the connection's thread) if the client hangs up while the response is still
  // being prepared: a long poll's client may give up waiting. Set up by the server; a no-op where
  // there is no connection (tests).
  void on_client_gone(std::function<void()> gone) const {
    if (watch_client) watch_client(std::move(gone));
  }
  std::function<void(std::function<void()>)> watch_client;
  // The client's address: the peer's, or the one a trusted proxy forwarded it for
  // (net/client_address.h). Empty where there is no connection (tests).
  std::string client_address;
  // Set by a handler whose reply is too large to build in memory: the reply it returns is sent
  // as the header, and its body follows piece by piece from this stream (chunked, unless the
  // reply says its Content-Length, which the pieces must then add up to exactly).
  BodyStream reply_body;
  // Routes added with Router::add_streamed: the body, still to be read (message.body() is empty).
  // The connection closes after the reply if the handler did not read it to the end.
  BodySource read_body;
};

using Handler = std::function<boost::asio::awaitable<HttpResponse>(Request&)>;

// A request target, percent-decoded.
struct Target {
  std::string path;
  std::vector<std::string> segments;  // a trailing empty segment ("/a/b/") dropped
  std::vector<std::pair<std::string, std::string>> query;
};

// nullopt when the target is not a valid origin-form target ("/path?query").
std::optional<Target> parse_target(std::string_view target);

// A response with a JSON body (already serialized).
HttpResponse json_response(http::status status, std::string body);

// The error shape of every chatd error: {"message": ..., "code": ...}. This is the one place that
// builds it, for the transport's own errors (413, unknown route) and for the API's.
HttpResponse error_response(http::status status, std::string_view code, std::string_view message);

HttpResponse text_response(http::status status, std::string body);

// A response without a body (204 and the like).
HttpResponse empty_response(http::status status);

// Headers every reply carries, whoever built it (the server adds them before writing): no MIME
// sniffing, no referrer, and for JSON a policy that lets a browser run or embed nothing of it, so
// a reply opened as a page can never become one. Over HTTPS also HSTS (a year): a browser that
// has seen it comes back over HTTPS only.
void add_security_headers(HttpResponse& response, bool https = false);

}  // namespace chatd::net
