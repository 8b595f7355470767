#include "media/file_type.h"

#include <magic.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <utility>

#include "util/async.h"

namespace chatd::media {

namespace {

// Only the type, without the charset. Decompressing is off by default (MAGIC_COMPRESS not set);
// MAGIC_ERROR makes a file that cannot be read an error instead of a type naming the error.
constexpr int kMagicFlags = MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS;

// How much of a file libmagic reads (its default is 7 MiB): the formats we tell apart announce
// themselves in their first bytes, and this bounds the memory and time a detection costs.
constexpr std::size_t kBytesExamined = std::size_t{1} << 20;

constexpr std::array<std::string_view, 4> kImageTypes = {"image/jpeg", "image/png", "image/webp",
                                                         "image/gif"};

// One thread's libmagic handle, with the database loaded.
class MagicCookie {
 public:
  MagicCookie() : cookie_(magic_open(kMagicFlags)) {
    if (cookie_ == nullptr) {
      spdlog::error("libmagic: magic_open failed");
      return;
    }
    std::size_t bytes_max = kBytesExamined;
    if (magic_setparam(cookie_, MAGIC_PARAM_BYTES_MAX, &bytes_max) != 0 ||
        magic_load(cookie_, nullptr) != 0) {
      spdlog::error("libmagic: cannot load its database: {}", last_error());
      magic_close(std::exchange(cookie_, nullptr));
    }
  }
  MagicCookie(const MagicCookie&) = delete;
  MagicCookie& operator=(const MagicCookie&) = delete;
  ~MagicCookie() {
    if (cookie_ != nullptr) magic_close(cookie_);
  }

  magic_t get() const { return cookie_; }

  const char* last_error() const {
    const char* message = magic_error(cookie_);
    return message != nullptr ? message : "unknown error";
  }

 private:
  magic_t cookie_;
};

MagicCookie& this_threads_cookie() {
  thread_local MagicCookie cookie;
  return cookie;
}

Error detection_failed() {
  return make_error(Errc::internal, "The file type could not be read");
}

}  // namespace

Result<std::string> detect_file_type_now(const std::filesystem::path& path) {
  auto& cookie = this_threads_cookie();
  if (cookie.get() == nullptr) return detection_failed();
  const char* type = magic_file(cookie.get(), path.c_str());
  if (type == nullptr) {
    spdlog::error("libmagic: {}: {}", path.string(), cookie.last_error());
    return detection_failed();
  }
  return std::string(type);
}

asio::awaitable<Result<std::string>> detect_file_type(asio::any_io_executor io,
                                                      std::filesystem::path path) {
  auto submit = [io](auto job) { asio::post(io, std::move(job)); };
  auto work = [path = std::move(path)] { return detect_file_type_now(path); };
  return run_elsewhere(std::move(submit), std::move(work));
}

AttachmentKind attachment_kind(std::string_view mime) {
  for (const auto image : kImageTypes) {
    if (mime == image) return AttachmentKind::image;
  }
  return AttachmentKind::download;
}

}  // namespace chatd::media
