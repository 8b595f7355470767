#include "net/multipart.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chatd::net {
namespace {

using namespace std::literals;
using Kind = MultipartEvent::Kind;
using Lines = std::vector<std::string>;

constexpr std::string_view kBoundary = "XyZ";

// What the reader reports for `chunks`, fed one by one, as lines: "part name=... filename=...
// type=...", "data=<the part's bytes>" (every piece of a part's body run together, so that any
// split of the input gives the same lines), "end", "done", then "ok" or "error: <message>".
// Also checks what must hold whatever the input: no empty data, buffered() within its bound.
Lines run(const std::vector<std::string_view>& chunks, MultipartLimits limits = {},
          std::string_view boundary = kBoundary) {
  Lines lines;
  MultipartReader reader(boundary, limits);
  std::string data;
  bool in_data = false;
  const auto flush = [&] {
    if (in_data) lines.push_back("data=" + data);
    data.clear();
    in_data = false;
  };
  const auto bound = limits.max_header_bytes + boundary.size() + 5;
  for (const auto chunk : chunks) {
    reader.feed(chunk);
    for (;;) {
      auto event = reader.next();
      EXPECT_LE(reader.buffered(), bound);
      if (!event) {
        flush();
        lines.push_back("error: " + event.error().message);
        EXPECT_EQ(event.error().code, Errc::invalid_input);
        EXPECT_FALSE(reader.finish().ok());
        return lines;
      }
      if (event->kind == Kind::need_input) break;
      if (event->kind == Kind::part_data) {
        EXPECT_FALSE(event->data.empty());
        data += event->data;
        in_data = true;
        continue;
      }
      flush();
      switch (event->kind) {
        case Kind::part_begin: {
          const auto& part = reader.part();
          std::string line = "part name=" + part.name;
          if (part.filename) line += " filename=" + *part.filename;
          if (!part.content_type.empty()) line += " type=" + part.content_type;
          lines.push_back(line);
          break;
        }
        case Kind::part_end:
          lines.emplace_back("end");
          break;
        case Kind::done:
          lines.emplace_back("done");
          break;
        default:
          ADD_FAILURE() << "unexpected event";
      }
    }
  }
  flush();
  const auto finished = reader.finish();
  lines.push_back(finished ? "ok" : "error: " + finished.error().message);
  return lines;
}

Lines run_whole(std::string_view input, MultipartLimits limits = {}) {
  return run({input}, limits);
}

// The same lines for the input whole, cut in two at every place, and fed byte by byte.
void expect_split_invariant(std::string_view input, MultipartLimits limits = {}) {
  const auto whole = run_whole(input, limits);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(run({input.substr(0, i), input.substr(i)}, limits), whole) << "split at " << i;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  EXPECT_EQ(run(bytes, limits), whole) << "byte by byte";
}

std::string part(std::string_view headers, std::string_view body) {
  return "--XyZ\r\n"s.append(headers).append("\r\n").append(body).append("\r\n");
}

std::string field(std::string_view name, std::string_view body) {
  return part("Content-Disposition: form-data; name=\"" + std::string(name) + "\"\r\n", body);
}

std::string error_of(const Lines& lines) {
  return lines.empty() ? "" : lines.back();
}

const std::string kUpload =
    "This is the preamble, ignored.\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"caption\"\r\n"
    "\r\n"
    "a holiday\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=\"file\"; filename=\"a b.png\"\r\n"
    "Content-Type: image/png\r\n"
    "X-Ignored: yes\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n\0\r\n--XyZ-is-not-it\r\n--Xy\r\n\r\n"
    "\r\n--XyZ--\r\n"
    "The epilogue, ignored too."s;

const Lines kUploadLines = {
    "part name=caption",
    "data=a holiday",
    "end",
    "part name=file filename=a b.png type=image/png",
    "data=\x89PNG\r\n\x1a\n\0\r\n--XyZ-is-not-it\r\n--Xy\r\n\r\n"s,
    "end",
    "done",
    "ok",
};

TEST(MultipartBoundary, ReadsTokenAndQuotedValues) {
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk"),
            "----WebKitFormBoundary7MA4YWxk");
  EXPECT_EQ(*multipart_boundary("multipart/form-data;boundary=\"a b:c?=(),/+_.'\""),
            "a b:c?=(),/+_.'");
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=\"a\\bc\""), "abc");
  EXPECT_EQ(*multipart_boundary("  multipart/form-data ; boundary = abc "), "abc");
}

