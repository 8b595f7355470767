#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// RFC 6455 framing, as pure functions (parsed and fuzzed apart from any socket):
//
//   frame:  FIN|RSV|opcode  MASK|len7  [len16 | len64]  [mask key x4]  payload
//   client frames are masked; server frames are not.
namespace chatd::engineio {

namespace ws {

enum Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

struct FrameHeader {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::uint64_t length = 0;
  std::array<std::uint8_t, 4> mask{};
  std::size_t size = 0;  // bytes of the header itself
};

enum class Parse { need_more, ok, invalid };

// Reads a frame header from the start of `bytes`. `invalid`: reserved bits or opcodes, a control
// frame that is fragmented or longer than 125 bytes, a 64-bit length with the top bit set.
Parse parse_header(std::string_view bytes, FrameHeader& header);

// Writes an unmasked server frame header for `length` payload bytes; returns its size (2..10).
std::size_t write_header(std::uint8_t opcode, std::uint64_t length, std::uint8_t* out);
// The size write_header gives for `length` payload bytes.
constexpr std::size_t header_size(std::uint64_t length) {
  return length < 126 ? 2 : length <= 0xFFFF ? 4 : 10;
}

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);

}  // namespace ws

}  // namespace chatd::engineio
