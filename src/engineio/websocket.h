#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engineio/packet.h"
#include "engineio/ws_frame.h"
#include "net/http.h"

// The server side of RFC 6455, written for one purpose: frames queued for a client while a write
// is in flight leave together in ONE gathered write (one syscall for many messages), which a
// general-purpose stream (one write per message) cannot do. No extensions are negotiated.
namespace chatd::engineio {

class WebSocket : public std::enable_shared_from_this<WebSocket> {
 public:
  WebSocket(boost::asio::ip::tcp::socket socket, std::size_t max_message);

  // Answers an upgrade request with 101; refuses a malformed one with 400 and returns false.
  boost::asio::awaitable<bool> accept(const net::HttpRequest& request);

  // Reads the next data message (pings are answered on the way). False once the connection is
  // over: closed by the peer, broken, a protocol violation, or a message above max_message (each
  // answered with the close code RFC 6455 asks for).
  boost::asio::awaitable<bool> read(std::string& message, bool& binary);

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
  boost::asio::awaitable<bool> receive();
  void enqueue(std::uint8_t opcode, std::shared_ptr<const std::string> payload);
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<WebSocket> self);
  void fail(std::uint16_t code);

  // A plain socket, not a beast::tcp_stream: timeouts are the heartbeat's job, and the stream's
  // timer state cost about 500 bytes per idle connection.
  boost::asio::ip::tcp::socket socket_;
  std::size_t max_message_;
  boost::beast::flat_buffer buffer_;
  // A vector, not a deque: an empty std::deque allocates over 500 bytes, on every idle connection.
  std::vector<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool open_ = true;
  bool closing_ = false;  // a close frame is queued: nothing more is sent after it
};

}  // namespace chatd::engineio
