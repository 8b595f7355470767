#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

// What an uploaded file is, read from its bytes (a client's Content-Type and file name are hints
// at best), and what chatd does with each kind.
namespace chatd::media {

namespace asio = boost::asio;

// The MIME type libmagic reads in the file at `path` ("image/png", "application/pdf", ...;
// "application/octet-stream" when it cannot tell). Blocking (it reads up to the first MiB): run it
// on an I/O thread, as detect_file_type does. Each thread that calls it loads libmagic's database
// once (a magic_t is not thread-safe, so every thread has its own).
Result<std::string> detect_file_type_now(const std::filesystem::path& path);

// detect_file_type_now on `io` (a thread pool's executor), resuming on the caller's executor.
asio::awaitable<Result<std::string>> detect_file_type(asio::any_io_executor io,
                                                      std::filesystem::path path);

enum class AttachmentKind {
  image,     // thumbnailed, and served inline: browsers show it as a picture and nothing else
  download,  // served as `Content-Disposition: attachment`, never rendered by the browser
};

// Images are the raster types every browser renders and libvips decodes here: JPEG, PNG, WebP and
// GIF. Everything else is a download, SVG included (a document that can carry script).
AttachmentKind attachment_kind(std::string_view mime);

}  // namespace chatd::media
