#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

// A streaming reader of multipart/form-data bodies (RFC 7578 over RFC 2046 section 5.1), for
// uploads that must never sit whole in memory: the body is fed in chunks as it arrives and comes
// out as each part's headers and then its bytes, in pieces that point into the chunks.
//
// It is a pull parser, so that a coroutine can await between pieces (write them to a file, hash
// them) without the reader buffering anything meanwhile:
//
//   MultipartReader reader(boundary);
//   for each chunk of the body:
//     reader.feed(chunk);
//     for (;;) {
//       auto event = reader.next();          // an error: answer 400 with its message
//       if (event->kind == need_input) break;
//       part_begin: reader.part() has the headers; part_data: event->data; part_end; done
//     }
//   reader.finish();                          // ok only if the close delimiter was read
//
// Memory: the reader holds back at most boundary.size() + 5 bytes of a part's body between
// chunks (a delimiter may straddle them; those bytes are always a prefix of the delimiter, so
// they are kept as a count, not copied) plus the headers of the current part, up to
// MultipartLimits::max_header_bytes. buffered() reports both.
//
// What it accepts:
// - An optional preamble, then "--boundary" at the start of the body or after a CRLF; every
//   later delimiter is CRLF "--boundary". After a delimiter, transport padding (spaces and tabs)
//   then CRLF; after the close delimiter "--boundary--", padding then the end of the body or
//   CRLF and an epilogue, which is ignored. "--boundary" followed by anything else (a longer
//   boundary, "-x") is part of the data, as RFC 2046 lets one boundary be a prefix of another.
// - Header lines ending in CRLF (a bare LF or CR is an error), no obsolete line folding.
//   Content-Disposition is required: type form-data (any case) with a name parameter; filename
//   is optional; both as a token or a quoted-string with backslash escapes (no percent-decoding:
//   browsers send `"` as %22 and that is what filename holds). filename*=UTF-8''percent-encoded
//   (RFC 5987; RFC 7578 tells senders not to use it, but some client libraries do) is supported
//   and wins over filename; any other charset is an error. name and filename must be UTF-8.
//   Content-Type is kept as sent; Content-Transfer-Encoding other than 7bit, 8bit or binary is
//   an error (RFC 7578 section 4.7: it is deprecated, and data read as-is would be wrong). Each
//   of these three headers may appear once; any other header is ignored.
// Every error is Errc::invalid_input with a message a client can read, and sticks: next() and
// finish() keep returning it.
namespace chatd::net {

// The boundary of a "multipart/form-data; boundary=..." Content-Type (type, subtype and parameter
// names in any case; the value a token or a quoted-string; other parameters ignored): 1 to 70
// characters of RFC 2046's bchars, not ending in a space. invalid_input for anything else.
Result<std::string> multipart_boundary(std::string_view content_type);

struct MultipartLimits {
  // All header lines of one part, CRLFs and the blank line that ends them included.
  std::size_t max_header_bytes = std::size_t{8} * 1024;
  std::size_t max_parts = 16;
};

struct PartHeaders {
  std::string name;  // Content-Disposition's name
  // filename* or filename; absent for a plain field. The client's word: never use it as a path.
  std::optional<std::string> filename;
  // As sent, without surrounding white space; empty when absent (RFC 7578: text/plain).
  std::string content_type;

  friend bool operator==(const PartHeaders&, const PartHeaders&) = default;
};

struct MultipartEvent {
  enum class Kind {
    need_input,  // everything fed so far is used up: feed() the next chunk (or finish())
    part_begin,  // a part starts: MultipartReader::part() has its headers
    part_data,   // the next bytes of the current part's body, in `data` (never empty)
    part_end,    // the current part's body is complete
    done,        // the close delimiter was read (finish() still checks what follows it)
  };
  Kind kind = Kind::need_input;
  // part_data only. Points into the fed chunk (or the reader, for bytes held back from the
  // previous chunk): valid until the next call to feed() and while that chunk lives.
  std::string_view data;
};

class MultipartReader {
 public:
  // `boundary` as multipart_boundary returns it; with an invalid one, next() reports an error.
  explicit MultipartReader(std::string_view boundary, MultipartLimits limits = {});

  // The next chunk of the body (empty is fine). Only once next() has returned need_input: the
  // reader keeps a view of `chunk`, which must stay alive and unchanged until then.
  void feed(std::string_view chunk);

  // The next event from the input fed so far.
  Result<MultipartEvent> next();

  // At the end of the body, once next() has returned need_input: ok when the body ended after
  // the close delimiter (and its padding, CRLF and epilogue, if any); an error when it was
  // truncated or next() failed.
  Status finish() const;

  // The headers of the current part, from part_begin until the next part_begin.
  const PartHeaders& part() const { return part_; }

  // Bytes held back from the body (a possible delimiter at the end of the last chunk) plus the
  // current part's headers read so far: at most max_header_bytes + boundary.size() + 5.
  std::size_t buffered() const;

 private:
  enum class State {
    preamble,           // before the first delimiter: discarded
    delimiter_padding,  // after "--boundary": spaces and tabs, then CR
    delimiter_lf,       // after the CR that ends a delimiter line
    headers,            // a part's header lines, into header_buf_
    body,               // a part's body: data until CRLF "--boundary"
    closing,            // after "--boundary--": report done
    close_padding,      // after done: spaces and tabs, then the end or CR
    close_lf,           // the LF after a close delimiter's CR
    epilogue,           // discarded
    failed,
  };

  // Each returns the event to report, or nullopt to go on (with what is left, or a new state_).
  std::optional<MultipartEvent> scan_for_delimiter();
  std::optional<MultipartEvent> read_headers();
  void fail(std::string message);

  std::string pattern_;  // CRLF "--" boundary "-": the delimiter and the close's first dash
  std::size_t delimiter_size_ = 0;  // pattern_ without its last dash
  MultipartLimits limits_;
  State state_ = State::preamble;
  // Bytes of pattern_ matched at the end of the input read so far and not yet reported. Starts
  // at 2, as if a CRLF came before the body, so that it may begin with "--boundary".
  std::size_t matched_ = 2;
  std::string_view input_;  // the unread rest of the last chunk
  std::string header_buf_;  // the current part's header lines so far
  std::size_t line_start_ = 0;
  std::size_t parts_ = 0;
  PartHeaders part_;
  std::optional<Error> error_;
};

}  // namespace chatd::net
