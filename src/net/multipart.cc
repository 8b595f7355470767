#include "net/multipart.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "util/text.h"

namespace chatd::net {

namespace {

using Kind = MultipartEvent::Kind;

constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 section 5.1.1

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view skip_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_ows(std::string_view s) {
  s = skip_ows(s);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A control character other than HT (RFC 9110 forbids them in field values).
bool is_ctl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// RFC 2046 bchars: what a boundary is made of.
bool is_bchar(char c) {
  return is_alnum(c) || std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

bool valid_boundary(std::string_view b) {
  return !b.empty() && b.size() <= kMaxBoundary && b.back() != ' ' &&
         std::all_of(b.begin(), b.end(), is_bchar);
}

// The token at the front of `s`, removed from it (empty when there is none).
std::string_view read_token(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() && is_tchar(s[n])) ++n;
  const auto token = s.substr(0, n);
  s.remove_prefix(n);
  return token;
}

// The quoted-string at the front of `s` (which starts with '"'), unescaped and removed from it;
// nullopt when it does not end.
std::optional<std::string> read_quoted(std::string_view& s) {
  std::string out;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '"') {
      s.remove_prefix(i + 1);
      return out;
    }
    if (s[i] == '\\') {
      if (++i == s.size()) break;
    }
    out += s[i];
  }
  return std::nullopt;
}

struct Parameter {
  std::string name;  // lower-cased
  std::string value;
};

// `*( OWS ";" OWS name OWS "=" OWS ( token / quoted-string ) ) OWS`, the parameters of a
// Content-Type or a Content-Disposition. White space around "=" and a trailing ";" are allowed,
// as the common parsers do.
Result<std::vector<Parameter>> parse_parameters(std::string_view rest, std::string_view header) {
  const auto error = [&](std::string_view what) {
    return make_error(Errc::invalid_input, std::string(header) + ": " + std::string(what));
  };
  std::vector<Parameter> params;
  for (;;) {
    rest = skip_ows(rest);
    if (rest.empty()) return params;
    if (rest.front() != ';') return error("expected ';' before a parameter");
    rest = skip_ows(rest.substr(1));
    if (rest.empty()) return params;
    const auto name = read_token(rest);
    if (name.empty()) return error("a parameter name is not a token");
    rest = skip_ows(rest);
    if (rest.empty() || rest.front() != '=') return error("a parameter has no value");
    rest = skip_ows(rest.substr(1));
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      auto quoted = read_quoted(rest);
      if (!quoted) return error("a quoted string does not end");
      value = std::move(*quoted);
    } else {
      const auto token = read_token(rest);
      if (token.empty()) return error("a parameter value is neither a token nor a quoted string");
      value = token;
    }
    params.push_back({text::ascii_lower(name), std::move(value)});
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5987 attr-char.
bool is_attr_char(char c) {
  return is_alnum(c) || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
}

// An RFC 5987 ext-value, `charset "'" [ language ] "'" value-chars`, in UTF-8 only.
Result<std::string> decode_ext_value(std::string_view ext) {
  const auto error = [](const char* what) {
    return make_error(Errc::invalid_input, std::string("Content-Disposition: filename* ") + what);
  };
  const auto quote = ext.find('\'');
  const auto second = quote == std::string_view::npos ? quote : ext.find('\'', quote + 1);
  if (second == std::string_view::npos) return error("is not charset'language'value");
  if (!text::iequals(ext.substr(0, quote), "utf-8")) return error("must be in UTF-8");
  std::string out;
  for (std::size_t i = second + 1; i < ext.size(); ++i) {
    if (ext[i] == '%') {
      const int hi = i + 2 < ext.size() ? hex_value(ext[i + 1]) : -1;
      const int lo = hi < 0 ? -1 : hex_value(ext[i + 2]);
      if (lo < 0) return error("has a bad percent escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (is_attr_char(ext[i])) {
      out += ext[i];
    } else {
      return error("has a character that must be percent-encoded");
    }
  }
  return out;
}

Status parse_disposition(std::string_view value, PartHeaders& part) {
  const auto error = [](const char* what) {
    return make_error(Errc::invalid_input, std::string("Content-Disposition: ") + what);
  };
  if (!text::iequals(read_token(value), "form-data")) return error("the type must be form-data");
  auto params = parse_parameters(value, "Content-Disposition");
  if (!params) return std::move(params).take_error();
  std::optional<std::string> name;
  std::optional<std::string> filename;
  std::optional<std::string> ext_filename;
  for (auto& param : *params) {
    std::optional<std::string>* slot = param.name == "name"        ? &name
                                       : param.name == "filename"  ? &filename
                                       : param.name == "filename*" ? &ext_filename
                                                                   : nullptr;
    if (slot == nullptr) continue;
    if (slot->has_value()) return error("a parameter appears twice");
    *slot = std::move(param.value);
  }
  if (!name) return error("there is no name parameter");
  if (ext_filename) {
    auto decoded = decode_ext_value(*ext_filename);
    if (!decoded) return std::move(decoded).take_error();
    filename = std::move(*decoded);
  }
  if (!text::is_valid_utf8(*name)) return error("the name is not UTF-8");
  if (filename && !text::is_valid_utf8(*filename)) return error("the filename is not UTF-8");
  part.name = std::move(*name);
  part.filename = std::move(filename);
  return {};
}

// A part's header lines, each ending in CRLF (the blank line that ends them left out).
Result<PartHeaders> parse_part_headers(std::string_view block) {
  const auto error = [](std::string message) {
    return make_error(Errc::invalid_input, std::move(message));
  };
  PartHeaders part;
  bool has_disposition = false;
  bool has_type = false;
  bool has_encoding = false;
  while (!block.empty()) {
    // Every line ends in CRLF (read_headers saw to it).
    const auto end = std::min(block.find("\r\n"), block.size());
    const auto line = block.substr(0, end);
    block.remove_prefix(std::min(end + 2, block.size()));
    if (std::any_of(line.begin(), line.end(), is_ctl)) {
      return error("a part's header line holds a control character");
    }
    if (!line.empty() && is_ows(line.front()))
      return error("folded header lines are not supported");
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    if (colon == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), is_tchar)) {
      return error("a part's header line is not `Name: value`");
    }
    const auto value = trim_ows(line.substr(colon + 1));
    const auto once = [&](bool& seen) {
      const bool first = !seen;
      seen = true;
      return first;
    };
    const auto twice = [&] { return error("a part has two " + std::string(name) + " headers"); };
    if (text::iequals(name, "content-disposition")) {
      if (!once(has_disposition)) return twice();
      auto parsed = parse_disposition(value, part);
      if (!parsed) return std::move(parsed).take_error();
    } else if (text::iequals(name, "content-type")) {
      if (!once(has_type)) return twice();
      part.content_type = value;
    } else if (text::iequals(name, "content-transfer-encoding")) {
      if (!once(has_encoding)) return twice();
      if (!text::iequals(value, "binary") && !text::iequals(value, "8bit") &&
          !text::iequals(value, "7bit")) {
        return error("Content-Transfer-Encoding must be binary, 8bit or 7bit");
      }
    }
  }
  if (!has_disposition) return error("a part has no Content-Disposition header");
  return part;
}

MultipartEvent event(Kind kind, std::string_view data = {}) {
  return MultipartEvent{kind, data};
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const auto error = [](const char* what) {
    return make_error(Errc::invalid_input, std::string("Content-Type: ") + what);
  };
  if (std::any_of(content_type.begin(), content_type.end(), is_ctl)) {
    return error("holds a control character");
  }
  auto rest = skip_ows(content_type);
  const auto type = read_token(rest);
  if (rest.empty() || rest.front() != '/') return error("must be multipart/form-data");
  rest.remove_prefix(1);
  const auto subtype = read_token(rest);
  if (!text::iequals(type, "multipart") || !text::iequals(subtype, "form-data")) {
    return error("must be multipart/form-data");
  }
  auto params = parse_parameters(rest, "Content-Type");
  if (!params) return std::move(params).take_error();
  std::optional<std::string> boundary;
  for (auto& param : *params) {
    if (param.name != "boundary") continue;
    if (boundary) return error("has two boundary parameters");
    boundary = std::move(param.value);
  }
  if (!boundary) return error("has no boundary parameter");
  if (!valid_boundary(*boundary)) {
    return error(
        "the boundary must be 1 to 70 letters, digits, spaces or '()+_,-./:=? and not end in a "
        "space");
  }
  return std::move(*boundary);
}

MultipartReader::MultipartReader(std::string_view boundary, MultipartLimits limits)
    : limits_(limits) {
  if (!valid_boundary(boundary)) {
    fail("invalid multipart boundary");
    return;
  }
  pattern_ = "\r\n--";
  pattern_ += boundary;
  pattern_ += '-';
  delimiter_size_ = pattern_.size() - 1;
}

void MultipartReader::fail(std::string message) {
  error_ = make_error(Errc::invalid_input, "multipart body: " + std::move(message));
  state_ = State::failed;
  input_ = {};
}

void MultipartReader::feed(std::string_view chunk) {
  if (state_ == State::failed) return;
  if (!input_.empty()) {
    // A caller's bug, not the client's: the unread bytes would be lost.
    error_ = make_error(Errc::internal, "MultipartReader::feed before the last chunk was read");
    state_ = State::failed;
    input_ = {};
    return;
  }
  input_ = chunk;
}

std::size_t MultipartReader::buffered() const {
  const bool holding = state_ == State::preamble || state_ == State::body;
  return header_buf_.size() + (holding ? matched_ : 0);
}

Result<MultipartEvent> MultipartReader::next() {
  for (;;) {
    switch (state_) {
      case State::failed:
        return *error_;
      case State::preamble:
      case State::body:
        if (auto e = scan_for_delimiter()) return *e;
        break;
      case State::delimiter_padding:
        input_ = skip_ows(input_);
        if (input_.empty()) return event(Kind::need_input);
        if (input_.front() != '\r') {
          fail(input_.front() == '\n'
                   ? "a boundary delimiter line must end in CRLF, not a bare LF"
                   : "a boundary delimiter is followed by more than white space");
          break;
        }
        input_.remove_prefix(1);
        state_ = State::delimiter_lf;
        break;
      case State::delimiter_lf:
        if (input_.empty()) return event(Kind::need_input);
        if (input_.front() != '\n') {
          fail("a boundary delimiter line must end in CRLF");
          break;
        }
        input_.remove_prefix(1);
        if (parts_ == limits_.max_parts) {
          fail("more than " + std::to_string(limits_.max_parts) + " parts");
          break;
        }
        ++parts_;
        header_buf_.clear();
        line_start_ = 0;
        state_ = State::headers;
        break;
      case State::headers:
        if (auto e = read_headers()) return *e;
        break;
      case State::closing:
        state_ = State::close_padding;
        return event(Kind::done);
      case State::close_padding:
        input_ = skip_ows(input_);
        if (input_.empty()) return event(Kind::need_input);
        if (input_.front() != '\r') {
          fail(input_.front() == '\n' ? "the close delimiter line must end in CRLF, not a bare LF"
                                      : "the close delimiter is followed by more than white space");
          break;
        }
        input_.remove_prefix(1);
        state_ = State::close_lf;
        break;
      case State::close_lf:
        if (input_.empty()) return event(Kind::need_input);
        if (input_.front() != '\n') {
          fail("the close delimiter line must end in CRLF");
          break;
        }
        input_ = {};
        state_ = State::epilogue;
        break;
      case State::epilogue:
        input_ = {};
        return event(Kind::need_input);
    }
  }
}

// The preamble and a part's body: everything up to CRLF "--boundary" and a byte that makes it a
// delimiter. In the body those bytes are the part's data, reported as they are found; in the
// preamble they are dropped. A delimiter's bytes are held back (as matched_) until they are known
// to be one; if they turn out to be data, they are reported from pattern_, which holds the same
// bytes.
std::optional<MultipartEvent> MultipartReader::scan_for_delimiter() {
  const bool body = state_ == State::body;
  const auto data = [body](std::string_view bytes) -> std::optional<MultipartEvent> {
    if (!body || bytes.empty()) return std::nullopt;
    return event(Kind::part_data, bytes);
  };
  const std::string_view delimiter(pattern_.data(), delimiter_size_);

  if (matched_ == 0) {
    if (input_.empty()) return event(Kind::need_input);
    std::string_view before;
    if (const auto at = input_.find(delimiter); at != std::string_view::npos) {
      before = input_.substr(0, at);
      input_.remove_prefix(at + delimiter_size_);
      matched_ = delimiter_size_;
    } else {
      // The chunk may end in the first bytes of a delimiter. No boundary character is a CR, so
      // only the last CR of the tail can start one.
      const auto tail = input_.substr(input_.size() - std::min(input_.size(), delimiter_size_ - 1));
      const auto cr = tail.rfind('\r');
      if (cr != std::string_view::npos && delimiter.starts_with(tail.substr(cr))) {
        matched_ = tail.size() - cr;
      }
      before = input_.substr(0, input_.size() - matched_);
      input_ = {};
    }
    return data(before);
  }

  if (matched_ < delimiter_size_) {
    while (matched_ < delimiter_size_ && !input_.empty() && input_.front() == pattern_[matched_]) {
      ++matched_;
      input_.remove_prefix(1);
    }
    if (matched_ == delimiter_size_) return std::nullopt;
    if (input_.empty()) return event(Kind::need_input);
    // Not a delimiter: the bytes held back are data, and the one that broke the match is read
    // afresh (it may be the CR of a delimiter). None of the held bytes but the first is a CR, so
    // no delimiter starts inside them.
    const std::string_view held(pattern_.data(), matched_);
    matched_ = 0;
    return data(held);
  }

  // CRLF "--boundary" (and maybe one more '-') read: the next byte tells whether it is a delimiter.
  if (input_.empty()) return event(Kind::need_input);
  const char c = input_.front();
  if (matched_ == delimiter_size_) {
    if (c == '-') {
      ++matched_;
      input_.remove_prefix(1);
      return std::nullopt;
    }
    if (is_ows(c) || c == '\r' || c == '\n') {  // a bare LF fails in delimiter_padding
      matched_ = 0;
      state_ = State::delimiter_padding;
      return body ? std::optional(event(Kind::part_end)) : std::nullopt;
    }
  } else if (c == '-') {
    input_.remove_prefix(1);
    matched_ = 0;
    state_ = State::closing;
    return body ? std::optional(event(Kind::part_end)) : std::nullopt;
  }
  // "--boundaryX" or "--boundary-X": another boundary that starts with this one, so data.
  const std::string_view held(pattern_.data(), matched_);
  matched_ = 0;
  return data(held);
}

// A part's header lines, up to the blank line, into header_buf_ (within max_header_bytes).
std::optional<MultipartEvent> MultipartReader::read_headers() {
  while (!input_.empty()) {
    const auto lf = input_.find('\n');
    const auto take = lf == std::string_view::npos ? input_.size() : lf + 1;
    if (take > limits_.max_header_bytes - header_buf_.size()) {
      fail("a part's headers are longer than " + std::to_string(limits_.max_header_bytes) +
           " bytes");
      return std::nullopt;
    }
    // Grow by doubling, but never past the limit: capacity stays within max_header_bytes.
    const auto needed = header_buf_.size() + take;
    if (needed > header_buf_.capacity()) {
      header_buf_.reserve(
          std::min(limits_.max_header_bytes, std::max(needed, 2 * header_buf_.capacity())));
    }
    header_buf_.append(input_.substr(0, take));
    input_.remove_prefix(take);
    if (lf == std::string_view::npos) break;

    const auto line = std::string_view(header_buf_).substr(line_start_);
    if (line.size() < 2 || line[line.size() - 2] != '\r') {
      fail("header lines must end in CRLF, not a bare LF");
      return std::nullopt;
    }
    if (line.size() > 2) {
      line_start_ = header_buf_.size();
      continue;
    }
    auto headers = parse_part_headers(std::string_view(header_buf_).substr(0, line_start_));
    if (!headers) {
      fail(std::move(headers).take_error().message);
      return std::nullopt;
    }
    part_ = std::move(*headers);
    state_ = State::body;
    matched_ = 0;
    return event(Kind::part_begin);
  }
  return event(Kind::need_input);
}

Status MultipartReader::finish() const {
  const auto error = [](const char* what) {
    return make_error(Errc::invalid_input, std::string("multipart body: ") + what);
  };
  switch (state_) {
    case State::failed:
      return *error_;
    case State::closing:
    case State::close_padding:
    case State::epilogue:
      if (!input_.empty()) {
        return make_error(Errc::internal, "MultipartReader::finish before the input was read");
      }
      return {};
    case State::preamble:
      if (matched_ < delimiter_size_) {
        return error("no boundary delimiter (\"--\" and the boundary at the start of a line)");
      }
      break;  // "--boundary" and nothing after it
    case State::close_lf:
      return error("the body ends after the CR of the close delimiter's line");
    default:
      break;
  }
  return error("the body ends before the close delimiter (\"--\" boundary \"--\")");
}

}  // namespace chatd::net
