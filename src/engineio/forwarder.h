#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http.h"
#include "net/socket_stream.h"
#include "net/tls.h"

// Serving sessions another node owns (no sticky sessions behind a round-robin load balancer): a
// polling request is sent on to the owner over HTTP/1.1 and its answer comes back unchanged; a
// WebSocket upgrade is handed to the owner and the bytes of the connection are relayed both ways.
// See README.md beside this file, section "Forwarding".
namespace chatd::engineio {

// Set on every forwarded request (its value: the forwarding node's id). A request that carries it
// is never forwarded again: if its owner does not know the sid, nobody does, and a wrong address
// in the registry cannot make a loop.
inline constexpr std::string_view kForwardedByHeader = "X-Chatd-Forwarded-By";
inline constexpr std::string_view kForwardedForHeader = "X-Forwarded-For";

struct ForwarderOptions {
  std::string node_id;  // this node, named in kForwardedByHeader
  // A peer that has not accepted the connection within this is taken as gone.
  std::chrono::milliseconds connect_timeout{1000};
  // From a forwarded request's first byte written to its answer's last byte read: a long poll
  // waits at its owner until something is sent or the next ping, so this must exceed the ping
  // interval.
  std::chrono::milliseconds reply_timeout{60'000};
  std::size_t max_response_bytes = 16UL << 20;  // the body of one owner's answer
  // A relayed WebSocket whose receiver takes no bytes for this long is closed: its sender would
  // otherwise hold the relay open behind a write that never ends.
  std::chrono::milliseconds relay_write_timeout{60'000};
  // The peers' ports speak TLS (every node runs with the same --tls-* options): requests and
  // relayed WebSockets go to them over TLS, encrypted but not authenticated (net::
  // make_peer_tls_context). Otherwise plain HTTP, as between nodes on an internal network.
  bool peers_use_tls = false;
};

// "host:port" (the host may be a bracketed IPv6 address) split in two; nullopt when malformed.
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view address);

// The request the owner gets for `request`: method, target, body and end-to-end headers as the
// client sent them, minus this hop's (Connection, Keep-Alive, Transfer-Encoding...), plus
// `client_address` appended to X-Forwarded-For (when known) and the loop guard. Takes the body.
net::HttpRequest forwarded_request(net::HttpRequest& request, std::string_view node_id,
                                   std::string_view client_address);

class RelayRegistry;
struct PeerStream;  // a connection to a peer: plain TCP, or TLS over it

class Forwarder {
 public:
  explicit Forwarder(ForwarderOptions options);
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;
  ~Forwarder();

  // True when `request` was forwarded here by another node.
  static bool was_forwarded(const net::HttpRequest& request);

  // Sends the polling request to its owner at `owner_address` ("host:port") and returns the
  // owner's answer as it came, or nullopt when the owner could not be reached or did not answer
  // in time. A GET whose client hangs up is cut at the owner too, which ends the session there as
  // it would have locally. Runs on the calling coroutine's executor; never blocks it.
  boost::asio::awaitable<std::optional<net::HttpResponse>> forward(net::Request& request,
                                                                   std::string owner_address,
                                                                   std::string client_address);

  // Sends the WebSocket upgrade `request` to its owner at `owner_address` and, once sent,
  // relays the connection's bytes both ways until either side closes; returns at once then (the
  // relay runs on `client`'s executor). When the owner cannot be reached `client` is closed, as
  // an upgrade for an unknown sid is. A TLS client is relayed too: its bytes are decrypted here
  // and go on to the owner in the clear (nodes talk plain HTTP on their internal network).
  boost::asio::awaitable<void> relay_upgrade(net::SocketStream client, net::HttpRequest request,
                                             std::string owner_address);

  // Closes every relayed connection (server shutdown). Callable from any thread.
  void close_relays();

 private:
  using Connection = std::shared_ptr<PeerStream>;
  struct Exchange;
  struct IdleConnection {
    Connection connection;
    std::chrono::steady_clock::time_point since;
  };
  // Idle keep-alive connections, by the network thread (its execution context) that made them
  // and the peer they go to: a connection is only ever used on its own thread.
  using PoolKey = std::pair<const void*, std::string>;

  Connection new_connection(const boost::asio::any_io_executor& executor) const;
  // TCP, then the TLS handshake when peers speak TLS.
  boost::asio::awaitable<boost::beast::error_code> connect(PeerStream& stream,
                                                           const std::string& address) const;
  boost::asio::awaitable<Exchange> exchange(PeerStream& stream,
                                            const net::HttpRequest& request) const;
  template <class Stream>
  boost::asio::awaitable<Exchange> exchange_over(Stream& stream,
                                                 const net::HttpRequest& request) const;
  Connection take_idle(const PoolKey& key);
  void keep_idle(const PoolKey& key, Connection connection);

  ForwarderOptions options_;
  std::unique_ptr<boost::asio::ssl::context> peer_tls_;  // with peers_use_tls only
  std::mutex idle_mutex_;                                // guards idle_ only
  std::map<PoolKey, std::vector<IdleConnection>> idle_;
  std::shared_ptr<RelayRegistry> relays_;  // shared with the relays, which may outlive this
};

}  // namespace chatd::engineio
