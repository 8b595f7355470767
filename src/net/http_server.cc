#include "net/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <set>
#include <thread>
#include <type_traits>

#include "net/tls_stream.h"
#include "util/async.h"

namespace chatd::net {

namespace beast = boost::beast;
using boost::asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

struct HttpServer::Worker {
  // Touched only on this worker's thread. Declared before the loop, so that it outlives it: the
  // loop's destruction destroys the coroutines of connections still open after the shutdown's
  // grace period, and each one takes itself out of this set.
  std::set<Connection*> connections;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
};

// A connection as the shutdown sees it: idle ones (between requests) are closed at once.
struct HttpServer::Connection {
  tcp::socket* socket;
  bool idle = true;
};

namespace {

bool is_api_path(std::string_view path) {
  return path == "/api" || path.starts_with("/api/");
}

// "/app/settings" is a client-side route; "/assets/app.js" is a file that is missing.
bool names_a_file(std::string_view path) {
  const auto last = path.substr(path.rfind('/') + 1);
  return last.find('.') != std::string_view::npos;
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, const Router& router)
    : options_(std::move(options)), router_(router), acceptor_([this]() -> asio::io_context& {
        const std::size_t threads =
            options_.threads ? options_.threads : std::max(1U, std::thread::hardware_concurrency());
        for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
        return workers_.front()->io;
      }()) {
  if (options_.web_root) static_files_.emplace(*options_.web_root);
  if (options_.tls) tls_ = make_tls_context(*options_.tls);
}

HttpServer::~HttpServer() {
  file_pool_.join();
}

asio::any_io_executor HttpServer::executor() {
  return workers_.front()->io.get_executor();
}

std::vector<asio::any_io_executor> HttpServer::executors() {
  std::vector<asio::any_io_executor> all;
  all.reserve(workers_.size());
  for (auto& worker : workers_) all.emplace_back(worker->io.get_executor());
  return all;
}

void HttpServer::on_stop(std::function<void()> hook) {
  stop_hooks_.push_back(std::move(hook));
}

std::uint16_t HttpServer::listen() {
  const tcp::endpoint endpoint(asio::ip::make_address(options_.host), options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void HttpServer::run() {
  asio::co_spawn(workers_.front()->io, accept_loop(), log_if_failed("http: accept loop"));
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([worker = workers_[i].get()] { worker->io.run(); });
  }
  workers_.front()->io.run();
  for (auto& t : threads) t.join();
}

void HttpServer::stop() {
  asio::post(workers_.front()->io, [this] {
    if (stopping_.exchange(true)) return;
    spdlog::info("http: stopping: no new connections, finishing requests in flight");
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& hook : stop_hooks_) hook();
    for (auto& worker : workers_) {
      asio::post(worker->io, [w = worker.get()] {
        for (auto* connection : w->connections) {
          if (connection->idle) connection->socket->cancel();
        }
      });
    }
    asio::co_spawn(workers_.front()->io, drain_and_stop(), log_if_failed("http: shutdown"));
  });
}

asio::awaitable<void> HttpServer::drain_and_stop() {
  // The stop hooks posted work to every thread (closing upgraded connections, whose goodbyes end
  // reference cycles between their parts); a round trip to each thread lets that work run first.
  for (auto& worker : workers_) {
    auto nothing = [] { return 0; };
    co_await run_on(worker->io.get_executor(), std::move(nothing));
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // One tick for the goodbyes those closes queued to leave.
  timer.expires_after(std::chrono::milliseconds(20));
  co_await timer.async_wait(kAsTuple);
  const auto deadline = std::chrono::steady_clock::now() + options_.limits.shutdown_grace;
  while (open_connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kAsTuple);
  }
  if (open_connections_.load() > 0) {
    spdlog::warn("http: {} connections still open after the grace period; closing them",
                 open_connections_.load());
  }
  for (auto& worker : workers_) {
    worker->guard.reset();
    worker->io.stop();
  }
}

asio::awaitable<void> HttpServer::accept_loop() {
  while (!stopping_) {
    auto& worker = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    auto [ec, socket] = co_await acceptor_.async_accept(worker.io, kAsTuple);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("http: accept failed: {}", ec.message());
      // Out of file descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    if (open_connections_.load() >= options_.limits.max_connections) {
      spdlog::warn("http: connection limit ({}) reached; closing a new connection",
                   options_.limits.max_connections);
      continue;  // the socket closes as it goes out of scope
    }
    // Every write here is already whole (a response, or all frames queued for a WebSocket in one
    // gathered write): Nagle's algorithm would only hold a second small write back until the
    // peer's delayed ACK (40 ms), which it did to acks that followed a broadcast frame.
    boost::system::error_code ignored;
    if (!options_.allow.empty()) {
      const auto peer = normalize_address(socket.remote_endpoint(ignored).address());
      if (!options_.allow.contains(peer) && !options_.trusted_proxies.contains(peer)) {
        continue;  // closed before any work, as it goes out of scope
      }
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    ++open_connections_;
    auto done = [this](const std::exception_ptr& e) {
      --open_connections_;
      log_if_failed("http: connection")(e);
    };
    if (tls_) {
      TlsStream stream(std::move(socket), *tls_);
      asio::co_spawn(worker.io, serve(std::move(stream), worker), std::move(done));
    } else {
      beast::tcp_stream stream(std::move(socket));
      asio::co_spawn(worker.io, serve(std::move(stream), worker), std::move(done));
    }
  }
}

namespace {

using RequestParser = http::request_parser<http::string_body>;

// The size of a request head as sent. Beast's own header limit counts per read, and lets a head of
// many small fields through up to a read buffer past the limit, so the limit is also checked here.
std::size_t head_bytes(const HttpRequest& request) {
  std::size_t bytes = request.method_string().size() + request.target().size() + 12;
  for (const auto& field : request) bytes += field.name_string().size() + field.value().size() + 4;
  return bytes;
}

// Reads one request's head into `parser`.
template <class Stream>
asio::awaitable<beast::error_code> read_head(Stream& stream, beast::flat_buffer& buffer,
                                             RequestParser& parser, const HttpLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  // Which body limit applies depends on the route (a streamed one sets its own), known only once
  // the head is read: Beast would refuse a Content-Length above the limit while reading it.
  parser.body_limit(boost::none);
  auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
  if (ec) co_return ec;
  if (head_bytes(parser.get()) > limits.max_header_bytes) co_return http::error::header_limit;
  co_return beast::error_code{};
}

// A client that sent `Expect: 100-continue` waits for this before it sends the body.
template <class Stream, class Parser>
asio::awaitable<beast::error_code> invite_body(Stream& stream, const Parser& parser) {
  if (parser.get()[http::field::expect] != "100-continue" || parser.is_done())
    co_return beast::error_code{};
  http::response<http::empty_body> go_on(http::status::continue_, 11);
  auto [ec, n] = co_await http::async_write(stream, go_on, kAsTuple);
  co_return ec;
}

// Reads the rest of the request (its body, up to the limit) into `parser`.
template <class Stream>
asio::awaitable<beast::error_code> read_body(Stream& stream, beast::flat_buffer& buffer,
                                             RequestParser& parser, const HttpLimits& limits) {
  const auto declared = parser.content_length();
  if (declared && *declared > limits.max_body_bytes) co_return http::error::body_limit;
  parser.body_limit(limits.max_body_bytes);
  if (parser.is_done()) co_return beast::error_code{};
  auto invited = co_await invite_body(stream, parser);
  if (invited) co_return invited;
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAsTuple);
  co_return ec;
}

// The body of a streamed route's request, read as its handler asks for it (Request::read_body).
template <class Stream>
class StreamedBody {
 public:
  StreamedBody(Stream& stream, beast::flat_buffer& buffer, RequestParser&& head,
               std::chrono::milliseconds piece_timeout)
      : stream_(stream), buffer_(buffer), parser_(std::move(head)), timeout_(piece_timeout) {
    parser_.body_limit(boost::none);
  }

