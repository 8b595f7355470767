#include "api/edge.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "api/rest_api.h"
#include "util/text.h"

namespace chatd::api {

namespace {

bool starts_with_segment(const net::Target& target, std::string_view name) {
  return !target.segments.empty() && text::ascii_lower(target.segments.front()) == name;
}

// A request that opens an Engine.IO session: a handshake carries no sid yet.
bool opens_socket(const net::Target& target) {
  const bool has_sid = std::any_of(target.query.begin(), target.query.end(),
                                   [](const auto& item) { return item.first == "sid"; });
  return starts_with_segment(target, "socket.io") && !has_sid;
}

bool is_admin_route(const net::Target& target) {
  return starts_with_segment(target, "api") && target.segments.size() > 1 &&
         text::ascii_lower(target.segments[1]) == "admin";
}

}  // namespace

EdgeGuard::EdgeGuard(EdgeLimits limits, net::CidrSet admin_allow)
    : limits_(limits), admin_allow_(std::move(admin_allow)) {}

std::optional<net::HttpResponse> EdgeGuard::check(const net::Target& target,
                                                  const std::string& ip) {
  if (is_admin_route(target) && !admin_allow_.empty()) {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(ip, ec);
    if (ec || !admin_allow_.contains(address)) {
      return error(make_error(Errc::forbidden, "Not allowed from this address"));
    }
  }
  auto decision = budgets_.try_acquire("rest:" + ip, limits_.rest_per_ip);
  if (decision.allowed && opens_socket(target)) {
    decision = budgets_.try_acquire("connect:" + ip, limits_.socket_connections_per_ip);
  }
  if (!decision.allowed) return error(util::rate_limited(decision));
  return std::nullopt;
}

}  // namespace chatd::api
