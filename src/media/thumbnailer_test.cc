#include "media/thumbnailer.h"

#include <glib.h>
#include <gtest/gtest.h>
#include <vips/vips.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "media/file_type.h"
#include "util/run_blocking.h"

namespace chatd::media {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

struct ImageUnref {
  void operator()(VipsImage* image) const { g_object_unref(image); }
};
using Image = std::unique_ptr<VipsImage, ImageUnref>;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A mid-grey sRGB picture (4 bands: with alpha), made by libvips itself.
Image grey_picture(int width, int height, int bands) {
  VipsImage* black = nullptr;
  VipsImage* grey = nullptr;
  VipsImage* tagged = nullptr;
  EXPECT_EQ(vips_black(&black, width, height, "bands", bands, nullptr), 0);
  EXPECT_EQ(vips_linear1(black, &grey, 1.0, 128.0, "uchar", TRUE, nullptr), 0);
  EXPECT_EQ(vips_copy(grey, &tagged, "interpretation", VIPS_INTERPRETATION_sRGB, nullptr), 0);
  g_object_unref(black);
  g_object_unref(grey);
  return Image(tagged);
}

// Saves by the file name's suffix (.jpg, .png, .webp, .gif, .tif).
void save(VipsImage* image, const fs::path& path) {
  ASSERT_EQ(vips_image_write_to_file(image, path.c_str(), nullptr), 0) << vips_error_buffer();
}

Image decode(const std::string& bytes) {
  VipsImage* image = vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr);
  EXPECT_NE(image, nullptr) << vips_error_buffer();
  return Image(image);
}

// The metadata fields libvips finds in an image: EXIF tags, XMP, ICC, IPTC.
std::vector<std::string> metadata_fields(VipsImage* image) {
  std::vector<std::string> found;
  gchar** fields = vips_image_get_fields(image);
  for (gchar** field = fields; *field != nullptr; ++field) {
    const std::string name = *field;
    for (const char* prefix : {"exif-", "xmp-", "icc-", "iptc-"}) {
      if (name.starts_with(prefix)) found.push_back(name);
    }
  }
  g_strfreev(fields);
  return found;
}

bool has_field(VipsImage* image, const std::string& name) {
  for (const auto& field : metadata_fields(image)) {
    if (field == name) return true;
  }
  return false;
}

// --- Hand-made bytes: EXIF with a GPS position, XMP, and PNG chunks ---------------------------

void put_u16(std::string& out, unsigned value) {
  out += static_cast<char>(value & 0xff);
  out += static_cast<char>((value >> 8) & 0xff);
}

void put_u32(std::string& out, std::uint32_t value) {
  put_u16(out, value & 0xffff);
  put_u16(out, value >> 16);
}

void put_entry(std::string& out, unsigned tag, unsigned type, std::uint32_t count,
               std::uint32_t value) {
  put_u16(out, tag);
  put_u16(out, type);
  put_u32(out, count);
  put_u32(out, value);
}

// A little-endian TIFF block with IFD0 (Make, Orientation = 6, the GPS pointer) and a GPS IFD
// (51.5 N, 0.1 E): what a phone writes into a photo.
std::string exif_with_gps() {
  constexpr unsigned kAscii = 2, kShort = 3, kLong = 4, kRational = 5;
  constexpr std::uint32_t kIfd0 = 8, kIfd0Size = 2 + 3 * 12 + 4, kMake = kIfd0 + kIfd0Size;
  constexpr std::uint32_t kGps = kMake + 6, kGpsSize = 2 + 4 * 12 + 4;
  constexpr std::uint32_t kLatitude = kGps + kGpsSize, kLongitude = kLatitude + 24;
  std::string tiff = "II*\0"s;
  put_u32(tiff, kIfd0);
  put_u16(tiff, 3);
  put_entry(tiff, 0x010f, kAscii, 6, kMake);
  put_entry(tiff, 0x0112, kShort, 1, 6);  // Orientation: rotate 90 degrees clockwise to show
  put_entry(tiff, 0x8825, kLong, 1, kGps);
  put_u32(tiff, 0);
  tiff += "Phone\0"s;
  put_u16(tiff, 4);
  put_entry(tiff, 0x0001, kAscii, 2, 'N');
  put_entry(tiff, 0x0002, kRational, 3, kLatitude);
  put_entry(tiff, 0x0003, kAscii, 2, 'E');
  put_entry(tiff, 0x0004, kRational, 3, kLongitude);
  put_u32(tiff, 0);
  for (const std::uint32_t part : {51U, 1U, 30U, 1U, 0U, 1U, 0U, 1U, 6U, 1U, 0U, 1U}) {
    put_u32(tiff, part);
  }
  return "Exif\0\0"s + tiff;
}

