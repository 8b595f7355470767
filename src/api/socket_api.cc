#include "api/socket_api.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <variant>

#include "api/input.h"
#include "api/wire.h"
#include "util/async.h"

// As everywhere: every co_await takes named variables, never temporaries (see util/async.h).
namespace chatd::api {

namespace asio = boost::asio;
namespace json = boost::json;
using socketio::Payload;
using socketio::Socket;

// Per-socket state, shared by the socket's handlers. Touched only on the socket's thread.
struct SocketApi::Client {
  chat::ClientKind kind = chat::ClientKind::native;
  std::optional<chat::User> user;  // classic: set by a valid `setup`
  bool setting_up = false;         // classic: a `setup` is being checked
  std::unique_ptr<asio::steady_timer> setup_deadline;
};

namespace {

constexpr std::string_view kBearer = "Bearer ";
constexpr std::array kNativeEvents = {
    "message:send", "message:delivered", "message:read",   "typing:start",  "typing:stop", "sync",
    "presence:get", "message:edit",      "message:delete", "message:react", "search"};

std::string native_room(std::string_view user_id) {
  return "n:" + std::string(user_id);
}
std::string classic_room(std::string_view user_id) {
  return "c:" + std::string(user_id);
}
std::string chat_room(std::string_view chat_id) {
  return "chat:" + std::string(chat_id);
}
std::string session_room(std::string_view session_id) {
  return "s:" + std::string(session_id);
}

Payload args(json::value value) {
  return Payload{json::array{std::move(value)}, {}};
}

// The token a socket presents: the handshake auth's `token`, else an Authorization header.
// nullopt: none (a classic client). A token that is not a string is an empty (bad) token.
std::optional<std::string> handshake_token(const Socket& socket) {
  if (const auto* token = socket.auth().if_contains("token"); token && !token->is_null()) {
    return token->is_string() ? std::string(token->as_string()) : std::string();
  }
  const auto& header = socket.engine().handshake()[boost::beast::http::field::authorization];
  if (header.empty()) return std::nullopt;
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    return std::string();
  }
  return std::string(header.substr(kBearer.size()));
}

// The user the authentication middleware admitted, kept in the socket's data.
std::optional<chat::User> admitted_user(Socket& socket) {
  const auto* user = socket.data().if_contains("user");
  if (!user || !user->is_object()) return std::nullopt;
  const auto& u = user->as_object();
  chat::User admitted;
  admitted.id = u.at("_id").as_string();
  admitted.name = u.at("name").as_string();
  admitted.email = u.at("email").as_string();
  admitted.pic = u.at("pic").as_string();
  admitted.is_admin = u.at("isAdmin").as_bool();
  return admitted;
}

// A classic event's chat id: the id string, or a chat object with `_id`, as clients send.
std::optional<std::string> classic_chat_id(const Payload& payload) {
  if (payload.args.empty()) return std::nullopt;
  const auto& first = payload.args.front();
  if (first.is_string()) return std::string(first.as_string());
  if (first.is_object()) {
    const auto* id = first.as_object().if_contains("_id");
    if (id && id->is_string()) return std::string(id->as_string());
  }
  return std::nullopt;
}

json::object error_reply(const Error& error) {
  return wire::ack_error(error);
}

// An event nobody serves: a client that asked for an ack learns so at once, not at its timeout.
void answer_unknown(std::string_view event, const Payload&, const Socket::Ack& ack) {
  if (!ack) return;
  ack(args(error_reply(make_error(Errc::not_found, "Unknown event: " + std::string(event)))));
}

}  // namespace

SocketApi::SocketApi(chat::ChatService& chats, chat::AccountService& accounts,
                     socketio::Namespace& nsp, SocketOptions options)
    : chats_(chats), accounts_(accounts), nsp_(nsp), options_(options) {
  nsp_.use([this](Socket& socket, socketio::Namespace::Next next) {
    authenticate(socket, std::move(next));
  });
  nsp_.on_connection([this](const SocketPtr& socket) { serve(socket); });
}

// ---- Connecting --------------------------------------------------------------------------------