TEST(MultipartBoundary, IgnoresCaseAndOtherParameters) {
  EXPECT_EQ(*multipart_boundary("Multipart/Form-Data; BOUNDARY=AbC"), "AbC");
  EXPECT_EQ(*multipart_boundary("multipart/form-data; charset=utf-8; boundary=abc; x=\"a;b\";"),
            "abc");
}

TEST(MultipartBoundary, AcceptsSeventyCharactersAndNoMore) {
  const std::string seventy(70, 'a');
  EXPECT_EQ(*multipart_boundary("multipart/form-data; boundary=" + seventy), seventy);
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + seventy + "a").ok());
}

TEST(MultipartBoundary, RefusesEverythingElse) {
  for (const auto* content_type : {
           "",
           "multipart/form-data",
           "multipart/form-data; charset=utf-8",
           "multipart/mixed; boundary=abc",
           "text/plain; boundary=abc",
           "multipart/form-data-x; boundary=abc",
           "multipart; boundary=abc",
           "multipart/form-data; boundary=",
           "multipart/form-data; boundary=\"\"",
           "multipart/form-data; boundary=\"abc \"",  // ends in a space
           "multipart/form-data; boundary=a@b",
           "multipart/form-data; boundary=\"a@b\"",
           "multipart/form-data; boundary=\"a\\\"b\"",  // '"' is not a boundary character
           "multipart/form-data; boundary=\"abc",
           "multipart/form-data; boundary=abc; boundary=abc",
           "multipart/form-data boundary=abc",
           "multipart/form-data; boundary=a\x01",
           "multipart/form-data; boundary=\"a\rb\"",
       }) {
    const auto boundary = multipart_boundary(content_type);
    ASSERT_FALSE(boundary.ok()) << content_type;
    EXPECT_EQ(boundary.error().code, Errc::invalid_input);
    EXPECT_TRUE(boundary.error().message.starts_with("Content-Type: ")) << content_type;
  }
}

TEST(MultipartReader, ReadsAnUploadWithAFieldAndAFile) {
  EXPECT_EQ(run_whole(kUpload), kUploadLines);
}

TEST(MultipartReader, ReportsTheSameWhereverTheInputIsCut) {
  expect_split_invariant(kUpload);
}

TEST(MultipartReader, DataPointsIntoTheChunks) {
  const std::string input = field("f", "0123456789") + "--XyZ--";
  MultipartReader reader(kBoundary);
  reader.feed(input);
  ASSERT_EQ(reader.next()->kind, Kind::part_begin);
  const auto data = *reader.next();
  ASSERT_EQ(data.kind, Kind::part_data);
  EXPECT_EQ(data.data, "0123456789");
  EXPECT_GE(data.data.data(), input.data());
  EXPECT_LE(data.data.data() + data.data.size(), input.data() + input.size());
}

TEST(MultipartReader, KeepsMemoryBoundedOverALargeBody) {
  std::string body;
  for (int i = 0; body.size() < (1 << 20); ++i) body += "\r\n--XyZ-" + std::to_string(i) + "\r-";
  const std::string input =
      part("Content-Disposition: form-data; name=file; filename=x\r\n", body) + "--XyZ--\r\n";
  for (const std::size_t size : {1, 7, 4096}) {
    std::vector<std::string_view> chunks;
    for (std::size_t at = 0; at < input.size(); at += size) {
      chunks.push_back(std::string_view(input).substr(at, size));
    }
    EXPECT_EQ(run(chunks),
              (Lines{"part name=file filename=x", "data=" + body, "end", "done", "ok"}))
        << size;
  }
}

TEST(MultipartReader, DelimiterLikeBytesInTheDataAreData) {
  const std::vector<std::string> bodies = {
      "\r\n--XyZx",           // a longer boundary
      "\r\n--XyZ-x",          // not the close delimiter either
      "\r\n--XyZ-",           // the same, the part's last bytes
      "\r\n--Xy",             // a prefix of the delimiter, then the real one
      "--XyZ\r\n",            // not at the start of a line
      "a\n--XyZ\r\n",         // after a bare LF
      "\r\r\n\r\n--X\r\n--",  // CRs that start no delimiter
      "\r",                   // a CR just before the delimiter
  };
  for (const auto& body : bodies) {
    const auto input = field("f", body) + "--XyZ--";
    EXPECT_EQ(run_whole(input), (Lines{"part name=f", "data=" + body, "end", "done", "ok"}))
        << body;
    expect_split_invariant(input);
  }
}

