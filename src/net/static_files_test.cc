#include "net/static_files.h"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <filesystem>
#include <fstream>

namespace chatd::net {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "chatd-static-XXXXXX").string();
    base_ = mkdtemp(pattern.data());
    fs::create_directories(base_ / "www" / "assets");
    write(base_ / "www" / "index.html", "<html>app</html>");
    write(base_ / "www" / "assets" / "app.js", "console.log(1)");
    write(base_ / "secret.txt", "do not serve");
    fs::create_symlink(base_ / "secret.txt", base_ / "www" / "link.txt");
  }
  void TearDown() override { fs::remove_all(base_); }

  static void write(const fs::path& p, std::string_view content) { std::ofstream(p) << content; }

  fs::path base_;
};

TEST_F(StaticFilesTest, ServesFilesAndDirectoryIndexes) {
  StaticFiles files(base_ / "www");
  auto js = files.resolve("/assets/app.js");
  ASSERT_TRUE(js.has_value());
  auto response = files.read(*js, false);
  EXPECT_EQ(response.body(), "console.log(1)");
  EXPECT_EQ(response[http::field::content_type], "text/javascript; charset=utf-8");
  auto index = files.resolve("/");
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(index->filename(), "index.html");
  auto head = files.read(*index, true);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[http::field::content_length], "16");
}

TEST_F(StaticFilesTest, NeverLeavesTheRoot) {
  StaticFiles files(base_ / "www");
  EXPECT_FALSE(files.resolve("/../secret.txt").has_value());
  EXPECT_FALSE(files.resolve("/assets/../../secret.txt").has_value());
  EXPECT_FALSE(files.resolve("/link.txt").has_value());  // a symlink out of the root
  EXPECT_FALSE(files.resolve("/..\\secret.txt").has_value());
  EXPECT_FALSE(files.resolve(std::string_view("/index.html\0x", 13)).has_value());
  EXPECT_FALSE(files.resolve("/missing.js").has_value());
  EXPECT_TRUE(files.spa_index().has_value());
}

TEST(StaticFiles, KnowsCommonContentTypes) {
  EXPECT_EQ(StaticFiles::content_type("a/b.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticFiles::content_type("x.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::content_type("x.unknown"), "application/octet-stream");
}

}  // namespace
}  // namespace chatd::net