  bool done() const { return parser_.is_done(); }

  // The next piece (empty at the end). Each piece must arrive within the timeout: an upload may
  // take long, but never stall.
  asio::awaitable<Result<std::string>> next() {
    if (!invited_) {
      invited_ = true;
      const auto ec = co_await invite_body(stream_, parser_);
      if (ec) co_return unreadable(ec);
    }
    std::string piece(kPieceBytes, '\0');
    while (!parser_.is_done()) {
      parser_.get().body().data = piece.data();
      parser_.get().body().size = piece.size();
      beast::get_lowest_layer(stream_).expires_after(timeout_);
      auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser_, kAsTuple);
      if (ec && ec != http::error::need_buffer) co_return unreadable(ec);
      const auto got = piece.size() - parser_.get().body().size;
      if (got > 0) {
        piece.resize(got);
        co_return piece;
      }
    }
    co_return std::string();
  }

 private:
  static constexpr std::size_t kPieceBytes = 64UL << 10;

  static Error unreadable(const beast::error_code& ec) {
    spdlog::debug("http: a streamed request body ended early: {}", ec.message());
    return make_error(Errc::invalid_input, "The request body could not be read");
  }

  Stream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body> parser_;
  std::chrono::milliseconds timeout_;
  bool invited_ = false;
};

// True when the peer is gone or too slow: there is nobody to answer. Over TLS also a connection
// that ends without close_notify, or whose records do not decrypt.
bool peer_gone(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated ||
         ec.category() == asio::error::get_ssl_category();
}

// The answer to a request that could not be read whole.
HttpResponse refusal(const beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    return error_response(http::status::payload_too_large, "too_large", "Request body too large");
  }
  if (ec == http::error::header_limit) {
    return error_response(http::status::payload_too_large, "too_large",
                          "Request headers too large");
  }
  return error_response(http::status::bad_request, "invalid_input", "Malformed request");
}

