#include "engineio/websocket.h"

#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/beast/http/field.hpp>
#include <cstring>
#include <span>
#include <vector>

#include "util/text.h"

namespace chatd::engineio {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// At most this many frames leave in one gathered write (two iovecs each; IOV_MAX is 1024).
constexpr std::size_t kMaxFramesPerWrite = 64;

std::shared_ptr<const std::string> close_payload(std::uint16_t code) {
  return std::make_shared<const std::string>(
      std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)});
}

}  // namespace

// Liveness is the Engine.IO heartbeat's job; a client that stops reading is cut by the outbound
// byte limit: the socket needs no timeouts of its own. The stream never blocks: reads take only
// what is already there.
WebSocket::WebSocket(net::SocketStream stream, std::size_t max_message)
    : stream_(std::move(stream)),
      pending_(asio::use_service<PendingFlushes>(
          asio::query(stream_.get_executor(), asio::execution::context))),
      max_message_(max_message) {}

// The two answers are fixed text, written as is (the stream may be TLS: no Beast writer over it).
asio::awaitable<bool> WebSocket::accept(const net::HttpRequest& request) {
  const auto key = request[http::field::sec_websocket_key];
  if (request[http::field::sec_websocket_version] != "13" || key.empty()) {
    static constexpr std::string_view kRefusal =
        "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n"
        "Content-Length: 31\r\n\r\nUnsupported WebSocket handshake";
    co_await net::write_all(stream_, asio::buffer(kRefusal));
    abort();
    co_return false;
  }
  std::string upgrade =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  upgrade += ws::accept_key(std::string_view(key.data(), key.size()));
  upgrade += "\r\n\r\n";
  if (co_await net::write_all(stream_, asio::buffer(upgrade))) {
    abort();
    co_return false;
  }
  co_return true;
}

void WebSocket::read_messages(MessageHandler on_message, EndHandler on_end) {
  on_message_ = std::move(on_message);
  on_end_ = std::move(on_end);
  wait_readable();
}

