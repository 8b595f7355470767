#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engineio/packet.h"
#include "net/http.h"
#include "net/router.h"
#include "net/socket_stream.h"

// An Engine.IO v4 server: HTTP long-polling, WebSocket, and the upgrade from one to the other, with
// heartbeats. It knows nothing of Socket.IO, chat, users or storage: it moves messages (text or
// binary) between a client and whoever handles `on_connection`. See README.md beside this file.
namespace chatd::engineio {

namespace asio = boost::asio;

struct ServerOptions {
  std::chrono::milliseconds ping_interval{25'000};
  std::chrono::milliseconds ping_timeout{20'000};
  std::size_t max_payload = 1'000'000;  // bytes of one POST payload or one WebSocket message
  bool allow_polling = true;
  bool allow_websocket = true;
  // Bytes queued for one client beyond which it is cut (its transport closed; it will reconnect).
  std::size_t max_buffered_bytes = 8UL << 20;
  // A WebSocket that has not completed the upgrade from polling ("5") within this time is dropped;
  // the session goes on over polling (the reference's upgradeTimeout).
  std::chrono::milliseconds upgrade_timeout{10'000};

  // A cluster without sticky sessions (README.md, "Forwarding"). With a node id, every sid names
  // this node ("<node id>.<token>") and a polling request or an upgrade for a sid that another
  // node owns is forwarded to that node. Empty: a single node, sids as plain tokens. 1 to 32 of
  // [A-Za-z0-9_-]; the constructor throws std::invalid_argument otherwise.
  std::string node_id;
  // A peer's internal "host:port" by its node id; nullopt when unknown (the client then hears
  // "Session ID unknown" and reconnects). Called on network threads, concurrently: it must be
  // thread-safe and must not block. Unset: nothing is forwarded.
  std::function<std::optional<std::string>(std::string_view node_id)> locate_node;
  // A peer that has not accepted a connection within this is taken as gone.
  std::chrono::milliseconds forward_connect_timeout{1'000};
  // The peers' ports speak TLS, as this node's (every node has the same --tls-* options): what is
  // forwarded goes to them over TLS, encrypted but not authenticated. Clients' own TLS ends here
  // either way (a relayed WebSocket is decrypted here and encrypted again towards the owner).
  bool forward_over_tls = false;
};

class Forwarder;
class Session;
class WebSocket;

// A connected client, as the layer above sees it. Everything about a socket happens on its
// executor (the network thread it lives on): call its functions there, and its handlers run there.
class Socket {
 public:
  using MessageHandler = std::function<void(std::string data, bool binary)>;
  using CloseHandler = std::function<void(std::string_view reason)>;

  virtual ~Socket() = default;
  virtual const std::string& id() const = 0;
  // The request that opened the session: headers and query of the handshake.
  virtual const net::HttpRequest& handshake() const = 0;
  virtual const std::vector<std::pair<std::string, std::string>>& query() const = 0;
  // Frees the handshake once the layer above has read what it needs (handshake() and query() are
  // empty from then on): its headers are hundreds of bytes per idle connection, more from a
  // browser.
  virtual void drop_handshake() = 0;
  virtual asio::any_io_executor executor() const = 0;
  virtual std::string_view transport() const = 0;  // "polling" or "websocket"
  virtual bool is_open() const = 0;

  virtual void on_message(MessageHandler handler) = 0;
  virtual void on_close(CloseHandler handler) = 0;

  // Queues a message packet. A socket whose queue passes max_buffered_bytes is cut.
  virtual void send(Frame frame) = 0;
  // Closes the session from the server side (reason "forced close").
  virtual void close() = 0;
};

class Server {
 public:
  // `workers`: the executors of the network threads (sessions live on the one that opened them).
  Server(ServerOptions options, std::vector<asio::any_io_executor> workers);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Called on the new socket's executor for every session that opens.
  void on_connection(std::function<void(std::shared_ptr<Socket>)> handler);

  // Serves polling (GET/POST) and WebSocket upgrades at `path`, e.g. "/engine.io/".
  void attach(net::Router& router, std::string_view path);

  // Closes every session and every relayed WebSocket (server shutdown). Callable from any thread.
  void close_all();

  const ServerOptions& options() const { return options_; }

 private:
  friend class Session;

  asio::awaitable<net::HttpResponse> handle_polling(net::Request& request);
  // A polling request for a sid this node does not know: its owner's answer, else "Session ID
  // unknown".
  asio::awaitable<net::HttpResponse> forward_or_refuse(net::Request& request,
                                                       const std::string& sid);
  // The address of the node that owns `sid`, when `request` is to be forwarded there.
  std::optional<std::string> owner_address(const net::HttpRequest& request,
                                           std::string_view sid) const;
  asio::awaitable<void> handle_upgrade(net::SocketStream stream, net::HttpRequest request);
  static asio::awaitable<void> websocket_session(Server* server, asio::any_io_executor home,
                                                 net::SocketStream::Detached connection,
                                                 net::HttpRequest request, net::Target target,
                                                 std::shared_ptr<Session> session);
  // Registers a new session (over `websocket`, or polling when null) and announces it.
  std::shared_ptr<Session> create_session(net::HttpRequest handshake, net::Target target,
                                          asio::any_io_executor executor,
                                          std::shared_ptr<WebSocket> websocket);
  std::shared_ptr<Session> find(const std::string& sid) const;
  void forget(const std::string& sid);

  ServerOptions options_;
  std::vector<asio::any_io_executor> workers_;
  std::unique_ptr<Forwarder> forwarder_;  // with a node id and locate_node only
  std::function<void(std::shared_ptr<Socket>)> on_connection_;
  mutable std::mutex mutex_;  // guards sessions_ only; never held while calling out
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
};

}  // namespace chatd::engineio
