#include "chat/attachments.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "media/file_type.h"
#include "util/clock.h"
#include "util/object_id.h"
#include "util/text.h"

namespace chatd::chat {

namespace {

constexpr std::size_t kMaxNameBytes = 255;
constexpr int kCollectBatch = 500;

// Types a download is labelled with as detected: what browsers show as media, or as a PDF in
// their sandboxed viewer. Anything else (HTML, SVG, XML, scripts...) is served as opaque bytes,
// so no upload can become a page of this origin.
constexpr std::array kLabelledTypes = {
    std::string_view("image/jpeg"),      std::string_view("image/png"),
    std::string_view("image/webp"),      std::string_view("image/gif"),
    std::string_view("application/pdf"),
};

bool labelled_as_detected(std::string_view mime) {
  if (mime.starts_with("video/") || mime.starts_with("audio/")) return true;
  return std::find(kLabelledTypes.begin(), kLabelledTypes.end(), mime) != kLabelledTypes.end();
}

// Drops a trailing partial UTF-8 sequence that truncation may leave.
void trim_to_utf8(std::string& text) {
  while (!text.empty() && !text::is_valid_utf8(text)) text.pop_back();
}

}  // namespace

std::string clean_file_name(std::string_view name) {
  if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  std::string clean;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) clean.push_back(c);
  }
  if (!text::is_valid_utf8(clean)) clean.clear();
  if (clean.size() > kMaxNameBytes) {
    clean.resize(kMaxNameBytes);
    trim_to_utf8(clean);
  }
  if (clean.empty() || clean == "." || clean == "..") return "file";
  return clean;
}

// ---- The service -------------------------------------------------------------------------------

AttachmentService::AttachmentService(store::Store& store, store::BlobStore& blobs,
                                     const AttachmentLinks& links, asio::any_io_executor file_io,
                                     AttachmentOptions options)
    : store_(store),
      blobs_(blobs),
      links_(links),
      options_(std::move(options)),
      file_io_(std::move(file_io)),
      thumbnail_workers_(options_.thumbnail_threads, options_.thumbnail_backlog),
      thumbnailer_(thumbnail_workers_, options_.thumbnails) {
  media::prepare_staging_dir(options_.staging_dir);
}

asio::awaitable<Result<Upload>> AttachmentService::begin_upload() {
  auto staged =
      co_await media::StagedUpload::create(file_io_, options_.staging_dir, options_.max_bytes);
  if (!staged) co_return std::move(staged).take_error();
  co_return Upload(std::move(*staged));
}

// A thumbnail made and staged, not yet in the BlobStore.
struct AttachmentService::StagedThumbnail {
  store::AttachmentThumbnail info;
  int source_width = 0;
  int source_height = 0;
  media::StagedUpload upload;
  media::StagedFile file;
};

asio::awaitable<Result<AttachmentService::StagedThumbnail>> AttachmentService::make_thumbnail(
    std::filesystem::path source) {
  auto made = co_await thumbnailer_.make_thumbnail(std::move(source));
  if (!made) {
    if (made.error().code == Errc::invalid_input) {
      co_return make_error(Errc::invalid_input, "The image could not be read");
    }
    co_return std::move(made).take_error();
  }
  auto staged =
      co_await media::StagedUpload::create(file_io_, options_.staging_dir, options_.max_bytes);
  if (!staged) co_return std::move(staged).take_error();
  auto bytes = std::move(made->bytes);
  if (auto appended = co_await staged->append(std::move(bytes)); !appended) {
    co_return std::move(appended).take_error();
  }
  auto file = co_await staged->finish();
  if (!file) co_return std::move(file).take_error();
  store::AttachmentThumbnail info{file->sha256, made->mime, made->width, made->height};
  co_return StagedThumbnail{std::move(info), made->source_width, made->source_height,
                            std::move(*staged), std::move(*file)};
}

asio::awaitable<Status> AttachmentService::store_blob(media::StagedUpload& upload,
                                                      const media::StagedFile& file) {
  auto sha = file.sha256;
  auto path = file.path.string();
  auto stored = co_await blobs_.put(std::move(sha), std::move(path));
  if (stored) upload.release();  // the BlobStore consumed the file
  co_return stored;
}

