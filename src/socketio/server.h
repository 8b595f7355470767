#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engineio/server.h"
#include "socketio/packet.h"

// A Socket.IO v5 server on top of engineio/: namespaces with connect middleware, rooms, emit to a
// socket, a room, everyone, except some; acks both ways; binary attachments. Knows nothing of
// chat, users or storage. See README.md beside this file.
namespace chatd::socketio {

namespace asio = boost::asio;

struct ServerOptions {
  engineio::ServerOptions engine;
  // A connection that joins no namespace within this time is closed.
  std::chrono::milliseconds connect_timeout{45'000};
};

// Refuses a connection to a namespace: the client receives CONNECT_ERROR {message, data}.
struct ConnectError {
  std::string message;
  boost::json::value data;
};

class Batch;
class Connection;
class Namespace;
class Socket;

// Who an emit goes to: rooms (none: the whole namespace) minus the members of other rooms. The
// packet is encoded once and the same immutable frames are queued to every recipient, on every
// network thread. A Broadcast of a Batch adds to the batch; any other is sent at once.
class Broadcast {
 public:
  Broadcast(Namespace& nsp, std::vector<std::string> rooms, std::vector<std::string> except)
      : nsp_(nsp), rooms_(std::move(rooms)), except_(std::move(except)) {}
  explicit Broadcast(Batch& batch);
  Broadcast& to(std::string room);
  Broadcast& except(std::string room);
  void emit(std::string_view event, Payload payload = {});
  // Makes the matching sockets leave `room`, on every network thread (like Node's
  // `io.in(...).socketsLeave(room)`). Ordered with emits started later from the same thread.
  void sockets_leave(std::string room);
  // Disconnects the matching sockets from the namespace and closes their connections, on every
  // network thread (like Node's `io.in(...).disconnectSockets(true)`).
  void disconnect_sockets();

 private:
  friend class Batch;
  struct Disconnect {};
  // What a broadcast does to each matching socket: send frames, leave a room, or disconnect.
  using Action =
      std::variant<std::shared_ptr<const std::vector<engineio::Frame>>, std::string, Disconnect>;
  void add(Action action);

  Namespace& nsp_;
  Batch* batch_ = nullptr;
  std::vector<std::string> rooms_;
  std::vector<std::string> except_;
};

// Broadcasts that reach each network thread as ONE task, which applies them in the order they were
// added: a recipient gets them in that order, its frames queued together (one gathered write).
// Build it on one thread, then send(); batches sent from one thread are applied in send order.
class Batch {
 public:
  explicit Batch(Namespace& nsp) : nsp_(nsp) {}
  Broadcast broadcast() { return Broadcast(*this); }
  // Posts the batch to every network thread and empties it.
  void send();

 private:
  friend class Broadcast;
  struct Entry {
    std::vector<std::string> rooms;
    std::vector<std::string> except;
    Broadcast::Action action;
  };

  Namespace& nsp_;
  std::vector<Entry> entries_;
};

// A client in one namespace. Lives on its connection's executor: call it there (handlers run
// there too). Broadcasts (Namespace, Broadcast) may be started from any thread.
class Socket : public std::enable_shared_from_this<Socket> {
 public:
  using Ack = std::function<void(Payload)>;  // empty when the client asked for no ack
  using EventHandler = std::function<void(Payload args, Ack ack)>;
  using AckCallback = std::function<void(std::optional<Payload>)>;  // nullopt: timed out

  Socket(Namespace& nsp, std::shared_ptr<Connection> connection, std::string id,
         boost::json::object auth);

  const std::string& id() const { return id_; }
  const std::string& nsp() const;
  const boost::json::object& auth() const { return auth_; }
  // Frees the CONNECT packet's auth payload and the connection's handshake once the application
  // has read them (auth() and engine().handshake() are empty from then on), so that an idle
  // socket holds neither a copy of its token nor the request's headers. The handshake is the
  // connection's: an application that drops it cannot read it at a later CONNECT to another
  // namespace of the same connection.
  void drop_handshake();
  const engineio::Socket& engine() const;
  boost::json::object& data() { return data_; }  // the application's own per-socket data
  bool connected() const { return connected_; }

  void on(std::string event, EventHandler handler);
  // Events that have no handler (ignored when this is not set), e.g. to answer their acks.
  void on_unknown(std::function<void(std::string_view event, Payload args, Ack ack)> handler);
  void on_disconnect(std::function<void(std::string_view reason)> handler);

  void emit(std::string_view event, Payload payload = {});
  void emit_with_ack(std::string_view event, Payload payload, std::chrono::milliseconds timeout,
                     AckCallback callback);

