#pragma once

#include <boost/asio/awaitable.hpp>

#include "chat/chat_service.h"
#include "net/http.h"
#include "net/router.h"

namespace chatd::api {

// The REST API of the classic MERN chat backends (/api/user, /api/chat, /api/message; API.md):
// reads the wire, calls the domain, writes the wire. Knows no SQL and no rule of who may do what.
class RestApi {
 public:
  explicit RestApi(chat::ChatService& chats);

  // Adds every route, aliases included.
  void register_routes(net::Router& router);

 private:
  using Response = boost::asio::awaitable<net::HttpResponse>;

  Response register_user(net::Request& request);
  Response login(net::Request& request);
  Response search_users(net::Request& request);
  Response access_chat(net::Request& request);
  Response list_chats(net::Request& request);
  Response create_group(net::Request& request);
  Response rename_group(net::Request& request);
  Response add_to_group(net::Request& request);
  Response remove_from_group(net::Request& request);
  Response set_group_admin(net::Request& request);
  Response send_message(net::Request& request);
  Response history(net::Request& request);
  Response message_status(net::Request& request);

  // The caller, from the Authorization header.
  boost::asio::awaitable<Result<chat::User>> caller(const net::Request& request);

  chat::ChatService& chats_;
};

// The HTTP status of an error kind.
net::http::status status_of(Errc code);
// The JSON error response {message, code} for an error.
net::HttpResponse error(const Error& error);

}  // namespace chatd::api