asio::awaitable<Result<AttachmentView>> AttachmentService::finish_upload(store::User caller,
                                                                         std::string name,
                                                                         Upload upload) {
  auto file = co_await upload.staged_.finish();
  if (!file) co_return std::move(file).take_error();
  if (file->size == 0) co_return make_error(Errc::invalid_input, "The file is empty");
  auto mime = co_await media::detect_file_type(file_io_, file->path);
  if (!mime) co_return std::move(mime).take_error();

  store::Attachment attachment;
  attachment.id = new_object_id();
  attachment.uploader_id = caller.id;
  attachment.name = clean_file_name(name);
  attachment.size = file->size;
  attachment.mime = *mime;
  attachment.sha256 = file->sha256;
  attachment.created_at = clock::now_ms();
  std::optional<StagedThumbnail> thumbnail;
  if (media::attachment_kind(*mime) == media::AttachmentKind::image) {
    auto made = co_await make_thumbnail(file->path);
    if (!made) co_return std::move(made).take_error();
    attachment.width = made->source_width;
    attachment.height = made->source_height;
    attachment.thumbnail = made->info;
    thumbnail.emplace(std::move(*made));
  }
  // The row before the bytes: a collector removing the same bytes meanwhile sees the row and
  // keeps them, or the put finds them gone and stores them anew (BlobStore::remove_unused).
  auto row = attachment;
  if (auto created = co_await store_.create_attachment(std::move(row)); !created) {
    co_return std::move(created).take_error();
  }
  if (auto stored = co_await store_blob(upload.staged_, *file); !stored) {
    co_return std::move(stored).take_error();
  }
  if (thumbnail) {
    if (auto stored = co_await store_blob(thumbnail->upload, thumbnail->file); !stored) {
      co_return std::move(stored).take_error();
    }
  }
  spdlog::debug("attachments: {} uploaded {} ({} bytes, {})", caller.id, attachment.id,
                attachment.size, attachment.mime);
  co_return links_.view(std::move(attachment));
}

asio::awaitable<Result<Download>> AttachmentService::open(std::string attachment_id,
                                                          AttachmentPart part,
                                                          std::optional<std::string> reader) {
  auto found = co_await store_.find_attachment(std::move(attachment_id), std::move(reader));
  if (!found) co_return std::move(found).take_error();
  const auto& a = *found;
  if (part == AttachmentPart::thumbnail) {
    if (!a.thumbnail) co_return make_error(Errc::not_found, "This attachment has no thumbnail");
    auto sha = a.thumbnail->sha256;
    auto size = co_await blobs_.size(std::move(sha));
    if (!size) co_return std::move(size).take_error();
    co_return Download{a.thumbnail->sha256, *size, a.thumbnail->mime, "thumbnail-" + a.name, true};
  }
  const bool image = media::attachment_kind(a.mime) == media::AttachmentKind::image;
  const auto mime = labelled_as_detected(a.mime) ? a.mime : "application/octet-stream";
  co_return Download{a.sha256, a.size, mime, a.name, image};
}

asio::awaitable<Result<std::string>> AttachmentService::read(std::string sha256,
                                                             std::uint64_t offset,
                                                             std::size_t length) {
  return blobs_.read(std::move(sha256), offset, length);
}

asio::awaitable<Status> AttachmentService::remove_blob(std::string sha256) {
  auto in_use = [this, sha256]() { return store_.blob_in_use(sha256); };
  return blobs_.remove_unused(std::move(sha256), std::move(in_use));
}

asio::awaitable<void> AttachmentService::collect() {
  const auto cutoff = clock::now_ms() -
                      std::chrono::duration_cast<std::chrono::milliseconds>(options_.grace).count();
  for (;;) {
    auto orphans = co_await store_.collect_attachments({cutoff, kCollectBatch});
    if (!orphans) {
      spdlog::warn("attachments: collection failed: {}", orphans.error().message);
      co_return;
    }
    std::vector<std::string> removed;
    for (auto& sha : *orphans) {
      auto blob = sha;
      if (auto gone = co_await remove_blob(std::move(blob)); gone) {
        removed.push_back(std::move(sha));
      } else {
        spdlog::warn("attachments: blob {} not removed: {}", sha, gone.error().message);
      }
    }
    if (!removed.empty()) spdlog::info("attachments: removed {} unused blobs", removed.size());
    const bool more = removed.size() == static_cast<std::size_t>(kCollectBatch);
    auto forget = co_await store_.forget_blobs(std::move(removed));
    if (!forget || !more) co_return;
  }
}

}  // namespace chatd::chat
