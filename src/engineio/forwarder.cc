#include "engineio/forwarder.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <charconv>
#include <unordered_map>
#include <variant>

#include "net/tls_stream.h"
#include "util/async.h"

namespace chatd::engineio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = net::http;
using boost::asio::ip::tcp;

// A connection to a peer: plain, or TLS when the peers' ports speak it.
struct PeerStream {
  std::variant<beast::tcp_stream, net::TlsStream> stream;

  beast::tcp_stream& tcp() {
    if (auto* tls = std::get_if<net::TlsStream>(&stream)) return beast::get_lowest_layer(*tls);
    return std::get<beast::tcp_stream>(stream);
  }
};

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponseHeaderBytes = 16UL * 1024;
// Idle connections kept per peer and network thread: a polling client has at most a GET and a
// POST in flight, so a few cover the usual overlap; more would only hold sockets.
constexpr std::size_t kMaxIdlePerPeer = 8;
// An idle connection is reused only while well under the peer's keep-alive idle timeout
// (net::HttpLimits, 60 s), so that the peer does not close it just as a request goes out.
constexpr std::chrono::seconds kMaxIdleAge{20};
// What a relay reads at once, per direction. Allocated only while bytes flow: an idle relay
// waits for readability with no buffer.
constexpr std::size_t kRelayChunkBytes = 16UL * 1024;

// The headers of one hop, which a proxy never passes on (RFC 9110, 7.6.1), and Content-Length,
// which is set again for the body as it is sent.
bool is_hop_by_hop(std::string_view name) {
  constexpr std::array<std::string_view, 10> kHopHeaders = {"Connection",
                                                            "Keep-Alive",
                                                            "Proxy-Connection",
                                                            "Proxy-Authenticate",
                                                            "Proxy-Authorization",
                                                            "TE",
                                                            "Trailer",
                                                            "Transfer-Encoding",
                                                            "Upgrade",
                                                            "Content-Length"};
  return std::any_of(kHopHeaders.begin(), kHopHeaders.end(),
                     [name](std::string_view hop) { return beast::iequals(name, hop); });
}

// The X-Forwarded-For chain of `request` (every such header, in order) with `client_address`
// appended, the way proxies extend it.
std::string forwarded_for_chain(const net::HttpRequest& request, std::string_view client_address) {
  std::string chain;
  auto append = [&chain](std::string_view hop) {
    if (hop.empty()) return;
    if (!chain.empty()) chain += ", ";
    chain += hop;
  };
  for (const auto& field : request) {
    if (beast::iequals(field.name_string(), kForwardedForHeader)) append(field.value());
  }
  append(client_address);
  return chain;
}

void mark_forwarded(net::HttpRequest& request, std::string_view node_id, const std::string& chain) {
  if (!chain.empty()) request.set(kForwardedForHeader, chain);
  request.set(kForwardedByHeader, node_id);
}

// The peer ended the connection: what an idle keep-alive connection the peer closed looks like.
bool closed_by_peer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

// True while the peer has neither closed `socket` nor sent anything unasked.
bool idle_and_open(tcp::socket& socket) {
  char byte = 0;
  const auto peeked = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// The connection a forwarded request is using, which the client's hang-up cuts.
struct OwnerLink {
  std::shared_ptr<PeerStream> connection;
  bool cut = false;

  void cut_off() {
    cut = true;
    if (connection) connection->tcp().close();
  }
};

// The owner's answer as the client gets it: the HTTP server sets this hop's headers itself.
void erase_hop_by_hop(net::HttpResponse& response) {
  for (auto field = response.begin(); field != response.end();) {
    field = is_hop_by_hop(field->name_string()) ? response.erase(field) : std::next(field);
  }
}

}  // namespace

// ---- Free functions ---------------------------------------------------------------------------

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = address.substr(0, colon);
  const auto port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // an IPv6 address must be bracketed, or its port is ambiguous
  }
  std::uint16_t port = 0;
  const auto* const end = port_text.data() + port_text.size();
  const auto [parsed_to, error] = std::from_chars(port_text.data(), end, port);
  if (host.empty() || error != std::errc{} || parsed_to != end || port == 0) return std::nullopt;
  return std::pair{std::string(host), port};
}

