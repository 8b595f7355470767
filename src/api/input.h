#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/accounts.h"
#include "chat/chat_service.h"
#include "net/http.h"
#include "util/result.h"

// Strict reading of untrusted request input: a field of the wrong JSON type is a 400, never
// coerced and never passed on (an object where a string belongs, e.g. {"$gt": ""}, stops here).
namespace chatd::api::input {

// The request body as a JSON object. An empty body reads as {} (as Express's JSON parser does);
// anything that is not one JSON object is `invalid_input`.
Result<boost::json::object> body_object(const net::Request& request);

// A string field that must be present.
Result<std::string> required_string(const boost::json::object& body, std::string_view name);
// A string field that may be absent or null.
Result<std::optional<std::string>> optional_string(const boost::json::object& body,
                                                   std::string_view name);
// An id field given as a string or as an object with a string `_id` (classic clients send the whole
// chat object as chatId).
Result<std::string> id_or_object(const boost::json::object& body, std::string_view name);
// An array of id strings, given as an array or as a string holding a JSON array (classic clients
// send JSON.stringify(ids)).
Result<std::vector<std::string>> id_list(const boost::json::object& body, std::string_view name);
Result<bool> required_bool(const boost::json::object& body, std::string_view name);
// A JSON integer (`name` names it in the error).
Result<std::int64_t> integer(const boost::json::value& value, std::string_view name);
// A JSON integer field that must be present (a fraction, a string or a bool is `invalid_input`).
Result<std::int64_t> required_integer(const boost::json::object& body, std::string_view name);
// A JSON integer field that may be absent or null.
Result<std::optional<std::int64_t>> optional_integer(const boost::json::object& body,
                                                     std::string_view name);
// A JSON integer field that must be present and may be null (null: nullopt).
Result<std::optional<std::int64_t>> nullable_integer(const boost::json::object& body,
                                                     std::string_view name);
// A field holding an array of strings.
Result<std::vector<std::string>> string_list(const boost::json::object& body,
                                             std::string_view name);

// What a sent message holds (REST and socket alike): `attachments`, ids, absent or null for none;
// `content`, required unless there are attachments (then absent means empty).
struct MessageBody {
  std::string content;
  std::vector<std::string> attachments;
};
Result<MessageBody> message_body(const boost::json::object& body);

// An object field mapping ids to integers (sync's cursors); absent or null: nullopt.
using CursorMap = std::vector<std::pair<std::string, std::int64_t>>;
Result<std::optional<CursorMap>> optional_cursor_map(const boost::json::object& body,
                                                     std::string_view name);

// A path parameter, percent-decoded (an emoji in a URL); a malformed escape is `invalid_input`.
Result<std::string> path_text(const net::Request& request, std::string_view name);

// An integer query parameter (absent: nullopt); anything else is `invalid_input`.
Result<std::optional<std::int64_t>> query_integer(const net::Request& request,
                                                  std::string_view name);

// A page of a listing that goes newest first: ?before=<the last id seen>&limit=.
struct PageQuery {
  std::optional<std::string> before;
  std::optional<std::int64_t> limit;
};
Result<PageQuery> page_query(const net::Request& request);

// A message search: GET /api/message/search?q=&chatId=&limit=&before=, or the socket's
// `search {q, chatId?, limit?, before?}`.
Result<chat::SearchRequest> search_query(const net::Request& request);
Result<chat::SearchRequest> search_body(const boost::json::object& body);

// Where the request comes from: its client address and User-Agent (cut to a sane length).
chat::ClientInfo client_info(const net::Request& request);

}  // namespace chatd::api::input
