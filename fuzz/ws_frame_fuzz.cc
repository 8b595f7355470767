// The WebSocket frame header parser on arbitrary bytes: never reads past the input, and every
// header it accepts describes itself consistently (a server header for the same length parses
// back to the same length).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engineio/ws_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::engineio::ws;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  FrameHeader header;
  if (parse_header(bytes, header) != Parse::ok) return 0;
  if (header.size > bytes.size() || header.size < 2 || header.size > 14) std::abort();
  if ((header.opcode & 0x08) && (header.length > 125 || !header.fin)) std::abort();
  std::array<std::uint8_t, 10> out{};
  const auto n = write_header(header.opcode, header.length, out.data());
  FrameHeader again;
  const std::string_view written(reinterpret_cast<const char*>(out.data()), n);
  if (parse_header(written, again) != Parse::ok || again.length != header.length ||
      again.opcode != header.opcode || again.masked) {
    std::abort();
  }
  return 0;
}
