#include "media/staged_upload.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "util/run_blocking.h"

namespace chatd::media {
namespace {

namespace fs = std::filesystem;

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) {
    constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Stages `chunks` one after the other, as the upload route will, and reports how it ended. Every
// co_await argument is a named variable moved in (g++ 12, see util/async.h).
struct Outcome {
  std::optional<StagedUpload> upload;  // kept, so a test decides when it is destroyed
  std::optional<Error> error;          // the first error, from create, an append or finish
  std::size_t failed_chunk = 0;        // the index of the append that failed
  StagedFile file;
};

asio::awaitable<Outcome> stage(asio::any_io_executor io, fs::path dir, std::uint64_t max_bytes,
                               std::vector<std::string> chunks) {
  Outcome outcome;
  auto created = co_await StagedUpload::create(std::move(io), std::move(dir), max_bytes);
  if (!created) {
    outcome.error = created.error();
    co_return outcome;
  }
  outcome.upload.emplace(std::move(created).value());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    auto chunk = std::move(chunks[i]);
    auto appended = co_await outcome.upload->append(std::move(chunk));
    if (!appended) {
      outcome.error = appended.error();
      outcome.failed_chunk = i;
      co_return outcome;
    }
  }
  auto finished = co_await outcome.upload->finish();
  if (!finished) {
    outcome.error = finished.error();
  } else {
    outcome.file = *finished;
  }
  co_return outcome;
}

asio::awaitable<Status> append_after(StagedUpload& upload, std::string chunk) {
  co_return co_await upload.append(std::move(chunk));
}

asio::awaitable<void> discard(StagedUpload& upload) {
  co_await upload.discard();
}

class StagedUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "chatd-staging-XXXXXX").string();
    dir_ = mkdtemp(name.data());
  }
  void TearDown() override {
    drain_pool();  // the removals of the test's uploads, before the directory goes
    fs::remove_all(dir_);
  }

  Outcome run(std::uint64_t max_bytes, std::vector<std::string> chunks) {
    return run_blocking(io_, stage(pool_.get_executor(), dir_, max_bytes, std::move(chunks)));
  }

  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  // Waits for the background work of destroyed uploads (their removal) to finish.
  void drain_pool() { pool_.join(); }

  fs::path dir_;
  asio::io_context io_;
  asio::thread_pool pool_{2};
};

TEST_F(StagedUploadTest, HashMatchesOneShotSha256AndTheFileHoldsTheBytes) {
  std::vector<std::string> chunks;
  std::string whole;
  for (std::size_t i = 0; i < 40; ++i) {
    std::string chunk(i * 997 % 5000, '\0');
    for (std::size_t j = 0; j < chunk.size(); ++j)
      chunk[j] = static_cast<char>((i * 31 + j) & 0xff);
    whole += chunk;
    chunks.push_back(std::move(chunk));  // includes an empty chunk (i = 0)
  }
  auto outcome = run(1 << 20, chunks);
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.file.sha256, sha256_hex(whole));
  EXPECT_EQ(outcome.file.size, whole.size());
  EXPECT_EQ(read_file(outcome.file.path), whole);
  EXPECT_EQ(outcome.file.path.parent_path(), dir_);
  const auto name = outcome.file.path.filename().string();
  EXPECT_TRUE(name.starts_with("upload-") && name.ends_with(".part")) << name;
  struct stat info {};
  ASSERT_EQ(::stat(outcome.file.path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
}

TEST_F(StagedUploadTest, EmptyUploadHasTheEmptyHash) {
  auto outcome = run(10, {});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.file.size, 0U);
  EXPECT_EQ(outcome.file.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(StagedUploadTest, UploadsGetFilesOfTheirOwn) {
  auto first = run(100, {"same"});
  auto second = run(100, {"same"});
  ASSERT_FALSE(first.error);
  ASSERT_FALSE(second.error);
  EXPECT_NE(first.file.path, second.file.path);
  EXPECT_EQ(first.file.sha256, second.file.sha256);
  EXPECT_EQ(files_in_dir(), 2U);
}

TEST_F(StagedUploadTest, ExactlyTheLimitIsAccepted) {
  auto outcome = run(10, {"12345", "67890"});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.file.size, 10U);
}

TEST_F(StagedUploadTest, OverTheLimitIsTooLargeAndLeavesNothing) {
  auto outcome = run(10, {"123456", "7890", "x"});
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->code, Errc::too_large);
  EXPECT_EQ(outcome.failed_chunk, 2U);
  EXPECT_EQ(files_in_dir(), 0U);  // removed at once, while the upload object still exists
  auto again = run_blocking(io_, append_after(*outcome.upload, "y"));
  EXPECT_FALSE(again.ok());
}

TEST_F(StagedUploadTest, DestroyingTheUploadRemovesItsFile) {
  auto unfinished = run(100, {"partial"});
  auto finished = run(100, {"whole"});
  ASSERT_FALSE(finished.error);
  EXPECT_EQ(files_in_dir(), 2U);
  unfinished.upload.reset();
  finished.upload.reset();
  drain_pool();
  EXPECT_EQ(files_in_dir(), 0U);
}

TEST_F(StagedUploadTest, ReleasedFileIsKept) {
  auto outcome = run(100, {"handed over"});
  ASSERT_FALSE(outcome.error);
  outcome.upload->release();
  outcome.upload.reset();
  drain_pool();
  EXPECT_EQ(read_file(outcome.file.path), "handed over");
}

TEST_F(StagedUploadTest, DiscardRemovesAtOnce) {
  auto outcome = run(100, {"cut short"});
  ASSERT_FALSE(outcome.error);
  run_blocking(io_, discard(*outcome.upload));
  EXPECT_EQ(files_in_dir(), 0U);
}

TEST_F(StagedUploadTest, MissingDirectoryIsAnError) {
  dir_ /= "missing";
  auto outcome = run(100, {"x"});
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->code, Errc::internal);
  dir_ = dir_.parent_path();
}

TEST_F(StagedUploadTest, PrepareRemovesOnlyLeftoverUploads) {
  std::ofstream(dir_ / "upload-abc.part") << "left by a crash";
  std::ofstream(dir_ / "notes.txt") << "not ours";
  prepare_staging_dir(dir_);
  EXPECT_FALSE(fs::exists(dir_ / "upload-abc.part"));
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
  prepare_staging_dir(dir_ / "new");
  EXPECT_TRUE(fs::is_directory(dir_ / "new"));
  EXPECT_EQ(fs::status(dir_ / "new").permissions(), fs::perms::owner_all);
}

}  // namespace
}  // namespace chatd::media
