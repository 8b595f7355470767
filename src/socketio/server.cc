#include "socketio/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include "util/object_id.h"

namespace chatd::socketio {

namespace json = boost::json;
using engineio::Frame;

namespace {

// The frames of one packet: its text message, then its binary attachments.
std::vector<Frame> frames_of(const Packet& packet, const std::vector<std::string>& binaries) {
  std::vector<Frame> frames;
  frames.reserve(1 + binaries.size());
  frames.push_back(Frame::text(engineio::PacketType::message, encode(packet)));
  for (const auto& binary : binaries) frames.push_back(Frame::binary_message(binary));
  return frames;
}

PacketType event_type(const Payload& payload) {
  return payload.binaries.empty() ? PacketType::event : PacketType::binary_event;
}

}  // namespace

std::vector<Frame> encode_event(const std::string& nsp, std::string_view event,
                                const Payload& payload, std::optional<std::uint64_t> ack_id) {
  json::array data;
  data.reserve(payload.args.size() + 1);
  data.emplace_back(event);
  for (const auto& arg : payload.args) data.push_back(arg);
  Packet packet{event_type(payload), nsp, ack_id, json::value(std::move(data)),
                payload.binaries.size()};
  return frames_of(packet, payload.binaries);
}

// ---- Connection -------------------------------------------------------------------------------

// One Engine.IO connection and the namespaces it joined. Lives on the engine socket's executor.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, std::shared_ptr<engineio::Socket> engine, std::size_t worker)
      : server_(server),
        engine_(std::move(engine)),
        worker_(worker),
        connect_timer_(engine_->executor()) {}

  void start() {
    auto self = shared_from_this();
    engine_->on_message(
        [self](std::string data, bool binary) { self->on_message(std::move(data), binary); });
    engine_->on_close([self](std::string_view reason) { self->on_close(reason); });
    connect_timer_.expires_after(server_.options().connect_timeout);
    connect_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto connection = weak.lock();
      if (!ec && connection && connection->sockets_.empty()) connection->engine_->close();
    });
  }

  engineio::Socket& engine() { return *engine_; }
  std::size_t worker() const { return worker_; }

  void send(const std::vector<Frame>& frames) {
    for (const auto& frame : frames) engine_->send(frame);
  }

  void send_packet(const Packet& packet) { send(frames_of(packet, {})); }

  // A socket left its namespace (it has already finished).
  void remove(const std::string& nsp) { sockets_.erase(nsp); }

 private:
  void on_message(std::string data, bool binary) {
    if (binary) {
      if (!partial_) return fail();  // a binary part nobody announced
      attachments_.push_back(std::move(data));
      if (attachments_.size() == partial_->attachments) {
        auto packet = std::move(*partial_);
        partial_.reset();
        Payload payload{{}, std::exchange(attachments_, {})};
        dispatch(std::move(packet), std::move(payload));
      }
      return;
    }
    if (partial_) return fail();  // text before the announced binary parts
    auto packet = decode(data);
    if (!packet) return fail();
    if (packet->attachments > 0) {
      partial_ = std::move(packet);
      return;
    }
    dispatch(std::move(*packet), Payload{});
  }

  // An invalid packet: the reference server closes the whole connection.
  void fail() { engine_->close(); }

  void dispatch(Packet packet, Payload payload) {
    if (packet.type == PacketType::connect) return connect(std::move(packet));
    auto it = sockets_.find(packet.nsp);
    if (it == sockets_.end()) return;  // not joined: ignored
    auto socket = it->second;
    if (packet.type == PacketType::disconnect) {
      sockets_.erase(it);
      socket->finish("client namespace disconnect");
      return;
    }
    socket->dispatch(packet, std::move(payload));
  }

  void connect(Packet packet) {
    auto found = server_.namespaces_.find(packet.nsp);
    if (found == server_.namespaces_.end()) {
      send_packet(Packet{PacketType::connect_error, packet.nsp, std::nullopt,
                         json::object{{"message", "Invalid namespace"}}});
      return;
    }
    if (sockets_.count(packet.nsp)) return;  // already connected there
    auto& nsp = *found->second;
    json::object auth;
    if (packet.data) auth = std::move(packet.data->as_object());
    auto socket =
        std::make_shared<Socket>(nsp, shared_from_this(), random_token(), std::move(auth));
    run_middleware(socket, 0);
  }

  // Runs middleware `index` and, when it says next(), the following ones, then admits the socket.
  void run_middleware(const std::shared_ptr<Socket>& socket, std::size_t index) {
    auto& middlewares = socket->nsp_.middlewares_;
    if (index == middlewares.size()) return admit(socket);
    auto next = [weak = weak_from_this(), socket, index](std::optional<ConnectError> error) {
      auto self = weak.lock();
      if (!self || !self->engine_->is_open()) return;
      asio::post(self->engine_->executor(), [self, socket, index, error = std::move(error)] {
        if (!self->engine_->is_open()) return;
        if (error) {
          json::object body{{"message", error->message}};
          if (!error->data.is_null()) body["data"] = error->data;
          self->send_packet(Packet{PacketType::connect_error, socket->nsp(), std::nullopt,
                                   json::value(std::move(body))});
          return;
        }
        self->run_middleware(socket, index + 1);
      });
    };
    middlewares[index](*socket, std::move(next));
  }

  void admit(const std::shared_ptr<Socket>& socket) {
    auto& nsp = socket->nsp_;
    connect_timer_.cancel();
    sockets_[nsp.name()] = socket;
    socket->connected_ = true;
    nsp.locals_[worker_].sockets.emplace(socket->id(), socket.get());
    socket->in_own_room_ = true;
    send_packet(
        Packet{PacketType::connect, nsp.name(), std::nullopt, json::object{{"sid", socket->id()}}});
    if (nsp.on_connection_) nsp.on_connection_(socket);
  }

  void on_close(std::string_view reason) {
    connect_timer_.cancel();
    auto sockets = std::exchange(sockets_, {});
    for (auto& [nsp, socket] : sockets) socket->finish(reason);
  }

  Server& server_;
  std::shared_ptr<engineio::Socket> engine_;
  std::size_t worker_;
  std::map<std::string, std::shared_ptr<Socket>> sockets_;  // by namespace
  std::optional<Packet> partial_;  // a binary packet waiting for its attachments
  std::vector<std::string> attachments_;
  asio::steady_timer connect_timer_;
};