// Closes after a refused request whose rest is still arriving: closing at once would make the
// kernel answer the unread bytes with a reset, which destroys the response before the client reads
// it. So: stop sending, swallow what still comes (bounded in time and bytes), then close.
template <class Stream>
asio::awaitable<void> linger_close(Stream& stream) {
  constexpr std::size_t kMaxDrainBytes = 64UL << 20;
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  std::array<char, 16384> sink{};
  for (std::size_t drained = 0; drained < kMaxDrainBytes;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kAsTuple);
    if (ec) break;
    drained += n;
  }
}

// Calls `gone` when the peer closes `socket` (readable with nothing to read) while `alive`.
// Over TLS the peer's close_notify may come before its FIN, so readable with bytes to read counts
// as a hang-up too when the peer has also shut its side (POLLRDHUP).
void watch_for_hang_up(tcp::socket& socket, std::shared_ptr<bool> alive,
                       std::function<void()> gone) {
  socket.async_wait(tcp::socket::wait_read, [&socket, alive = std::move(alive),
                                             gone = std::move(gone)](const beast::error_code& ec) {
    if (ec || !*alive) return;
    char byte;
    if (::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
      gone();
      return;
    }
    pollfd hang_up{socket.native_handle(), POLLRDHUP, 0};
    if (::poll(&hang_up, 1, 0) == 1 && (hang_up.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
      gone();
    }
  });
}

// The connection of `stream` for an upgrade handler, which does its own non-blocking I/O (the
// TLS overload is in tls_stream.h).
std::optional<SocketStream> take_over(beast::tcp_stream stream) {
  return SocketStream(stream.release_socket());
}

// A plain HTTP request to the TLS port gets a plain answer that says so, not a bare close.
asio::awaitable<void> refuse_plain_http(beast::tcp_stream& stream) {
  static constexpr std::string_view kRefusal =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 34\r\nConnection: close\r\n\r\nThis port speaks HTTPS, not HTTP.\n";
  stream.expires_after(std::chrono::seconds(2));
  co_await asio::async_write(stream, asio::buffer(kRefusal), kAsTuple);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

bool is_plain_http(const beast::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

}  // namespace

template <class Stream>
asio::awaitable<void> HttpServer::serve(Stream stream, Worker& worker) {
  constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  auto& tcp_layer = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
  Connection connection{&tcp_layer.socket()};
  worker.connections.insert(&connection);
  struct Unregister {
    Worker& worker;
    Connection* connection;
    ~Unregister() { worker.connections.erase(connection); }
  } unregister{worker, &connection};
  const auto& limits = options_.limits;
  bool refused = false;
  // Cleared when this coroutine ends, so a late hang-up watch never touches a dead socket.
  auto connection_alive = std::make_shared<bool>(true);
  struct Expire {
    std::shared_ptr<bool> alive;
    ~Expire() { *alive = false; }
  } expire{connection_alive};
  beast::error_code no_peer;
  const auto peer = tcp_layer.socket().remote_endpoint(no_peer).address();

  if constexpr (kTls) {
    // The handshake is bounded like a request's head: a client that connects and sends nothing
    // (or trickles) is cut after read_timeout.
    tcp_layer.expires_after(limits.read_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple);
    if (ec) {
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
      if (is_plain_http(ec)) co_await refuse_plain_http(tcp_layer);
      co_return;
    }
  }

  while (!stopping_) {
    connection.idle = true;
    if (buffer.size() == 0) {
      // Waiting for the next request: the idle timeout applies.
      tcp_layer.expires_after(limits.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
      if (ec) break;
      buffer.commit(n);
    }
    connection.idle = false;
    // From the first byte on, the whole request must arrive within read_timeout.
    tcp_layer.expires_after(limits.read_timeout);
    RequestParser parser;
    auto ec = co_await read_head(stream, buffer, parser, limits);
    const bool streamed = !ec && has_streamed_body(parser.get());
    if (!ec && !streamed) ec = co_await read_body(stream, buffer, parser, limits);
    if (peer_gone(ec)) break;

    const auto started = std::chrono::steady_clock::now();
    // Kept for the log line, which carries no header and no query string (they may hold tokens
    // or searches).
    const std::string method(parser.get().method_string());
    const auto target = parser.get().target();
    const std::string path(target.substr(0, target.find('?')));
    const auto client = client_of(peer, parser.get());
    auto parsed_target = parse_target(target);
    std::optional<HttpResponse> refused_early;
    if (!ec) refused_early = refuse(parsed_target, client);
    if (!ec && !refused_early && beast::websocket::is_upgrade(parser.get())) {
      const auto* upgrade =
          parsed_target ? router_.match_upgrade(parsed_target->segments) : nullptr;
      if (upgrade) {
        spdlog::info("{} {} 101 upgrade", method, path);
        auto request = parser.release();
        worker.connections.erase(&connection);  // the upgrade handler owns it from here
        auto taken = take_over(std::move(stream));
        if (taken) co_await (*upgrade)(std::move(*taken), std::move(request));
        co_return;
      }
    }
    HttpResponse response;
    BodyStream body;
    if (ec) {
      response = refusal(ec);
      response.keep_alive(false);
      refused = true;
    } else if (refused_early) {
      response = std::move(*refused_early);
      options_.cors.decorate(parser.get(), response);
      response.keep_alive(parser.get().keep_alive() && !stopping_ && !streamed &&
                          !beast::websocket::is_upgrade(parser.get()));
      refused = streamed;  // its body is still on its way
    } else if (streamed) {
      const bool keep_alive = parser.get().keep_alive();
      HttpRequest request(parser.get().base());
      StreamedBody<Stream> request_body(stream, buffer, std::move(parser), limits.read_timeout);
      auto read_body = [&request_body] { return request_body.next(); };
      auto reply = co_await respond(std::move(request), std::move(parsed_target), client, {},
                                    std::move(read_body));
      response = std::move(reply.response);
      body = std::move(reply.body);
      // A body the handler left unread is still on its way: close once it is answered.
      refused = !request_body.done();
      response.keep_alive(keep_alive && !stopping_ && !refused);
    } else {
      const bool keep_alive = parser.get().keep_alive();
      auto request = parser.release();
      bool watching = false;
      auto watch = [&tcp_layer, &watching, alive = connection_alive](std::function<void()> gone) {
        watching = true;
        watch_for_hang_up(tcp_layer.socket(), alive, std::move(gone));
      };
      auto reply =
          co_await respond(std::move(request), std::move(parsed_target), client, std::move(watch));
      response = std::move(reply.response);
      body = std::move(reply.body);
      if (watching) tcp_layer.socket().cancel();  // the watch ends with the request
      response.keep_alive(keep_alive && !stopping_);
    }
    add_security_headers(response, kTls);
    beast::error_code write_ec;
    if (body) {
      write_ec = co_await write_streamed(stream, response, body);
    } else {
      response.prepare_payload();
      tcp_layer.expires_after(limits.write_timeout);
      auto [written_ec, written] = co_await http::async_write(stream, response, kAsTuple);
      write_ec = written_ec;
    }
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
    if (!ec) {
      spdlog::info("{} {} {} {:.3f}ms", method, path, response.result_int(),
                   static_cast<double>(micros) / 1000.0);
    } else {
      spdlog::info("- - {} (refused: {})", response.result_int(), ec.message());
    }
    if (write_ec || !response.keep_alive()) break;
  }
  if (refused) co_await linger_close(stream);
  beast::error_code ignored;
  tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

std::string HttpServer::client_of(const asio::ip::address& peer, const HttpRequest& message) const {
  if (options_.trusted_proxies.empty()) return normalize_address(peer).to_string();
  return client_address(peer, forwarded_for(message), options_.trusted_proxies).to_string();
}

std::optional<HttpResponse> HttpServer::refuse(const std::optional<Target>& target,
                                               const std::string& client) const {
  if (!options_.allow.empty()) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(client, ec);
    if (ec || !options_.allow.contains(address)) {
      return error_response(http::status::forbidden, "forbidden", "Not allowed from this address");
    }
  }
  if (!options_.gate || !target) return std::nullopt;  // a malformed target: 400 by respond()
  return options_.gate(*target, client);
}

template <class Stream>
asio::awaitable<beast::error_code> HttpServer::write_streamed(Stream& stream, HttpResponse& header,
                                                              const BodyStream& body) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  const auto timeout = options_.limits.write_timeout;
  const bool sized = header.has_content_length();
  if (!sized) header.chunked(true);
  http::response_serializer<http::string_body> serializer(header);
  tcp_layer.expires_after(timeout);
  auto [ec, n] = co_await http::async_write_header(stream, serializer, kAsTuple);
  if (ec) co_return ec;
  for (;;) {
    auto piece = co_await body();
    if (!piece) {
      // The status line is out: the only way left to say it failed is to cut the body short.
      spdlog::error("http: a streamed body failed: {}", piece.error().message);
      co_return make_error_code(boost::system::errc::io_error);
    }
    tcp_layer.expires_after(timeout);
    if (sized) {
      if (piece->empty()) co_return beast::error_code{};
      auto [piece_ec, piece_n] = co_await asio::async_write(stream, asio::buffer(*piece), kAsTuple);
      if (piece_ec) co_return piece_ec;
      continue;
    }
    if (piece->empty()) {
      const auto last = http::make_chunk_last();
      auto [last_ec, last_n] = co_await asio::async_write(stream, last, kAsTuple);
      co_return last_ec;
    }
    const auto chunk = http::make_chunk(asio::buffer(*piece));
    auto [chunk_ec, chunk_n] = co_await asio::async_write(stream, chunk, kAsTuple);
    if (chunk_ec) co_return chunk_ec;
  }
}

bool HttpServer::has_streamed_body(const HttpRequest& message) const {
  const auto target = parse_target(message.target());
  return target && router_.match(message.method(), target->segments).streamed_body;
}

asio::awaitable<HttpServer::Reply> HttpServer::respond(
    HttpRequest message, std::optional<Target> target, std::string client_address,
    std::function<void(std::function<void()>)> watch_client, BodySource read_body) {
  if (!target) {
    co_return Reply{
        error_response(http::status::bad_request, "invalid_input", "Malformed request target"), {}};
  }
  Request request{std::move(message),      std::move(target->path),   {}, std::move(target->query),
                  std::move(watch_client), std::move(client_address), {}, std::move(read_body)};
  const auto& segments = target->segments;

  HttpResponse response;
  if (request.message.method() == http::verb::options &&
      request.message.find(http::field::access_control_request_method) != request.message.end()) {
    co_return Reply{options_.cors.preflight(request.message), {}};
  }
  auto match = router_.match(request.message.method(), segments);
  if (match.handler) {
    request.params = std::move(match.params);
    try {
      response = co_await (*match.handler)(request);
    } catch (const std::exception& e) {
      spdlog::error("http: {} {} failed: {}", request.message.method_string(), request.path,
                    e.what());
      response =
          error_response(http::status::internal_server_error, "internal", "Internal server error");
    }
  } else if (static_files_ && !is_api_path(request.path) &&
             (request.message.method() == http::verb::get ||
              request.message.method() == http::verb::head)) {
    response = co_await serve_static(request);
  } else {
    response = error_response(http::status::not_found, "not_found",
                              "Not Found - " + std::string(request.path));
  }
  options_.cors.decorate(request.message, response);
  co_return Reply{std::move(response), std::move(request.reply_body)};
}

asio::awaitable<HttpResponse> HttpServer::serve_static(const Request& request) {
  const bool head = request.message.method() == http::verb::head;
  auto work = [this, path = request.path, head]() -> HttpResponse {
    auto file = static_files_->resolve(path);
    if (!file && !names_a_file(path)) file = static_files_->spa_index();
    if (!file) return error_response(http::status::not_found, "not_found", "Not Found - " + path);
    return static_files_->read(*file, head);
  };
  co_return co_await run_elsewhere([this](auto job) { asio::post(file_pool_, std::move(job)); },
                                   std::move(work));
}

}  // namespace chatd::net
