#pragma once

#include <sys/uio.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <memory>
#include <span>

struct ssl_st;  // OpenSSL's SSL

namespace chatd::net {

struct SslFree {
  void operator()(ssl_st* ssl) const;
};
using SslPtr = std::unique_ptr<ssl_st, SslFree>;

// A connection the HTTP server handed over after an upgrade request: plain TCP, or TLS over TCP.
// For code that does its own non-blocking I/O (the WebSocket, the cluster's relay): wait until the
// stream is ready, then read or write what can be without blocking. It is not a virtual interface:
// the plain path is the socket calls it always made behind one branch on `ssl_`, and TLS is the
// same pattern over OpenSSL driven straight on the socket (SSL_read/SSL_write through a BIO that
// reads and writes the file descriptor), so an idle TLS connection holds no buffer either.
//
// Contract for TLS (OpenSSL's): a write that would block must be retried with the same bytes
// first (more may follow them); a read that filled the buffer may have left bytes inside the TLS
// session, which async_wait_read then reports at once rather than waiting on the socket.
// Touched by one thread at a time (its executor's), like the socket.
class SocketStream {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  explicit SocketStream(tcp::socket socket);
  // TLS whose handshake is done: `ssl` goes on over `socket` itself from now on. Whatever the
  // previous transport of `ssl` (Asio's memory BIO pair) held must have been read already.
  SocketStream(tcp::socket socket, SslPtr ssl);
  SocketStream(SocketStream&&) noexcept;
  SocketStream& operator=(SocketStream&&) noexcept;
  ~SocketStream();

  bool is_tls() const { return ssl_ != nullptr; }
  tcp::socket& socket() { return socket_; }
  boost::asio::any_io_executor get_executor() { return socket_.get_executor(); }

  // What is there now, up to the buffer's size; would_block when nothing is. Never blocks.
  std::size_t read_some(boost::asio::mutable_buffer buffer, error_code& ec) {
    return ssl_ ? tls_read_some(buffer, ec) : socket_.read_some(buffer, ec);
  }
  // As much as fits now; would_block when nothing does. Never blocks.
  std::size_t write_some(boost::asio::const_buffer bytes, error_code& ec) {
    return ssl_ ? tls_write_some(bytes, ec) : socket_.write_some(bytes, ec);
  }
  // A gathered write: one sendmsg when plain; over TLS, up to one record's worth of the parts
  // copied together and written as one record.
  std::size_t write_some(std::span<const iovec> parts, error_code& ec) {
    return ssl_ ? tls_write_gathered(parts, ec) : send_gathered(parts, ec);
  }

  // Completes (void(error_code)) when read_some may have something: at once when TLS holds
  // bytes a full buffer left behind, else when the socket is readable (or, should TLS need to
  // send before it can read, writable).
  template <class Token>
  auto async_wait_read(Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) {
          if (ssl_ && !drained_) {
            boost::asio::post(socket_.get_executor(),
                              boost::asio::append(std::move(handler), error_code{}));
            return;
          }
          socket_.async_wait(
              ssl_ && read_wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read,
              std::move(handler));
        },
        token);
  }
  // Completes when write_some may take bytes again.
  template <class Token>
  auto async_wait_write(Token&& token) {
    return socket_.async_wait(
        ssl_ && write_wants_read_ ? tcp::socket::wait_read : tcp::socket::wait_write,
        std::forward<Token>(token));
  }

  // Closes the connection (pending waits complete with an error). Over TLS a close_notify goes
  // first if it can be sent at once; nothing waits for the peer's.
  void close();

  // The connection without its event loop, to move it to another thread's.
  class Detached {
   public:
    Detached() = default;
    Detached(Detached&& other) noexcept;
    Detached& operator=(Detached&& other) noexcept;
    ~Detached();  // closes a connection nobody attached

   private:
    friend class SocketStream;
    tcp protocol_ = tcp::v4();
    int fd_ = -1;
    SslPtr ssl_;
  };
  Detached detach(error_code& ec);
  static SocketStream attach(const boost::asio::any_io_executor& executor, Detached detached);

 private:
  struct Attached {};
  SocketStream(Attached, tcp::socket socket, SslPtr ssl);

  std::size_t tls_read_some(boost::asio::mutable_buffer buffer, error_code& ec);
  std::size_t tls_write_some(boost::asio::const_buffer bytes, error_code& ec);
  std::size_t tls_write_gathered(std::span<const iovec> parts, error_code& ec);
  std::size_t send_gathered(std::span<const iovec> parts, error_code& ec);

  tcp::socket socket_;
  SslPtr ssl_;  // null: plain TCP
  // TLS state, from the last read and write.
  bool drained_ = true;  // the last read stopped because TLS needed more from the socket
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  bool write_pending_ = false;  // a record is half sent: only the same write may go on
  bool failed_ = false;         // a fatal TLS error: no close_notify
};

// Writes all of `bytes`, waiting for room as often as needed (no time limit: the caller's).
boost::asio::awaitable<boost::system::error_code> write_all(SocketStream& stream,
                                                            boost::asio::const_buffer bytes);

}  // namespace chatd::net