  // A socket is in the room named by its id from the start, as in the reference server.
  void join(const std::string& room);
  void leave(const std::string& room);
  // To everyone in the namespace (or in `room`) but this socket.
  Broadcast broadcast();
  Broadcast to(std::string room);

  // Server-side disconnect from this namespace; with `close_connection`, of the whole connection.
  void disconnect(bool close_connection = false);

 private:
  friend class Batch;
  friend class Connection;
  friend class Namespace;

  void dispatch(const Packet& packet, Payload payload);
  void finish(std::string_view reason);

  Namespace& nsp_;
  std::shared_ptr<Connection> connection_;
  std::string id_;
  boost::json::object auth_;
  boost::json::object data_;
  bool connected_ = false;
  std::set<std::string> rooms_;  // joined by name; its own room is in_own_room_
  bool in_own_room_ = false;
  std::unordered_map<std::string, EventHandler> handlers_;
  std::function<void(std::string_view)> on_disconnect_;
  std::function<void(std::string_view, Payload, Ack)> on_unknown_;
  std::uint64_t next_ack_id_ = 0;
  std::uint64_t visit_ = 0;  // the for_each_socket call that took (or skipped) this socket last
  struct PendingAck {
    AckCallback callback;
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::map<std::uint64_t, PendingAck> pending_acks_;
};

class Namespace {
 public:
  using Next = std::function<void(std::optional<ConnectError>)>;
  using Middleware = std::function<void(Socket& socket, Next next)>;

  Namespace(std::string name, std::size_t workers);

  const std::string& name() const { return name_; }
  // Runs for every connection attempt, in order; each calls next() to go on or next(error) to
  // refuse. Register before serving.
  void use(Middleware middleware);
  void on_connection(std::function<void(std::shared_ptr<Socket>)> handler);

  Broadcast to(std::string room) { return Broadcast(*this, {std::move(room)}, {}); }
  Broadcast except(std::string room) { return Broadcast(*this, {}, {std::move(room)}); }
  void emit(std::string_view event, Payload payload = {});
  // Broadcasts posted to the network threads and not applied yet, per thread: how far delivery
  // lags behind (for admission control above). Any thread.
  std::size_t backlog() const {
    return pending_broadcasts_.load(std::memory_order_relaxed) / workers_.size();
  }

 private:
  friend class Batch;
  friend class Connection;
  friend class Socket;
  friend class Server;

  // The sockets of one network thread; touched only on that thread.
  struct Local {
    std::unordered_map<std::string, Socket*> sockets;
    std::unordered_map<std::string, std::set<Socket*>> rooms;
    std::uint64_t last_visit = 0;   // of for_each_socket: see Socket::visit_
    std::vector<Socket*> matching;  // for_each_socket's scratch space
  };

  // Calls fn(socket) for this worker's sockets in any of `rooms` (all when empty) and in none of
  // `except`, each once.
  template <class Fn>
  void for_each_socket(std::size_t worker, const std::vector<std::string>& rooms,
                       const std::vector<std::string>& except, Fn fn);

  std::string name_;
  std::vector<Middleware> middlewares_;
  std::function<void(std::shared_ptr<Socket>)> on_connection_;
  std::vector<Local> locals_;
  std::vector<asio::any_io_executor> workers_;
  std::atomic<std::size_t> pending_broadcasts_{0};  // summed over the threads
};

class Server {
 public:
  Server(ServerOptions options, std::vector<asio::any_io_executor> workers);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The namespace `name` ("/" is the main one), created on first use. Set up before serving.
  Namespace& of(const std::string& name);

  // Serves at `path`, e.g. "/socket.io/".
  void attach(net::Router& router, std::string_view path);
  // Closes every connection (server shutdown). Callable from any thread.
  void close_all() { engine_.close_all(); }

  engineio::Server& engine() { return engine_; }
  const ServerOptions& options() const { return options_; }
  std::size_t worker_index(const asio::any_io_executor& executor) const;

 private:
  ServerOptions options_;
  std::vector<asio::any_io_executor> workers_;
  engineio::Server engine_;
  std::map<std::string, std::unique_ptr<Namespace>> namespaces_;

  friend class Connection;
};

// Encodes an event once: its text message and its binary attachments, ready for any socket.
std::vector<engineio::Frame> encode_event(const std::string& nsp, std::string_view event,
                                          const Payload& payload,
                                          std::optional<std::uint64_t> ack_id = std::nullopt);

}  // namespace chatd::socketio
