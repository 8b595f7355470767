#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

#include "net/socket_stream.h"

// The TLS stream the HTTP server (and the cluster's forwarder, towards peers) speaks HTTP over,
// and its hand-over to a SocketStream. A heavier include than socket_stream.h (Beast's TLS and
// OpenSSL's headers): only the code that makes TLS connections needs it.
namespace chatd::net {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The connection of `stream` (handshake done) as a SocketStream: the TLS session goes on over the
// socket itself instead of Asio's memory BIO pair. Nothing may be buffered in that pair: the
// upgrade's peer waits for the 101 before it sends more, so bytes after the request mean a broken
// peer, and give nullopt (the connection is closed).
std::optional<SocketStream> take_over(TlsStream stream);

}  // namespace chatd::net