void WebSocket::wait_readable() {
  stream_.async_wait_read(
      [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

// Reads all that is there into this thread's scratch space at once (an idle connection holds no
// read buffer) and keeps it in buffer_ until it is parsed.
void WebSocket::on_readable(const boost::system::error_code& wait_ec) {
  thread_local std::array<char, 65536> scratch;
  if (wait_ec) {
    abort();
    return stop_reading();
  }
  boost::system::error_code ec;
  const auto n = stream_.read_some(asio::buffer(scratch), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
  if (ec) {
    abort();
    return stop_reading();
  }
  const auto space = buffer_.prepare(n);
  std::memcpy(space.data(), scratch.data(), n);
  buffer_.commit(n);
  if (deliver_buffered()) wait_readable();
}

// Parses every complete frame in buffer_ and hands out the messages they complete. False once
// reading is over (stop_reading has run).
bool WebSocket::deliver_buffered() {
  for (;;) {
    const auto data = buffer_.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    ws::FrameHeader header;
    const auto parsed = ws::parse_header(bytes, header);
    if (parsed == ws::Parse::invalid || (parsed == ws::Parse::ok && !header.masked))
      return stop_with_close(1002);
    if (parsed == ws::Parse::ok && header.length + assembling_.size() > max_message_)
      return stop_with_close(1009);
    if (parsed != ws::Parse::ok || bytes.size() < header.size + header.length) {
      // Most connections sit idle between messages: an idle one holds no buffer at all.
      if (buffer_.size() == 0) buffer_.shrink_to_fit();
      return true;
    }
    std::string payload(bytes.data() + header.size, static_cast<std::size_t>(header.length));
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ header.mask[i & 3]);
    buffer_.consume(header.size + static_cast<std::size_t>(header.length));

    switch (header.opcode) {
      case ws::Opcode::ping:
        enqueue(ws::Opcode::pong, std::make_shared<const std::string>(std::move(payload)));
        continue;
      case ws::Opcode::pong:
        continue;
      case ws::Opcode::close: {
        // Echo the peer's status code (if it sent a valid one), then hang up.
        std::uint16_t code = 1000;
        if (payload.size() >= 2) {
          code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                            static_cast<std::uint8_t>(payload[1]));
        }
        return stop_with_close(code >= 1000 && code < 5000 ? code : 1002);
      }
      case ws::Opcode::text:
      case ws::Opcode::binary:
        if (in_message_) return stop_with_close(1002);
        in_message_ = true;
        message_binary_ = header.opcode == ws::Opcode::binary;
        assembling_ = std::move(payload);
        break;
      default:  // continuation
        if (!in_message_) return stop_with_close(1002);
        assembling_ += payload;
        break;
    }
    if (!header.fin) continue;
    if (!message_binary_ && !text::is_valid_utf8(assembling_)) return stop_with_close(1007);
    in_message_ = false;
    if (!on_message_(std::exchange(assembling_, {}), message_binary_)) {
      stop_reading();
      return false;
    }
  }
}

// Reading is over: the owner hears it once, and the handlers (which may hold it) are let go.
void WebSocket::stop_reading() {
  on_message_ = nullptr;
  if (auto on_end = std::exchange(on_end_, nullptr)) on_end();
}

void WebSocket::send(const Frame& frame) {
  if (!open_ || closing_) return;
  enqueue(frame.binary ? ws::Opcode::binary : ws::Opcode::text, frame.bytes);
}

void WebSocket::close(std::uint16_t code) {
  if (!open_ || closing_) return;
  enqueue(ws::Opcode::close, close_payload(code));
  closing_ = true;
}

void WebSocket::abort() {
  open_ = false;
  stream_.close();
}

// Ends reading with a closing handshake that carries `code`; false, for the reader to return.
bool WebSocket::stop_with_close(std::uint16_t code) {
  close(code);
  stop_reading();
  return false;
}

void WebSocket::enqueue(std::uint8_t opcode, std::shared_ptr<const std::string> payload) {
  queued_bytes_ += payload->size();
  queue_.push_back(Outgoing{opcode, std::move(payload)});
  if (writing_) return;  // a flush is due or a write waits for room: it takes this frame too
  writing_ = true;
  if (pending_.sockets.empty())
    asio::post(stream_.get_executor(), [&pending = pending_] { pending.flush(); });
  pending_.sockets.push_back(shared_from_this());
}

void WebSocket::PendingFlushes::flush() {
  std::swap(sockets, flushing_);  // writing may queue more (a closing handshake): the next pass
  for (const auto& ws : flushing_) ws->write_queued();
  flushing_.clear();
}

// Sockets still listed when the io_context goes are released with its other handlers.
void WebSocket::PendingFlushes::shutdown() {
  sockets.clear();
  flushing_.clear();
}

// Writes what is queued with non-blocking gathered writes until the queue is empty or the kernel's
// buffer is full; then waits until the socket is writable and goes on.
void WebSocket::write_queued() {
  std::array<std::array<std::uint8_t, 10>, kMaxFramesPerWrite> headers;
  std::array<iovec, 2 * kMaxFramesPerWrite> iov;
  while (open_ && !queue_.empty()) {
    std::size_t frames = 0;
    std::size_t parts = 0;
    std::size_t skip = head_written_;  // bytes of the first frame already sent
    const auto add = [&](const void* data, std::size_t size) {
      const auto drop = std::min(skip, size);
      skip -= drop;
      if (size > drop)
        iov[parts++] = iovec{const_cast<char*>(static_cast<const char*>(data)) + drop, size - drop};
    };
    bool closes = false;
    for (; frames < queue_.size() && frames < kMaxFramesPerWrite && !closes; ++frames) {
      const auto& out = queue_[frames];
      add(headers[frames].data(),
          ws::write_header(out.opcode, out.payload->size(), headers[frames].data()));
      add(out.payload->data(), out.payload->size());
      closes = out.opcode == ws::Opcode::close;
    }
    boost::system::error_code ec;
    const auto sent = stream_.write_some(std::span<const iovec>(iov.data(), parts), ec);
    if (ec == asio::error::would_block) return wait_writable();
    const auto completed = ec ? 0 : consume(sent);
    if (ec || (closes && completed == frames)) {
      writing_ = false;
      return abort();  // a broken connection, or the close frame is out: hang up
    }
  }
  writing_ = false;
}

// Drops the frames that `sent` bytes (counted from what was left of the first) completed; returns
// how many.
std::size_t WebSocket::consume(std::size_t sent) {
  std::size_t done = 0;
  sent += head_written_;
  for (; done < queue_.size(); ++done) {
    const auto size = ws::header_size(queue_[done].payload->size()) + queue_[done].payload->size();
    if (sent < size) break;
    sent -= size;
    queued_bytes_ -= queue_[done].payload->size();
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(done));
  head_written_ = sent;
  return done;
}

void WebSocket::wait_writable() {
  stream_.async_wait_write([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) return self->write_queued();
    self->writing_ = false;
    self->abort();
  });
}

}  // namespace chatd::engineio