std::string xmp_packet() {
  return "http://ns.adobe.com/xap/1.0/\0"s
         "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
         "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
         "xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" exif:GPSLatitude=\"51,30.0N\"/>"
         "</rdf:RDF></x:xmpmeta>";
}

// A JPEG APP segment (marker, big-endian length, payload).
std::string jpeg_segment(unsigned char marker, const std::string& payload) {
  const auto length = payload.size() + 2;
  return "\xff"s + static_cast<char>(marker) + static_cast<char>(length >> 8) +
         static_cast<char>(length & 0xff) + payload;
}

std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xffffffffU;
  for (const unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

std::string big_endian(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>((value >> 16) & 0xff),
          static_cast<char>((value >> 8) & 0xff), static_cast<char>(value & 0xff)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return big_endian(static_cast<std::uint32_t>(data.size())) + type + data +
         big_endian(crc32(type + data));
}

// A PNG whose header claims width x height RGB pixels, with a few bytes of image data (nowhere
// near enough): decoding it would fail, so only a refusal from the header gives too_large.
std::string png_claiming(std::uint32_t width, std::uint32_t height) {
  const std::string header = big_endian(width) + big_endian(height) + "\x08\x02\x00\x00\x00"s;
  return "\x89PNG\r\n\x1a\n"s + png_chunk("IHDR", header) +
         png_chunk("IDAT", "\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01"s) + png_chunk("IEND", "");
}

class ThumbnailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start_vips();
    std::string name = (fs::temp_directory_path() / "chatd-thumbs-XXXXXX").string();
    dir_ = mkdtemp(name.data());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path picture(const std::string& name, int width, int height, int bands = 3) {
    auto path = dir_ / name;
    save(grey_picture(width, height, bands).get(), path);
    return path;
  }

  fs::path file(const std::string& name, const std::string& bytes) {
    write_file(dir_ / name, bytes);
    return dir_ / name;
  }

  fs::path dir_;
  // Declared before the pool: a worker may still be inside its post() to the context when the
  // coroutine has resumed, so the pool's threads must be joined before the context goes.
  asio::io_context io_;
  WorkerPool workers_{1, 4};
  Thumbnailer thumbnailer_{workers_};
};

TEST_F(ThumbnailerTest, ShrinksTheLongSideTo320) {
  auto thumbnail = thumbnailer_.make_thumbnail_now(picture("wide.jpg", 2000, 1000));
  ASSERT_TRUE(thumbnail.ok()) << thumbnail.error().message;
  EXPECT_EQ(thumbnail->width, 320);
  EXPECT_EQ(thumbnail->height, 160);
  EXPECT_EQ(thumbnail->source_width, 2000);
  EXPECT_EQ(thumbnail->source_height, 1000);
  EXPECT_EQ(thumbnail->mime, "image/jpeg");
  const auto decoded = decode(thumbnail->bytes);
  EXPECT_EQ(vips_image_get_width(decoded.get()), 320);
  EXPECT_EQ(vips_image_get_height(decoded.get()), 160);
  EXPECT_TRUE(thumbnail->bytes.starts_with("\xff\xd8\xff"));
}

