#include "engineio/ws_frame.h"

#include <openssl/sha.h>
#include <sodium.h>

namespace chatd::engineio {

namespace ws {

Parse parse_header(std::string_view bytes, FrameHeader& header) {
  if (bytes.size() < 2) return Parse::need_more;
  const auto b0 = static_cast<std::uint8_t>(bytes[0]);
  const auto b1 = static_cast<std::uint8_t>(bytes[1]);
  header.fin = (b0 & 0x80) != 0;
  header.opcode = b0 & 0x0F;
  header.masked = (b1 & 0x80) != 0;
  if ((b0 & 0x70) != 0) return Parse::invalid;  // RSV bits: no extension was negotiated
  const bool control = (header.opcode & 0x08) != 0;
  const bool known = header.opcode <= Opcode::binary ||
                     (header.opcode >= Opcode::close && header.opcode <= Opcode::pong);
  if (!known) return Parse::invalid;
  std::size_t size = 2;
  std::uint64_t length = b1 & 0x7F;
  if (length == 126 || length == 127) {
    const std::size_t extra = length == 126 ? 2 : 8;
    if (bytes.size() < size + extra) return Parse::need_more;
    length = 0;
    for (std::size_t i = 0; i < extra; ++i) {
      length = (length << 8) | static_cast<std::uint8_t>(bytes[size + i]);
    }
    size += extra;
    if (extra == 8 && (length >> 63) != 0) return Parse::invalid;
  }
  if (control && (!header.fin || length > 125)) return Parse::invalid;
  if (header.masked) {
    if (bytes.size() < size + 4) return Parse::need_more;
    for (std::size_t i = 0; i < 4; ++i) header.mask[i] = static_cast<std::uint8_t>(bytes[size + i]);
    size += 4;
  }
  header.length = length;
  header.size = size;
  return Parse::ok;
}

std::size_t write_header(std::uint8_t opcode, std::uint64_t length, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(0x80 | opcode);
  if (length < 126) {
    out[1] = static_cast<std::uint8_t>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
  return 10;
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(client_key);
  input += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  char encoded[sodium_base64_ENCODED_LEN(SHA_DIGEST_LENGTH, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(encoded, sizeof encoded, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
  return encoded;
}

}  // namespace ws

}  // namespace chatd::engineio
