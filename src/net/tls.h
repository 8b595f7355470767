#pragma once

#include <filesystem>
#include <memory>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

// TLS for the HTTP server's port (HTTPS and WSS): the server's settings and credentials.
namespace chatd::net {

// The PEM files of a TLS listener.
struct TlsFiles {
  std::filesystem::path cert;  // the server's certificate, then any intermediates (served as is)
  std::filesystem::path key;   // its private key (RSA or EC), not encrypted
};

// A server context: TLS 1.2 and 1.3 only, the server's cipher preference (ECDHE with AEAD ciphers
// under 1.2), no compression, no renegotiation, session tickets, ALPN "http/1.1". Loaded at start
// so that a bad file stops the server there, not at the first connection: throws
// std::runtime_error naming the file and the reason when a file is missing or unreadable, holds no
// certificate or key, or the key does not belong to the certificate.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsFiles& files);

// A client context for the connections between the nodes of a cluster whose ports speak TLS:
// TLS 1.2 and 1.3, and no check of the peer's certificate. Peers are reached at the internal
// addresses of the cluster's own registry, which their certificates need not name: these
// connections are encrypted but not authenticated, as plain HTTP between nodes was neither.
std::unique_ptr<boost::asio::ssl::context> make_peer_tls_context();

}  // namespace chatd::net
