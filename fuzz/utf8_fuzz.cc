// The UTF-8 validator against an independent oracle: Boost.JSON, which refuses invalid UTF-8 in a
// string. Both must agree on every input, and the character count must fit the byte count.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "util/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const bool valid = chatd::text::is_valid_utf8(input);

  std::string document = "\"";
  for (unsigned char c : input) {
    if (c < 0x20 || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      document += "\\u00";
      document += kHex[c >> 4];
      document += kHex[c & 0xF];
    } else {
      document += static_cast<char>(c);
    }
  }
  document += '"';
  boost::json::error_code ec;
  boost::json::parse(document, ec);
  if (valid != !ec) std::abort();
  if (valid && chatd::text::utf8_length(input) > input.size()) std::abort();
  const auto trimmed = chatd::text::trim(input);
  if (valid && !chatd::text::is_valid_utf8(trimmed)) std::abort();
  return 0;
}
