#include "api/input.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <charconv>
#include <cmath>

#include "util/text.h"

namespace chatd::api::input {

namespace json = boost::json;

namespace {

Error invalid(std::string message) {
  return make_error(Errc::invalid_input, std::move(message));
}

Error wrong_type(std::string_view name, std::string_view type) {
  return invalid(fmt::format("{} must be {}", name, type));
}

const json::value* field(const json::object& body, std::string_view name) {
  const auto* value = body.if_contains(name);
  return value && !value->is_null() ? value : nullptr;
}

}  // namespace

Result<json::object> body_object(const net::Request& request) {
  const auto& body = request.message.body();
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  json::error_code ec;
  auto value = json::parse(body, ec);  // strict JSON, valid UTF-8 only
  if (ec) return invalid("Malformed JSON body");
  if (!value.is_object()) return invalid("The request body must be a JSON object");
  return std::move(value.as_object());
}

Result<std::string> required_string(const json::object& body, std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return invalid(fmt::format("{} is required", name));
  if (!value->is_string()) return wrong_type(name, "a string");
  return std::string(value->as_string());
}

Result<std::optional<std::string>> optional_string(const json::object& body,
                                                   std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return std::optional<std::string>();
  if (!value->is_string()) return wrong_type(name, "a string");
  return std::optional<std::string>(std::string(value->as_string()));
}

Result<std::string> id_or_object(const json::object& body, std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return invalid(fmt::format("{} is required", name));
  if (value->is_string()) return std::string(value->as_string());
  if (value->is_object()) {
    const auto* id = value->as_object().if_contains("_id");
    if (id && id->is_string()) return std::string(id->as_string());
  }
  return wrong_type(name, "an id string or an object with an _id string");
}

Result<std::vector<std::string>> id_list(const json::object& body, std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return invalid(fmt::format("{} is required", name));
  json::value parsed;
  if (value->is_string()) {
    json::error_code ec;
    parsed = json::parse(value->as_string(), ec);
    if (ec) return wrong_type(name, "an array of user ids");
    value = &parsed;
  }
  if (!value->is_array()) return wrong_type(name, "an array of user ids");
  std::vector<std::string> ids;
  for (const auto& item : value->as_array()) {
    if (item.is_string()) {
      ids.emplace_back(item.as_string());
    } else if (item.is_object() && item.as_object().if_contains("_id") &&
               item.as_object().at("_id").is_string()) {
      ids.emplace_back(item.as_object().at("_id").as_string());  // full user objects
    } else {
      return wrong_type(name, "an array of user ids");
    }
  }
  return ids;
}

Result<bool> required_bool(const json::object& body, std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return invalid(fmt::format("{} is required", name));
  if (!value->is_bool()) return wrong_type(name, "true or false");
  return value->as_bool();
}

Result<std::int64_t> integer(const json::value& value, std::string_view name) {
  if (value.is_int64()) return value.as_int64();
  // JavaScript has one number type: 5.0 is sent as 5, but a client may still send 5e0.
  if (value.is_double()) {
    const double d = value.as_double();
    if (std::trunc(d) == d && std::abs(d) < 9007199254740992.0) return static_cast<std::int64_t>(d);
  }
  return wrong_type(name, "an integer");
}

Result<std::optional<std::int64_t>> optional_integer(const json::object& body,
                                                     std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return std::optional<std::int64_t>();
  auto number = integer(*value, name);
  if (!number) return number.error();
  return std::optional<std::int64_t>(*number);
}

Result<std::optional<CursorMap>> optional_cursor_map(const json::object& body,
                                                     std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return std::optional<CursorMap>();
  if (!value->is_object()) return wrong_type(name, "an object");
  CursorMap cursors;
  for (const auto& [key, entry] : value->as_object()) {
    auto number = integer(entry, fmt::format("{} values", name));
    if (!number) return number.error();
    cursors.emplace_back(std::string(key), *number);
  }
  return std::optional<CursorMap>(std::move(cursors));
}

Result<std::string> path_text(const net::Request& request, std::string_view name) {
  auto escaped = boost::urls::make_pct_string_view(request.param(name));
  if (!escaped) return invalid(fmt::format("{} is not a well-formed URL path segment", name));
  auto text = escaped->decode();
  if (!text::is_valid_utf8(text)) return invalid(fmt::format("{} must be valid UTF-8", name));
  return text;
}

Result<std::optional<std::int64_t>> nullable_integer(const json::object& body,
                                                     std::string_view name) {
  if (!body.contains(name)) {
    return invalid(fmt::format("{} is required (an integer, or null)", name));
  }
  return optional_integer(body, name);
}

Result<std::int64_t> required_integer(const json::object& body, std::string_view name) {
  auto value = optional_integer(body, name);
  if (!value) return value.error();
  if (!*value) return invalid(fmt::format("{} is required", name));
  return **value;
}

Result<std::vector<std::string>> string_list(const json::object& body, std::string_view name) {
  const auto* value = field(body, name);
  if (!value) return invalid(fmt::format("{} is required", name));
  if (!value->is_array()) return wrong_type(name, "an array of strings");
  std::vector<std::string> items;
  items.reserve(value->as_array().size());
  for (const auto& item : value->as_array()) {
    if (!item.is_string()) return wrong_type(name, "an array of strings");
    items.emplace_back(item.as_string());
  }
  return items;
}

Result<MessageBody> message_body(const json::object& body) {
  MessageBody message;
  if (const auto* value = field(body, "attachments"); value && !value->is_null()) {
    auto ids = string_list(body, "attachments");
    if (!ids) return std::move(ids).take_error();
    message.attachments = std::move(*ids);
  }
  if (message.attachments.empty()) {
    auto content = required_string(body, "content");
    if (!content) return std::move(content).take_error();
    message.content = std::move(*content);
    return message;
  }
  auto content = optional_string(body, "content");
  if (!content) return std::move(content).take_error();
  message.content = content->value_or("");
  return message;
}

Result<std::optional<std::int64_t>> query_integer(const net::Request& request,
                                                  std::string_view name) {
  const auto raw = request.query_value(name);
  if (!raw || raw->empty()) return std::optional<std::int64_t>();
  std::int64_t value = 0;
  const auto* end = raw->data() + raw->size();
  const auto [ptr, ec] = std::from_chars(raw->data(), end, value);
  if (ec != std::errc() || ptr != end) return wrong_type(name, "an integer");
  return std::optional<std::int64_t>(value);
}

Result<PageQuery> page_query(const net::Request& request) {
  auto limit = query_integer(request, "limit");
  if (!limit) return limit.error();
  PageQuery page{std::nullopt, *limit};
  if (auto before = request.query_value("before")) page.before = std::string(*before);
  return page;
}

Result<chat::SearchRequest> search_query(const net::Request& request) {
  auto limit = query_integer(request, "limit");
  if (!limit) return limit.error();
  chat::SearchRequest search{std::string(request.query_value("q").value_or("")), std::nullopt,
                             std::nullopt, std::nullopt};
  if (*limit) search.limit = static_cast<int>(std::clamp<std::int64_t>(**limit, -1, INT32_MAX));
  if (auto chat_id = request.query_value("chatId"); chat_id && !chat_id->empty()) {
    search.chat_id = std::string(*chat_id);
  }
  if (auto before = request.query_value("before"); before && !before->empty()) {
    search.before = std::string(*before);
  }
  return search;
}

Result<chat::SearchRequest> search_body(const boost::json::object& body) {
  auto q = required_string(body, "q");
  if (!q) return q.error();
  auto chat_id = optional_string(body, "chatId");
  if (!chat_id) return chat_id.error();
  auto limit = optional_integer(body, "limit");
  if (!limit) return limit.error();
  auto before = optional_string(body, "before");
  if (!before) return before.error();
  chat::SearchRequest search{std::move(*q), std::move(*chat_id), std::nullopt, std::move(*before)};
  if (*limit) search.limit = static_cast<int>(std::clamp<std::int64_t>(**limit, -1, INT32_MAX));
  return search;
}

chat::ClientInfo client_info(const net::Request& request) {
  // Kept for the session list and the audit trail; longer agents are cut (at a UTF-8 boundary:
  // the text is shown back as JSON).
  constexpr std::size_t kMaxUserAgent = 256;
  auto agent = request.header("User-Agent");
  std::string user_agent(agent.substr(0, kMaxUserAgent));
  while (!user_agent.empty() && !text::is_valid_utf8(user_agent)) user_agent.pop_back();
  return chat::ClientInfo{request.client_address, std::move(user_agent)};
}

}  // namespace chatd::api::input
