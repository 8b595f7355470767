#include "net/socket_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "net/tls_stream.h"

namespace chatd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// The largest plaintext of one TLS record: what one gathered TLS write sends at most.
constexpr std::size_t kTlsRecordBytes = 16384;

// ---- A BIO on the socket's file descriptor ----
// OpenSSL's own socket BIO writes with send(fd, ..., 0), which raises SIGPIPE on a connection the
// peer reset (and kills the server, which does not ignore the signal). This one is the same with
// MSG_NOSIGNAL, as every other write here.

int fd_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  for (;;) {
    const auto sent = ::send(fd_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<int>(sent);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;
  }
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  for (;;) {
    const auto got = ::recv(fd_of(bio), data, static_cast<std::size_t>(size), 0);
    if (got >= 0) return static_cast<int>(got);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

long bio_ctrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "chatd socket");
    if (!m || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
      throw std::runtime_error("TLS: cannot make the socket BIO");
    }
    return m;
  }();
  return method;
}

// What a failed TLS call means to the caller: the peer is gone (close_notify, EOF, reset) or it
// broke the protocol. Either way the connection is over.
boost::system::error_code tls_error(int error) {
  if (error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  if (error == SSL_ERROR_SYSCALL) return asio::error::connection_reset;
  return asio::error::connection_aborted;
}

}  // namespace

void SslFree::operator()(ssl_st* ssl) const {
  SSL_free(ssl);
}

SocketStream::SocketStream(tcp::socket socket) : socket_(std::move(socket)) {
  socket_.non_blocking(true);
}

SocketStream::SocketStream(tcp::socket socket, SslPtr ssl)
    : SocketStream(Attached{}, std::move(socket), std::move(ssl)) {
  BIO* bio = BIO_new(socket_bio_method());
  if (!bio) throw std::runtime_error("TLS: cannot make a socket BIO");
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl_.get(), bio, bio);  // frees the BIO pair the handshake went through
  // Read whole bursts of records per recv (not a header, then a body): a full buffer may leave
  // some inside TLS, which async_wait_read knows.
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
}

SocketStream::SocketStream(Attached, tcp::socket socket, SslPtr ssl)
    : socket_(std::move(socket)), ssl_(std::move(ssl)) {
  socket_.non_blocking(true);
}

SocketStream::SocketStream(SocketStream&&) noexcept = default;
SocketStream& SocketStream::operator=(SocketStream&&) noexcept = default;
SocketStream::~SocketStream() = default;

std::size_t SocketStream::tls_read_some(asio::mutable_buffer buffer, error_code& ec) {
  if (!socket_.is_open()) {
    // The descriptor may already be another connection's: never touch it through the BIO.
    ec = asio::error::bad_descriptor;
    return 0;
  }
  auto* data = static_cast<char*>(buffer.data());
  std::size_t total = 0;
  read_wants_write_ = false;
  while (total < buffer.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int ok = SSL_read_ex(ssl_.get(), data + total, buffer.size() - total, &n);
    if (ok == 1) {
      total += n;
      continue;
    }
    const int error = SSL_get_error(ssl_.get(), ok);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      drained_ = true;
      read_wants_write_ = error == SSL_ERROR_WANT_WRITE;
      ec = total ? error_code{} : error_code(asio::error::would_block);
      return total;
    }
    ERR_clear_error();
    if (error != SSL_ERROR_ZERO_RETURN) failed_ = true;
    // Bytes read before the end are handed out first; the next read meets the end again.
    drained_ = true;
    ec = total ? error_code{} : tls_error(error);
    return total;
  }
  drained_ = false;  // the buffer is full: TLS may hold more
  ec = {};
  return total;
}

std::size_t SocketStream::tls_write_some(asio::const_buffer bytes, error_code& ec) {
  if (!socket_.is_open()) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  if (bytes.size() == 0) {
    ec = {};
    return 0;
  }
  ERR_clear_error();
  std::size_t written = 0;
  const int ok = SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &written);
  if (ok == 1) {
    write_pending_ = false;
    write_wants_read_ = false;
    ec = {};
    return written;
  }
  const int error = SSL_get_error(ssl_.get(), ok);
  if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
    write_pending_ = true;
    write_wants_read_ = error == SSL_ERROR_WANT_READ;
    ec = asio::error::would_block;
    return 0;
  }
  ERR_clear_error();
  failed_ = true;
  ec = tls_error(error);
  return 0;
}

