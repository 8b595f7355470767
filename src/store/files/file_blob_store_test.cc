#include "store/files/file_blob_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "util/run_blocking.h"

namespace chatd::store {
namespace {

namespace fs = std::filesystem;

// The store trusts the caller's hash, so these tests name blobs with any valid id.
std::string blob_id(char digit) {
  return std::string(64, digit);
}

std::string pattern(std::size_t length) {
  std::string bytes(length, '\0');
  for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return bytes;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class FileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "chatd-blobs-XXXXXX").string();
    base_ = mkdtemp(name.data());
    fs::create_directory(base_ / "staging");
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path blobs() const { return base_ / "blobs"; }

  // A finished upload, as the media layer leaves it (but with mode 0644: put makes it 0600).
  fs::path stage(const std::string& content, const fs::path& dir = {}) {
    auto path = (dir.empty() ? base_ / "staging" : dir) / (std::to_string(staged_++) + ".part");
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    return path;
  }

  fs::path base_;
  int staged_ = 0;
};

TEST_F(FileBlobStoreTest, PutStoresUnderTheFirstTwoDigitsWithMode0600) {
  FileBlobStore store(blobs());
  const auto id = "ab" + std::string(62, 'c');
  const auto staged = stage("hello");
  ASSERT_TRUE(store.put_now(id, staged).ok());

  const auto stored = blobs() / "ab" / std::string(62, 'c');
  ASSERT_TRUE(fs::is_regular_file(stored));
  struct stat info {};
  ASSERT_EQ(::stat(stored.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
  EXPECT_EQ(info.st_nlink, 1U);  // the staged name is gone: the file was moved in
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_TRUE(*store.exists_now(id));
  EXPECT_EQ(*store.size_now(id), 5U);
  EXPECT_EQ(*store.read_now(id, 0, 100), "hello");
}

TEST_F(FileBlobStoreTest, PutOfAStoredBlobSucceedsAndKeepsOneCopy) {
  FileBlobStore store(blobs());
  const auto id = blob_id('1');
  ASSERT_TRUE(store.put_now(id, stage("same bytes")).ok());
  const auto again = stage("same bytes");
  ASSERT_TRUE(store.put_now(id, again).ok());
  EXPECT_FALSE(fs::exists(again));  // consumed: nothing for its owner to clean up
  EXPECT_EQ(*store.read_now(id, 0, 100), "same bytes");
  EXPECT_EQ(std::distance(fs::directory_iterator(blobs() / "11"), fs::directory_iterator()), 1);
}

// Puts the same blob from many staged copies at once, the way simultaneous uploads of one file do.
asio::awaitable<void> put_and_count(FileBlobStore& store, std::string id, std::string staged,
                                    int& succeeded) {
  auto stored = co_await store.put(std::move(id), std::move(staged));
  if (stored.ok()) ++succeeded;
}

TEST_F(FileBlobStoreTest, ConcurrentPutsOfOneBlobAllSucceed) {
  boost::asio::io_context io;
  FileBlobStore store(blobs(), 4);
  const auto id = blob_id('2');
  const auto content = pattern(std::size_t{300} << 10);
  constexpr int kPuts = 16;
  int succeeded = 0;
  std::vector<fs::path> staged;
  staged.reserve(kPuts);
  for (int i = 0; i < kPuts; ++i) staged.push_back(stage(content));
  for (const auto& path : staged) {
    boost::asio::co_spawn(io, put_and_count(store, id, path.string(), succeeded),
                          boost::asio::detached);
  }
  io.run();
  EXPECT_EQ(succeeded, kPuts);
  for (const auto& path : staged) EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(read_file(blobs() / "22" / id.substr(2)), content);
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
}

TEST_F(FileBlobStoreTest, ReadsRangesPieceByPiece) {
  FileBlobStore store(blobs());
  const auto id = blob_id('3');
  const auto content = pattern((std::size_t{200} << 10) + 17);
  ASSERT_TRUE(store.put_now(id, stage(content)).ok());

  constexpr std::size_t kPiece = std::size_t{64} << 10;
  std::string reassembled;
  for (std::uint64_t offset = 0;; offset += kPiece) {
    auto piece = store.read_now(id, offset, kPiece);
    ASSERT_TRUE(piece.ok());
    if (piece->empty()) break;
    EXPECT_LE(piece->size(), kPiece);
    reassembled += *piece;
  }
  EXPECT_EQ(reassembled, content);
  EXPECT_EQ(*store.read_now(id, 1000, 10), content.substr(1000, 10));
  EXPECT_EQ(*store.read_now(id, content.size() - 3, 100), content.substr(content.size() - 3));
  EXPECT_EQ(*store.read_now(id, content.size(), 100), "");
  EXPECT_EQ(*store.read_now(id, ~std::uint64_t{0}, 100), "");
  EXPECT_EQ(*store.read_now(id, 5, 0), "");
}

TEST_F(FileBlobStoreTest, OneReadHoldsAtMostTheReadLimit) {
  FileBlobStore store(blobs());
  const auto id = blob_id('4');
  const auto content = pattern(kMaxBlobReadBytes + 4096);
  ASSERT_TRUE(store.put_now(id, stage(content)).ok());
  auto whole = store.read_now(id, 0, content.size());
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), kMaxBlobReadBytes);
  EXPECT_EQ(*whole, content.substr(0, kMaxBlobReadBytes));
}

// remove_unused, run to its end on `io`, with `in_use` answering `used` (and calling `meanwhile`
// first, as a put racing with the removal would). `io` must outlive the store, whose pool threads
// may still be returning from posting to it.
Status remove_unused(
    boost::asio::io_context& io, FileBlobStore& store, const std::string& id, bool used,
    const std::function<void()>& meanwhile = [] {}) {
  auto in_use = [used, &meanwhile]() -> boost::asio::awaitable<Result<bool>> {
    meanwhile();
    co_return used;
  };
  return run_blocking(io, store.remove_unused(id, in_use));
}

TEST_F(FileBlobStoreTest, RemoveUnusedDeletesAndAbsentIsSuccess) {
  boost::asio::io_context io;
  FileBlobStore store(blobs());
  const auto id = blob_id('5');
  ASSERT_TRUE(store.put_now(id, stage("x")).ok());
  ASSERT_TRUE(remove_unused(io, store, id, false).ok());
  EXPECT_FALSE(*store.exists_now(id));
  EXPECT_EQ(store.size_now(id).error().code, Errc::not_found);
  EXPECT_EQ(store.read_now(id, 0, 1).error().code, Errc::not_found);
  EXPECT_TRUE(remove_unused(io, store, id, false).ok());
  EXPECT_TRUE(
      remove_unused(io, store, blob_id('6'), false).ok());  // never stored, nor its directory
  EXPECT_FALSE(*store.exists_now(blob_id('6')));
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
}

TEST_F(FileBlobStoreTest, RemoveUnusedKeepsABlobThatIsInUseAgain) {
  boost::asio::io_context io;
  FileBlobStore store(blobs());
  const auto id = blob_id('4');
  ASSERT_TRUE(store.put_now(id, stage("kept")).ok());
  ASSERT_TRUE(remove_unused(io, store, id, true).ok());
  EXPECT_EQ(*store.read_now(id, 0, 10), "kept");
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
}

// An upload of the same bytes during the removal finds the name free and stores them anew; its
// row makes in_use true, and both copies being the same bytes, the blob is simply there.
TEST_F(FileBlobStoreTest, APutDuringTheRemovalKeepsTheBlob) {
  boost::asio::io_context io;
  FileBlobStore store(blobs());
  const auto id = blob_id('3');
  ASSERT_TRUE(store.put_now(id, stage("same")).ok());
  bool put_found_it_absent = false;
  auto racing_put = [&] {
    put_found_it_absent = !*store.exists_now(id);
    EXPECT_TRUE(store.put_now(id, stage("same")).ok());
  };
  ASSERT_TRUE(remove_unused(io, store, id, true, racing_put).ok());
  EXPECT_TRUE(put_found_it_absent);
  EXPECT_EQ(*store.read_now(id, 0, 10), "same");
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
}

TEST_F(FileBlobStoreTest, RefusesIdsThatAreNot64LowercaseHexDigits) {
  boost::asio::io_context io;
  FileBlobStore store(blobs());
  std::ofstream(base_ / "secret") << "secret";
  const std::vector<std::string> bad = {
      "",
      blob_id('a').substr(1),                 // 63 digits
      blob_id('a') + "a",                     // 65
      std::string(64, 'A'),                   // upper case
      std::string(62, 'a') + "/.",            // a path
      "../" + std::string(61, 'a'),           // traversal
      "../../secret" + std::string(52, 'a'),  // traversal, right length
      std::string(63, 'a') + std::string(1, '\0'),
      std::string(63, 'a') + "g",
  };
  for (const auto& id : bad) {
    const auto staged = stage("content");
    EXPECT_EQ(store.put_now(id, staged).error().code, Errc::invalid_input) << id;
    EXPECT_TRUE(fs::exists(staged));  // a failed put leaves the file to its owner
    EXPECT_EQ(store.exists_now(id).error().code, Errc::invalid_input);
    EXPECT_EQ(store.size_now(id).error().code, Errc::invalid_input);
    EXPECT_EQ(store.read_now(id, 0, 10).error().code, Errc::invalid_input);
    EXPECT_EQ(remove_unused(io, store, id, false).error().code, Errc::invalid_input);
  }
  EXPECT_TRUE(fs::exists(base_ / "secret"));
}

TEST_F(FileBlobStoreTest, MissingStagedFileFailsAndStoresNothing) {
  FileBlobStore store(blobs());
  const auto id = blob_id('7');
  EXPECT_EQ(store.put_now(id, base_ / "staging" / "missing").error().code, Errc::internal);
  EXPECT_FALSE(*store.exists_now(id));
}

// A staging directory on another file system (here /dev/shm, a tmpfs) cannot be linked from: put
// copies, syncs and renames instead.
TEST_F(FileBlobStoreTest, CopiesAcrossFileSystems) {
  struct stat shm {};
  struct stat tmp {};
  if (::stat("/dev/shm", &shm) != 0 || ::stat(base_.c_str(), &tmp) != 0 ||
      shm.st_dev == tmp.st_dev) {
    GTEST_SKIP() << "no second file system to stage on";
  }
  std::string name = "/dev/shm/chatd-staging-XXXXXX";
  const fs::path other = mkdtemp(name.data());
  FileBlobStore store(blobs());
  const auto id = blob_id('8');
  const auto content = pattern(std::size_t{100} << 10);
  const auto staged = stage(content, other);
  ASSERT_TRUE(store.put_now(id, staged).ok());
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_EQ(*store.read_now(id, 0, content.size()), content);
  struct stat info {};
  ASSERT_EQ(::stat((blobs() / "88" / id.substr(2)).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
  ASSERT_TRUE(store.put_now(id, stage(content, other)).ok());  // present: nothing copied
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
  fs::remove_all(other);
}

TEST_F(FileBlobStoreTest, StartUpEmptiesTmpAndKeepsBlobs) {
  const auto id = blob_id('9');
  {
    FileBlobStore store(blobs());
    ASSERT_TRUE(store.put_now(id, stage("kept")).ok());
  }
  std::ofstream(blobs() / "tmp" / "put-leftover") << "a copy a crash cut short";
  FileBlobStore store(blobs());
  EXPECT_TRUE(fs::is_empty(blobs() / "tmp"));
  EXPECT_EQ(*store.read_now(id, 0, 10), "kept");
}

// Every argument of a co_await is a named variable moved in (g++ 12, see util/async.h).
asio::awaitable<std::string> round_trip(FileBlobStore& store, std::string id, std::string staged) {
  auto put_id = id;
  auto stored = co_await store.put(std::move(put_id), std::move(staged));
  EXPECT_TRUE(stored.ok());
  auto exists_id = id;
  auto present = co_await store.exists(std::move(exists_id));
  EXPECT_TRUE(present.ok() && *present);
  auto size_id = id;
  auto length = co_await store.size(std::move(size_id));
  EXPECT_TRUE(length.ok() && *length == 6);
  auto read_id = id;
  auto bytes = co_await store.read(std::move(read_id), 2, 3);
  auto unused = []() -> asio::awaitable<Result<bool>> { co_return false; };
  auto removed = co_await store.remove_unused(std::move(id), std::move(unused));
  EXPECT_TRUE(removed.ok());
  co_return bytes.ok() ? *bytes : bytes.error().message;
}

TEST_F(FileBlobStoreTest, AsyncCallsResumeOnTheCallersLoop) {
  boost::asio::io_context io;
  FileBlobStore store(blobs());
  EXPECT_EQ(run_blocking(io, round_trip(store, blob_id('0'), stage("abcdef").string())), "cde");
}

}  // namespace
}  // namespace chatd::store
