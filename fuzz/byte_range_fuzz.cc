// The Range header of a download on arbitrary bytes ("<size as 8 bytes><header>"): must never
// crash, and a range it grants always lies inside the representation, first <= last < size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <variant>

#include "net/byte_range.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t length = 0;
  if (size >= sizeof length) {
    std::memcpy(&length, data, sizeof length);
    data += sizeof length;
    size -= sizeof length;
  }
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const auto range = chatd::net::parse_range(header, length);
  if (const auto* bytes = std::get_if<chatd::net::ByteRange>(&range)) {
    if (bytes->first > bytes->last || bytes->last >= length) std::abort();
  }
  return 0;
}
