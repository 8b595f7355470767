#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Socket.IO v5 packets, carried in Engine.IO message packets:
//
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
//
//   2["chat","hi"]                  EVENT to "/"
//   2/admin,13["x",1]               EVENT to "/admin" with ack id 13
//   451-["up",{"_placeholder":true,"num":0}]  BINARY_EVENT with one attachment, which follows as
//                                   a binary Engine.IO message
namespace chatd::socketio {

enum class PacketType : std::uint8_t {
  connect = 0,
  disconnect = 1,
  event = 2,
  ack = 3,
  connect_error = 4,
  binary_event = 5,
  binary_ack = 6,
};

// Event arguments with their binary parts: the JSON holds {"_placeholder":true,"num":i} where
// binary i goes. Kept in this form end to end, so a relay never rebuilds or re-encodes binaries.
struct Payload {
  boost::json::array args;
  std::vector<std::string> binaries;
};

struct Packet {
  PacketType type = PacketType::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> ack_id;
  std::optional<boost::json::value> data;  // absent for DISCONNECT (and CONNECT without auth)
  std::size_t attachments = 0;             // binary parts that follow (BINARY_EVENT / BINARY_ACK)
};

// The reference parser's bound on attachments per packet.
inline constexpr std::size_t kMaxAttachments = 10;

// The packet's text part (its binary parts travel as separate binary messages).
std::string encode(const Packet& packet);

// A text message from a client to a packet; nullopt when it is malformed or its payload is not
// valid for its type (the connection is then closed, as the reference server does):
// CONNECT carries an object or nothing, DISCONNECT nothing, ACK an array, EVENT a non-empty array
// whose first element is a number or a string that is not a reserved event name.
std::optional<Packet> decode(std::string_view text);

// Event names a client may not send: they are the server's own.
bool is_reserved_event(std::string_view name);

}  // namespace chatd::socketio
