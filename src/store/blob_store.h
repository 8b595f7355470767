#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "util/result.h"

// Content-addressed bytes (attachments and their thumbnails, issue 12): each blob is named by the
// lowercase hex SHA-256 of its content, so two uploads of the same bytes are stored once. Which
// attachment refers to which blob, and when a blob is no longer referred to, is the Store's
// business (rows in the database); a BlobStore only keeps bytes.
//
// Every call completes on the caller's executor; implementations never block it.
namespace chatd::store {

namespace asio = boost::asio;

// 64 lowercase hex digits: the only names a blob can have (anything else is invalid_input, so no
// name can reach outside the store).
inline bool is_blob_id(std::string_view id) {
  if (id.size() != 64) return false;
  for (const char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores the finished file at `staged_path` (written and closed by its owner) under `sha256`,
  // which the caller computed from its content. Durable when it succeeds. Already present is
  // success (that is the dedupe), and so is a concurrent put of the same blob. On success the
  // staged file is consumed (it no longer exists under `staged_path`); on failure it is left to
  // its owner.
  virtual asio::awaitable<Status> put(std::string sha256, std::string staged_path) = 0;

  virtual asio::awaitable<Result<bool>> exists(std::string sha256) = 0;

  // The blob's length in bytes; not_found when absent.
  virtual asio::awaitable<Result<std::uint64_t>> size(std::string sha256) = 0;

  // Up to `length` bytes from `offset` (fewer at the end of the blob, or when `length` is above
  // kMaxBlobReadBytes; empty at or past the end). Large blobs are read piece by piece (ranged
  // downloads), so no blob is ever whole in memory. not_found when absent.
  virtual asio::awaitable<Result<std::string>> read(std::string sha256, std::uint64_t offset,
                                                    std::size_t length) = 0;

  // Removes the blob unless `in_use`, asked once the blob is out of reach of new puts and reads,
  // says a row refers to it again; absent is success. A put that races with the removal either
  // happens before the blob is out of reach (its row, written before the put, is then seen by
  // `in_use`, and the blob stays) or finds it absent and stores it anew: an upload written in
  // the order row, then put, never ends up without its bytes.
  virtual asio::awaitable<Status> remove_unused(
      std::string sha256, std::function<asio::awaitable<Result<bool>>()> in_use) = 0;
};

// The most one read() returns, whatever length is asked for: what a read may hold in memory.
inline constexpr std::size_t kMaxBlobReadBytes = std::size_t{1} << 20;

}  // namespace chatd::store