net::HttpRequest forwarded_request(net::HttpRequest& request, std::string_view node_id,
                                   std::string_view client_address) {
  net::HttpRequest outbound(request.method(), request.target(), 11);
  for (const auto& field : request) {
    const auto name = field.name_string();
    if (is_hop_by_hop(name) || beast::iequals(name, kForwardedForHeader)) continue;
    outbound.insert(name, field.value());
  }
  mark_forwarded(outbound, node_id, forwarded_for_chain(request, client_address));
  outbound.body() = std::move(request.body());
  outbound.keep_alive(true);
  outbound.prepare_payload();
  return outbound;
}

// ---- Relay ------------------------------------------------------------------------------------

class Relay;

// The relays of a forwarder, for its close_relays(). Relays unregister themselves as they end.
class RelayRegistry {
 public:
  void add(const std::shared_ptr<Relay>& relay);
  void remove(const Relay* relay) {
    std::lock_guard lock(mutex_);
    relays_.erase(relay);
  }
  void close_all();

 private:
  std::mutex mutex_;  // guards relays_ only; never held while calling out
  std::unordered_map<const Relay*, std::weak_ptr<Relay>> relays_;
};

// A WebSocket whose session another node owns: the client's connection and one to the owner,
// bytes copied both ways. Each direction reads again only once its last bytes are written, so the
// slower side holds the faster back and a relay never holds more than a chunk per direction.
// When either side closes, both close. Lives on the client connection's executor. Either side may
// be TLS (the client's own; the owner's when peers speak TLS): net::SocketStream decrypts what is
// read and encrypts what is written.
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  // Reads are tried as soon as a stream is readable; writes first try without waiting.
  Relay(net::SocketStream client, net::SocketStream owner, std::chrono::milliseconds write_timeout,
        std::shared_ptr<RelayRegistry> registry)
      : client_(std::move(client)),
        owner_(std::move(owner)),
        write_timeout_(write_timeout),
        registry_(std::move(registry)) {}
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay() { registry_->remove(this); }

  void start() {
    asio::co_spawn(executor(), pump(shared_from_this(), client_, owner_),
                   log_if_failed("engineio: relay to owner"));
    asio::co_spawn(executor(), pump(shared_from_this(), owner_, client_),
                   log_if_failed("engineio: relay from owner"));
  }

  // Ends both directions (their pending operations fail). Call on executor().
  void close() {
    client_.close();
    owner_.close();
  }

  asio::any_io_executor executor() { return client_.get_executor(); }

 private:
  using Chunk = std::unique_ptr<char[]>;  // raw bytes, not zeroed: each read overwrites them

  // Copies what `from` sends to `to` until either ends.
  static asio::awaitable<void> pump(std::shared_ptr<Relay> self, net::SocketStream& from,
                                    net::SocketStream& to) {
    Chunk chunk;
    for (;;) {
      if (!chunk) {
        auto [wait_ec] = co_await from.async_wait_read(kAsTuple);
        if (wait_ec) break;
        chunk = std::make_unique_for_overwrite<char[]>(kRelayChunkBytes);
      }
      beast::error_code read_ec;
      const auto read = from.read_some(asio::buffer(chunk.get(), kRelayChunkBytes), read_ec);
      if (read_ec == asio::error::would_block) {
        chunk.reset();  // drained: wait for more without holding a buffer
        continue;
      }
      if (read_ec) break;
      if (!co_await self->write_all(to, asio::buffer(chunk.get(), read))) break;
    }
    self->close();
  }

  // Writes `bytes` to `to`; false when that fails or takes longer than write_timeout_.
  asio::awaitable<bool> write_all(net::SocketStream& to, asio::const_buffer bytes) {
    std::optional<asio::steady_timer> deadline;  // set once the receiver's buffer is full
    for (;;) {
      beast::error_code ec;
      bytes += to.write_some(bytes, ec);
      if (ec && ec != asio::error::would_block) co_return false;
      if (bytes.size() == 0) co_return true;
      if (!deadline) {
        // Wait for room, but not forever.
        deadline.emplace(to.get_executor(), write_timeout_);
        deadline->async_wait([weak = weak_from_this()](const beast::error_code& deadline_ec) {
          auto self = weak.lock();
          if (!deadline_ec && self) self->close();
        });
      }
      auto [wait_ec] = co_await to.async_wait_write(kAsTuple);
      if (wait_ec) co_return false;
    }
  }

  net::SocketStream client_;
  net::SocketStream owner_;
  std::chrono::milliseconds write_timeout_;
  std::shared_ptr<RelayRegistry> registry_;
};

