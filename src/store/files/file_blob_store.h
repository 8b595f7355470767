#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "store/blob_store.h"

namespace chatd::store {

// Blobs as files under a data directory: `<dir>/ab/cdef...` (the first two hex digits name a
// subdirectory, so that no directory holds more than a 256th of them), mode 0600, and `<dir>/tmp/`
// for copies in progress and blobs being removed. In a cluster every node names the same
// directory (a shared file system: README.md, "Cluster"); renames and hard links are atomic there
// too. Blocking file I/O runs on a small thread pool of its own.
//
// A blob gets its final name only once its bytes are on disk (fsync, then a hard link, which fails
// rather than replaces when the name exists), so a name never points at partial content, and
// concurrent puts of one blob cannot clobber each other.
class FileBlobStore final : public BlobStore {
 public:
  // Creates `dir` (0700) when missing and empties its tmp/ (copies a crash cut short). Start-up
  // code: blocks, and throws std::system_error on failure.
  explicit FileBlobStore(std::filesystem::path dir, std::size_t threads = 2);
  FileBlobStore(const FileBlobStore&) = delete;
  FileBlobStore& operator=(const FileBlobStore&) = delete;
  // Waits for the calls in progress.
  ~FileBlobStore() override;

  asio::awaitable<Status> put(std::string sha256, std::string staged_path) override;
  asio::awaitable<Result<bool>> exists(std::string sha256) override;
  asio::awaitable<Result<std::uint64_t>> size(std::string sha256) override;
  asio::awaitable<Result<std::string>> read(std::string sha256, std::uint64_t offset,
                                            std::size_t length) override;
  asio::awaitable<Status> remove_unused(
      std::string sha256, std::function<asio::awaitable<Result<bool>>()> in_use) override;

  // The blocking forms, for the pool's threads and for tests.
  Status put_now(const std::string& sha256, const std::filesystem::path& staged_path) const;
  Result<bool> exists_now(const std::string& sha256) const;
  Result<std::uint64_t> size_now(const std::string& sha256) const;
  Result<std::string> read_now(const std::string& sha256, std::uint64_t offset,
                               std::size_t length) const;
  // remove_unused's steps: the blob renamed into tmp/ (none when absent), then either put back
  // (unless a put stored it anew meanwhile) or deleted.
  Result<std::optional<std::filesystem::path>> set_aside_now(const std::string& sha256) const;
  Status put_back_now(const std::string& sha256, const std::filesystem::path& aside) const;
  Status delete_aside_now(const std::string& sha256, const std::filesystem::path& aside) const;

 private:
  std::filesystem::path subdir_of(const std::string& sha256) const;
  std::filesystem::path path_of(const std::string& sha256) const;
  Status link_into_place(const std::filesystem::path& staged,
                         const std::filesystem::path& final_path) const;
  Status copy_into_place(const std::filesystem::path& staged,
                         const std::filesystem::path& final_path) const;
  template <class Fn>
  auto on_pool(Fn fn);

  std::filesystem::path dir_;
  std::filesystem::path tmp_dir_;
  boost::asio::thread_pool pool_;
};

}  // namespace chatd::store
