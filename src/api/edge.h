#pragma once

#include <optional>
#include <string_view>

#include "net/client_address.h"
#include "net/http.h"
#include "util/rate_limit.h"

namespace chatd::api {

// Limits applied to every HTTP request before it reaches a handler, with defaults no honest
// client reaches (docs/SECURITY.md). Per node: they are checked on every request, where a Redis
// round trip would cost more than the request itself; behind a balancer that spreads an IP over
// N nodes, an IP gets N times the budget.
struct EdgeLimits {
  util::RateRule rest_per_ip{20, 1200};             // every request (REST, polling, files)
  util::RateRule socket_connections_per_ip{1, 60};  // Engine.IO handshakes (new sessions)
};

// The gate in front of the router (net::HttpServerOptions::gate): per-IP budgets, and the admin
// routes (/api/admin) only from `admin_allow` when it is set. Thread-safe.
class EdgeGuard {
 public:
  EdgeGuard(EdgeLimits limits, net::CidrSet admin_allow);

  // nullopt to go on, or the refusal to send (429 with Retry-After, 403).
  std::optional<net::HttpResponse> check(const net::Target& target, const std::string& client);

 private:
  EdgeLimits limits_;
  net::CidrSet admin_allow_;
  util::LocalRateLimiter budgets_;
};

}  // namespace chatd::api
