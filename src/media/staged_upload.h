#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "util/result.h"

namespace chatd::media {

namespace asio = boost::asio;

// An upload whose bytes have all arrived, in its staging file.
struct StagedFile {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex of the content: its name in a store::BlobStore
};

// Creates the staging directory (0700) when missing and removes the staging files a previous run
// left there (uploads a crash cut short). Start-up code: blocks, throws on failure.
void prepare_staging_dir(const std::filesystem::path& dir);

// One upload on its way to disk: a file of its own in the staging directory (created with O_EXCL,
// mode 0600, a random name), to which the request's body is appended a chunk at a time while its
// SHA-256 is computed, so a file is hashed without being read twice and never sits whole in memory.
//
// Blocking work (writes, hashing, closing, removal) runs on the I/O executor given to create() (a
// thread pool's, which must outlive every upload), one job at a time per upload (a strand), and
// each call resumes on the caller's executor. A caller awaits each call before the next, so at most
// one chunk per upload is in flight; the object must not move while a call is in flight.
//
// The file is removed when the upload is destroyed (or discard()ed), unless release() says it was
// handed over (store::BlobStore::put consumes it).
class StagedUpload {
 public:
  static asio::awaitable<Result<StagedUpload>> create(asio::any_io_executor io,
                                                      std::filesystem::path dir,
                                                      std::uint64_t max_bytes);

  StagedUpload(StagedUpload&& other) noexcept;
  StagedUpload& operator=(StagedUpload&& other) noexcept;
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;
  ~StagedUpload();

  // Appends `chunk` and hashes it. More than max_bytes in all: too_large, and the file is removed
  // at once (an upload over the limit leaves nothing behind). After an error or finish(), every
  // append fails.
  asio::awaitable<Status> append(std::string chunk);

  // Closes the file and reports its path, size and SHA-256. The file stays until release() or
  // destruction. Not synced to disk: store::BlobStore::put does that before naming it.
  asio::awaitable<Result<StagedFile>> finish();

  // Removes the file now (the upload was cut short) and resumes once it is gone.
  asio::awaitable<void> discard();

  // The file was handed over: it is no longer this upload's to remove.
  void release() { released_ = true; }

  struct State;  // lives on the I/O executor's threads; defined in staged_upload.cc

 private:
  StagedUpload(asio::strand<asio::any_io_executor> strand, std::shared_ptr<State> state);
  void close_in_background();

  asio::strand<asio::any_io_executor> strand_;
  std::shared_ptr<State> state_;
  bool released_ = false;
  bool in_flight_ = false;
};

}  // namespace chatd::media
