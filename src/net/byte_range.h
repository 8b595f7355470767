#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

// The Range header of a download (RFC 9110 section 14): one range of bytes, as video players and
// resumed downloads ask for. A request for several ranges gets the whole file (the server may
// ignore Range), which spares multipart/byteranges replies nobody needs here.
namespace chatd::net {

// Bytes first..last of the representation, both included.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

struct WholeBody {};      // no Range, one that does not parse, or several ranges: 200
struct Unsatisfiable {};  // a valid range that starts past the end: 416

using RangeRequest = std::variant<WholeBody, ByteRange, Unsatisfiable>;

// `header` is the Range header's value (empty when absent); `size` the representation's length.
// "bytes=a-b", "bytes=a-" and "bytes=-n" (the last n bytes); `last` is clamped to the end.
RangeRequest parse_range(std::string_view header, std::uint64_t size);

}  // namespace chatd::net