std::size_t SocketStream::tls_write_gathered(std::span<const iovec> parts, error_code& ec) {
  // One record's worth: SSL_write sends one record per call here (partial writes), so copying
  // more would only be copied again. A retry copies the same bytes again, as OpenSSL needs.
  thread_local std::array<char, kTlsRecordBytes> scratch;
  std::size_t size = 0;
  for (const auto& part : parts) {
    const auto take = std::min(part.iov_len, scratch.size() - size);
    std::memcpy(scratch.data() + size, part.iov_base, take);
    size += take;
    if (size == scratch.size()) break;
  }
  return tls_write_some(asio::buffer(scratch.data(), size), ec);
}

std::size_t SocketStream::send_gathered(std::span<const iovec> parts, error_code& ec) {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(parts.data());
  message.msg_iovlen = parts.size();
  for (;;) {
    const auto sent = ::sendmsg(socket_.native_handle(), &message, MSG_NOSIGNAL);
    if (sent >= 0) {
      ec = {};
      return static_cast<std::size_t>(sent);
    }
    if (errno == EINTR) continue;
    ec = errno == EAGAIN || errno == EWOULDBLOCK
             ? error_code(asio::error::would_block)
             : error_code(errno, boost::system::system_category());
    return 0;
  }
}

void SocketStream::close() {
  if (!socket_.is_open()) return;
  if (ssl_ && !failed_ && !write_pending_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // sends close_notify if the socket takes it now; never waits
    ERR_clear_error();
  }
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

SocketStream::Detached SocketStream::detach(error_code& ec) {
  Detached detached;
  const auto endpoint = socket_.local_endpoint(ec);
  if (ec) return detached;
  detached.protocol_ = endpoint.protocol();
  detached.fd_ = socket_.release(ec);
  if (ec) return detached;
  detached.ssl_ = std::move(ssl_);
  return detached;
}

SocketStream SocketStream::attach(const asio::any_io_executor& executor, Detached detached) {
  tcp::socket socket(executor, detached.protocol_, detached.fd_);
  detached.fd_ = -1;  // the socket owns it now
  return SocketStream(Attached{}, std::move(socket), std::move(detached.ssl_));
}

SocketStream::Detached::Detached(Detached&& other) noexcept
    : protocol_(other.protocol_), fd_(std::exchange(other.fd_, -1)), ssl_(std::move(other.ssl_)) {}

SocketStream::Detached& SocketStream::Detached::operator=(Detached&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    protocol_ = other.protocol_;
    fd_ = std::exchange(other.fd_, -1);
    ssl_ = std::move(other.ssl_);
  }
  return *this;
}

SocketStream::Detached::~Detached() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<SocketStream> take_over(TlsStream stream) {
  SSL* ssl = stream.native_handle();
  if (SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0 ||
      BIO_ctrl_wpending(SSL_get_wbio(ssl)) > 0) {
    spdlog::debug("tls: bytes after an upgrade request; connection closed");
    return std::nullopt;
  }
  SSL_up_ref(ssl);  // Asio's stream frees its own reference below; this one goes on
  SslPtr session(ssl);
  auto socket = beast::get_lowest_layer(stream).release_socket();
  {
    [[maybe_unused]] auto ended = std::move(stream);
  }  // Asio's engine lets go here, on this thread
  return SocketStream(std::move(socket), std::move(session));
}

asio::awaitable<boost::system::error_code> write_all(SocketStream& stream,
                                                     asio::const_buffer bytes) {
  for (;;) {
    boost::system::error_code ec;
    bytes += stream.write_some(bytes, ec);
    if (ec && ec != asio::error::would_block) co_return ec;
    if (bytes.size() == 0) co_return boost::system::error_code{};
    auto [wait_ec] = co_await stream.async_wait_write(asio::as_tuple(asio::use_awaitable));
    if (wait_ec) co_return wait_ec;
  }
}

}  // namespace chatd::net
