#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>

#include "net/http.h"
#include "net/router.h"
#include "store/store.h"

namespace chatd::api {

// GET /healthz (the process serves) and GET /readyz (it can do its work: the store answers and, in
// cluster mode, Redis is connected) for load balancers and orchestrators (API.md, "Health").
// Neither needs a token.
class HealthApi {
 public:
  // `redis_up` is empty on a single node (Redis "off").
  HealthApi(store::Store& store, std::function<bool()> redis_up);

  void register_routes(net::Router& router);

 private:
  boost::asio::awaitable<net::HttpResponse> ready(net::Request& request);

  store::Store& store_;
  std::function<bool()> redis_up_;
};

}  // namespace chatd::api
