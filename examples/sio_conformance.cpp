// sio-conformance: the Socket.IO server the protocol's own conformance suites expect, built only
// from chatd's net/, engineio/ and socketio/ libraries (PROTOCOL-NOTES.md, last section):
//   /socket.io/  on connect to "/" (and "/custom") emit "auth" with the handshake auth object;
//                "message" is echoed as "message-back" with the same arguments (binary included);
//                "message-with-ack" is acked with the same arguments.
//   /engine.io/  Engine.IO alone: every message echoed, text and binary.
// A few more events exercise the rest of the library for chatd's own tests: rooms, broadcasts,
// acks from the server, server-side disconnects, and a "/protected" namespace whose middleware
// refuses connections without {token: "secret"}.
// With --node-id and --peer it is one node of a cluster: a request for a session another node
// owns is forwarded there (src/engineio/README.md, "Forwarding"), as tests/socketio/forwarding
// shows behind a round-robin load balancer.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engineio/server.h"
#include "engineio/sid.h"
#include "net/http_server.h"
#include "socketio/server.h"

namespace {

using chatd::socketio::Payload;
using chatd::socketio::Socket;
namespace json = boost::json;

std::string first_string(const Payload& payload) {
  return !payload.args.empty() && payload.args.front().is_string()
             ? std::string(payload.args.front().as_string())
             : std::string();
}

void serve_socket(const std::shared_ptr<Socket>& socket, chatd::socketio::Namespace& nsp) {
  socket->emit("auth", Payload{json::array{socket->auth()}, {}});
  socket->on("message", [weak = std::weak_ptr(socket)](Payload args, const Socket::Ack&) {
    if (auto s = weak.lock()) s->emit("message-back", std::move(args));
  });
  socket->on("message-with-ack", [](Payload args, const Socket::Ack& ack) {
    if (ack) ack(std::move(args));
  });
  socket->on("join", [weak = std::weak_ptr(socket)](const Payload& args, const Socket::Ack& ack) {
    auto s = weak.lock();
    if (!s) return;
    s->join(first_string(args));
    if (ack) ack(Payload{json::array{true}, {}});
  });
  socket->on("leave", [weak = std::weak_ptr(socket)](const Payload& args, const Socket::Ack& ack) {
    auto s = weak.lock();
    if (!s) return;
    s->leave(first_string(args));
    if (ack) ack(Payload{json::array{true}, {}});
  });
  // ["to-room", room, ...args]: to the room's other members as "room-message".
  socket->on("to-room", [weak = std::weak_ptr(socket)](Payload args, const Socket::Ack& ack) {
    auto s = weak.lock();
    if (!s || args.args.empty()) return;
    const auto room = first_string(args);
    args.args.erase(args.args.begin());
    s->to(room).emit("room-message", std::move(args));
    if (ack) ack(Payload{json::array{true}, {}});
  });
  socket->on("broadcast", [weak = std::weak_ptr(socket)](Payload args, const Socket::Ack& ack) {
    if (auto s = weak.lock()) s->broadcast().emit("broadcast-message", std::move(args));
    if (ack) ack(Payload{json::array{true}, {}});
  });
  socket->on("broadcast-all", [&nsp](Payload args, const Socket::Ack& ack) {
    nsp.emit("announcement", std::move(args));
    if (ack) ack(Payload{json::array{true}, {}});
  });
  // The server asks the client for an ack and reports the answer as "ack-result".
  socket->on("request-ack", [weak = std::weak_ptr(socket)](Payload args, const Socket::Ack&) {
    auto s = weak.lock();
    if (!s) return;
    s->emit_with_ack("server-ack", std::move(args), std::chrono::milliseconds(2000),
                     [weak = std::weak_ptr(s)](std::optional<Payload> reply) {
                       auto again = weak.lock();
                       if (!again) return;
                       if (reply)
                         again->emit("ack-result", std::move(*reply));
                       else
                         again->emit("ack-timeout");
                     });
  });
  // ["disconnect-me", closeTransport]: a DISCONNECT packet, or a closed transport.
  socket->on("disconnect-me", [weak = std::weak_ptr(socket)](Payload args, const Socket::Ack&) {
    auto s = weak.lock();
    if (!s) return;
    const bool close =
        !args.args.empty() && args.args.front().is_bool() && args.args.front().as_bool();
    if (close) {
      const_cast<chatd::engineio::Socket&>(s->engine()).close();
    } else {
      s->disconnect();
    }
  });
}

// "ID=host:port" options as a table of peers; throws CLI::ValidationError on a malformed one.
std::map<std::string, std::string, std::less<>> peer_table(const std::vector<std::string>& specs) {
  std::map<std::string, std::string, std::less<>> peers;
  for (const auto& spec : specs) {
    const auto equals = spec.find('=');
    if (equals == std::string::npos || equals + 1 == spec.size() ||
        !chatd::engineio::is_valid_node_id(spec.substr(0, equals))) {
      throw CLI::ValidationError("--peer", "expected ID=host:port, got " + spec);
    }
    peers[spec.substr(0, equals)] = spec.substr(equals + 1);
  }
  return peers;
}

}  // namespace

