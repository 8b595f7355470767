#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace chatd::net {

namespace {

namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all of that already).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's reasons for the last failure, oldest first ("no start line; PEM lib"), and a clean
// error queue.
std::string openssl_reasons() {
  std::string reasons;
  while (const auto code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string text;
    if (reason) {
      text = reason;
    } else {
      char buffer[256];
      ERR_error_string_n(code, buffer, sizeof buffer);
      text = buffer;
    }
    if (reasons.find(text) != std::string::npos) continue;
    if (!reasons.empty()) reasons += "; ";
    reasons += text;
  }
  return reasons.empty() ? "unknown error" : reasons;
}

[[noreturn]] void fail(std::string what) {
  ERR_clear_error();
  throw std::runtime_error(std::move(what));
}

// A clear message for the usual mistakes (a wrong path, a file the server may not read) before
// OpenSSL's terser one.
void check_readable(const fs::path& path, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    fail(std::string("TLS ") + what + " " + path.string() + ": no such file");
  if (!fs::is_regular_file(path, ec)) {
    fail(std::string("TLS ") + what + " " + path.string() + ": not a regular file");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    fail(std::string("TLS ") + what + " " + path.string() +
         ": cannot read: " + std::strerror(errno));
  }
  std::fclose(file);
}

// ALPN: HTTP/1.1 when the client offers it; a client that offers only other protocols goes on
// without ALPN (and finds out from the first response).
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* /*arg*/) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_length = 0;
  if (SSL_select_next_proto(&selected, &selected_length, kHttp11, sizeof kHttp11, offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  *out_length = selected_length;
  return SSL_TLSEXT_ERR_OK;
}

// An encrypted key would make OpenSSL prompt for its passphrase on the terminal: refuse instead.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return 0;
}

}  // namespace

std::unique_ptr<ssl::context> make_tls_context(const TlsFiles& files) {
  check_readable(files.cert, "certificate");
  check_readable(files.key, "key");
  ERR_clear_error();
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    fail("TLS: cannot require TLS 1.2: " + openssl_reasons());
  }
  // (OpenSSL 3 refuses client-initiated renegotiation by default; this refuses all of it.)
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    fail("TLS: cipher list refused: " + openssl_reasons());
  }
  // Idle connections hold no TLS buffers; partial writes let a writer resume where the kernel's
  // buffer filled up (net/socket_stream.h).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);

  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    fail("TLS certificate " + files.cert.string() + ": " + openssl_reasons());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const auto reasons = openssl_reasons();
    if (reasons.find("mismatch") != std::string::npos) {
      fail("TLS key " + files.key.string() + " does not belong to the certificate " +
           files.cert.string() + " (" + reasons + ")");
    }
    fail("TLS key " + files.key.string() + ": " + reasons);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    fail("TLS key " + files.key.string() + " does not belong to the certificate " +
         files.cert.string() + " (" + openssl_reasons() + ")");
  }
  return context;
}

std::unique_ptr<ssl::context> make_peer_tls_context() {
  ERR_clear_error();
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    fail("TLS: cannot require TLS 1.2: " + openssl_reasons());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  context->set_verify_mode(ssl::verify_none);
  return context;
}

}  // namespace chatd::net
