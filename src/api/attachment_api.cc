#include "api/attachment_api.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <memory>

#include "api/rest_api.h"
#include "api/wire.h"
#include "net/byte_range.h"
#include "net/multipart.h"
#include "util/text.h"

// Arguments to co_await are named variables (see util/async.h).
namespace chatd::api {

namespace asio = boost::asio;
namespace http = net::http;
using net::HttpResponse;
using net::Request;

namespace {

// What a download reads from the blob store at a time: the memory one download holds.
constexpr std::size_t kDownloadPieceBytes = std::size_t{256} << 10;

bool is_multipart(std::string_view content_type) {
  constexpr std::string_view kType = "multipart/";
  return content_type.size() >= kType.size() &&
         text::iequals(content_type.substr(0, kType.size()), kType);
}

// The body of a raw upload, into `upload`; the name is the query's `name`.
asio::awaitable<Result<std::string>> receive_raw(Request& request, chat::Upload& upload) {
  for (;;) {
    auto piece = co_await request.read_body();
    if (!piece) co_return std::move(piece).take_error();
    if (piece->empty()) break;
    if (auto appended = co_await upload.append(std::move(*piece)); !appended) {
      co_return std::move(appended).take_error();
    }
  }
  co_return std::string(request.query_value("name").value_or("file"));
}

// The `file` part of a multipart/form-data body, into `upload`; the name is the part's filename.
// Other fields are read past and dropped.
asio::awaitable<Result<std::string>> receive_multipart(Request& request, chat::Upload& upload) {
  auto boundary = net::multipart_boundary(request.header("Content-Type"));
  if (!boundary) co_return std::move(boundary).take_error();
  net::MultipartReader reader(*boundary);
  std::optional<std::string> name;  // set once the file part begins
  bool in_file = false;
  for (;;) {
    auto piece = co_await request.read_body();
    if (!piece) co_return std::move(piece).take_error();
    reader.feed(*piece);
    for (;;) {
      auto event = reader.next();
      if (!event) co_return std::move(event).take_error();
      using Kind = net::MultipartEvent::Kind;
      if (event->kind == Kind::need_input) break;
      if (event->kind == Kind::part_begin && reader.part().name == "file") {
        if (name) co_return make_error(Errc::invalid_input, "Only one file per upload");
        name = reader.part().filename.value_or("file");
        in_file = true;
      } else if (event->kind == Kind::part_end) {
        in_file = false;
      } else if (event->kind == Kind::part_data && in_file) {
        std::string data(event->data);
        if (auto appended = co_await upload.append(std::move(data)); !appended) {
          co_return std::move(appended).take_error();
        }
      }
    }
    if (piece->empty()) break;
  }
  if (auto complete = reader.finish(); !complete) co_return std::move(complete).take_error();
  if (!name) co_return make_error(Errc::invalid_input, "The upload needs a part named file");
  co_return std::move(*name);
}

// RFC 6266: an ASCII fallback and the UTF-8 name percent-encoded (RFC 8187).
std::string content_disposition(bool inline_display, std::string_view name) {
  std::string fallback;
  std::string encoded;
  constexpr std::string_view kAttrChars = "!#$&+-.^_`|~";
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = std::isalnum(byte) != 0 && byte < 0x80;
    fallback += (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') ? c : '_';
    if (plain || kAttrChars.find(c) != std::string_view::npos) {
      encoded += c;
    } else {
      encoded += fmt::format("%{:02X}", byte);
    }
  }
  return fmt::format("{}; filename=\"{}\"; filename*=UTF-8''{}",
                     inline_display ? "inline" : "attachment", fallback, encoded);
}

// The headers every answer about a download carries, 304 and 416 included.
void add_download_headers(HttpResponse& response, const chat::Download& download,
                          const std::string& etag) {
  response.set(http::field::etag, etag);
  response.set(http::field::accept_ranges, "bytes");
  // Links are signed for a while; what they name never changes (content-addressed).
  response.set(http::field::cache_control, "private, max-age=3600");
  response.set("Content-Security-Policy", "default-src 'none'; sandbox");
  response.set(http::field::content_disposition,
               content_disposition(download.inline_display, download.filename));
}

bool matches_etag(std::string_view header, std::string_view etag) {
  if (text::trim(header) == "*") return true;
  std::size_t start = 0;
  while (start <= header.size()) {
    const auto comma = header.find(',', start);
    auto tag = text::trim(header.substr(start, comma - start));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

}  // namespace

AttachmentApi::AttachmentApi(chat::AccountService& accounts, chat::AttachmentService& attachments)
    : accounts_(accounts), attachments_(attachments) {}

void AttachmentApi::register_routes(net::Router& router) {
  using http::verb;
  router.add_streamed(verb::post, "/api/attachment",
                      [this](Request& request) { return upload(request); });
  for (const auto method : {verb::get, verb::head}) {
    router.add(method, "/api/attachment/:id", [this](Request& request) {
      return download(request, chat::AttachmentPart::content);
    });
    router.add(method, "/api/attachment/:id/thumbnail", [this](Request& request) {
      return download(request, chat::AttachmentPart::thumbnail);
    });
  }
}

AttachmentApi::Response AttachmentApi::upload(Request& request) {
  // Who is asking, before a byte of the body is read (a client that sent Expect: 100-continue
  // never sends it to be refused).
  auto caller = co_await authenticate(accounts_, request);
  if (!caller) co_return error(caller.error());
  // A raw body declared over the limit is refused at once (a multipart body's length also counts
  // its headers and delimiters); anything else is counted as it comes.
  const bool multipart = is_multipart(request.header("Content-Type"));
  std::uint64_t declared = 0;
  const auto length = request.header("Content-Length");
  const auto parsed = std::from_chars(length.data(), length.data() + length.size(), declared);
  if (!multipart && parsed.ec == std::errc() && declared > attachments_.max_bytes()) {
    co_return error(make_error(Errc::too_large, "The file is larger than the upload limit"));
  }
  auto upload = co_await attachments_.begin_upload();
  if (!upload) co_return error(upload.error());
  Result<std::string> name = make_error(Errc::internal, "no body read");
  if (multipart) {
    name = co_await receive_multipart(request, *upload);
  } else {
    name = co_await receive_raw(request, *upload);
  }
  if (!name) co_return error(name.error());
  auto stored = co_await attachments_.finish_upload(std::move(caller->user), std::move(*name),
                                                    std::move(*upload));
  if (!stored) co_return error(stored.error());
  co_return net::json_response(http::status::created,
                               boost::json::serialize(wire::uploaded_attachment(*stored)));
}

asio::awaitable<Result<std::optional<std::string>>> AttachmentApi::reader(
    const Request& request, chat::AttachmentPart part) {
  if (!request.header("Authorization").empty()) {
    auto caller = co_await authenticate(accounts_, request);
    if (!caller) co_return std::move(caller).take_error();
    co_return std::optional<std::string>(caller->user.id);
  }
  const auto expires = request.query_value("exp");
  const auto signature = request.query_value("sig");
  if (expires && signature &&
      attachments_.links().verify(request.param("id"), part, *expires, *signature)) {
    co_return std::optional<std::string>();
  }
  co_return make_error(Errc::not_found, "Attachment not found");
}

AttachmentApi::Response AttachmentApi::download(Request& request, chat::AttachmentPart part) {
  auto who = co_await reader(request, part);
  if (!who) co_return error(who.error());
  std::string id(request.param("id"));
  auto download = co_await attachments_.open(std::move(id), part, std::move(*who));
  if (!download) co_return error(download.error());
  const auto etag = "\"" + download->sha256 + "\"";

  if (matches_etag(request.header("If-None-Match"), etag)) {
    auto response = net::empty_response(http::status::not_modified);
    add_download_headers(response, *download, etag);
    co_return response;
  }
  net::RangeRequest range = net::WholeBody{};
  const auto if_range = request.header("If-Range");
  if (if_range.empty() || if_range == etag) {
    range = net::parse_range(request.header("Range"), download->size);
  }
  if (std::holds_alternative<net::Unsatisfiable>(range)) {
    auto response = error(make_error(Errc::invalid_input, "The range is not satisfiable"));
    response.result(http::status::range_not_satisfiable);
    response.set(http::field::content_range, fmt::format("bytes */{}", download->size));
    add_download_headers(response, *download, etag);
    co_return response;
  }
  net::ByteRange bytes{0, download->size - 1};
  HttpResponse response{http::status::ok, request.message.version()};
  if (const auto* asked = std::get_if<net::ByteRange>(&range)) {
    bytes = *asked;
    response.result(http::status::partial_content);
    response.set(http::field::content_range,
                 fmt::format("bytes {}-{}/{}", bytes.first, bytes.last, download->size));
  }
  response.set(http::field::content_type, download->mime);
  add_download_headers(response, *download, etag);
  response.content_length(bytes.length());

  // The body, a piece at a time from the blob store (none for HEAD: the headers say it all).
  struct Cursor {
    std::string sha256;
    std::uint64_t next;
    std::uint64_t end;  // one past the last byte
  };
  auto cursor = std::make_shared<Cursor>(
      Cursor{download->sha256, bytes.first,
             request.message.method() == http::verb::head ? bytes.first : bytes.last + 1});
  auto& attachments = attachments_;
  request.reply_body = [cursor, &attachments]() -> asio::awaitable<Result<std::string>> {
    if (cursor->next >= cursor->end) co_return std::string();
    const auto wanted = std::min<std::uint64_t>(kDownloadPieceBytes, cursor->end - cursor->next);
    auto sha = cursor->sha256;
    auto piece =
        co_await attachments.read(std::move(sha), cursor->next, static_cast<std::size_t>(wanted));
    if (!piece) co_return std::move(piece).take_error();
    if (piece->empty()) co_return make_error(Errc::internal, "The file ended early");
    cursor->next += piece->size();
    co_return std::move(*piece);
  };
  co_return response;
}

}  // namespace chatd::api