TEST_F(ThumbnailerTest, EveryImageTypeWorksAndTransparencyGivesPng) {
  for (const char* name : {"a.png", "a.webp", "a.gif"}) {
    auto thumbnail = thumbnailer_.make_thumbnail_now(picture(name, 600, 1200, 4));
    ASSERT_TRUE(thumbnail.ok()) << name << ": " << thumbnail.error().message;
    EXPECT_EQ(thumbnail->width, 160) << name;
    EXPECT_EQ(thumbnail->height, 320) << name;
    EXPECT_EQ(thumbnail->mime, "image/png") << name;
    EXPECT_TRUE(thumbnail->bytes.starts_with("\x89PNG")) << name;
  }
  auto opaque = thumbnailer_.make_thumbnail_now(picture("opaque.png", 640, 640));
  ASSERT_TRUE(opaque.ok());
  EXPECT_EQ(opaque->mime, "image/jpeg");
  EXPECT_EQ(opaque->width, 320);
}

TEST_F(ThumbnailerTest, SmallImagesAreNotEnlarged) {
  auto thumbnail = thumbnailer_.make_thumbnail_now(picture("small.png", 100, 40));
  ASSERT_TRUE(thumbnail.ok());
  EXPECT_EQ(thumbnail->width, 100);
  EXPECT_EQ(thumbnail->height, 40);
}

TEST_F(ThumbnailerTest, StripsExifGpsXmpAndIccAndTurnsThePictureUpright) {
  // A JPEG with an ICC profile (libvips writes it), then EXIF (GPS) and XMP spliced in after SOI.
  auto image = grey_picture(2000, 1000, 3);
  VipsBlob* profile = nullptr;
  ASSERT_EQ(vips_profile_load("srgb", &profile, nullptr), 0);
  std::size_t profile_length = 0;
  const void* profile_bytes = vips_blob_get(profile, &profile_length);
  vips_image_set_blob_copy(image.get(), VIPS_META_ICC_NAME, profile_bytes, profile_length);
  vips_area_unref(VIPS_AREA(profile));
  save(image.get(), dir_ / "plain.jpg");
  const auto plain = read_file(dir_ / "plain.jpg");
  const auto photo = file("photo.jpg", plain.substr(0, 2) + jpeg_segment(0xe1, exif_with_gps()) +
                                           jpeg_segment(0xe1, xmp_packet()) + plain.substr(2));

  VipsImage* source = vips_image_new_from_file(photo.c_str(), nullptr);
  ASSERT_NE(source, nullptr) << vips_error_buffer();
  EXPECT_TRUE(has_field(source, "exif-ifd3-GPSLatitude"));  // the fixture is what it claims
  EXPECT_TRUE(has_field(source, "xmp-data"));
  EXPECT_TRUE(has_field(source, "icc-profile-data"));
  g_object_unref(source);

  auto thumbnail = thumbnailer_.make_thumbnail_now(photo);
  ASSERT_TRUE(thumbnail.ok()) << thumbnail.error().message;
  EXPECT_EQ(metadata_fields(decode(thumbnail->bytes).get()), std::vector<std::string>{});
  EXPECT_EQ(thumbnail->bytes.find("Exif"), std::string::npos);
  EXPECT_EQ(thumbnail->bytes.find("xap/1.0"), std::string::npos);
  EXPECT_EQ(thumbnail->bytes.find("ICC_PROFILE"), std::string::npos);
  // Orientation 6: shown rotated, so the thumbnail is upright and the size is the one shown.
  EXPECT_EQ(thumbnail->width, 160);
  EXPECT_EQ(thumbnail->height, 320);
  EXPECT_EQ(thumbnail->source_width, 1000);
  EXPECT_EQ(thumbnail->source_height, 2000);
}