void RelayRegistry::add(const std::shared_ptr<Relay>& relay) {
  std::lock_guard lock(mutex_);
  relays_.emplace(relay.get(), relay);
}

void RelayRegistry::close_all() {
  std::vector<std::weak_ptr<Relay>> all;
  {
    std::lock_guard lock(mutex_);
    all.reserve(relays_.size());
    for (const auto& [key, relay] : relays_) all.push_back(relay);
  }
  for (const auto& weak : all) {
    if (auto relay = weak.lock()) asio::post(relay->executor(), [relay] { relay->close(); });
  }
}

// ---- Forwarder --------------------------------------------------------------------------------

// How one request/answer exchange with the owner went.
struct Forwarder::Exchange {
  std::optional<net::HttpResponse> response;
  bool reusable = false;  // the connection may carry another request
  // The connection ended before a byte of an answer: a reused one that the owner closed while it
  // idled, so the request never reached the owner.
  bool silent = false;
};

Forwarder::Forwarder(ForwarderOptions options)
    : options_(std::move(options)),
      peer_tls_(options_.peers_use_tls ? net::make_peer_tls_context() : nullptr),
      relays_(std::make_shared<RelayRegistry>()) {}

Forwarder::~Forwarder() = default;

bool Forwarder::was_forwarded(const net::HttpRequest& request) {
  return request.find(kForwardedByHeader) != request.end();
}

Forwarder::Connection Forwarder::new_connection(const asio::any_io_executor& executor) const {
  if (peer_tls_) {
    return std::make_shared<PeerStream>(PeerStream{
        decltype(PeerStream::stream)(std::in_place_type<net::TlsStream>, executor, *peer_tls_)});
  }
  return std::make_shared<PeerStream>(
      PeerStream{decltype(PeerStream::stream)(std::in_place_type<beast::tcp_stream>, executor)});
}

asio::awaitable<beast::error_code> Forwarder::connect(PeerStream& peer,
                                                      const std::string& address) const {
  auto& stream = peer.tcp();
  const auto host_port = split_host_port(address);
  if (!host_port) co_return make_error_code(asio::error::invalid_argument);
  const auto& [host, port] = *host_port;
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (!ec) {
    const tcp::endpoint endpoint(ip, port);
    stream.expires_after(options_.connect_timeout);
    std::tie(ec) = co_await stream.async_connect(endpoint, kAsTuple);
  } else {
    // A name: getaddrinfo runs on Asio's resolver thread, never on this network thread.
    tcp::resolver resolver(stream.get_executor());
    const auto service = std::to_string(port);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, service, kAsTuple);
    if (resolve_ec) co_return resolve_ec;
    stream.expires_after(options_.connect_timeout);
    tcp::endpoint connected;
    std::tie(ec, connected) = co_await stream.async_connect(endpoints, kAsTuple);
  }
  if (ec) co_return ec;
  // Each request leaves in one write: Nagle's algorithm would only delay the next one.
  beast::error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);
  if (auto* tls = std::get_if<net::TlsStream>(&peer.stream)) {
    stream.expires_after(options_.connect_timeout);
    std::tie(ec) = co_await tls->async_handshake(asio::ssl::stream_base::client, kAsTuple);
  }
  co_return ec;
}

asio::awaitable<Forwarder::Exchange> Forwarder::exchange(PeerStream& peer,
                                                         const net::HttpRequest& request) const {
  if (auto* tls = std::get_if<net::TlsStream>(&peer.stream)) {
    co_return co_await exchange_over(*tls, request);
  }
  co_return co_await exchange_over(std::get<beast::tcp_stream>(peer.stream), request);
}

template <class Stream>
asio::awaitable<Forwarder::Exchange> Forwarder::exchange_over(
    Stream& stream, const net::HttpRequest& request) const {
  Exchange result;
  // For the write and the read together.
  beast::get_lowest_layer(stream).expires_after(options_.reply_timeout);
  auto [write_ec, written] = co_await http::async_write(stream, request, kAsTuple);
  if (write_ec) {
    result.silent = closed_by_peer(write_ec);
    co_return result;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxResponseHeaderBytes));
  parser.body_limit(options_.max_response_bytes);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAsTuple);
  if (read_ec) {
    result.silent = !parser.got_some() && closed_by_peer(read_ec);
    co_return result;
  }
  beast::get_lowest_layer(stream).expires_never();
  result.response = parser.release();
  result.reusable = result.response->keep_alive() && buffer.size() == 0;
  erase_hop_by_hop(*result.response);
  co_return result;
}

