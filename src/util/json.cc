#include "util/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <cmath>
#include <string>

namespace chatd::json {

namespace bj = boost::json;

namespace {

// Builds values like Boost.JSON's own parser does (on a value_stack), except for doubles, which
// are re-read exactly from their text.
struct Handler {
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();

  bj::value_stack stack;
  std::string number;  // the text of a number split across parts

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) { return true; }
  bool on_object_end(std::size_t n, bj::error_code&) {
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(bj::error_code&) { return true; }
  bool on_array_end(std::size_t n, bj::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(bj::string_view s, bj::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code&) {
    number.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view, bj::error_code&) {
    number.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double approximate, bj::string_view s, bj::error_code&) {
    number.append(s.data(), s.size());
    double exact = approximate;
    const auto* end = number.data() + number.size();
    const auto [ptr, ec] = std::from_chars(number.data(), end, exact);
    if (ec == std::errc::result_out_of_range || !std::isfinite(exact)) {
      number.clear();
      stack.push_null();  // beyond a double: null, as JavaScript writes it back
      return true;
    }
    number.clear();
    stack.push_double(ptr == end ? exact : approximate);
    return true;
  }
  bool on_bool(bool b, bj::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(bj::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }
};

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The code unit of the "\uXXXX" escape at `i`, or -1.
int escape_at(std::string_view text, std::size_t i) {
  if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u') return -1;
  int unit = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    if (!is_hex(text[k])) return -1;
    unit = unit * 16 + (text[k] <= '9' ? text[k] - '0' : (text[k] | 0x20) - 'a' + 10);
  }
  return unit;
}

// Rewrites lone surrogate escapes as \ufffd; nullopt when there are none (the common case).
std::optional<std::string> repair_surrogates(std::string_view text) {
  if (text.find("\\u") == std::string_view::npos) return std::nullopt;
  std::string out;
  bool changed = false;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '\\' || i + 1 >= text.size()) {
      out += text[i++];
      continue;
    }
    const int unit = escape_at(text, i);
    if (unit < 0xD800 || unit > 0xDFFF) {  // not a surrogate (or another escape): keep both chars
      out.append(text.substr(i, 2));
      i += 2;
      continue;
    }
    const int next = escape_at(text, i + 6);
    if (unit <= 0xDBFF && next >= 0xDC00 && next <= 0xDFFF) {  // a proper pair
      out.append(text.substr(i, 12));
      i += 12;
      continue;
    }
    out += "\\ufffd";
    changed = true;
    i += 6;
  }
  if (!changed) return std::nullopt;
  return out;
}

// JavaScript's JSON.parse has no nesting limit; this one stops at a depth no real payload reaches
// (Boost.JSON's default of 32 refused ordinary data).
constexpr std::size_t kMaxDepth = 1000;

std::optional<bj::value> parse_exact(std::string_view text) {
  bj::parse_options options;
  options.max_depth = kMaxDepth;
  bj::basic_parser<Handler> parser(options);
  parser.handler().stack.reset();
  bj::error_code ec;
  const auto used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size() || !parser.done()) return std::nullopt;
  return parser.handler().stack.release();
}

}  // namespace

std::optional<bj::value> parse(std::string_view text) {
  if (auto repaired = repair_surrogates(text)) return parse_exact(*repaired);
  return parse_exact(text);
}

}  // namespace chatd::json
