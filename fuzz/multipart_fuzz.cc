// The streaming multipart/form-data reader on arbitrary bytes: byte 0 and 1 choose how the rest
// (the body, boundary "b0und") is cut into chunks, empty ones included. Must never crash; the
// events must follow their grammar, data never empty, buffered() within its bound after every
// event; and the chunked run must report exactly what one feed of the whole body reports (each
// part's data run together), error included. The body's first line is also read as a
// Content-Type: a boundary it yields is valid and reads back the same when quoted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/multipart.h"

namespace {

using chatd::net::MultipartEvent;
using chatd::net::MultipartLimits;
using chatd::net::MultipartReader;
using Kind = MultipartEvent::Kind;

constexpr std::string_view kBoundary = "b0und";
constexpr MultipartLimits kLimits{.max_header_bytes = 200, .max_parts = 8};
constexpr std::size_t kMaxBuffered = kLimits.max_header_bytes + kBoundary.size() + 5;

void check(bool ok) {
  if (!ok) std::abort();
}

// What the reader reports for `chunks`, a part's data run together: the same for any cut.
std::vector<std::string> run(const std::vector<std::string_view>& chunks) {
  std::vector<std::string> lines;
  MultipartReader reader(kBoundary, kLimits);
  bool in_part = false;
  bool done = false;
  bool in_data = false;
  for (const auto chunk : chunks) {
    reader.feed(chunk);
    for (;;) {
      auto event = reader.next();
      check(reader.buffered() <= kMaxBuffered);
      if (!event) {
        check(event.error().code == chatd::Errc::invalid_input && !event.error().message.empty());
        const auto finished = reader.finish();
        check(!finished.ok() && finished.error().message == event.error().message);
        lines.push_back("error: " + event.error().message);
        return lines;
      }
      if (event->kind == Kind::need_input) break;
      check(!done);
      switch (event->kind) {
        case Kind::part_begin: {
          check(!in_part);
          in_part = true;
          const auto& part = reader.part();
          lines.push_back("part " + part.name + "\n" + part.filename.value_or("-") + "\n" +
                          part.content_type);
          break;
        }
        case Kind::part_data:
          check(in_part && !event->data.empty());
          if (!in_data) lines.emplace_back("data ");
          lines.back() += event->data;
          in_data = true;
          continue;
        case Kind::part_end:
          check(in_part);
          in_part = false;
          lines.emplace_back("end");
          break;
        case Kind::done:
          check(!in_part);
          done = true;
          lines.emplace_back("done");
          break;
        default:
          std::abort();
      }
      in_data = false;
    }
  }
  const auto finished = reader.finish();
  check(!finished.ok() || done);
  lines.push_back(finished ? "ok" : "error: " + finished.error().message);
  return lines;
}

void check_boundary(std::string_view content_type) {
  const auto boundary = chatd::net::multipart_boundary(content_type);
  if (!boundary) {
    check(boundary.error().code == chatd::Errc::invalid_input);
    return;
  }
  check(!boundary->empty() && boundary->size() <= 70 && boundary->back() != ' ');
  check(boundary->find_first_of("\"\\\r\n") == std::string::npos);
  const auto again =
      chatd::net::multipart_boundary("multipart/form-data; boundary=\"" + *boundary + "\"");
  check(again && *again == *boundary);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  check_boundary(body.substr(0, std::min(body.find('\n'), std::size_t{200})));

  // Chunk sizes from 0 to max_chunk, from a xorshift seeded by the first two bytes.
  const std::size_t max_chunk = 1 + data[0] % 64;
  std::uint32_t state = 0x9e3779b9u ^ (static_cast<std::uint32_t>(data[1]) << 8) ^ data[0];
  std::vector<std::string_view> chunks;
  for (std::size_t at = 0; at < body.size();) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    const auto n = std::min<std::size_t>(state % (max_chunk + 1), body.size() - at);
    chunks.push_back(body.substr(at, n));
    at += n;
  }
  check(run(chunks) == run({body}));
  return 0;
}
