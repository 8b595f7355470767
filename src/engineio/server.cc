#include "engineio/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <stdexcept>

#include "engineio/forwarder.h"
#include "engineio/sid.h"
#include "engineio/websocket.h"
#include "util/async.h"

namespace chatd::engineio {

namespace beast = boost::beast;
namespace http = net::http;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// How long the sid of a session the client closed over polling stays known, for a GET sent with
// the close (see Session::linger()). Far longer than threads take to pick up two requests.
constexpr std::chrono::milliseconds kCloseGrace{250};

namespace {

// Engine.IO's error answers: 400 with {"code", "message"} (codes of the reference server).
net::HttpResponse protocol_error(int code, std::string_view message,
                                 http::status status = http::status::bad_request) {
  boost::json::object body{{"code", code}, {"message", message}};
  return net::json_response(status, boost::json::serialize(body));
}

// A polling request with any method but GET (or POST, within a session). The reference answers
// them all with this, not a 404. A HEAD answer has no body: the HTTP server would write one.
net::HttpResponse bad_method(http::verb method) {
  auto response = protocol_error(2, "Bad handshake method");
  if (method == http::verb::head) response.body().clear();
  return response;
}

net::HttpResponse text_payload(std::string body) {
  net::HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, "text/plain; charset=UTF-8");
  response.body() = std::move(body);
  return response;
}

std::string_view query_value(const std::vector<std::pair<std::string, std::string>>& query,
                             std::string_view name) {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return {};
}

// A forwarded long poll waits at its owner up to a ping interval (the ping then answers it), and a
// ping timeout more when the client does not answer the ping; a relayed receiver that takes no
// bytes for that long would have been dropped by the heartbeat anyway.
ForwarderOptions forwarder_options(const ServerOptions& options) {
  const auto longest_poll = options.ping_interval + options.ping_timeout;
  ForwarderOptions forwarding;
  forwarding.node_id = options.node_id;
  forwarding.connect_timeout = options.forward_connect_timeout;
  forwarding.reply_timeout = longest_poll + options.forward_connect_timeout;  // network allowance
  // A GET carries up to max_buffered_bytes of packets, binary ones in base64 (a third larger).
  forwarding.max_response_bytes = 2 * std::max(options.max_payload, options.max_buffered_bytes);
  forwarding.relay_write_timeout = longest_poll;
  forwarding.peers_use_tls = options.forward_over_tls;
  return forwarding;
}

}  // namespace

// ---- Session ----------------------------------------------------------------------------------

// The state of one client. Lives on one executor; every member below is touched only there.
class Session final : public Socket, public std::enable_shared_from_this<Session> {
 public:
  // A session over `websocket`, or over polling when it is null.
  Session(Server& server, std::string id, net::HttpRequest handshake, net::Target target,
          asio::any_io_executor executor, std::shared_ptr<WebSocket> websocket)
      : server_(server),
        id_(std::move(id)),
        handshake_(std::move(handshake)),
        target_(std::move(target)),
        executor_(std::move(executor)),
        websocket_(websocket != nullptr),
        ws_(std::move(websocket)),
        ping_timer_(executor_),
        pong_deadline_(executor_) {}

  const std::string& id() const override { return id_; }
  const net::HttpRequest& handshake() const override { return handshake_; }
  const std::vector<std::pair<std::string, std::string>>& query() const override {
    return target_.query;
  }
  void drop_handshake() override {
    handshake_ = {};
    target_ = {};
  }
  asio::any_io_executor executor() const override { return executor_; }
  std::string_view transport() const override { return websocket_ ? "websocket" : "polling"; }
  bool is_open() const override { return open_; }
  void on_message(MessageHandler handler) override { on_message_ = std::move(handler); }
  void on_close(CloseHandler handler) override { on_close_ = std::move(handler); }