// A socket with a token is native and must present a good one (a bad one is refused, never taken
// for a classic client); a socket without one is classic and proves itself with `setup`.
void SocketApi::authenticate(Socket& socket, socketio::Namespace::Next next) {
  auto token = handshake_token(socket);
  if (!token) return next(std::nullopt);
  asio::co_spawn(socket.engine().executor(),
                 check_token(socket.shared_from_this(), std::move(*token), std::move(next)),
                 log_if_failed("socket: event handler"));
}

asio::awaitable<void> SocketApi::check_token(SocketPtr socket, std::string token,
                                             socketio::Namespace::Next next) {
  auto caller = co_await accounts_.authenticate(std::move(token));
  if (!caller) {
    const auto& error = caller.error();
    const std::string message =
        error.code == Errc::unauthorized ? "Not authorized, token failed" : error.message;
    next(socketio::ConnectError{message, json::object{{"code", errc_name(error.code)}}});
    co_return;
  }
  socket->data()["user"] = wire::user(caller->user);
  socket->data()["sid"] = caller->session_id;
  next(std::nullopt);
}

void SocketApi::serve(const SocketPtr& socket) {
  socket->drop_handshake();  // read by authenticate() already; chatd has one namespace
  auto client = std::make_shared<Client>();
  if (auto user = admitted_user(*socket)) {
    if (!join_session(*socket, socket->data().at("sid").as_string())) return;
    socket->data() = {};  // the user is in client now: an idle socket keeps one copy, not two
    client->user = std::move(*user);
    serve_native(socket, client);
  } else {
    client->kind = chat::ClientKind::classic;
    serve_classic(socket, client);
  }
  socket->on_disconnect([this, client, executor = socket->engine().executor()](std::string_view) {
    if (client->setup_deadline) client->setup_deadline->cancel();
    if (!client->user) return;
    asio::co_spawn(executor, chats_.client_disconnected(*client->user, client->kind),
                   log_if_failed("socket: event handler"));
  });
}

// ---- Native protocol ---------------------------------------------------------------------------

void SocketApi::serve_native(const SocketPtr& socket, const std::shared_ptr<Client>& client) {
  socket->join(native_room(client->user->id));
  // One dispatcher per socket, not one handler per event: an idle socket holds one small closure.
  socket->on_unknown([this, weak = std::weak_ptr(socket), client](
                         std::string_view event, Payload payload, Socket::Ack ack) {
    auto self = weak.lock();
    if (!self) return;
    if (auto spent = spend_event_budget(*self); !spent) {
      if (ack) ack(args(error_reply(spent.error())));
      return;
    }
    const auto* handler = native_handler(event);
    if (!handler) return answer_unknown(event, payload, ack);
    if (payload.args.empty() || !payload.args.front().is_object()) {
      if (ack) {
        ack(args(error_reply(make_error(Errc::invalid_input, "The payload must be an object"))));
      }
      return;
    }
    auto body = std::move(payload.args.front().as_object());
    asio::co_spawn(self->engine().executor(),
                   run_native(self, *client->user, *handler, std::move(body), std::move(ack)),
                   log_if_failed("socket: event handler"));
  });
  asio::co_spawn(socket->engine().executor(), chats_.client_connected(*client->user, client->kind),
                 log_if_failed("socket: event handler"));
}

// Puts the socket in its session's room, which a revocation disconnects; false (and the socket
// disconnected) when the session was revoked since its token was checked. The cache is marked
// before the revocation's disconnect is sent, so after joining one of the two catches the socket.
bool SocketApi::join_session(Socket& socket, std::string_view session_id) {
  if (session_id.empty()) return true;  // a session-less token (--accept-sessionless-tokens)
  socket.join(session_room(session_id));
  auto cached = accounts_.sessions().find(std::string(session_id));
  if (!cached || !cached->revoked) return true;
  socket.disconnect();
  return false;
}

// Takes one event from the socket's budget: `rate_limited` once a client floods.
Status SocketApi::spend_event_budget(const Socket& socket) {
  auto decision = event_budgets_.try_acquire(socket.id(), options_.events_per_socket);
  if (decision.allowed) return {};
  return util::rate_limited(decision, "Too many events, slow down");
}

