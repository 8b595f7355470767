#include "net/byte_range.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "util/text.h"

namespace chatd::net {

namespace {

// A run of digits and nothing else (no sign, no spaces): RFC 9110's 1*DIGIT.
std::optional<std::uint64_t> digits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

RangeRequest parse_range(std::string_view header, std::uint64_t size) {
  header = text::trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || !text::iequals(header.substr(0, kUnit.size()), kUnit)) {
    return WholeBody{};
  }
  const auto spec = text::trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return WholeBody{};
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return WholeBody{};
  const auto first_text = spec.substr(0, dash);
  const auto last_text = spec.substr(dash + 1);
  if (first_text.empty()) {  // a suffix: the last n bytes
    const auto suffix = digits(last_text);
    if (!suffix) return WholeBody{};
    if (*suffix == 0 || size == 0) return Unsatisfiable{};
    const auto length = std::min(*suffix, size);
    return ByteRange{size - length, size - 1};
  }
  const auto first = digits(first_text);
  if (!first) return WholeBody{};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto asked = digits(last_text);
    if (!asked || *asked < *first) return WholeBody{};  // invalid: the field is ignored
    last = std::min(*asked, last);
  }
  if (*first >= size) return Unsatisfiable{};
  return ByteRange{*first, last};
}

}  // namespace chatd::net
