#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "media/worker_pool.h"
#include "util/result.h"

namespace chatd::media {

namespace asio = boost::asio;

struct ThumbnailLimits {
  // The decompression-bomb guard: an image with more pixels than this is refused from its header,
  // before a byte of it is decoded (a 40-megapixel photo decodes to 160 MB of RGBA).
  std::uint64_t max_source_pixels = 40'000'000;
  int max_side = 320;  // the thumbnail's longer side, at most (smaller images are not enlarged)
  int jpeg_quality = 80;
};

struct Thumbnail {
  std::string bytes;  // a JPEG, or a PNG when the source has transparency; no metadata at all
  int width = 0;
  int height = 0;
  std::string mime;  // "image/jpeg" or "image/png"
  int source_width = 0;
  int source_height = 0;
};

// Starts libvips (once per process) and sets its process-wide rules: no operation cache (every
// upload is a new file, and a cache would hold decoded images and open files), one thread per
// operation (the WorkerPool bounds the CPU spent), untrusted loaders off, and every loader off but
// JPEG, PNG, WebP and GIF (so an upload never reaches the SVG, PDF, TIFF, HEIF, ... decoders, even
// if libvips sniffs it as one). Throws std::runtime_error when libvips cannot start. The
// Thumbnailer's constructor calls it.
void start_vips();

// Makes thumbnails of uploaded images with libvips on a WorkerPool's threads: the pool's size
// bounds the CPU and memory spent decoding at once, and its backlog bounds what waits (a full
// backlog is `unavailable`). Every call resumes on the caller's executor.
class Thumbnailer {
 public:
  // `workers` must outlive the thumbnailer.
  explicit Thumbnailer(WorkerPool& workers, ThumbnailLimits limits = {});

  // The file's thumbnail. Errors: invalid_input (not a JPEG, PNG, WebP or GIF libvips can decode,
  // truncated or corrupt ones included), too_large (over max_source_pixels), unavailable (the
  // backlog is full: retry), internal.
  asio::awaitable<Result<Thumbnail>> make_thumbnail(std::filesystem::path path);

  // The blocking form, for worker threads and tests.
  Result<Thumbnail> make_thumbnail_now(const std::filesystem::path& path) const;

 private:
  WorkerPool& workers_;
  ThumbnailLimits limits_;
};

}  // namespace chatd::media