// The handler of a native event (nullptr: not one).
const SocketApi::NativeHandler* SocketApi::native_handler(std::string_view event) {
  static constexpr std::array<NativeHandler, kNativeEvents.size()> kHandlers = {
      &SocketApi::send_message, &SocketApi::delivered,    &SocketApi::read,
      &SocketApi::typing_start, &SocketApi::typing_stop,  &SocketApi::sync,
      &SocketApi::presence,     &SocketApi::edit_message, &SocketApi::delete_message,
      &SocketApi::react,        &SocketApi::search};
  for (std::size_t i = 0; i < kNativeEvents.size(); ++i) {
    if (kNativeEvents[i] == event) return &kHandlers[i];
  }
  return nullptr;
}

asio::awaitable<void> SocketApi::run_native(SocketPtr socket, chat::User user,
                                            NativeHandler handler, json::object payload,
                                            Socket::Ack ack) {
  auto reply = co_await (this->*handler)(socket, std::move(user), std::move(payload));
  if (ack) ack(args(std::move(reply)));
}

SocketApi::Reply SocketApi::send_message(const SocketPtr& socket, chat::User user,
                                         json::object payload) {
  auto chat_id = input::required_string(payload, "chatId");
  if (!chat_id) co_return error_reply(chat_id.error());
  auto client_msg_id = input::required_string(payload, "clientMsgId");
  if (!client_msg_id) co_return error_reply(client_msg_id.error());
  auto message = input::message_body(payload);
  if (!message) co_return error_reply(message.error());
  auto reply_to = input::optional_string(payload, "replyTo");
  if (!reply_to) co_return error_reply(reply_to.error());
  auto origin = socket->id();
  auto sent = co_await chats_.post_message(
      std::move(user), std::move(*chat_id), std::move(message->content), std::move(*client_msg_id),
      std::move(origin), std::move(*reply_to), std::move(message->attachments));
  if (!sent) co_return error_reply(sent.error());
  co_return wire::ack_ok({{"message", wire::lean_message(*sent)}});
}

// {chatId, messageId}, as every change of a sent message names it.
Result<chat::MessageRef> SocketApi::message_ref(const json::object& payload) {
  auto chat_id = input::required_string(payload, "chatId");
  if (!chat_id) return chat_id.error();
  auto message_id = input::required_string(payload, "messageId");
  if (!message_id) return message_id.error();
  return chat::MessageRef{std::move(*chat_id), std::move(*message_id)};
}

SocketApi::Reply SocketApi::edit_message(const SocketPtr&, chat::User user, json::object payload) {
  auto ref = message_ref(payload);
  if (!ref) co_return error_reply(ref.error());
  auto content = input::required_string(payload, "content");
  if (!content) co_return error_reply(content.error());
  auto edited = co_await chats_.edit_message(std::move(user), std::move(*ref), std::move(*content));
  if (!edited) co_return error_reply(edited.error());
  co_return wire::ack_ok({{"message", wire::lean_message(edited->message)}});
}

SocketApi::Reply SocketApi::delete_message(const SocketPtr&, chat::User user,
                                           json::object payload) {
  auto ref = message_ref(payload);
  if (!ref) co_return error_reply(ref.error());
  auto deleted = co_await chats_.delete_message(std::move(user), std::move(*ref));
  if (!deleted) co_return error_reply(deleted.error());
  co_return wire::ack_ok({{"message", wire::lean_message(deleted->message)}});
}

SocketApi::Reply SocketApi::react(const SocketPtr&, chat::User user, json::object payload) {
  auto ref = message_ref(payload);
  if (!ref) co_return error_reply(ref.error());
  auto emoji = input::required_string(payload, "emoji");
  if (!emoji) co_return error_reply(emoji.error());
  auto on = input::required_bool(payload, "on");
  if (!on) co_return error_reply(on.error());
  auto reacted = co_await chats_.react(std::move(user), std::move(*ref), std::move(*emoji), *on);
  if (!reacted) co_return error_reply(reacted.error());
  co_return wire::ack_ok({{"message", wire::lean_message(reacted->message)}});
}

SocketApi::Reply SocketApi::delivered(const SocketPtr&, chat::User user, json::object payload) {
  co_return co_await receipt(std::move(user), std::move(payload), false);
}

SocketApi::Reply SocketApi::read(const SocketPtr&, chat::User user, json::object payload) {
  co_return co_await receipt(std::move(user), std::move(payload), true);
}

