#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engineio/packet.h"
#include "engineio/ws_frame.h"
#include "net/http.h"
#include "net/socket_stream.h"

// The server side of RFC 6455, written for one purpose: frames queued for a client while a write
// is in flight leave together in ONE gathered write (one syscall for many messages), which a
// general-purpose stream (one write per message) cannot do. No extensions are negotiated. Over
// TLS the same code runs on net::SocketStream's TLS path (frames gathered into records).
namespace chatd::engineio {

class WebSocket : public std::enable_shared_from_this<WebSocket> {
 public:
  WebSocket(net::SocketStream stream, std::size_t max_message);

  // Answers an upgrade request with 101; refuses a malformed one with 400 and returns false.
  boost::asio::awaitable<bool> accept(const net::HttpRequest& request);

  // Returns false to stop reading.
  using MessageHandler = std::function<bool(std::string message, bool binary)>;
  using EndHandler = std::function<void()>;

  // Reads data messages and hands each to `on_message` (pings are answered on the way), until
  // on_message returns false or the connection is over: closed by the peer, broken, a protocol
  // violation, or a message above max_message (each answered with the close code RFC 6455 asks
  // for). Then calls `on_end` once and lets both go. Call once.
  // Callbacks, not a coroutine: an idle connection waits with one small handler, where a read
  // loop of coroutines kept three frames (about 1.7 kB with their pending operation) per
  // connection.
  void read_messages(MessageHandler on_message, EndHandler on_end);

  // Queues a message. Everything queued while a write is in flight goes out in the next write.
  void send(const Frame& frame);
  // Sends a close frame after what is queued, then closes the connection.
  void close(std::uint16_t code = 1000);
  // Closes the TCP connection at once (a cut, not a goodbye).
  void abort();

  bool is_open() const { return open_; }
  std::size_t queued_bytes() const { return queued_bytes_; }

 private:
  struct Outgoing {
    std::uint8_t opcode;
    std::shared_ptr<const std::string> payload;
  };
  // The WebSockets of one network thread that queued frames since its last flush. They are
  // written after the handlers that queued them: a socket that gets several frames in one pass
  // (a batch of deliveries, an ack beside a broadcast) sends them in one gathered write, and no
  // frame waits for anything but the end of the current pass.
  // One per io_context (a network thread runs one).
  class PendingFlushes : public boost::asio::execution_context::service {
   public:
    using key_type = PendingFlushes;
    static inline boost::asio::execution_context::id id;
    explicit PendingFlushes(boost::asio::execution_context& context)
        : boost::asio::execution_context::service(context) {}
    void flush();
    std::vector<std::shared_ptr<WebSocket>> sockets;

   private:
    void shutdown() override;
    std::vector<std::shared_ptr<WebSocket>> flushing_;
  };

  void wait_readable();
  void on_readable(const boost::system::error_code& ec);
  bool deliver_buffered();
  void stop_reading();
  void enqueue(std::uint8_t opcode, std::shared_ptr<const std::string> payload);
  void write_queued();
  std::size_t consume(std::size_t sent);
  void wait_writable();
  bool stop_with_close(std::uint16_t code);

  // A socket (plain or TLS), not a beast::tcp_stream: timeouts are the heartbeat's job, and the
  // stream's timer state cost about 500 bytes per idle connection.
  net::SocketStream stream_;
  PendingFlushes& pending_;  // of stream_'s io_context
  std::size_t max_message_;
  boost::beast::flat_buffer buffer_;  // received bytes not parsed yet
  MessageHandler on_message_;
  EndHandler on_end_;
  std::string assembling_;  // a fragmented message so far
  bool in_message_ = false;
  bool message_binary_ = false;
  // A vector, not a deque: an empty std::deque allocates over 500 bytes, on every idle connection.
  std::vector<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t head_written_ = 0;  // bytes of queue_.front() that a partial write already sent
  bool writing_ = false;          // a flush of this socket is due, or a write waits for room
  bool open_ = true;
  bool closing_ = false;  // a close frame is queued: nothing more is sent after it
};

}  // namespace chatd::engineio