TEST_F(ThumbnailerTest, RefusesTooManyPixelsFromTheHeaderAlone) {
  const auto started = std::chrono::steady_clock::now();
  auto bomb = thumbnailer_.make_thumbnail_now(file("bomb.png", png_claiming(100000, 100000)));
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.error().code, Errc::too_large);  // decoding would have said invalid_input
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));

  // A JPEG whose frame header (SOF0) says 60000 x 60000.
  auto jpeg = read_file(picture("real.jpg", 64, 64));
  const auto frame = jpeg.find("\xff\xc0"s);
  ASSERT_NE(frame, std::string::npos);
  jpeg.replace(frame + 5, 4, "\xea\x60\xea\x60"s);
  auto jpeg_bomb = thumbnailer_.make_thumbnail_now(file("bomb.jpg", jpeg));
  ASSERT_FALSE(jpeg_bomb.ok());
  EXPECT_EQ(jpeg_bomb.error().code, Errc::too_large);

  // Under the limit, the same few bytes reach the decoder, which finds them wanting.
  auto small = thumbnailer_.make_thumbnail_now(file("short.png", png_claiming(1000, 1000)));
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code, Errc::invalid_input);

  // The limit is configurable, and counts pixels, not bytes.
  Thumbnailer strict(workers_, ThumbnailLimits{.max_source_pixels = 1'000'000});
  auto photo = strict.make_thumbnail_now(picture("big.jpg", 1001, 1000));
  ASSERT_FALSE(photo.ok());
  EXPECT_EQ(photo.error().code, Errc::too_large);
  EXPECT_TRUE(strict.make_thumbnail_now(picture("ok.jpg", 1000, 1000)).ok());
}

TEST_F(ThumbnailerTest, RefusesWhatIsNotAnImageItMayDecode) {
  const auto garbage = file("garbage.jpg", "\x01\x02 this is not an image \xfe\xff"s);
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(garbage).error().code, Errc::invalid_input);
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(dir_ / "missing.png").error().code,
            Errc::invalid_input);

  const auto whole = read_file(picture("whole.jpg", 800, 600));
  const auto truncated = file("truncated.jpg", whole.substr(0, whole.size() / 2));
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(truncated).error().code, Errc::invalid_input);
  // A PNG signature with HTML after it (a polyglot) is not a PNG to libvips either.
  const auto polyglot = file("polyglot.png", "\x89PNG\r\n\x1a\n<html><script>x</script></html>"s);
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(polyglot).error().code, Errc::invalid_input);
}

TEST_F(ThumbnailerTest, NeverDecodesSvgOrOtherFormats) {
  const auto svg = file("a.svg",
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"50\" height=\"50\">"
                        "<rect width=\"50\" height=\"50\" fill=\"red\"/></svg>");
  EXPECT_EQ(detect_file_type_now(svg).value(), "image/svg+xml");
  // Not by our check alone: the loader is blocked process-wide.
  VipsImage* direct = vips_image_new_from_file(svg.c_str(), nullptr);
  EXPECT_EQ(direct, nullptr);
  if (direct != nullptr) g_object_unref(direct);
  vips_error_clear();
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(svg).error().code, Errc::invalid_input);
  const auto tiff = picture("a.tif", 50, 50);  // libvips writes TIFF, but may not read one here
  EXPECT_EQ(thumbnailer_.make_thumbnail_now(tiff).error().code, Errc::invalid_input);
}

asio::awaitable<Result<Thumbnail>> thumbnail_of(Thumbnailer& thumbnailer, fs::path path) {
  co_return co_await thumbnailer.make_thumbnail(std::move(path));
}

TEST_F(ThumbnailerTest, RunsOnTheWorkersAndResumesOnTheCaller) {
  auto thumbnail = run_blocking(io_, thumbnail_of(thumbnailer_, picture("a.jpg", 640, 480)));
  ASSERT_TRUE(thumbnail.ok());
  EXPECT_EQ(thumbnail->width, 320);
  EXPECT_EQ(thumbnail->height, 240);
}

TEST_F(ThumbnailerTest, FullBacklogIsUnavailable) {
  asio::io_context io;  // outlives the pool's threads (see io_)
  WorkerPool workers(1, 1);
  Thumbnailer thumbnailer(workers);
  std::promise<void> release;
  const std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(workers.try_post([released] { released.wait(); }));  // busy
  ASSERT_TRUE(workers.try_post([released] { released.wait(); }));  // and one waiting: full
  const auto path = picture("a.png", 64, 64);
  auto refused = run_blocking(io, thumbnail_of(thumbnailer, path));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  release.set_value();
  while (workers.outstanding() != 0) std::this_thread::yield();
  EXPECT_TRUE(run_blocking(io, thumbnail_of(thumbnailer, path)).ok());
}

}  // namespace
}  // namespace chatd::media