SocketApi::Reply SocketApi::receipt(chat::User user, json::object payload, bool read) {
  auto chat_id = input::required_string(payload, "chatId");
  if (!chat_id) co_return error_reply(chat_id.error());
  auto seq = input::required_integer(payload, "seq");
  if (!seq) co_return error_reply(seq.error());
  const std::int64_t read_seq = read ? *seq : 0;
  auto member =
      co_await chats_.report_receipt(std::move(user), std::move(*chat_id), *seq, read_seq);
  if (!member) co_return error_reply(member.error());
  co_return wire::ack_ok({{"deliveredSeq", member->delivered_seq}, {"readSeq", member->read_seq}});
}

SocketApi::Reply SocketApi::typing_start(const SocketPtr&, chat::User user, json::object payload) {
  co_return co_await typing(std::move(user), std::move(payload), true);
}

SocketApi::Reply SocketApi::typing_stop(const SocketPtr&, chat::User user, json::object payload) {
  co_return co_await typing(std::move(user), std::move(payload), false);
}

SocketApi::Reply SocketApi::typing(chat::User user, json::object payload, bool typing) {
  auto chat_id = input::required_string(payload, "chatId");
  if (!chat_id) co_return error_reply(chat_id.error());
  auto done = co_await chats_.set_typing(std::move(user), std::move(*chat_id), typing);
  if (!done) co_return error_reply(done.error());
  co_return wire::ack_ok();
}

SocketApi::Reply SocketApi::search(const SocketPtr&, chat::User user, json::object payload) {
  auto request = input::search_body(payload);
  if (!request) co_return error_reply(request.error());
  auto page = co_await chats_.search_messages(std::move(user), std::move(*request));
  if (!page) co_return error_reply(page.error());
  co_return wire::ack_ok(wire::search_page(*page));
}

SocketApi::Reply SocketApi::sync(const SocketPtr&, chat::User user, json::object payload) {
  chat::SyncRequest request;
  auto cursors = input::optional_cursor_map(payload, "cursors");
  if (!cursors) co_return error_reply(cursors.error());
  if (*cursors) request.cursors = std::move(**cursors);
  auto change_cursors = input::optional_cursor_map(payload, "changeCursors");
  if (!change_cursors) co_return error_reply(change_cursors.error());
  request.change_cursors = std::move(*change_cursors);
  auto limit = input::optional_integer(payload, "limit");
  if (!limit) co_return error_reply(limit.error());
  if (*limit) {
    if (**limit < 1 || **limit > std::numeric_limits<int>::max()) {
      co_return error_reply(make_error(Errc::invalid_input, "limit must be a positive integer"));
    }
    request.limit = static_cast<int>(**limit);
  }
  auto answer = co_await chats_.sync(std::move(user), std::move(request));
  if (!answer) co_return error_reply(answer.error());
  co_return wire::ack_ok(wire::sync(*answer));
}

SocketApi::Reply SocketApi::presence(const SocketPtr&, chat::User user, json::object payload) {
  auto ids = input::string_list(payload, "userIds");
  if (!ids) co_return error_reply(ids.error());
  auto views = co_await chats_.presence_of(std::move(user), std::move(*ids));
  if (!views) co_return error_reply(views.error());
  json::array users;
  for (const auto& view : *views) users.push_back(wire::presence(view));
  co_return wire::ack_ok({{"users", std::move(users)}});
}

// ---- Classic MERN events -----------------------------------------------------------------------