// ---- Socket -----------------------------------------------------------------------------------

Socket::Socket(Namespace& nsp, std::shared_ptr<Connection> connection, std::string id,
               json::object auth)
    : nsp_(nsp), connection_(std::move(connection)), id_(std::move(id)), auth_(std::move(auth)) {}

const std::string& Socket::nsp() const {
  return nsp_.name();
}
const engineio::Socket& Socket::engine() const {
  return connection_->engine();
}

void Socket::on(std::string event, EventHandler handler) {
  handlers_[std::move(event)] = std::move(handler);
}

void Socket::on_unknown(std::function<void(std::string_view, Payload, Ack)> handler) {
  on_unknown_ = std::move(handler);
}

void Socket::on_disconnect(std::function<void(std::string_view)> handler) {
  on_disconnect_ = std::move(handler);
}

void Socket::emit(std::string_view event, Payload payload) {
  if (!connected_) return;
  connection_->send(encode_event(nsp_.name(), event, payload));
}

void Socket::emit_with_ack(std::string_view event, Payload payload,
                           std::chrono::milliseconds timeout, AckCallback callback) {
  if (!connected_) {
    callback(std::nullopt);
    return;
  }
  const auto id = next_ack_id_++;
  auto timer = std::make_unique<asio::steady_timer>(connection_->engine().executor(), timeout);
  timer->async_wait([weak = weak_from_this(), id](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    auto it = self->pending_acks_.find(id);
    if (it == self->pending_acks_.end()) return;
    auto pending_callback = std::move(it->second.callback);
    self->pending_acks_.erase(it);
    pending_callback(std::nullopt);
  });
  pending_acks_.emplace(id, PendingAck{std::move(callback), std::move(timer)});
  connection_->send(encode_event(nsp_.name(), event, payload, id));
}

void Socket::drop_handshake() {
  auth_ = {};
  connection_->engine().drop_handshake();
}

void Socket::join(const std::string& room) {
  if (!connected_) return;
  if (room == id_) {
    in_own_room_ = true;
    return;
  }
  if (!rooms_.insert(room).second) return;
  nsp_.locals_[connection_->worker()].rooms[room].insert(this);
}

