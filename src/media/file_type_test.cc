#include "media/file_type.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "util/run_blocking.h"

namespace chatd::media {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// The first bytes of each format: what libmagic reads (no file here is a whole, valid one).
const std::string kPngSignature = "\x89PNG\r\n\x1a\n"s;
const std::string kPngHeader =
    kPngSignature + "\x00\x00\x00\x0dIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"s +
    "\x1f\xf3\xff\x61"s;
const std::string kJpegHeader =
    "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"s;
const std::string kGifHeader = "GIF89a\x10\x00\x10\x00\x80\x00\x00"s;
const std::string kWebpHeader = "RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"s;
const std::string kPdfHeader =
    "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"s;
const std::string kMp4Header =
    "\x00\x00\x00\x20"
    "ftypisom\x00\x00\x02\x00isomiso2avc1mp41"s +
    "\x00\x00\x00\x08"
    "free"s;
// EBML header with DocType "webm".
const std::string kWebmHeader =
    "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"s +
    "\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02"s;
const std::string kHtml =
    "<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n";

class FileTypeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "chatd-types-XXXXXX").string();
    dir_ = mkdtemp(name.data());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string type_of(const std::string& bytes) {
    const auto path = dir_ / std::to_string(files_++);
    std::ofstream(path, std::ios::binary) << bytes;
    auto type = detect_file_type_now(path);
    return type ? *type : "error: " + type.error().message;
  }

  fs::path dir_;
  int files_ = 0;
};

TEST_F(FileTypeTest, ReadsTheTypeFromTheBytes) {
  EXPECT_EQ(type_of(kPngHeader), "image/png");
  EXPECT_EQ(type_of(kJpegHeader), "image/jpeg");
  EXPECT_EQ(type_of(kGifHeader), "image/gif");
  EXPECT_EQ(type_of(kWebpHeader), "image/webp");
  EXPECT_EQ(type_of(kPdfHeader), "application/pdf");
  EXPECT_EQ(type_of(kMp4Header), "video/mp4");
  EXPECT_EQ(type_of(kWebmHeader), "video/webm");
  EXPECT_EQ(type_of("just some words\n"), "text/plain");
  EXPECT_EQ(type_of(kHtml), "text/html");
  EXPECT_EQ(type_of("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>x</script></svg>"),
            "image/svg+xml");
  EXPECT_EQ(type_of(""), "inode/x-empty");
  EXPECT_EQ(type_of("\x01\x02\x03\x04\xfe\xff\x00\x10"s), "application/octet-stream");
}

// Files built to be two things at once. What matters is that none of them is called an image and
// also read as HTML: an image type is served inline with nosniff (the browser does not look for
// HTML in it, and libvips refuses what is not really an image), anything else as a download.
TEST_F(FileTypeTest, PolyglotsAreWhatTheirFirstBytesSay) {
  // A bare PNG signature is not enough for libmagic: without an IHDR after it, it calls the
  // bytes data.
  EXPECT_EQ(type_of(kPngSignature + kHtml), "application/octet-stream");
  // A PNG header (signature and IHDR) followed by HTML is a PNG.
  EXPECT_EQ(type_of(kPngHeader + kHtml), "image/png");
  // GIF89a then HTML (the classic GIFAR-style trick): a GIF.
  EXPECT_EQ(type_of("GIF89a" + kHtml), "image/gif");
  EXPECT_EQ(type_of("GIF89a/*<svg onload=alert(1)>*/=1;alert(1)"), "image/gif");
  // JPEG's marker then HTML: a JPEG.
  EXPECT_EQ(type_of("\xff\xd8\xff\xe0"s + kHtml), "image/jpeg");
  // HTML first, an image's bytes after: HTML (text), or data once binary bytes follow.
  EXPECT_EQ(type_of(kHtml + "GIF89a"), "text/html");
  EXPECT_EQ(type_of(kHtml + kPngHeader), "application/octet-stream");
  // A PDF that carries HTML: a PDF.
  EXPECT_EQ(type_of(kPdfHeader + kHtml), "application/pdf");
}

TEST_F(FileTypeTest, MissingFileIsAnError) {
  auto type = detect_file_type_now(dir_ / "missing");
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.error().code, Errc::internal);
}

TEST_F(FileTypeTest, DetectsOnTheIoPoolAndResumesOnTheCaller) {
  const auto path = dir_ / "a.pdf";
  std::ofstream(path, std::ios::binary) << kPdfHeader;
  asio::io_context io;
  asio::thread_pool pool(2);
  auto type = run_blocking(io, detect_file_type(pool.get_executor(), path));
  ASSERT_TRUE(type.ok());
  EXPECT_EQ(*type, "application/pdf");
}

TEST(AttachmentKind, OnlyRasterImagesAreImages) {
  for (const char* image : {"image/jpeg", "image/png", "image/webp", "image/gif"}) {
    EXPECT_EQ(attachment_kind(image), AttachmentKind::image) << image;
  }
  for (const char* download :
       {"image/svg+xml", "image/tiff", "image/heic", "image/bmp", "text/html", "application/pdf",
        "video/mp4", "video/webm", "application/octet-stream", "IMAGE/PNG", "image/png; x", ""}) {
    EXPECT_EQ(attachment_kind(download), AttachmentKind::download) << download;
  }
}

}  // namespace
}  // namespace chatd::media
