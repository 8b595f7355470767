#include "api/health.h"

#include <boost/json.hpp>

namespace chatd::api {

namespace http = net::http;
namespace json = boost::json;

HealthApi::HealthApi(store::Store& store, std::function<bool()> redis_up)
    : store_(store), redis_up_(std::move(redis_up)) {}

void HealthApi::register_routes(net::Router& router) {
  router.add(http::verb::get, "/healthz",
             [](net::Request&) -> boost::asio::awaitable<net::HttpResponse> {
               co_return net::json_response(http::status::ok, R"({"status":"ok"})");
             });
  router.add(http::verb::get, "/readyz", [this](net::Request& request) { return ready(request); });
}

// 503 names the part that is down, in the error shape every client already reads.
boost::asio::awaitable<net::HttpResponse> HealthApi::ready(net::Request& /*request*/) {
  auto store = co_await store_.check_ready();
  const char* redis = !redis_up_ ? "off" : (redis_up_() ? "ok" : "unavailable");
  const bool ready = store.ok() && std::string_view(redis) != "unavailable";
  json::object body{{"status", ready ? "ready" : "not_ready"},
                    {"store", store ? "ok" : "unavailable"},
                    {"redis", redis}};
  if (!ready) {
    body["code"] = "unavailable";
    body["message"] = !store ? "The store is unavailable" : "Redis is unavailable";
  }
  co_return net::json_response(ready ? http::status::ok : http::status::service_unavailable,
                               json::serialize(body));
}

}  // namespace chatd::api