  void send(Frame frame) override {
    if (!open_) return;
    if (websocket_) {
      ws_->send(frame);
      if (ws_->queued_bytes() > server_.options_.max_buffered_bytes) cut();
      return;
    }
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    if (queued_bytes_ > server_.options_.max_buffered_bytes) return cut();
    flush();
  }

  void close() override { end("forced close", /*notify_client=*/true); }

  // The open packet's JSON.
  std::string open_packet() const {
    boost::json::array upgrades;
    if (!websocket_ && server_.options_.allow_websocket) upgrades.emplace_back("websocket");
    boost::json::object open{{"sid", id_},
                             {"upgrades", std::move(upgrades)},
                             {"pingInterval", server_.options_.ping_interval.count()},
                             {"pingTimeout", server_.options_.ping_timeout.count()},
                             {"maxPayload", server_.options_.max_payload}};
    return encode_text(Packet{PacketType::open, boost::json::serialize(open)});
  }

  void start_heartbeat() { schedule_ping(); }

  // Everything queued, as one polling payload.
  std::string take_queued_payload() {
    std::string payload;
    for (const auto& frame : queue_) append_to_payload(payload, frame);
    queue_.clear();
    queued_bytes_ = 0;
    return payload;
  }

  // ---- Polling (called on this session's executor) ----

  // A GET: answered now if anything is queued, else when something is.
  // `waiter` identifies this GET, for abandon_poll().
  void poll(std::function<void(net::HttpResponse)> reply, std::shared_ptr<const void> waiter) {
    if (websocket_) {
      reply(protocol_error(3, "Bad request"));  // upgraded: polling is over
      return;
    }
    if (!open_) {
      reply(final_answer());
      return;
    }
    if (pending_get_) {
      // Two GETs at once: the client is broken or an attacker; end the session.
      reply(protocol_error(3, "Bad request"));
      end("transport error", /*notify_client=*/true);
      return;
    }
    pending_get_ = std::move(reply);
    pending_waiter_ = std::move(waiter);
    flush();
    // Mid-upgrade a GET must not wait for the next ping: the client sends "5" only once its
    // polling has paused, i.e. once this GET is answered.
    if (probed_) answer_pending_get(PacketType::noop);
  }

  // The client of a waiting GET hung up: the reference server ends the session then.
  void abandon_poll(const std::shared_ptr<const void>& waiter) {
    if (pending_get_ && pending_waiter_ == waiter) end("transport close", /*notify_client=*/false);
  }

  net::HttpResponse receive_payload(const std::string& body) {
    if (websocket_) return protocol_error(3, "Bad request");  // upgraded: polling is over
    if (!open_) return protocol_error(1, "Session ID unknown");
    if (body.size() > server_.options_.max_payload) {
      return protocol_error(3, "Payload too large", http::status::payload_too_large);
    }
    auto packets = decode_payload(body);
    if (!packets) {
      end("parse error", /*notify_client=*/false);
      return protocol_error(3, "Bad request");
    }
    for (auto& packet : *packets) {
      if (!open_) break;
      handle(std::move(packet));
    }
    return text_payload("ok");
  }

  // ---- WebSocket ----

  // Reads a WebSocket of this session until it closes: its transport, or a candidate for the
  // upgrade from polling. The WebSocket's handlers hold the session, as its reader did.
  void read_websocket(const std::shared_ptr<WebSocket>& ws) {
    if (ws != ws_) {
      if (websocket_ || probe_ || !open_) return;  // upgraded already, or upgrading elsewhere
      probe_ = ws;
      start_upgrade_deadline(ws);
    }
    auto* raw = ws.get();  // not owned: the WebSocket holds its handlers
    ws->read_messages(
        [self = shared_from_this(), raw](const std::string& message, bool binary) {
          return self->on_websocket_message(*raw, message, binary);
        },
        [self = shared_from_this(), raw] { self->websocket_ended(*raw); });
  }

