#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Engine.IO v4 packets and their two encodings: one packet per WebSocket frame, and HTTP
// long-polling payloads that join packets with the record separator 0x1E.
//
//   text packet:   <type digit><data>          "4hello"     (message "hello")
//   binary packet: WebSocket: the raw bytes; polling: "b" + base64(bytes)
//   payload:       "4hello\x1e2\x1ebAQID"       (message, ping, binary message 01 02 03)
namespace chatd::engineio {

enum class PacketType : std::uint8_t {
  open = 0,
  close = 1,
  ping = 2,
  pong = 3,
  message = 4,
  upgrade = 5,
  noop = 6,
};

struct Packet {
  PacketType type = PacketType::message;
  std::string data;
  bool binary = false;  // only message packets carry binary data

  bool operator==(const Packet&) const = default;
};

inline constexpr char kRecordSeparator = '\x1e';

// One packet encoded once, shared read-only by every socket it is sent to, on any thread.
struct Frame {
  std::shared_ptr<const std::string> bytes;  // text: "<type digit><data>"; binary: the raw bytes
  bool binary = false;

  static Frame text(PacketType type, std::string_view data);
  static Frame binary_message(std::string bytes);
  std::size_t size() const { return bytes->size(); }
};

// Appends one frame, as it travels inside a polling payload.
void append_to_payload(std::string& payload, const Frame& frame);

// One packet as a WebSocket text frame (binary packets are sent as their raw bytes instead).
std::string encode_text(const Packet& packet);

// Appends one packet, as it travels inside a polling payload.
void append_to_payload(std::string& payload, const Packet& packet);

// A WebSocket frame to a packet; nullopt when it is not a valid Engine.IO packet.
std::optional<Packet> decode_frame(std::string_view frame, bool binary);

// A polling payload to its packets; nullopt when any part is invalid (the session is then closed).
std::optional<std::vector<Packet>> decode_payload(std::string_view payload);

}  // namespace chatd::engineio