TEST(MultipartReader, ReadsEmptyPartsAndEmptyForms) {
  EXPECT_EQ(run_whole(field("a", "") + field("b", "") + "--XyZ--"),
            (Lines{"part name=a", "end", "part name=b", "end", "done", "ok"}));
  EXPECT_EQ(run_whole("--XyZ--"), (Lines{"done", "ok"}));
}

TEST(MultipartReader, AllowsTransportPaddingAfterDelimiters) {
  const auto input =
      "--XyZ \t \r\n"
      "Content-Disposition: form-data; name=a\r\n\r\n"
      "1\r\n--XyZ\t\r\n"
      "Content-Disposition: form-data; name=b\r\n\r\n"
      "2\r\n--XyZ-- \t\r\n"s;
  EXPECT_EQ(run_whole(input),
            (Lines{"part name=a", "data=1", "end", "part name=b", "data=2", "end", "done", "ok"}));
  expect_split_invariant(input);
  EXPECT_EQ(error_of(run_whole("--XyZ x\r\n")),
            "error: multipart body: a boundary delimiter is followed by more than white space");
  EXPECT_EQ(error_of(run_whole(field("a", "1") + "--XyZ-- x")),
            "error: multipart body: the close delimiter is followed by more than white space");
}

TEST(MultipartReader, EndsRightAfterTheCloseDelimiterOrItsLine) {
  const auto body = field("a", "1") + "--XyZ--";
  const Lines lines = {"part name=a", "data=1", "end", "done", "ok"};
  EXPECT_EQ(run_whole(body), lines);
  EXPECT_EQ(run_whole(body + "\r\n"), lines);
  EXPECT_EQ(run_whole(body + "  \r\nanything\r\n--XyZ\r\n"), lines);
}

TEST(MultipartReader, WantsCrlfNotBareLf) {
  const std::string lf_body =
      "--XyZ\n"
      "Content-Disposition: form-data; name=a\n\n"
      "1\n--XyZ--\n";
  EXPECT_EQ(run_whole(lf_body),
            (Lines{"error: multipart body: a boundary delimiter line must end in CRLF, not a "
                   "bare LF"}));
  EXPECT_EQ(run_whole("--XyZ\r\nContent-Disposition: form-data; name=a\n\r\n"),
            (Lines{"error: multipart body: header lines must end in CRLF, not a bare LF"}));
  EXPECT_EQ(error_of(run_whole("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\n")),
            "error: multipart body: header lines must end in CRLF, not a bare LF");
  EXPECT_EQ(error_of(run_whole("--XyZ\rContent-Disposition: form-data; name=a\r\n\r\n")),
            "error: multipart body: a boundary delimiter line must end in CRLF");
  EXPECT_EQ(error_of(run_whole("--XyZ\r\nContent-Disposition: form-data;\r name=a\r\n\r\n")),
            "error: multipart body: a part's header line holds a control character");
  EXPECT_EQ(error_of(run_whole(field("a", "1") + "--XyZ--\n")),
            "error: multipart body: the close delimiter line must end in CRLF, not a bare LF");
  EXPECT_EQ(error_of(run_whole(field("a", "1") + "--XyZ--\rx")),
            "error: multipart body: the close delimiter line must end in CRLF");
  // A delimiter after a bare LF is data, so the body never ends.
  EXPECT_EQ(run_whole(field("a", "1\n--XyZ--")),
            (Lines{"part name=a", "data=1\n--XyZ--",
                   "error: multipart body: the body ends before "
                   "the close delimiter (\"--\" boundary \"--\")"}));
}

TEST(MultipartReader, RefusesATruncatedBody) {
  const auto complete = field("a", "1") + field("b", "2") + "--XyZ--";
  const std::string before_close =
      "error: multipart body: the body ends before the close delimiter (\"--\" boundary \"--\")";
  for (std::size_t size = 1; size < complete.size(); ++size) {
    const auto lines = run_whole(std::string_view(complete).substr(0, size));
    EXPECT_EQ(error_of(lines), size < 5 ? "error: multipart body: no boundary delimiter (\"--\" "
                                          "and the boundary at the start of a line)"
                                        : before_close)
        << size;
  }
  EXPECT_EQ(error_of(run_whole("")),
            "error: multipart body: no boundary delimiter (\"--\" and the boundary at the start of "
            "a line)");
  EXPECT_EQ(error_of(run_whole("just some text\r\n")), error_of(run_whole("")));
  EXPECT_EQ(error_of(run_whole(complete + "\r")),
            "error: multipart body: the body ends after the CR of the close delimiter's line");
}