void SocketApi::serve_classic(const SocketPtr& socket, const std::shared_ptr<Client>& client) {
  client->setup_deadline = std::make_unique<asio::steady_timer>(socket->engine().executor(),
                                                                options_.classic_setup_timeout);
  client->setup_deadline->async_wait([weak = std::weak_ptr(socket), client](auto ec) {
    if (ec || client->user) return;
    if (auto s = weak.lock()) s->disconnect();
  });
  socket->on("setup", [this, weak = std::weak_ptr(socket), client](const Payload& payload,
                                                                   const Socket::Ack&) {
    auto self = weak.lock();
    if (!self || client->user || client->setting_up || !spend_event_budget(*self)) return;
    std::string token;
    if (!payload.args.empty() && payload.args.front().is_object()) {
      const auto* t = payload.args.front().as_object().if_contains("token");
      if (t && t->is_string()) token = t->as_string();
    }
    client->setting_up = true;
    asio::co_spawn(self->engine().executor(), setup(self, client, std::move(token)),
                   log_if_failed("socket: event handler"));
  });
  // Until `setup` succeeds, nothing else is served.
  const auto when_set_up = [this, weak = std::weak_ptr(socket), client](auto serve) {
    return [this, weak, client, serve](Payload payload, const Socket::Ack& ack) {
      auto self = weak.lock();
      if (!self || !spend_event_budget(*self)) return;  // classic events have no error channel
      if (!client->user) {
        if (ack) ack(args(error_reply(make_error(Errc::unauthorized, "Send setup first"))));
        return;
      }
      serve(self, *client->user, std::move(payload));
    };
  };
  socket->on("join chat", when_set_up([this](const SocketPtr& s, const chat::User& user,
                                             const Payload& payload) {
               auto chat_id = classic_chat_id(payload);
               if (!chat_id) return;  // classic events have no error channel: a bad one is ignored
               asio::co_spawn(s->engine().executor(), join_chat(s, user, std::move(*chat_id)),
                              log_if_failed("socket: event handler"));
             }));
  for (const bool typing : {true, false}) {
    socket->on(typing ? "typing" : "stop typing",
               when_set_up([this, typing](const SocketPtr& s, const chat::User& user,
                                          const Payload& payload) {
                 auto chat_id = classic_chat_id(payload);
                 if (!chat_id) return;
                 asio::co_spawn(s->engine().executor(),
                                classic_typing(user, std::move(*chat_id), typing),
                                log_if_failed("socket: event handler"));
               }));
  }
  // The native protocol needs a token in the handshake.
  for (const char* event : kNativeEvents) {
    socket->on(event, [](const Payload&, const Socket::Ack& ack) {
      if (ack) {
        ack(args(error_reply(make_error(Errc::unauthorized,
                                        "Native events need a token in the Socket.IO handshake"))));
      }
    });
  }
  socket->on_unknown(answer_unknown);
  // Classic clients relay each message they sent; the server already delivered it at commit.
  socket->on("new message",
             when_set_up([](const SocketPtr&, const chat::User&, const Payload&) {}));
}

asio::awaitable<void> SocketApi::setup(SocketPtr socket, std::shared_ptr<Client> client,
                                       std::string token) {
  // The token decides who this is, whatever `_id` the client sent beside it.
  auto caller = co_await accounts_.authenticate(std::move(token));
  client->setting_up = false;
  if (!socket->connected()) co_return;
  if (!caller) {
    socket->disconnect();
    co_return;
  }
  if (!join_session(*socket, caller->session_id)) co_return;
  client->user = caller->user;
  client->setup_deadline->cancel();
  socket->join(classic_room(caller->user.id));
  socket->emit("connected");
  co_await chats_.client_connected(std::move(caller->user), client->kind);
}

asio::awaitable<void> SocketApi::join_chat(SocketPtr socket, chat::User user, std::string chat_id) {
  auto id = chat_id;
  auto member = co_await chats_.check_member(std::move(user), std::move(id));
  if (member && socket->connected()) socket->join(chat_room(chat_id));
}

asio::awaitable<void> SocketApi::classic_typing(chat::User user, std::string chat_id, bool typing) {
  // Refusals (not a member, too many) have no reply in the classic protocol.
  auto done = co_await chats_.set_typing(std::move(user), std::move(chat_id), typing);
  (void)done;
}

// ---- Delivering the domain's events ------------------------------------------------------------

// One batch per round of the sequencer: each network thread gets one task that delivers the
// round's events to its sockets in commit order.
void SocketApi::on_committed(const std::vector<chat::CommittedEvent>& events) {
  socketio::Batch batch(nsp_);
  for (const auto& event : events) {
    std::visit([&](const auto& e) { deliver(batch, e); }, event);
  }
  batch.send();
}

