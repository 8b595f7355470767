#include "api/rest_api.h"

#include <boost/json/serialize.hpp>

#include "api/export.h"
#include "api/input.h"
#include "api/wire.h"

// Every handler reads its input strictly (api/input.h), calls one domain operation and writes one
// wire shape (api/wire.h). Arguments to co_await are named variables (see util/async.h).
namespace chatd::api {

namespace json = boost::json;
namespace http = net::http;
using net::HttpResponse;
using net::Request;

namespace {

HttpResponse ok(const json::value& body, http::status status = http::status::ok) {
  return net::json_response(status, json::serialize(body));
}

// A JSON array of the items, each rendered by `render`.
template <class T, class Render>
json::array array_of(const std::vector<T>& items, Render render) {
  json::array list;
  list.reserve(items.size());
  for (const auto& item : items) list.push_back(render(item));
  return list;
}

template <class T>
std::optional<int> as_int(const std::optional<T>& value) {
  if (!value) return std::nullopt;
  constexpr T kMax = 1'000'000'000;
  return static_cast<int>(*value > kMax ? kMax : (*value < -kMax ? -kMax : *value));
}

}  // namespace

http::status status_of(Errc code) {
  switch (code) {
    case Errc::invalid_input:
      return http::status::bad_request;
    case Errc::unauthorized:
    case Errc::otp_required:
    case Errc::otp_invalid:
      return http::status::unauthorized;
    case Errc::forbidden:
    case Errc::not_member:
      return http::status::forbidden;
    case Errc::not_found:
      return http::status::not_found;
    case Errc::conflict:
      return http::status::conflict;
    case Errc::too_large:
      return http::status::payload_too_large;
    case Errc::rate_limited:
      return http::status::too_many_requests;
    case Errc::unavailable:
      return http::status::service_unavailable;
    case Errc::internal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

HttpResponse error(const Error& e) {
  auto response = net::error_response(status_of(e.code), errc_name(e.code), e.message);
  if (e.retry_after_s > 0) response.set(http::field::retry_after, std::to_string(e.retry_after_s));
  return response;
}

RestApi::RestApi(chat::ChatService& chats, chat::AccountService& accounts,
                 chat::PrivacyService& privacy, chat::AdminService& admin)
    : chats_(chats), accounts_(accounts), privacy_(privacy), admin_(admin) {}

void RestApi::register_routes(net::Router& router) {
  using http::verb;
  const auto bind = [this](Response (RestApi::*handler)(Request&)) {
    return [this, handler](Request& request) { return (this->*handler)(request); };
  };
  router.add(verb::post, "/api/user", bind(&RestApi::register_user));
  router.add(verb::post, "/api/user/register", bind(&RestApi::register_user));
  router.add(verb::post, "/api/user/login", bind(&RestApi::login));
  router.add(verb::get, "/api/user", bind(&RestApi::search_users));
  router.add(verb::post, "/api/chat", bind(&RestApi::access_chat));
  router.add(verb::get, "/api/chat", bind(&RestApi::list_chats));
  router.add(verb::post, "/api/chat/group", bind(&RestApi::create_group));
  router.add(verb::put, "/api/chat/rename", bind(&RestApi::rename_group));
  router.add(verb::put, "/api/chat/grouprename", bind(&RestApi::rename_group));  // + groupRename
  router.add(verb::put, "/api/chat/groupadd", bind(&RestApi::add_to_group));
  router.add(verb::put, "/api/chat/groupremove", bind(&RestApi::remove_from_group));
  router.add(verb::put, "/api/chat/groupadmin", bind(&RestApi::set_group_admin));
  router.add(verb::post, "/api/message", bind(&RestApi::send_message));
  // Before /api/message/:chatId, which would take "search" for a chat id.
  router.add(verb::get, "/api/message/search", bind(&RestApi::search_messages));
  router.add(verb::get, "/api/message/:chatId", bind(&RestApi::history));
  router.add(verb::get, "/api/message/:chatId/:messageId/status", bind(&RestApi::message_status));
  router.add(verb::patch, "/api/message/:messageId", bind(&RestApi::edit_message));
  router.add(verb::delete_, "/api/message/:messageId", bind(&RestApi::delete_message));
  router.add(verb::put, "/api/message/:messageId/reactions/:emoji", bind(&RestApi::add_reaction));
  router.add(verb::delete_, "/api/message/:messageId/reactions/:emoji",
             bind(&RestApi::remove_reaction));
  router.add(verb::post, "/api/auth/refresh", bind(&RestApi::refresh));
  router.add(verb::post, "/api/auth/logout", bind(&RestApi::logout));
  router.add(verb::post, "/api/auth/logout-all", bind(&RestApi::logout_all));
  router.add(verb::get, "/api/auth/sessions", bind(&RestApi::list_sessions));
  router.add(verb::delete_, "/api/auth/sessions/:id", bind(&RestApi::revoke_session));
  router.add(verb::put, "/api/user/password", bind(&RestApi::change_password));
  router.add(verb::get, "/api/auth/audit", bind(&RestApi::audit));
  router.add(verb::post, "/api/auth/2fa/setup", bind(&RestApi::setup_two_factor));
  router.add(verb::post, "/api/auth/2fa/enable", bind(&RestApi::enable_two_factor));
  router.add(verb::post, "/api/auth/2fa/disable", bind(&RestApi::disable_two_factor));
  router.add(verb::get, "/api/user/me", bind(&RestApi::profile));
  router.add(verb::put, "/api/user/me", bind(&RestApi::update_profile));
  router.add(verb::delete_, "/api/user/me", bind(&RestApi::erase_account));
  router.add(verb::get, "/api/user/me/export", bind(&RestApi::export_data));
  router.add(verb::put, "/api/chat/retention", bind(&RestApi::set_retention));
  router.add(verb::get, "/api/admin/users", bind(&RestApi::admin_users));
  router.add(verb::put, "/api/admin/users/:id", bind(&RestApi::admin_update_user));
  router.add(verb::delete_, "/api/admin/users/:id", bind(&RestApi::admin_erase_user));
  router.add(verb::get, "/api/admin/audit", bind(&RestApi::admin_audit));
}

boost::asio::awaitable<Result<chat::Caller>> authenticate(chat::AccountService& accounts,
                                                          const Request& request) {
  const auto header = request.header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    co_return make_error(Errc::unauthorized, "Not authorized, no token");
  }
  std::string token(header.substr(kBearer.size()));
  co_return co_await accounts.authenticate(std::move(token));
}

boost::asio::awaitable<Result<chat::Caller>> RestApi::session_caller(const Request& request) {
  return authenticate(accounts_, request);
}

boost::asio::awaitable<Result<chat::User>> RestApi::caller(const Request& request) {
  auto caller = co_await session_caller(request);
  if (!caller) co_return caller.error();
  co_return std::move(caller->user);
}

// ---- Users -------------------------------------------------------------------------------------

RestApi::Response RestApi::register_user(Request& request) {
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto name = input::required_string(*body, "name");
  if (!name) co_return error(name.error());
  auto email = input::required_string(*body, "email");
  if (!email) co_return error(email.error());
  auto password = input::required_string(*body, "password");
  if (!password) co_return error(password.error());
  auto pic = input::optional_string(*body, "pic");
  if (!pic) co_return error(pic.error());
  chat::Registration registration{std::move(*name), std::move(*email), std::move(*password),
                                  std::move(*pic)};
  auto client = input::client_info(request);
  auto session = co_await accounts_.register_user(std::move(registration), std::move(client));
  if (!session) co_return error(session.error());
  co_return ok(wire::session(*session), http::status::created);
}

RestApi::Response RestApi::login(Request& request) {
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto email = input::required_string(*body, "email");
  if (!email) co_return error(email.error());
  auto password = input::required_string(*body, "password");
  if (!password) co_return error(password.error());
  auto otp = input::optional_string(*body, "otp");
  if (!otp) co_return error(otp.error());
  chat::LoginRequest login{std::move(*email), std::move(*password), std::move(*otp)};
  auto client = input::client_info(request);
  auto session = co_await accounts_.login(std::move(login), std::move(client));
  if (!session) co_return error(session.error());
  co_return ok(wire::session(*session));
}

RestApi::Response RestApi::search_users(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto limit = input::query_integer(request, "limit");
  if (!limit) co_return error(limit.error());
  auto offset = input::query_integer(request, "offset");
  if (!offset) co_return error(offset.error());
  std::string query(request.query_value("search").value_or(""));
  auto users = co_await chats_.search_users(std::move(*me), std::move(query), as_int(*limit),
                                            as_int(*offset));
  if (!users) co_return error(users.error());
  co_return ok(array_of(*users, wire::user));
}

// ---- Chats -------------------------------------------------------------------------------------

RestApi::Response RestApi::access_chat(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto user_id = input::required_string(*body, "userId");
  if (!user_id) co_return error(user_id.error());
  auto chat = co_await chats_.access_direct_chat(std::move(*me), std::move(*user_id));
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

RestApi::Response RestApi::list_chats(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto chats = co_await chats_.list_chats(std::move(*me));
  if (!chats) co_return error(chats.error());
  co_return ok(array_of(*chats, wire::chat));
}

RestApi::Response RestApi::create_group(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto name = input::required_string(*body, "name");
  if (!name) co_return error(name.error());
  auto users = input::id_list(*body, "users");
  if (!users) co_return error(users.error());
  auto chat = co_await chats_.create_group(std::move(*me), std::move(*name), std::move(*users));
  if (!chat) {
    // Classic clients render this one error's body as is: it is plain text (API.md).
    if (chat.error().message == chat::kGroupTooSmall) {
      co_return net::text_response(http::status::bad_request, chat::kGroupTooSmall);
    }
    co_return error(chat.error());
  }
  co_return ok(wire::chat(*chat));
}

RestApi::Response RestApi::rename_group(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto name = input::required_string(*body, "chatName");
  if (!name) co_return error(name.error());
  auto chat = co_await chats_.rename_group(std::move(*me), std::move(*chat_id), std::move(*name));
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

RestApi::Response RestApi::add_to_group(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto user_id = input::id_or_object(*body, "userId");
  if (!user_id) co_return error(user_id.error());
  auto chat =
      co_await chats_.add_to_group(std::move(*me), std::move(*chat_id), std::move(*user_id));
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

RestApi::Response RestApi::remove_from_group(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto user_id = input::id_or_object(*body, "userId");
  if (!user_id) co_return error(user_id.error());
  auto chat =
      co_await chats_.remove_from_group(std::move(*me), std::move(*chat_id), std::move(*user_id));
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

RestApi::Response RestApi::set_group_admin(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto user_id = input::id_or_object(*body, "userId");
  if (!user_id) co_return error(user_id.error());
  auto admin = input::required_bool(*body, "admin");
  if (!admin) co_return error(admin.error());
  auto chat = co_await chats_.set_group_admin(std::move(*me), std::move(*chat_id),
                                              std::move(*user_id), *admin);
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

// ---- Messages ----------------------------------------------------------------------------------

RestApi::Response RestApi::send_message(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto message = input::message_body(*body);
  if (!message) co_return error(message.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto client_msg_id = input::optional_string(*body, "clientMsgId");
  if (!client_msg_id) co_return error(client_msg_id.error());
  auto reply_to = input::optional_string(*body, "replyTo");
  if (!reply_to) co_return error(reply_to.error());
  auto sent = co_await chats_.send_message(std::move(*me), std::move(*chat_id),
                                           std::move(message->content), std::move(*client_msg_id),
                                           std::move(*reply_to), std::move(message->attachments));
  if (!sent) co_return error(sent.error());
  co_return ok(wire::message(sent->message, wire::chat_of_message(sent->chat)));
}

RestApi::Response RestApi::history(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto before = input::query_integer(request, "before");
  if (!before) co_return error(before.error());
  auto after = input::query_integer(request, "after");
  if (!after) co_return error(after.error());
  auto limit = input::query_integer(request, "limit");
  if (!limit) co_return error(limit.error());
  chat::HistoryRequest page{*before, *after, as_int(*limit)};
  std::string chat_id(request.param("chatId"));
  auto history = co_await chats_.history(std::move(*me), std::move(chat_id), page);
  if (!history) co_return error(history.error());
  co_return net::json_response(http::status::ok,
                               wire::message_page(history->messages, history->chat));
}

RestApi::Response RestApi::search_messages(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto search = input::search_query(request);
  if (!search) co_return error(search.error());
  auto page = co_await chats_.search_messages(std::move(*me), std::move(*search));
  if (!page) co_return error(page.error());
  co_return ok(wire::search_page(*page));
}

// The changes of a sent message answer with the message as it is after, in the classic shape.
RestApi::Response RestApi::changed(Result<chat::ChangedMessageView> view) {
  if (!view) co_return error(view.error());
  co_return ok(wire::message(view->message, wire::chat_of_message(view->chat)));
}

RestApi::Response RestApi::edit_message(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto content = input::required_string(*body, "content");
  if (!content) co_return error(content.error());
  chat::MessageRef ref{std::nullopt, std::string(request.param("messageId"))};
  auto edited = co_await chats_.edit_message(std::move(*me), std::move(ref), std::move(*content));
  co_return co_await changed(std::move(edited));
}

RestApi::Response RestApi::delete_message(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  chat::MessageRef ref{std::nullopt, std::string(request.param("messageId"))};
  auto deleted = co_await chats_.delete_message(std::move(*me), std::move(ref));
  co_return co_await changed(std::move(deleted));
}

RestApi::Response RestApi::add_reaction(Request& request) {
  co_return co_await reaction(request, true);
}

RestApi::Response RestApi::remove_reaction(Request& request) {
  co_return co_await reaction(request, false);
}

RestApi::Response RestApi::reaction(Request& request, bool on) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  auto emoji = input::path_text(request, "emoji");
  if (!emoji) co_return error(emoji.error());
  chat::MessageRef ref{std::nullopt, std::string(request.param("messageId"))};
  auto reacted = co_await chats_.react(std::move(*me), std::move(ref), std::move(*emoji), on);
  co_return co_await changed(std::move(reacted));
}

RestApi::Response RestApi::message_status(Request& request) {
  auto me = co_await caller(request);
  if (!me) co_return error(me.error());
  std::string chat_id(request.param("chatId"));
  std::string message_id(request.param("messageId"));
  auto status =
      co_await chats_.message_status(std::move(*me), std::move(chat_id), std::move(message_id));
  if (!status) co_return error(status.error());
  co_return ok(wire::message_status(*status));
}

// ---- Sessions and the audit trail --------------------------------------------------------------

RestApi::Response RestApi::refresh(Request& request) {
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto refresh_token = input::required_string(*body, "refreshToken");
  if (!refresh_token) co_return error(refresh_token.error());
  auto client = input::client_info(request);
  auto tokens = co_await accounts_.refresh(std::move(*refresh_token), std::move(client));
  if (!tokens) co_return error(tokens.error());
  co_return ok(wire::token_pair(*tokens));
}

RestApi::Response RestApi::logout(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto client = input::client_info(request);
  auto done = co_await accounts_.logout(std::move(*me), std::move(client));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::logout_all(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto client = input::client_info(request);
  auto done = co_await accounts_.logout_others(std::move(*me), std::move(client));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::list_sessions(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto sessions = co_await accounts_.list_sessions(std::move(*me));
  if (!sessions) co_return error(sessions.error());
  co_return ok(array_of(*sessions, wire::session_info));
}

RestApi::Response RestApi::revoke_session(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  std::string session_id(request.param("id"));
  auto client = input::client_info(request);
  auto done =
      co_await accounts_.revoke_session(std::move(*me), std::move(session_id), std::move(client));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::change_password(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto current = input::required_string(*body, "currentPassword");
  if (!current) co_return error(current.error());
  auto next = input::required_string(*body, "newPassword");
  if (!next) co_return error(next.error());
  auto client = input::client_info(request);
  auto done = co_await accounts_.change_password(std::move(*me), std::move(*current),
                                                 std::move(*next), std::move(client));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::audit(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto page = input::page_query(request);
  if (!page) co_return error(page.error());
  auto events =
      co_await accounts_.audit(std::move(*me), std::move(page->before), as_int(page->limit));
  if (!events) co_return error(events.error());
  co_return ok(array_of(*events, wire::audit_event));
}

// ---- Two-factor authentication -----------------------------------------------------------------

RestApi::Response RestApi::setup_two_factor(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto setup = co_await accounts_.setup_two_factor(std::move(*me));
  if (!setup) co_return error(setup.error());
  co_return ok(wire::two_factor_setup(*setup));
}

RestApi::Response RestApi::enable_two_factor(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto code = input::required_string(*body, "code");
  if (!code) co_return error(code.error());
  auto client = input::client_info(request);
  auto codes =
      co_await accounts_.enable_two_factor(std::move(*me), std::move(*code), std::move(client));
  if (!codes) co_return error(codes.error());
  co_return ok(wire::recovery_codes(*codes));
}

RestApi::Response RestApi::disable_two_factor(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto password = input::required_string(*body, "password");
  if (!password) co_return error(password.error());
  auto code = input::required_string(*body, "code");
  if (!code) co_return error(code.error());
  auto client = input::client_info(request);
  auto done = co_await accounts_.disable_two_factor(std::move(*me), std::move(*password),
                                                    std::move(*code), std::move(client));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

// ---- Privacy -----------------------------------------------------------------------------------

RestApi::Response RestApi::profile(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto user = co_await privacy_.profile(std::move(*me));
  if (!user) co_return error(user.error());
  co_return ok(wire::user(*user));
}

RestApi::Response RestApi::update_profile(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto name = input::optional_string(*body, "name");
  if (!name) co_return error(name.error());
  auto pic = input::optional_string(*body, "pic");
  if (!pic) co_return error(pic.error());
  chat::ProfileChange change{std::move(*name), std::move(*pic)};
  auto user = co_await privacy_.update_profile(std::move(*me), std::move(change));
  if (!user) co_return error(user.error());
  co_return ok(wire::user(*user));
}

RestApi::Response RestApi::export_data(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto caller = *me;
  auto head = co_await privacy_.export_head(std::move(caller));
  if (!head) co_return error(head.error());
  request.reply_body = export_body(privacy_, std::move(*me), std::move(*head));
  HttpResponse response{http::status::ok, request.message.version()};
  response.set(http::field::content_type, "application/json");
  response.set(http::field::content_disposition, "attachment; filename=\"chatd-export.json\"");
  response.set(http::field::cache_control, "no-store");
  co_return response;
}

RestApi::Response RestApi::erase_account(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto password = input::required_string(*body, "password");
  if (!password) co_return error(password.error());
  auto otp = input::optional_string(*body, "otp");
  if (!otp) co_return error(otp.error());
  auto done =
      co_await privacy_.erase_account(std::move(*me), std::move(*password), std::move(*otp));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::set_retention(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto chat_id = input::id_or_object(*body, "chatId");
  if (!chat_id) co_return error(chat_id.error());
  auto days = input::nullable_integer(*body, "days");
  if (!days) co_return error(days.error());
  auto chat = co_await privacy_.set_retention(std::move(*me), std::move(*chat_id), *days);
  if (!chat) co_return error(chat.error());
  co_return ok(wire::chat(*chat));
}

// ---- Server admins -----------------------------------------------------------------------------

RestApi::Response RestApi::admin_users(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto limit = input::query_integer(request, "limit");
  if (!limit) co_return error(limit.error());
  auto offset = input::query_integer(request, "offset");
  if (!offset) co_return error(offset.error());
  std::string search(request.query_value("search").value_or(""));
  auto users =
      co_await admin_.users(std::move(*me), std::move(search), as_int(*limit), as_int(*offset));
  if (!users) co_return error(users.error());
  co_return ok(array_of(*users, wire::admin_user));
}

RestApi::Response RestApi::admin_update_user(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto body = input::body_object(request);
  if (!body) co_return error(body.error());
  auto disabled = input::required_bool(*body, "disabled");
  if (!disabled) co_return error(disabled.error());
  std::string user_id(request.param("id"));
  auto client = input::client_info(request);
  auto user = co_await admin_.set_disabled(std::move(*me), std::move(user_id), *disabled,
                                           std::move(client));
  if (!user) co_return error(user.error());
  co_return ok(wire::admin_user(*user));
}

RestApi::Response RestApi::admin_erase_user(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  std::string user_id(request.param("id"));
  auto done = co_await admin_.erase_user(std::move(*me), std::move(user_id));
  if (!done) co_return error(done.error());
  co_return net::empty_response(http::status::no_content);
}

RestApi::Response RestApi::admin_audit(Request& request) {
  auto me = co_await session_caller(request);
  if (!me) co_return error(me.error());
  auto page = input::page_query(request);
  if (!page) co_return error(page.error());
  auto events = co_await admin_.audit(std::move(*me), std::move(page->before), as_int(page->limit));
  if (!events) co_return error(events.error());
  co_return ok(array_of(*events, wire::admin_audit_event));
}

}  // namespace chatd::api