TEST(MultipartReader, LimitsTheHeadersOfAPart) {
  const std::string headers = "Content-Disposition: form-data; name=a\r\n";  // 40 bytes
  const auto input = part(headers, "1") + "--XyZ--";
  EXPECT_EQ(run_whole(input, {.max_header_bytes = 42}),
            (Lines{"part name=a", "data=1", "end", "done", "ok"}));
  const Lines too_long = {"error: multipart body: a part's headers are longer than 41 bytes"};
  EXPECT_EQ(run_whole(input, {.max_header_bytes = 41}), too_long);
  expect_split_invariant(input, {.max_header_bytes = 41});
  // A header line without end stops at the limit, not at the end of the body.
  EXPECT_EQ(
      run({"--XyZ\r\nX: ", std::string(100, 'x'), std::string(100, 'x')}, {.max_header_bytes = 41}),
      too_long);
}

TEST(MultipartReader, LimitsTheNumberOfParts) {
  const auto two = field("a", "1") + field("b", "2");
  EXPECT_EQ(run_whole(two + "--XyZ--", {.max_parts = 2}),
            (Lines{"part name=a", "data=1", "end", "part name=b", "data=2", "end", "done", "ok"}));
  EXPECT_EQ(run_whole(two + field("c", "3") + "--XyZ--", {.max_parts = 2}),
            (Lines{"part name=a", "data=1", "end", "part name=b", "data=2", "end",
                   "error: multipart body: more than 2 parts"}));
}

PartHeaders headers_of(std::string_view header_lines) {
  MultipartReader reader(kBoundary);
  const auto input = part(header_lines, "") + "--XyZ--";
  reader.feed(input);
  const auto event = reader.next();
  EXPECT_TRUE(event.ok()) << header_lines << ": " << event.error().message;
  if (!event) return {};
  EXPECT_EQ(event->kind, Kind::part_begin);
  return reader.part();
}

std::string header_error(std::string_view header_lines) {
  MultipartReader reader(kBoundary);
  const auto input = part(header_lines, "") + "--XyZ--";
  reader.feed(input);
  const auto event = reader.next();
  return event ? "no error" : event.error().message;
}

TEST(MultipartReader, ReadsQuotedNamesAndFilenames) {
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=\"file\"; "
                       "filename=\"a \\\"quoted\\\" \\\\ name;=.png\"\r\n"),
            (PartHeaders{"file", "a \"quoted\" \\ name;=.png", ""}));
  EXPECT_EQ(headers_of("Content-Disposition: FORM-DATA;name=f;FileName=a.png\r\n"
                       "Content-Type:  image/png; x=y \r\n"),
            (PartHeaders{"f", "a.png", "image/png; x=y"}));
  // Browsers percent-encode '"', CR and LF; that is not undone.
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=\"a%22b\"; filename=\"%0D\"\r\n"),
            (PartHeaders{"a%22b", "%0D", ""}));
  // UTF-8 as browsers send it, and as RFC 5987's filename*, which wins.
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=\"\xc3\xa9t\xc3\xa9\"; "
                       "filename=\"\xe2\x82\xac.txt\"\r\n"),
            (PartHeaders{"\xc3\xa9t\xc3\xa9", "\xe2\x82\xac.txt", ""}));
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=f; filename*=UTF-8'en'%E2%82%AC%20"
                       "rates.txt; filename=\"EUR rates.txt\"\r\n"),
            (PartHeaders{"f", "\xe2\x82\xac rates.txt", ""}));
  // An empty filename (a file input left empty) is still a filename.
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=f; filename=\"\"\r\n"),
            (PartHeaders{"f", "", ""}));
  EXPECT_EQ(headers_of("Content-Disposition: form-data; name=f\r\n"
                       "Content-Transfer-Encoding: BINARY\r\n"),
            (PartHeaders{"f", std::nullopt, ""}));
}