void SocketApi::deliver(socketio::Batch& batch, const chat::MessageEvent& event) {
  const auto& message = event.message;
  auto native = batch.broadcast();
  for (const auto& id : event.member_ids) native.to(native_room(id));
  if (!event.origin.empty()) native.except(event.origin);  // the sending socket has its ack
  native.emit("message:new", args(wire::lean_message(message)));

  if (!event.chat) return;
  auto classic = batch.broadcast();
  for (const auto& id : event.member_ids) {
    if (id != message.sender.id) classic.to(classic_room(id));
  }
  classic.emit("message recieved",
               args(wire::message(message, wire::chat_of_message(*event.chat))));
}

void SocketApi::deliver(socketio::Batch& batch, const chat::ReceiptEvent& event) {
  auto native = batch.broadcast();
  for (const auto& id : event.member_ids) native.to(native_room(id));
  native.emit("receipt", args(wire::receipt(event.chat_id, event.member)));
}

void SocketApi::deliver(socketio::Batch& batch, const chat::ChatEvent& event) {
  const auto& chat = event.chat;
  if (!chat.users.empty()) {
    auto members = batch.broadcast();
    for (const auto& user : chat.users) members.to(native_room(user.id));
    members.emit("chat:updated", args(json::object{{"chat", wire::chat(chat)}}));
  }
  if (event.removed_user_ids.empty()) return;
  auto removed = batch.broadcast();
  auto leaving = batch.broadcast();
  for (const auto& id : event.removed_user_ids) {
    removed.to(native_room(id));
    leaving.to(native_room(id)).to(classic_room(id));
  }
  removed.emit("chat:removed", args(json::object{{"chatId", chat.chat.id}}));
  leaving.sockets_leave(chat_room(chat.chat.id));
}

// The revoked sessions' sockets are cut, on every network thread, in commit order with the rest.
void SocketApi::deliver(socketio::Batch& batch, const chat::SessionsRevokedEvent& event) {
  auto revoked = batch.broadcast();
  for (const auto& id : event.session_ids) revoked.to(session_room(id));
  revoked.disconnect_sockets();
}

// Native clients hear of each tombstone (as of a deleted message); classic clients have no such
// event and see the tombstones in history.
void SocketApi::deliver(socketio::Batch& batch, const chat::MessagesErasedEvent& event) {
  for (const auto& message : event.messages) {
    auto native = batch.broadcast();  // an emit takes the broadcast's rooms: one per message
    for (const auto& id : event.member_ids) native.to(native_room(id));
    native.emit("message:deleted", args(wire::message_deleted(event.chat_id, message)));
  }
}

// Native clients only: classic clients have no such events and see the changes in history.
void SocketApi::deliver(socketio::Batch& batch, const chat::MessageChangedEvent& event) {
  auto native = batch.broadcast();
  for (const auto& id : event.member_ids) native.to(native_room(id));
  const auto& m = event.message.message;
  switch (event.kind) {
    case store::MessageChangeKind::edit:
      native.emit("message:updated", args(wire::message_updated(event.message)));
      return;
    case store::MessageChangeKind::remove:
      native.emit("message:deleted",
                  args(wire::message_deleted(m.chat_id, store::ErasedMessage{m.id, m.seq})));
      return;
    case store::MessageChangeKind::react:
    case store::MessageChangeKind::unreact:
      native.emit("reaction", args(wire::reaction(event)));
      return;
  }
}

void SocketApi::on_typing(const chat::TypingEvent& event) {
  nsp_.to(chat_room(event.chat_id))
      .except(classic_room(event.user_id))
      .emit(event.typing ? "typing" : "stop typing");
  if (!event.changed) return;
  socketio::Broadcast native(nsp_, {}, {});
  bool anyone = false;
  for (const auto& id : event.member_ids) {
    if (id == event.user_id) continue;
    native.to(native_room(id));
    anyone = true;
  }
  if (anyone) native.emit("typing", args(wire::typing(event.chat_id, event.user_id, event.typing)));
}

void SocketApi::on_presence(const chat::PresenceEvent& event) {
  if (event.contact_ids.empty()) return;
  socketio::Broadcast native(nsp_, {}, {});
  for (const auto& id : event.contact_ids) native.to(native_room(id));
  native.emit(
      "presence",
      args(wire::presence(chat::PresenceView{event.user_id, event.online, event.last_seen})));
}

}  // namespace chatd::api