asio::awaitable<std::optional<net::HttpResponse>> Forwarder::forward(net::Request& request,
                                                                     std::string owner_address,
                                                                     std::string client_address) {
  const auto outbound = forwarded_request(request.message, options_.node_id, client_address);
  const auto executor = co_await asio::this_coro::executor;
  const PoolKey key{&asio::query(executor, asio::execution::context), owner_address};
  auto link = std::make_shared<OwnerLink>();
  if (request.message.method() == http::verb::get) {
    request.on_client_gone([weak = std::weak_ptr(link)] {
      if (auto owner_link = weak.lock()) owner_link->cut_off();
    });
  }
  for (;;) {
    link->connection = take_idle(key);
    const bool reused = link->connection != nullptr;
    if (!reused) {
      link->connection = new_connection(executor);
      const auto ec = co_await connect(*link->connection, owner_address);
      if (ec) {
        spdlog::warn("engineio: session owner at {} unreachable: {}", owner_address, ec.message());
        co_return std::nullopt;
      }
    }
    auto result = co_await exchange(*link->connection, outbound);
    if (result.response) {
      if (result.reusable) keep_idle(key, std::move(link->connection));
      co_return std::move(result.response);
    }
    // Only a reused connection that the owner had closed is tried again, on another: the request
    // never reached the owner. Anything else may have, and is not repeated.
    if (!reused || !result.silent || link->cut) {
      if (!link->cut) spdlog::warn("engineio: no answer from session owner at {}", owner_address);
      co_return std::nullopt;
    }
  }
}

Forwarder::Connection Forwarder::take_idle(const PoolKey& key) {
  for (;;) {
    IdleConnection idle;
    {
      std::lock_guard lock(idle_mutex_);
      auto it = idle_.find(key);
      if (it == idle_.end() || it->second.empty()) return nullptr;
      idle = std::move(it->second.back());
      it->second.pop_back();
    }
    const bool fresh = std::chrono::steady_clock::now() - idle.since < kMaxIdleAge;
    if (fresh && idle_and_open(idle.connection->tcp().socket())) {
      return std::move(idle.connection);
    }
  }  // a stale one closes here, on its own thread
}

void Forwarder::keep_idle(const PoolKey& key, Connection connection) {
  Connection evicted;  // declared before the lock: closed after it is released
  std::lock_guard lock(idle_mutex_);
  auto& idle = idle_[key];
  if (idle.size() >= kMaxIdlePerPeer) {
    evicted = std::move(idle.front().connection);
    idle.erase(idle.begin());
  }
  idle.push_back({std::move(connection), std::chrono::steady_clock::now()});
}

asio::awaitable<void> Forwarder::relay_upgrade(net::SocketStream client, net::HttpRequest request,
                                               std::string owner_address) {
  beast::error_code ec;
  const auto peer = client.socket().remote_endpoint(ec);
  const auto client_address = ec ? std::string() : peer.address().to_string();
  mark_forwarded(request, options_.node_id, forwarded_for_chain(request, client_address));
  auto owner = new_connection(client.get_executor());
  ec = co_await connect(*owner, owner_address);
  auto* owner_tls = std::get_if<net::TlsStream>(&owner->stream);
  if (!ec) {
    owner->tcp().expires_after(options_.connect_timeout);  // a few hundred bytes
    std::size_t written = 0;
    if (owner_tls) {
      std::tie(ec, written) = co_await http::async_write(*owner_tls, request, kAsTuple);
    } else {
      std::tie(ec, written) = co_await http::async_write(owner->tcp(), request, kAsTuple);
    }
  }
  if (ec) {
    spdlog::warn("engineio: session owner at {} unreachable for an upgrade: {}", owner_address,
                 ec.message());
    client.close();
    co_return;
  }
  // From here both sides are streams the relay reads and writes without blocking.
  auto owner_side = owner_tls ? net::take_over(std::move(*owner_tls))
                              : std::optional<net::SocketStream>(owner->tcp().release_socket());
  if (!owner_side) {
    client.close();
    co_return;
  }
  auto relay = std::make_shared<Relay>(std::move(client), std::move(*owner_side),
                                       options_.relay_write_timeout, relays_);
  relays_->add(relay);
  relay->start();
}

void Forwarder::close_relays() {
  relays_->close_all();
}

}  // namespace chatd::engineio