void Socket::leave(const std::string& room) {
  if (room == id_) in_own_room_ = false;
  if (rooms_.erase(room) == 0) return;
  auto& rooms = nsp_.locals_[connection_->worker()].rooms;
  auto it = rooms.find(room);
  if (it == rooms.end()) return;
  it->second.erase(this);
  if (it->second.empty()) rooms.erase(it);
}

Broadcast Socket::broadcast() {
  return Broadcast(nsp_, {}, {id_});
}
Broadcast Socket::to(std::string room) {
  return Broadcast(nsp_, {std::move(room)}, {id_});
}

void Socket::disconnect(bool close_connection) {
  if (!connected_) return;
  auto self = shared_from_this();
  connection_->send_packet(Packet{PacketType::disconnect, nsp_.name()});
  connection_->remove(nsp_.name());
  finish("server namespace disconnect");
  if (close_connection) connection_->engine().close();
}

void Socket::dispatch(const Packet& packet, Payload payload) {
  auto& args = packet.data->as_array();
  if (packet.type == PacketType::ack || packet.type == PacketType::binary_ack) {
    if (!packet.ack_id) return;
    auto it = pending_acks_.find(*packet.ack_id);
    if (it == pending_acks_.end()) return;
    auto callback = std::move(it->second.callback);
    pending_acks_.erase(it);
    callback(Payload{args, std::move(payload.binaries)});
    return;
  }
  const auto& name = args.front();
  const std::string event =
      name.is_string() ? std::string(name.as_string()) : json::serialize(name);
  auto handler = handlers_.find(event);
  if (handler == handlers_.end() && !on_unknown_) return;
  Ack ack;
  if (packet.ack_id) {
    ack = [weak = weak_from_this(), id = *packet.ack_id](Payload reply) {
      auto self = weak.lock();
      if (!self || !self->connected_) return;
      const auto type = reply.binaries.empty() ? PacketType::ack : PacketType::binary_ack;
      Packet ack_packet{type, self->nsp_.name(), id, json::value(std::move(reply.args)),
                        reply.binaries.size()};
      self->connection_->send(frames_of(ack_packet, reply.binaries));
    };
  }
  json::array rest(args.begin() + 1, args.end());
  Payload event_args{std::move(rest), std::move(payload.binaries)};
  // Copied: a handler may replace itself or remove the socket while it runs.
  if (handler == handlers_.end()) {
    auto unknown = on_unknown_;
    unknown(event, std::move(event_args), std::move(ack));
    return;
  }
  auto run = handler->second;
  run(std::move(event_args), std::move(ack));
}

void Socket::finish(std::string_view reason) {
  if (!connected_) return;
  auto self = shared_from_this();
  const auto rooms = rooms_;
  for (const auto& room : rooms) leave(room);
  in_own_room_ = false;
  connected_ = false;
  nsp_.locals_[connection_->worker()].sockets.erase(id_);
  auto acks = std::exchange(pending_acks_, {});
  for (auto& [id, pending] : acks) pending.callback(std::nullopt);
  if (auto handler = std::exchange(on_disconnect_, nullptr)) handler(reason);
  handlers_.clear();
  on_unknown_ = nullptr;
}

// ---- Namespace and Broadcast ------------------------------------------------------------------

Namespace::Namespace(std::string name, std::size_t workers)
    : name_(std::move(name)), locals_(workers) {}

void Namespace::use(Middleware middleware) {
  middlewares_.push_back(std::move(middleware));
}

void Namespace::on_connection(std::function<void(std::shared_ptr<Socket>)> handler) {
  on_connection_ = std::move(handler);
}

void Namespace::emit(std::string_view event, Payload payload) {
  Broadcast(*this, {}, {}).emit(event, std::move(payload));
}

