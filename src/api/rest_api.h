#pragma once

#include <boost/asio/awaitable.hpp>

#include "chat/accounts.h"
#include "chat/admin.h"
#include "chat/chat_service.h"
#include "chat/privacy.h"
#include "net/http.h"
#include "net/router.h"

namespace chatd::api {

// The REST API of the classic MERN chat backends (/api/user, /api/chat, /api/message; API.md),
// of accounts (/api/auth), privacy (/api/user/me, retention) and server admins (/api/admin):
// reads the wire, calls the domain, writes the wire. Knows no SQL and no rule of who may do what.
class RestApi {
 public:
  RestApi(chat::ChatService& chats, chat::AccountService& accounts, chat::PrivacyService& privacy,
          chat::AdminService& admin);

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
  Response search_messages(net::Request& request);
  Response message_status(net::Request& request);
  Response edit_message(net::Request& request);
  Response delete_message(net::Request& request);
  Response add_reaction(net::Request& request);
  Response remove_reaction(net::Request& request);
  Response reaction(net::Request& request, bool on);
  Response changed(Result<chat::ChangedMessageView> view);
  Response refresh(net::Request& request);
  Response logout(net::Request& request);
  Response logout_all(net::Request& request);
  Response list_sessions(net::Request& request);
  Response revoke_session(net::Request& request);
  Response change_password(net::Request& request);
  Response audit(net::Request& request);
  Response setup_two_factor(net::Request& request);
  Response enable_two_factor(net::Request& request);
  Response disable_two_factor(net::Request& request);
  Response profile(net::Request& request);
  Response update_profile(net::Request& request);
  Response export_data(net::Request& request);
  Response erase_account(net::Request& request);
  Response set_retention(net::Request& request);
  Response admin_users(net::Request& request);
  Response admin_update_user(net::Request& request);
  Response admin_erase_user(net::Request& request);
  Response admin_audit(net::Request& request);

  // The caller, from the Authorization header: the user, with the session for account routes.
  boost::asio::awaitable<Result<chat::Caller>> session_caller(const net::Request& request);
  boost::asio::awaitable<Result<chat::User>> caller(const net::Request& request);

  chat::ChatService& chats_;
  chat::AccountService& accounts_;
  chat::PrivacyService& privacy_;
  chat::AdminService& admin_;
};

// The caller of a request, from its Authorization header (Bearer): unauthorized without one.
boost::asio::awaitable<Result<chat::Caller>> authenticate(chat::AccountService& accounts,
                                                          const net::Request& request);

// The HTTP status of an error kind.
net::http::status status_of(Errc code);
// The JSON error response {message, code} for an error.
net::HttpResponse error(const Error& error);

}  // namespace chatd::api