TEST(MultipartReader, RefusesMalformedPartHeaders) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", "a part has no Content-Disposition header"},
      {"Content-Type: text/plain\r\n", "a part has no Content-Disposition header"},
      {"Content-Disposition: attachment; name=a\r\n",
       "Content-Disposition: the type must be form-data"},
      {"Content-Disposition: form-data\r\n", "Content-Disposition: there is no name parameter"},
      {"Content-Disposition: form-data; filename=a\r\n",
       "Content-Disposition: there is no name parameter"},
      {"Content-Disposition: form-data; name=a; NAME=b\r\n",
       "Content-Disposition: a parameter appears twice"},
      {"Content-Disposition: form-data; name=\"a\r\n",
       "Content-Disposition: a quoted string does not end"},
      {"Content-Disposition: form-data; name=\"a\\\"\r\n",
       "Content-Disposition: a quoted string does not end"},
      {"Content-Disposition: form-data; name=a b\r\n",
       "Content-Disposition: expected ';' before a parameter"},
      {"Content-Disposition: form-data; name\r\n", "Content-Disposition: a parameter has no value"},
      {"Content-Disposition: form-data; name=\xff\r\n",
       "Content-Disposition: a parameter value is neither a token nor a quoted string"},
      {"Content-Disposition: form-data; name=\"\xff\"\r\n",
       "Content-Disposition: the name is not UTF-8"},
      {"Content-Disposition: form-data; name=a; filename*=UTF-8''%FF\r\n",
       "Content-Disposition: the filename is not UTF-8"},
      {"Content-Disposition: form-data; name=a; filename*=ISO-8859-1''%A3\r\n",
       "Content-Disposition: filename* must be in UTF-8"},
      {"Content-Disposition: form-data; name=a; filename*=UTF-8''%4\r\n",
       "Content-Disposition: filename* has a bad percent escape"},
      {"Content-Disposition: form-data; name=a; filename*=\"UTF-8''a b\"\r\n",
       "Content-Disposition: filename* has a character that must be percent-encoded"},
      {"Content-Disposition: form-data; name=a; filename*=a.txt\r\n",
       "Content-Disposition: filename* is not charset'language'value"},
      {"Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n",
       "a part has two Content-Disposition headers"},
      {"Content-Disposition: form-data; name=a\r\nContent-Type: a\r\ncontent-type: b\r\n",
       "a part has two content-type headers"},
      {"X-A: b\r\n c\r\nContent-Disposition: form-data; name=a\r\n",
       "folded header lines are not supported"},
      {"Content-Disposition : form-data; name=a\r\n", "a part's header line is not `Name: value`"},
      {"Content-Disposition form-data; name=a\r\n", "a part's header line is not `Name: value`"},
      {": x\r\nContent-Disposition: form-data; name=a\r\n",
       "a part's header line is not `Name: value`"},
      {"Content-Disposition: form-data; name=a\x7f\r\n",
       "a part's header line holds a control character"},
      {"Content-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n",
       "Content-Transfer-Encoding must be binary, 8bit or 7bit"},
  };
  for (const auto& [lines, message] : cases) {
    EXPECT_EQ(header_error(lines), "multipart body: " + std::string(message)) << lines;
  }
}

TEST(MultipartReader, ErrorsStick) {
  MultipartReader reader(kBoundary);
  reader.feed("--XyZ\n");
  const auto first = reader.next();
  ASSERT_FALSE(first.ok());
  reader.feed(field("a", "1") + "--XyZ--");
  const auto again = reader.next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, first.error().message);
  EXPECT_EQ(reader.finish().error().message, first.error().message);
}

TEST(MultipartReader, RefusesAnInvalidBoundary) {
  const std::string too_long(71, 'a');
  for (const std::string_view boundary : {""sv, "a\r\n"sv, std::string_view(too_long)}) {
    MultipartReader reader(boundary);
    reader.feed("--a\r\n");
    EXPECT_FALSE(reader.next().ok());
    EXPECT_FALSE(reader.finish().ok());
  }
}

TEST(MultipartReader, FeedingBeforeTheLastChunkIsReadIsAnInternalError) {
  MultipartReader reader(kBoundary);
  reader.feed("--XyZ\r\n");
  reader.feed("Content-Disposition: form-data; name=a\r\n");
  const auto event = reader.next();
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.error().code, Errc::internal);
}

}  // namespace
}  // namespace chatd::net