// A fan-out to the members of a chat names one room per member, on every message: sockets are
// told apart by a visit mark, not by a set built per call, and the excluded ones are marked first.
// A socket's own room (its id) is found through the socket table: an entry of its own in `rooms`
// would cost every idle socket about 300 bytes.
template <class Fn>
void Namespace::for_each_socket(std::size_t worker, const std::vector<std::string>& rooms,
                                const std::vector<std::string>& except, Fn fn) {
  auto& local = locals_[worker];
  const auto visit = ++local.last_visit;
  const auto members = [&local](const std::string& room, auto each) {
    if (auto it = local.rooms.find(room); it != local.rooms.end()) {
      for (Socket* socket : it->second) each(socket);
    }
    if (auto it = local.sockets.find(room); it != local.sockets.end() && it->second->in_own_room_)
      each(it->second);
  };
  for (const auto& room : except) {
    members(room, [visit](Socket* socket) { socket->visit_ = visit; });
  }
  // Collected first: fn may change the rooms being walked (sockets_leave does).
  std::vector<Socket*> matching;
  std::swap(matching, local.matching);  // reuses the capacity of earlier calls
  const auto take = [&](Socket* socket) {
    if (socket->visit_ == visit) return;
    socket->visit_ = visit;
    matching.push_back(socket);
  };
  if (rooms.empty()) {
    for (auto& [id, socket] : local.sockets) take(socket);
  } else {
    for (const auto& room : rooms) members(room, take);
  }
  for (Socket* socket : matching) fn(*socket);
  matching.clear();
  std::swap(matching, local.matching);
}

Broadcast& Broadcast::to(std::string room) {
  rooms_.push_back(std::move(room));
  return *this;
}

Broadcast& Broadcast::except(std::string room) {
  except_.push_back(std::move(room));
  return *this;
}

Broadcast::Broadcast(Batch& batch) : nsp_(batch.nsp_), batch_(&batch) {}

void Broadcast::emit(std::string_view event, Payload payload) {
  // Encoded once; each network thread delivers to its own sockets.
  add(std::make_shared<const std::vector<Frame>>(encode_event(nsp_.name(), event, payload)));
}

void Broadcast::sockets_leave(std::string room) {
  add(std::move(room));
}

void Broadcast::disconnect_sockets() {
  add(Disconnect{});
}

void Broadcast::add(Action action) {
  Batch::Entry entry{std::move(rooms_), std::move(except_), std::move(action)};
  if (batch_) {
    batch_->entries_.push_back(std::move(entry));
    return;
  }
  Batch alone(nsp_);
  alone.entries_.push_back(std::move(entry));
  alone.send();
}

void Batch::send() {
  if (entries_.empty()) return;
  auto entries = std::make_shared<const std::vector<Entry>>(std::exchange(entries_, {}));
  nsp_.pending_broadcasts_.fetch_add(entries->size() * nsp_.workers_.size(),
                                     std::memory_order_relaxed);
  for (std::size_t worker = 0; worker < nsp_.workers_.size(); ++worker) {
    asio::post(nsp_.workers_[worker], [&nsp = nsp_, worker, entries] {
      for (const auto& entry : *entries) {
        nsp.for_each_socket(worker, entry.rooms, entry.except, [&entry](Socket& socket) {
          if (const auto* frames = std::get_if<0>(&entry.action)) {
            socket.connection_->send(**frames);
          } else if (const auto* room = std::get_if<1>(&entry.action)) {
            socket.leave(*room);
          } else {
            socket.disconnect(/*close_connection=*/true);
          }
        });
      }
      nsp.pending_broadcasts_.fetch_sub(entries->size(), std::memory_order_relaxed);
    });
  }
}

// ---- Server -----------------------------------------------------------------------------------

Server::Server(ServerOptions options, std::vector<asio::any_io_executor> workers)
    : options_(std::move(options)),
      workers_(workers),
      engine_(options_.engine, std::move(workers)) {
  of("/");
  engine_.on_connection([this](std::shared_ptr<engineio::Socket> socket) {
    auto connection = std::make_shared<Connection>(*this, socket, worker_index(socket->executor()));
    connection->start();
  });
}

Namespace& Server::of(const std::string& name) {
  auto& nsp = namespaces_[name];
  if (!nsp) {
    nsp = std::make_unique<Namespace>(name, workers_.size());
    nsp->workers_ = workers_;
  }
  return *nsp;
}

void Server::attach(net::Router& router, std::string_view path) {
  engine_.attach(router, path);
}

std::size_t Server::worker_index(const asio::any_io_executor& executor) const {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i] == executor) return i;
  }
  throw std::logic_error("socketio: a connection on an executor that is not a worker");
}

}  // namespace chatd::socketio
