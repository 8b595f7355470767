#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "chat/accounts.h"
#include "chat/chat_service.h"
#include "chat/events.h"
#include "socketio/server.h"
#include "util/rate_limit.h"

namespace chatd::api {

struct SocketOptions {
  // A socket that connects without a token must send a valid `setup` within this time.
  std::chrono::milliseconds classic_setup_timeout{10'000};
  // Events a socket may send: 100 at once, 10 a second after that (refused `rate_limited`).
  util::RateRule events_per_socket{10, 100};
};

// The Socket.IO side of chatd (API.md): authenticates sockets, serves the classic MERN events and
// the native protocol, and delivers the domain's events to the right sockets (it is the
// ChatService's EventSink). Like RestApi, it reads the wire, calls the domain and writes the wire:
// every rule of who may do what stays in chat/.
//
// Rooms: every native socket is in "n:<userId>", every classic socket (after setup) in
// "c:<userId>", and a classic socket that joined a chat in "chat:<chatId>". Messages, receipts
// and presence go to user rooms built from the member list the domain gives, so a removed member
// is simply not addressed any more. Every authenticated socket is also in "s:<sessionId>", which
// a revocation of the session disconnects.
class SocketApi final : public chat::EventSink {
 public:
  SocketApi(chat::ChatService& chats, chat::AccountService& accounts, socketio::Namespace& nsp,
            SocketOptions options);

  void on_committed(const std::vector<chat::CommittedEvent>& events) override;
  void on_typing(const chat::TypingEvent& event) override;
  void on_presence(const chat::PresenceEvent& event) override;
  std::size_t backlog() const override { return nsp_.backlog(); }

 private:
  struct Client;
  using SocketPtr = std::shared_ptr<socketio::Socket>;
  using Reply = boost::asio::awaitable<boost::json::object>;
  // A native event: reads its payload object, answers the ack.
  using NativeHandler = Reply (SocketApi::*)(const SocketPtr& socket, chat::User user,
                                             boost::json::object payload);

  void deliver(socketio::Batch& batch, const chat::MessageEvent& event);
  void deliver(socketio::Batch& batch, const chat::ReceiptEvent& event);
  void deliver(socketio::Batch& batch, const chat::ChatEvent& event);
  void deliver(socketio::Batch& batch, const chat::SessionsRevokedEvent& event);
  void deliver(socketio::Batch& batch, const chat::MessagesErasedEvent& event);
  void deliver(socketio::Batch& batch, const chat::MessageChangedEvent& event);

  void authenticate(socketio::Socket& socket, socketio::Namespace::Next next);
  boost::asio::awaitable<void> check_token(SocketPtr socket, std::string token,
                                           socketio::Namespace::Next next);
  void serve(const SocketPtr& socket);
  void serve_native(const SocketPtr& socket, const std::shared_ptr<Client>& client);
  void serve_classic(const SocketPtr& socket, const std::shared_ptr<Client>& client);
  static const NativeHandler* native_handler(std::string_view event);
  Status spend_event_budget(const socketio::Socket& socket);
  bool join_session(socketio::Socket& socket, std::string_view session_id);
  boost::asio::awaitable<void> run_native(SocketPtr socket, chat::User user, NativeHandler handler,
                                          boost::json::object payload, socketio::Socket::Ack ack);

  // Native events.
  Reply send_message(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply delivered(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply read(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply typing_start(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply typing_stop(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply sync(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply search(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply presence(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply edit_message(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply delete_message(const SocketPtr& socket, chat::User user, boost::json::object payload);
  Reply react(const SocketPtr& socket, chat::User user, boost::json::object payload);
  static Result<chat::MessageRef> message_ref(const boost::json::object& payload);
  Reply receipt(chat::User user, boost::json::object payload, bool read);
  Reply typing(chat::User user, boost::json::object payload, bool typing);

  // Classic events.
  boost::asio::awaitable<void> setup(SocketPtr socket, std::shared_ptr<Client> client,
                                     std::string token);
  boost::asio::awaitable<void> join_chat(SocketPtr socket, chat::User user, std::string chat_id);
  boost::asio::awaitable<void> classic_typing(chat::User user, std::string chat_id, bool typing);

  chat::ChatService& chats_;
  chat::AccountService& accounts_;
  socketio::Namespace& nsp_;
  SocketOptions options_;
  // Per-socket event budgets: local by nature (a socket lives on one node).
  util::LocalRateLimiter event_budgets_;
};

}  // namespace chatd::api