  // One message on `ws`; false ends reading it.
  bool on_websocket_message(WebSocket& ws, const std::string& message, bool binary) {
    auto packet = decode_frame(message, binary);
    if (!packet) {
      end("parse error", /*notify_client=*/false);
      return false;
    }
    if (&ws != ws_.get()) return probe(ws.shared_from_this(), *packet);
    handle(std::move(*packet));
    return open_;
  }

  void websocket_ended(WebSocket& ws) {
    if (&ws == ws_.get()) {
      end("transport close", /*notify_client=*/false);
    } else if (&ws == probe_.get()) {
      probe_->abort();
      probe_.reset();  // the upgrade failed; polling goes on
      probed_ = false;
      upgrade_deadline_.reset();
    }
  }

  // A candidate that never sends "5" would otherwise keep the session half-upgraded, every GET
  // answered at once. The timer lives only during an upgrade: idle sessions do not pay for it.
  void start_upgrade_deadline(const std::shared_ptr<WebSocket>& ws) {
    upgrade_deadline_ = std::make_unique<asio::steady_timer>(executor_);
    upgrade_deadline_->expires_after(server_.options_.upgrade_timeout);
    upgrade_deadline_->async_wait(
        [weak = weak_from_this(), candidate = std::weak_ptr(ws)](const beast::error_code& ec) {
          auto self = weak.lock();
          auto ws = candidate.lock();
          if (ec || !self || !ws || ws != self->probe_) return;
          ws->abort();  // its read loop ends and puts the session back on polling
        });
  }

  // Ends the session once: timers stop, a waiting GET is answered, the transport closes, the
  // server forgets the session (at once, or after linger()), and the layer above hears why.
  void end(std::string_view reason, bool notify_client, bool cut = false) {
    if (!open_) return;
    open_ = false;
    ping_timer_.cancel();
    pong_deadline_.cancel();
    queue_.clear();
    queued_bytes_ = 0;
    final_packet_ = notify_client ? PacketType::close : PacketType::noop;
    owes_final_packet_ = !websocket_ && !pending_get_;
    answer_pending_get(final_packet_);
    if (ws_) {
      // A cut slow consumer just loses its connection; every other end is a proper goodbye
      // (the closing handshake), with Engine.IO's close packet first when the server decided.
      if (cut) {
        ws_->abort();
      } else {
        if (notify_client) ws_->send(Frame::text(PacketType::close, ""));
        ws_->close();
      }
    }
    if (probe_) probe_->abort();
    upgrade_deadline_.reset();
    if (linger_) {
      linger();
    } else {
      server_.forget(id_);
    }
    if (auto handler = std::exchange(on_close_, nullptr)) handler(reason);
    on_message_ = nullptr;
  }

 private:
  // One incoming packet on the session's current transport.
  void handle(Packet packet) {
    switch (packet.type) {
      case PacketType::message:
        if (on_message_) on_message_(std::move(packet.data), packet.binary);
        break;
      case PacketType::pong:
        pong_deadline_.cancel();
        schedule_ping();
        break;
      case PacketType::close:
        linger_ = !websocket_ && !pending_get_;
        end("transport close", /*notify_client=*/false);
        break;
      default:  // ping, open, upgrade and noop mean nothing here
        break;
    }
  }

  // The upgrade handshake on the candidate WebSocket: "2probe" -> "3probe" (and the waiting GET
  // gets a noop so the client's polling loop pauses), then "5" makes it the transport.
  bool probe(const std::shared_ptr<WebSocket>& ws, const Packet& packet) {
    if (packet.type == PacketType::ping && packet.data == "probe") {
      ws->send(Frame::text(PacketType::pong, "probe"));
      probed_ = true;  // from now on every GET is answered at once (see poll())
      answer_pending_get(PacketType::noop);
      return true;
    }
    if (packet.type == PacketType::upgrade && open_) {
      websocket_ = true;
      upgrade_deadline_.reset();
      ws_ = std::move(probe_);
      answer_pending_get(PacketType::noop);
      flush();
      return true;
    }
    return false;  // anything else before the upgrade is a protocol error
  }

