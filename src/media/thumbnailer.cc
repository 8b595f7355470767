#include "media/thumbnailer.h"

#include <spdlog/spdlog.h>
#include <vips/vips.h>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "util/async.h"

namespace chatd::media {

namespace {

// The loaders an upload may reach (class names: each covers its file, buffer and source forms).
constexpr std::array<const char*, 4> kAllowedLoaders = {
    "VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadWebp", "VipsForeignLoadNsgif"};

struct ImageUnref {
  void operator()(VipsImage* image) const { g_object_unref(image); }
};
using Image = std::unique_ptr<VipsImage, ImageUnref>;

// libvips reports failures in a process-wide buffer. It is logged (at debug: a bad upload is the
// uploader's problem, not the operator's) and cleared, and the caller gets `error`.
Error vips_failure(Error error) {
  char* detail = vips_error_buffer_copy();
  spdlog::debug("thumbnail: {}: {}", error.message, detail != nullptr ? detail : "");
  g_free(detail);
  return error;
}

Error not_an_image() {
  return vips_failure(make_error(Errc::invalid_input, "The file is not an image we can read"));
}

bool is_allowed_loader(std::string_view loader) {
  for (const std::string_view allowed : kAllowedLoaders) {
    if (loader.starts_with(allowed)) return true;
  }
  return false;
}

struct SourceSize {
  int width = 0;
  int height = 0;
};

// The image's size from its header alone (libvips decodes lazily, and nothing is decoded here),
// refused past `max_pixels`; reported as shown: browsers turn a photo upright by its EXIF
// orientation, so that is the size clients lay out.
Result<SourceSize> read_source_size(const std::filesystem::path& path, std::uint64_t max_pixels) {
  const char* loader = vips_foreign_find_load(path.c_str());
  if (loader == nullptr || !is_allowed_loader(loader)) return not_an_image();
  const Image header(vips_image_new_from_file(path.c_str(), "access", VIPS_ACCESS_SEQUENTIAL,
                                              "fail_on", VIPS_FAIL_ON_ERROR, nullptr));
  if (!header) return not_an_image();
  SourceSize size{vips_image_get_width(header.get()), vips_image_get_height(header.get())};
  const auto pixels =
      static_cast<std::uint64_t>(size.width) * static_cast<std::uint64_t>(size.height);
  if (pixels > max_pixels) {
    return make_error(Errc::too_large, "The image has too many pixels for a thumbnail");
  }
  if (vips_image_get_orientation_swap(header.get())) std::swap(size.width, size.height);
  return size;
}

// Shrinks while decoding where the format allows (JPEG's DCT scaling, WebP's), turns the image
// upright by its EXIF orientation, and converts an embedded colour profile to sRGB. A truncated or
// corrupt image is an error rather than a half-grey picture (fail_on=error).
Result<Image> shrink(const std::filesystem::path& path, int max_side) {
  VipsImage* small = nullptr;
  if (vips_thumbnail(path.c_str(), &small, max_side, "height", max_side, "size", VIPS_SIZE_DOWN,
                     "fail_on", VIPS_FAIL_ON_ERROR, "export_profile", "srgb", nullptr) != 0) {
    return not_an_image();
  }
  return Image(small);
}

// 8-bit sRGB (or 8-bit grey), what JPEG and PNG viewers expect: CMYK, 16-bit and other spaces are
// converted. Alpha, if any, is kept.
Result<Image> to_8bit_display_space(Image image) {
  const int colour_bands =
      vips_image_get_bands(image.get()) - (vips_image_hasalpha(image.get()) ? 1 : 0);
  const auto space = colour_bands == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
  VipsImage* converted = nullptr;
  if (vips_colourspace(image.get(), &converted, space, nullptr) != 0) return not_an_image();
  Image result(converted);
  if (vips_image_get_format(result.get()) == VIPS_FORMAT_UCHAR) return result;
  VipsImage* cast = nullptr;
  if (vips_cast_uchar(result.get(), &cast, nullptr) != 0) return not_an_image();
  return Image(cast);
}

// Encodes without any metadata (strip): no EXIF (GPS position, camera, time), XMP, IPTC or ICC.
// libvips decodes lazily, while encoding pulls the pixels through, so this is where a truncated or
// corrupt image fails: hence invalid_input.
Result<std::string> encode(VipsImage* image, bool png, int jpeg_quality) {
  void* buffer = nullptr;
  std::size_t length = 0;
  const int failed =
      png ? vips_pngsave_buffer(image, &buffer, &length, "strip", TRUE, "compression", 6, nullptr)
          : vips_jpegsave_buffer(image, &buffer, &length, "strip", TRUE, "Q", jpeg_quality,
                                 "optimize_coding", TRUE, nullptr);
  if (failed != 0) return not_an_image();
  std::string bytes(static_cast<const char*>(buffer), length);
  g_free(buffer);
  return bytes;
}

// libvips warns through GLib (to stderr) about every damaged image; an upload's damage is the
// uploader's business, so its warnings go to the debug log.
void log_vips_warning(const gchar* /*domain*/, GLogLevelFlags /*level*/, const gchar* message,
                      gpointer /*unused*/) {
  spdlog::debug("libvips: {}", message != nullptr ? message : "");
}

void apply_process_rules() {
  g_log_set_handler("VIPS", static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE),
                    log_vips_warning, nullptr);
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  vips_concurrency_set(1);
  vips_block_untrusted_set(TRUE);
  vips_operation_block_set("VipsForeignLoad", TRUE);
  for (const char* loader : kAllowedLoaders) vips_operation_block_set(loader, FALSE);
}

}  // namespace

void start_vips() {
  static std::once_flag once;
  static bool started = false;
  std::call_once(once, [] {
    if (VIPS_INIT("chatd") != 0) return;
    apply_process_rules();
    started = true;
  });
  if (!started) throw std::runtime_error("libvips failed to start");
}

Thumbnailer::Thumbnailer(WorkerPool& workers, ThumbnailLimits limits)
    : workers_(workers), limits_(limits) {
  start_vips();
}

Result<Thumbnail> Thumbnailer::make_thumbnail_now(const std::filesystem::path& path) const {
  auto source = read_source_size(path, limits_.max_source_pixels);
  if (!source) return std::move(source).take_error();
  auto small = shrink(path, limits_.max_side);
  if (!small) return std::move(small).take_error();
  auto display = to_8bit_display_space(std::move(*small));
  if (!display) return std::move(display).take_error();
  const bool png = vips_image_hasalpha(display->get()) != 0;
  auto bytes = encode(display->get(), png, limits_.jpeg_quality);
  if (!bytes) return std::move(bytes).take_error();
  return Thumbnail{std::move(*bytes),
                   vips_image_get_width(display->get()),
                   vips_image_get_height(display->get()),
                   png ? "image/png" : "image/jpeg",
                   source->width,
                   source->height};
}

asio::awaitable<Result<Thumbnail>> Thumbnailer::make_thumbnail(std::filesystem::path path) {
  auto start = [this, path = std::move(path)](const std::function<void(Result<Thumbnail>)>& done) {
    auto job = [this, path, done] {
      auto thumbnail = make_thumbnail_now(path);
      vips_thread_shutdown();  // frees what libvips keeps per thread
      done(std::move(thumbnail));
    };
    if (!workers_.try_post(std::move(job))) {
      done(make_error(Errc::unavailable, "Too many images are being processed; retry later"));
    }
  };
  return async_callback<Result<Thumbnail>>(std::move(start));
}

}  // namespace chatd::media
