#include "net/cors.h"

#include <algorithm>
#include <boost/beast/http/field.hpp>

namespace chatd::net {

CorsPolicy::CorsPolicy(std::vector<std::string> allowed_origins)
    : any_(allowed_origins.empty() ||
           std::find(allowed_origins.begin(), allowed_origins.end(), "*") != allowed_origins.end()),
      origins_(std::move(allowed_origins)) {}

bool CorsPolicy::allows(std::string_view origin) const {
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

void CorsPolicy::decorate(const HttpRequest& request, HttpResponse& response) const {
  const auto origin = request.find(http::field::origin);
  response.set(http::field::vary, "Origin");
  if (origin == request.end() || !allows(origin->value())) return;
  response.set(http::field::access_control_allow_origin, origin->value());
}

HttpResponse CorsPolicy::preflight(const HttpRequest& request) const {
  HttpResponse response(http::status::no_content, 11);
  decorate(request, response);
  if (response.find(http::field::access_control_allow_origin) == response.end()) return response;
  response.set(http::field::access_control_allow_methods, "GET, HEAD, POST, PUT, PATCH, DELETE");
  const auto asked = request.find(http::field::access_control_request_headers);
  response.set(http::field::access_control_allow_headers,
               asked != request.end() ? asked->value() : "Authorization, Content-Type");
  response.set(http::field::access_control_max_age, "600");
  return response;
}

}  // namespace chatd::net