  // The answer to a GET that reaches the session after it ended. A GET that found the session
  // before the end but reached it only after (its request was handled on another thread), or that
  // came while it lingers, was in flight at the end: the first gets what a pending GET would have.
  net::HttpResponse final_answer() {
    if (!std::exchange(owes_final_packet_, false)) return protocol_error(1, "Session ID unknown");
    server_.forget(id_);  // that GET was what a lingering session waited for
    return single_packet(final_packet_);
  }

  // The client closed over polling while no GET waited. It may have sent a GET with the close
  // (the official test suite sends both at once): the reference, on one thread, takes them in the
  // order they came and answers that GET "6". Here they may be handled on two threads, the GET
  // after the close; the sid stays known a little longer, so that it still gets its noop rather
  // than "Session ID unknown".
  void linger() {
    ping_timer_.expires_after(kCloseGrace);  // the heartbeat is over: its timer is free
    ping_timer_.async_wait([weak = weak_from_this()](const beast::error_code&) {
      if (auto self = weak.lock()) self->server_.forget(self->id_);
    });
  }

  void answer_pending_get(PacketType type) {
    if (pending_get_) std::exchange(pending_get_, nullptr)(single_packet(type));
  }

  static net::HttpResponse single_packet(PacketType type) {
    std::string payload;
    append_to_payload(payload, Packet{type, ""});
    return text_payload(std::move(payload));
  }

  // A slow consumer: its transport is closed (not a protocol goodbye), so the client reconnects
  // by itself and resyncs.
  void cut() { end("send buffer full", /*notify_client=*/false, /*cut=*/true); }

  void schedule_ping() {
    if (!open_) return;
    ping_timer_.expires_after(server_.options_.ping_interval);
    ping_timer_.async_wait([weak = weak_from_this()](const beast::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || !self->open_) return;
      self->queue_.push_back(Frame::text(PacketType::ping, ""));
      self->queued_bytes_ += 1;
      self->flush();
      self->pong_deadline_.expires_after(self->server_.options_.ping_timeout);
      self->pong_deadline_.async_wait([weak](const beast::error_code& deadline_ec) {
        auto session = weak.lock();
        if (!deadline_ec && session) session->end("ping timeout", /*notify_client=*/false);
      });
    });
  }

  // Moves queued packets to the client: into a waiting GET, or onto the WebSocket.
  void flush() {
    if (queue_.empty() || !open_) return;
    if (websocket_) {
      for (const auto& frame : queue_) ws_->send(frame);
      queue_.clear();
      queued_bytes_ = 0;
      return;
    }
    if (pending_get_) std::exchange(pending_get_, nullptr)(text_payload(take_queued_payload()));
  }

  Server& server_;
  std::string id_;
  net::HttpRequest handshake_;
  net::Target target_;
  asio::any_io_executor executor_;
  bool websocket_;  // the current transport
  bool open_ = true;
  std::vector<Frame> queue_;  // polling only (a WebSocket has its own); no deque: see websocket.h
  std::size_t queued_bytes_ = 0;
  std::function<void(net::HttpResponse)> pending_get_;
  std::shared_ptr<const void> pending_waiter_;
  std::shared_ptr<WebSocket> ws_;     // the WebSocket transport, once there is one
  std::shared_ptr<WebSocket> probe_;  // a WebSocket in the middle of the upgrade
  bool probed_ = false;               // probe_ got its "3probe"; the client awaits a noop
  std::unique_ptr<asio::steady_timer> upgrade_deadline_;  // while probe_ is set
  PacketType final_packet_ = PacketType::noop;            // what a GET pending at the end got
  bool owes_final_packet_ = false;  // ended over polling with no GET pending to take final_packet_
  bool linger_ = false;             // the client closed with no GET pending: see linger()
  asio::steady_timer ping_timer_;
  asio::steady_timer pong_deadline_;
  MessageHandler on_message_;
  CloseHandler on_close_;
};

