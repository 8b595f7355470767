#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/client_address.h"
#include "net/cors.h"
#include "net/router.h"
#include "net/static_files.h"
#include "net/tls.h"

namespace chatd::net {

// Every limit of the HTTP layer, with its default. Enforced in http_server.cc only.
struct HttpLimits {
  std::size_t max_header_bytes = 16UL * 1024;      // 413 above
  std::size_t max_body_bytes = 1024UL * 1024;      // 413 above
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive connection with no request
  std::chrono::milliseconds read_timeout{15'000};  // whole request, from its first byte: a client
                                                   // trickling bytes (slowloris) is cut here
  std::chrono::milliseconds write_timeout{15'000};
  std::size_t max_connections = 10'000;              // further connections are closed at once
  std::chrono::milliseconds shutdown_grace{10'000};  // in-flight requests get this long to finish
};

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5000;  // 0: any free port (tests)
  std::size_t threads = 0;    // 0: one per core
  HttpLimits limits;
  CorsPolicy cors;
  std::optional<std::filesystem::path> web_root;
  // HTTPS and WSS on the port (and HSTS on every reply); plain HTTP when unset.
  std::optional<TlsFiles> tls;
  // Clients allowed (empty: everyone): others get 403 before any work, and a peer that is neither
  // allowed nor a trusted proxy is closed on accept.
  CidrSet allow;
  // Peers whose X-Forwarded-For is believed (net/client_address.h).
  CidrSet trusted_proxies;
  // Asked before every request is routed or upgraded, with its target and client address: a
  // response refuses it (per-IP budgets and the like live above the transport).
  std::function<std::optional<HttpResponse>(const Target&, const std::string& client_address)> gate;
};

// HTTP/1.1 with keep-alive over Boost.Beast. Threading: one io_context per thread, each connection
// pinned to one of them for its whole life (shared-nothing: a connection's state is only ever
// touched by its own thread, so it needs no lock or strand). The acceptor hands connections out
// round-robin. Handlers are coroutines; anything that blocks runs elsewhere and resumes them.
// With TLS, every connection starts with a handshake (within read_timeout) and then runs the
// same code over the TLS stream: the request loop is a template over the stream type.
class HttpServer {
 public:
  // Throws std::runtime_error when the TLS files cannot be loaded (net/tls.h).
  HttpServer(HttpServerOptions options, const Router& router);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Binds and listens (throws when it cannot); returns the bound port.
  std::uint16_t listen();
  bool tls() const { return tls_ != nullptr; }

  // Serves on the calling thread and threads-1 more until stop() has finished; then returns.
  void run();

  // Graceful stop, callable from any thread: stops accepting, closes idle connections, lets
  // requests in flight finish (up to shutdown_grace), then ends run().
  void stop();

  // The executor of the first event loop (signals and other server-wide work run there).
  boost::asio::any_io_executor executor();
  // The executors of every event loop, one per network thread.
  std::vector<boost::asio::any_io_executor> executors();

  // Called (on the first event loop) when stop() begins, before the grace period: owners of
  // upgraded connections close them here. Register before run().
  void on_stop(std::function<void()> hook);

 private:
  struct Worker;
  struct Connection;

  boost::asio::awaitable<void> accept_loop();
  // Stream: beast::tcp_stream, or beast::ssl_stream over one.
  template <class Stream>
  boost::asio::awaitable<void> serve(Stream stream, Worker& worker);
  // A handler's reply: the response, and the stream of its body when it comes in pieces.
  struct Reply {
    HttpResponse response;
    BodyStream body;
  };
  // `target`: the request's, parsed (nullopt when malformed).
  boost::asio::awaitable<Reply> respond(HttpRequest message, std::optional<Target> target,
                                        std::string client_address,
                                        std::function<void(std::function<void()>)> watch_client,
                                        BodySource read_body = {});
  // Whether the request's route reads its body itself (Router::add_streamed).
  bool has_streamed_body(const HttpRequest& message) const;
  // Writes a reply whose body comes in pieces; an error ends the connection.
  template <class Stream>
  boost::asio::awaitable<boost::beast::error_code> write_streamed(Stream& stream,
                                                                  HttpResponse& header,
                                                                  const BodyStream& body);
  // The client's address, and the refusal of a request the allowlist or the gate turn away.
  std::string client_of(const boost::asio::ip::address& peer, const HttpRequest& message) const;
  std::optional<HttpResponse> refuse(const std::optional<Target>& target,
                                     const std::string& client_address) const;
  boost::asio::awaitable<HttpResponse> serve_static(const Request& request);
  boost::asio::awaitable<void> drain_and_stop();

  HttpServerOptions options_;
  const Router& router_;
  std::optional<StaticFiles> static_files_;
  std::unique_ptr<boost::asio::ssl::context> tls_;  // with options_.tls only
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t next_worker_ = 0;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::thread_pool file_pool_{1};  // static file reads: blocking I/O off network threads
  std::atomic<std::size_t> open_connections_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::function<void()>> stop_hooks_;
};

}  // namespace chatd::net