int main(int argc, char** argv) {
  chatd::net::HttpServerOptions http;
  http.host = "127.0.0.1";
  http.port = 3000;
  chatd::socketio::ServerOptions sio;
  sio.engine.ping_interval = std::chrono::milliseconds(300);
  sio.engine.ping_timeout = std::chrono::milliseconds(200);
  sio.engine.max_payload = 1'000'000;
  sio.connect_timeout = std::chrono::milliseconds(1000);
  long ping_interval = 300, ping_timeout = 200, connect_timeout = 1000, upgrade_timeout = 10'000;
  std::string log_level = "warn";
  std::vector<std::string> peer_specs;
  std::string tls_cert, tls_key;

  CLI::App app{"sio-conformance: the Socket.IO conformance server, built from chatd's libraries"};
  app.add_option("--host", http.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", http.port, "Port (0: any free port)")->capture_default_str();
  app.add_option("--threads", http.threads, "Network threads (0: one per core)")
      ->capture_default_str();
  app.add_option("--ping-interval-ms", ping_interval)->capture_default_str();
  app.add_option("--ping-timeout-ms", ping_timeout)->capture_default_str();
  app.add_option("--max-payload", sio.engine.max_payload, "Bytes")->capture_default_str();
  app.add_option("--connect-timeout-ms", connect_timeout)->capture_default_str();
  app.add_option("--upgrade-timeout-ms", upgrade_timeout)->capture_default_str();
  app.add_option("--max-buffered-bytes", sio.engine.max_buffered_bytes,
                 "Outbound bytes queued per client before it is cut")
      ->capture_default_str();
  app.add_option("--log-level", log_level)->capture_default_str();
  app.add_option("--node-id", sio.engine.node_id,
                 "This node's id in a cluster: 1 to 32 of [A-Za-z0-9_-] (none: a single node)")
      ->check([](const std::string& id) {
        return chatd::engineio::is_valid_node_id(id) ? "" : "not 1 to 32 of [A-Za-z0-9_-]";
      });
  app.add_option("--peer", peer_specs, "Another node, ID=host:port (repeatable)");
  // HTTPS and WSS on the port; peers (started the same way) are then reached over TLS too.
  auto* cert_option = app.add_option("--tls-cert", tls_cert, "PEM certificate chain");
  app.add_option("--tls-key", tls_key, "PEM private key")->needs(cert_option);
  cert_option->needs("--tls-key");
  std::map<std::string, std::string, std::less<>> peers;
  app.callback([&] { peers = peer_table(peer_specs); });
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  sio.engine.ping_interval = std::chrono::milliseconds(ping_interval);
  sio.engine.ping_timeout = std::chrono::milliseconds(ping_timeout);
  sio.connect_timeout = std::chrono::milliseconds(connect_timeout);
  sio.engine.upgrade_timeout = std::chrono::milliseconds(upgrade_timeout);
  http.limits.max_body_bytes =
      std::max<std::size_t>(http.limits.max_body_bytes, sio.engine.max_payload + 1024);
  if (!tls_cert.empty()) {
    http.tls = chatd::net::TlsFiles{tls_cert, tls_key};
    sio.engine.forward_over_tls = true;
  }
  if (!peers.empty()) {
    // Read-only from here on, so network threads may read it at once.
    sio.engine.locate_node =
        [peers = std::move(peers)](std::string_view node_id) -> std::optional<std::string> {
      const auto it = peers.find(node_id);
      if (it == peers.end()) return std::nullopt;
      return it->second;
    };
  }

  chatd::net::Router router;
  chatd::net::HttpServer server(http, router);  // CORS: any origin by default

  chatd::socketio::Server io(sio, server.executors());
  auto& main_nsp = io.of("/");
  main_nsp.on_connection(
      [&main_nsp](const std::shared_ptr<Socket>& s) { serve_socket(s, main_nsp); });
  auto& custom = io.of("/custom");
  custom.on_connection([&custom](const std::shared_ptr<Socket>& s) { serve_socket(s, custom); });
  auto& protected_nsp = io.of("/protected");
  protected_nsp.use([](Socket& socket, const chatd::socketio::Namespace::Next& next) {
    const auto* token = socket.auth().if_contains("token");
    if (token && token->is_string() && token->as_string() == "secret") return next(std::nullopt);
    next(chatd::socketio::ConnectError{"unauthorized", json::object{{"reason", "bad token"}}});
  });
  protected_nsp.on_connection(
      [&protected_nsp](const std::shared_ptr<Socket>& s) { serve_socket(s, protected_nsp); });
  io.attach(router, "/socket.io/");

  chatd::engineio::Server echo(sio.engine, server.executors());
  echo.on_connection([](const std::shared_ptr<chatd::engineio::Socket>& socket) {
    socket->on_message([weak = std::weak_ptr(socket)](std::string data, bool binary) {
      auto s = weak.lock();
      if (!s) return;
      s->send(binary ? chatd::engineio::Frame::binary_message(std::move(data))
                     : chatd::engineio::Frame::text(chatd::engineio::PacketType::message, data));
    });
  });
  echo.attach(router, "/engine.io/");

  server.on_stop([&] {
    io.close_all();
    echo.close_all();
  });
  const auto port = server.listen();
  boost::asio::signal_set signals(server.executor(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) server.stop();
  });
  // Always printed, whatever the log level: tests read the port from it.
  std::printf("sio-conformance listening on %s://%s:%u\n", server.tls() ? "https" : "http",
              http.host.c_str(), static_cast<unsigned>(port));
  std::fflush(stdout);
  server.run();
  return 0;
}
