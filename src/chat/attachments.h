#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/attachment_links.h"
#include "media/staged_upload.h"
#include "media/thumbnailer.h"
#include "media/worker_pool.h"
#include "store/blob_store.h"
#include "store/store.h"
#include "util/result.h"

// Attachments (API.md, "Rich messages"): uploads streamed to a staging file while hashed, typed
// from their bytes, thumbnailed when images, stored by content in a BlobStore; downloads for
// whoever may read them (store::Store::find_attachment) by token or by a signed, expiring link;
// and the collector that deletes uploads no message carries after a grace period, and the bytes
// no upload refers to any more.
namespace chatd::chat {

namespace asio = boost::asio;

struct AttachmentOptions {
  std::uint64_t max_bytes = 50ULL << 20;     // an upload above: too_large, nothing kept
  std::chrono::seconds grace{24 * 3600};     // an upload no message carries is deleted after this
  std::chrono::seconds link_lifetime{3600};  // a signed link is valid for this to twice this
  std::filesystem::path staging_dir;         // uploads on their way (the BlobStore's file system)
  std::size_t thumbnail_threads = 1;
  std::size_t thumbnail_backlog = 16;  // more images waiting: unavailable (retry)
  media::ThumbnailLimits thumbnails;
};

// What a download serves: the blob, its length and type, and whether a browser may show it.
struct Download {
  std::string sha256;
  std::uint64_t size = 0;
  std::string mime;      // the type it is served as
  std::string filename;  // for Content-Disposition
  bool inline_display = false;
};

// An upload in progress: the body's pieces are appended as they arrive.
class Upload {
 public:
  explicit Upload(media::StagedUpload staged) : staged_(std::move(staged)) {}
  // too_large past the limit (the staged file is gone at once).
  asio::awaitable<Status> append(std::string piece) { return staged_.append(std::move(piece)); }

 private:
  friend class AttachmentService;
  media::StagedUpload staged_;
};

class AttachmentService {
 public:
  // `blobs` and `store` must outlive the service. `file_io` (staging writes, hashing, type
  // detection) is a thread pool's executor that must outlive the event loops uploads run on: an
  // upload's coroutine destroyed with its loop (a shutdown cutting it short) still hands its
  // staging file to that pool to close. Creates the staging directory (start-up code: throws
  // when it cannot).
  AttachmentService(store::Store& store, store::BlobStore& blobs, const AttachmentLinks& links,
                    asio::any_io_executor file_io, AttachmentOptions options);
  AttachmentService(const AttachmentService&) = delete;
  AttachmentService& operator=(const AttachmentService&) = delete;

  const AttachmentLinks& links() const { return links_; }
  std::uint64_t max_bytes() const { return options_.max_bytes; }

  asio::awaitable<Result<Upload>> begin_upload();
  // Stores what was appended as the caller's upload named `name` (a file name, cleaned here).
  // Errors: invalid_input (empty, or an image that does not decode), too_large (an image with
  // too many pixels), unavailable (the thumbnailer is busy, or the disk is full).
  asio::awaitable<Result<AttachmentView>> finish_upload(store::User caller, std::string name,
                                                        Upload upload);

  // What `reader` may download (none: a link's signature was checked); else not_found.
  asio::awaitable<Result<Download>> open(std::string attachment_id, AttachmentPart part,
                                         std::optional<std::string> reader);
  // Up to `length` bytes of a download from `offset` (at most store::kMaxBlobReadBytes).
  asio::awaitable<Result<std::string>> read(std::string sha256, std::uint64_t offset,
                                            std::size_t length);

  // One collector pass: uploads no message carries, older than the grace period or of erased
  // users, and then their bytes.
  asio::awaitable<void> collect();

 private:
  struct StagedThumbnail;
  asio::awaitable<Result<StagedThumbnail>> make_thumbnail(std::filesystem::path source);
  // Hands a finished staged file to the BlobStore.
  asio::awaitable<Status> store_blob(media::StagedUpload& upload, const media::StagedFile& file);
  asio::awaitable<Status> remove_blob(std::string sha256);

  store::Store& store_;
  store::BlobStore& blobs_;
  const AttachmentLinks& links_;
  AttachmentOptions options_;
  asio::any_io_executor file_io_;
  media::WorkerPool thumbnail_workers_;
  media::Thumbnailer thumbnailer_;
};

// An uploaded file's name made safe to keep and to send back in a header: the last path
// component, without control characters, at most 255 bytes of valid UTF-8; "file" when nothing
// is left.
std::string clean_file_name(std::string_view name);

}  // namespace chatd::chat