// ---- Server -----------------------------------------------------------------------------------

Server::Server(ServerOptions options, std::vector<asio::any_io_executor> workers)
    : options_(std::move(options)), workers_(std::move(workers)) {
  if (!options_.node_id.empty() && !is_valid_node_id(options_.node_id)) {
    throw std::invalid_argument("engineio: node id \"" + options_.node_id +
                                "\" is not 1 to 32 of [A-Za-z0-9_-]");
  }
  if (!options_.node_id.empty() && options_.locate_node) {
    forwarder_ = std::make_unique<Forwarder>(forwarder_options(options_));
  }
}

Server::~Server() = default;

void Server::on_connection(std::function<void(std::shared_ptr<Socket>)> handler) {
  on_connection_ = std::move(handler);
}

void Server::attach(net::Router& router, std::string_view path) {
  auto polling = [this](net::Request& request) { return handle_polling(request); };
  // Every method, so that the ones polling does not use get Engine.IO's own error rather than the
  // router's 404. `unlink` is the last verb Beast names; `unknown` stands for all the others. A
  // CORS preflight never gets here: the HTTP server answers it before routing.
  for (int verb = 0; verb <= static_cast<int>(http::verb::unlink); ++verb) {
    router.add(static_cast<http::verb>(verb), path, polling);
  }
  router.add_upgrade(path, [this](net::SocketStream stream, net::HttpRequest request) {
    return handle_upgrade(std::move(stream), std::move(request));
  });
}

std::shared_ptr<Session> Server::find(const std::string& sid) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second;
}

void Server::forget(const std::string& sid) {
  std::lock_guard lock(mutex_);
  sessions_.erase(sid);
}

void Server::close_all() {
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, session] : sessions_) all.push_back(session);
  }
  for (auto& session : all) {
    asio::post(session->executor(), [session] { session->close(); });
  }
  if (forwarder_) forwarder_->close_relays();
}

std::optional<std::string> Server::owner_address(const net::HttpRequest& request,
                                                 std::string_view sid) const {
  if (!forwarder_ || Forwarder::was_forwarded(request)) return std::nullopt;
  const auto owner = owner_node(sid);
  if (owner.empty() || owner == options_.node_id) return std::nullopt;
  return options_.locate_node(owner);
}

std::shared_ptr<Session> Server::create_session(net::HttpRequest handshake, net::Target target,
                                                asio::any_io_executor executor,
                                                std::shared_ptr<WebSocket> websocket) {
  auto session =
      std::make_shared<Session>(*this, new_session_id(options_.node_id), std::move(handshake),
                                std::move(target), std::move(executor), std::move(websocket));
  {
    std::lock_guard lock(mutex_);
    sessions_.emplace(session->id(), session);
  }
  // The open packet goes first, before anything the layer above sends on connection.
  session->send(Frame{std::make_shared<const std::string>(session->open_packet()), false});
  if (on_connection_) on_connection_(session);
  session->start_heartbeat();
  return session;
}

