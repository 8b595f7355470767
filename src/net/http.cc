#include "net/http.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

namespace chatd::net {

namespace {

std::string_view find_value(const std::vector<std::pair<std::string, std::string>>& pairs,
                            std::string_view name) {
  for (const auto& [key, value] : pairs) {
    if (key == name) return value;
  }
  return {};
}

}  // namespace

std::string_view Request::param(std::string_view name) const {
  return find_value(params, name);
}

std::optional<std::string_view> Request::query_value(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view Request::header(std::string_view name) const {
  const auto it = message.find(name);
  if (it == message.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

std::optional<Target> parse_target(std::string_view target) {
  const auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;
  const auto& url = *parsed;
  Target result;
  result.path = url.path();
  for (const auto& param : url.params()) result.query.emplace_back(param.key, param.value);
  for (const auto& segment : url.segments()) result.segments.emplace_back(segment);
  if (!result.segments.empty() && result.segments.back().empty()) result.segments.pop_back();
  return result;
}

HttpResponse json_response(http::status status, std::string body) {
  HttpResponse response(status, 11);
  response.set(http::field::content_type, "application/json; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

void add_security_headers(HttpResponse& response, bool https) {
  response.set("X-Content-Type-Options", "nosniff");
  if (https) response.set(http::field::strict_transport_security, "max-age=31536000");
  response.set("Referrer-Policy", "no-referrer");
  const auto type = response[http::field::content_type];
  if (type.starts_with("application/json")) {
    response.set("Content-Security-Policy",
                 "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
  }
}

HttpResponse error_response(http::status status, std::string_view code, std::string_view message) {
  boost::json::object body;
  body["message"] = message;
  body["code"] = code;
  return json_response(status, boost::json::serialize(body));
}

HttpResponse empty_response(http::status status) {
  return HttpResponse(status, 11);
}

HttpResponse text_response(http::status status, std::string body) {
  HttpResponse response(status, 11);
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

}  // namespace chatd::net