asio::awaitable<net::HttpResponse> Server::handle_polling(net::Request& request) {
  const auto eio = query_value(request.query, "EIO");
  if (eio != "4") co_return protocol_error(5, "Unsupported protocol version");
  const auto transport = query_value(request.query, "transport");
  if (transport != "polling") {
    co_return transport == "websocket" ? protocol_error(3, "Bad request")
                                       : protocol_error(0, "Transport unknown");
  }
  if (!options_.allow_polling) co_return protocol_error(0, "Transport unknown");
  const std::string sid(query_value(request.query, "sid"));
  const auto method = request.message.method();

  if (sid.empty()) {
    if (method != http::verb::get) co_return bad_method(method);
    auto executor = co_await asio::this_coro::executor;
    net::Target target{request.path, {}, request.query};
    auto session = create_session(request.message, std::move(target), executor, nullptr);
    co_return text_payload(session->take_queued_payload());
  }

  auto session = find(sid);
  if (!session) co_return co_await forward_or_refuse(request, sid);
  if (method == http::verb::get) {
    auto waiter = std::make_shared<const int>(0);
    request.on_client_gone([session, weak = std::weak_ptr<const void>(waiter)] {
      asio::post(session->executor(), [session, weak] {
        if (auto w = weak.lock()) session->abandon_poll(w);
      });
    });
    auto wait = [session, waiter](std::function<void(net::HttpResponse)> reply) {
      asio::post(session->executor(), [session, waiter, reply = std::move(reply)]() mutable {
        session->poll(reply, waiter);
      });
    };
    co_return co_await async_callback<net::HttpResponse>(std::move(wait));
  }
  if (method != http::verb::post) co_return bad_method(method);
  auto body = std::make_shared<std::string>(std::move(request.message.body()));
  auto receive = [session, body] { return session->receive_payload(*body); };
  co_return co_await run_on(session->executor(), std::move(receive));
}

asio::awaitable<net::HttpResponse> Server::forward_or_refuse(net::Request& request,
                                                             const std::string& sid) {
  const auto method = request.message.method();
  auto owner = method == http::verb::get || method == http::verb::post
                   ? owner_address(request.message, sid)
                   : std::nullopt;
  if (owner) {
    // The client as this node sees it goes on the chain: the owner, which trusts this node as a
    // proxy, finds the same client.
    std::string client_address = request.client_address;
    auto response =
        co_await forwarder_->forward(request, std::move(*owner), std::move(client_address));
    if (response) co_return std::move(*response);
  }
  co_return protocol_error(1, "Session ID unknown");
}

asio::awaitable<void> Server::handle_upgrade(net::SocketStream stream, net::HttpRequest request) {
  auto target = net::parse_target(request.target());
  const bool valid = target && options_.allow_websocket &&
                     query_value(target->query, "EIO") == "4" &&
                     query_value(target->query, "transport") == "websocket";
  if (!valid) {
    // A WebSocket the server will not take is closed before the handshake (PROTOCOL-NOTES).
    stream.close();
    co_return;
  }
  const std::string sid(query_value(target->query, "sid"));
  std::shared_ptr<Session> session;
  if (!sid.empty()) {
    session = find(sid);
    if (!session) {
      if (auto owner = owner_address(request, sid)) {
        co_await forwarder_->relay_upgrade(std::move(stream), std::move(request),
                                           std::move(*owner));
        co_return;
      }
      stream.close();
      co_return;
    }
  }
  // The WebSocket runs on its session's thread. A direct WebSocket opens its session here; an
  // upgrade may arrive on another thread than its session, so the connection (its descriptor, and
  // its TLS session if any) moves to the session's.
  const auto here = co_await asio::this_coro::executor;
  const auto home = session ? session->executor() : here;
  beast::error_code ec;
  auto connection = stream.detach(ec);
  if (ec) co_return;

  auto task = websocket_session(this, home, std::move(connection), std::move(request),
                                std::move(*target), session);
  asio::co_spawn(home, std::move(task), asio::detached);
}

asio::awaitable<void> Server::websocket_session(Server* server, asio::any_io_executor home,
                                                net::SocketStream::Detached connection,
                                                net::HttpRequest request, net::Target target,
                                                std::shared_ptr<Session> session) {
  auto ws = std::make_shared<WebSocket>(net::SocketStream::attach(home, std::move(connection)),
                                        server->options_.max_payload);
  if (!co_await ws->accept(request)) co_return;
  if (!session) session = server->create_session(std::move(request), std::move(target), home, ws);
  session->read_websocket(ws);
}

}  // namespace chatd::engineio
