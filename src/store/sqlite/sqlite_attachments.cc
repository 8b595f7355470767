// SqliteStore's attachment calls (store.h, "Attachments"): the rows of uploads, who may read one,
// the links from messages, and the collector's passes. The bytes are a BlobStore's.
#include <set>
#include <string>
#include <vector>

#include "store/sqlite/jobs.h"
#include "store/sqlite/queries.h"

namespace chatd::store::sqlite {

Attachment read_attachment(const Statement& s, int first) {
  Attachment a;
  a.id = s.text(first);
  a.uploader_id = s.text(first + 1);
  a.name = s.text(first + 2);
  a.size = static_cast<std::uint64_t>(s.int64(first + 3));
  a.mime = s.text(first + 4);
  a.sha256 = s.text(first + 5);
  if (auto width = s.optional_int64(first + 6)) a.width = static_cast<int>(*width);
  if (auto height = s.optional_int64(first + 7)) a.height = static_cast<int>(*height);
  if (auto thumb = s.optional_text(first + 8)) {
    a.thumbnail = AttachmentThumbnail{std::move(*thumb), s.text(first + 9),
                                      static_cast<int>(s.int64(first + 10)),
                                      static_cast<int>(s.int64(first + 11))};
  }
  a.created_at = s.int64(first + 12);
  return a;
}

Status attach_to_message(Connection& c, const NewMessage& message, std::string_view message_id) {
  if (message.attachments.size() > static_cast<std::size_t>(kMaxMessageAttachments)) {
    return make_error(
        Errc::invalid_input,
        "A message can carry at most " + std::to_string(kMaxMessageAttachments) + " attachments");
  }
  std::set<std::string_view> seen;
  auto owned = c.prepare("SELECT 1 FROM attachments WHERE id = ? AND uploader_id = ?");
  auto link = c.prepare(
      "INSERT INTO message_attachments (message_id, position, attachment_id, chat_id) "
      "VALUES (?, ?, ?, ?)");
  int position = 0;
  for (const auto& id : message.attachments) {
    if (!seen.insert(id).second) {
      return make_error(Errc::invalid_input, "The same attachment is listed twice");
    }
    owned.bind_all(id, message.sender_id);
    const bool mine = owned.step();
    owned.reset();
    if (!mine) return make_error(Errc::invalid_input, "Unknown attachment: " + id);
    link.bind_all(message_id, position++, id, message.chat_id).run();
    link.reset();
  }
  return {};
}

namespace {

// Deletes the attachment rows, queueing each blob that no row refers to afterwards.
void delete_attachments(Connection& c, const std::vector<std::string>& ids) {
  auto remove = c.prepare("DELETE FROM attachments WHERE id = ? RETURNING sha256, thumb_sha256");
  std::set<std::string> blobs;
  for (const auto& id : ids) {
    remove.bind_all(id);
    while (remove.step()) {
      blobs.insert(remove.text(0));
      if (auto thumb = remove.optional_text(1)) blobs.insert(std::move(*thumb));
    }
    remove.reset();
  }
  auto queue = c.prepare(
      "INSERT OR IGNORE INTO orphan_blobs (sha256) SELECT ?1 "
      "WHERE NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1) "
      "AND NOT EXISTS (SELECT 1 FROM attachments WHERE thumb_sha256 = ?1)");
  for (const auto& blob : blobs) {
    queue.bind_all(blob).run();
    queue.reset();
  }
}

}  // namespace

void delete_uploads_of(Connection& c, std::string_view user_id) {
  auto s = c.prepare(
      "SELECT id FROM attachments a WHERE uploader_id = ? AND NOT EXISTS "
      "(SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = a.id)");
  s.bind_all(user_id);
  const auto ids = first_texts(s);
  s.reset();
  delete_attachments(c, ids);
}

asio::awaitable<Status> SqliteStore::create_attachment(Attachment attachment) {
  auto job = [a = std::move(attachment)](Connection& c) -> Status {
    auto s = c.prepare(
        "INSERT INTO attachments (id, uploader_id, name, size, mime, sha256, width, height, "
        "thumb_sha256, thumb_mime, thumb_width, thumb_height, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    auto optional_int = [](const std::optional<int>& v) -> std::optional<std::int64_t> {
      if (v) return *v;
      return std::nullopt;
    };
    const auto& thumb = a.thumbnail;
    s.bind_all(a.id, a.uploader_id, a.name, static_cast<std::int64_t>(a.size), a.mime, a.sha256,
               optional_int(a.width), optional_int(a.height),
               thumb ? std::optional(thumb->sha256) : std::nullopt,
               thumb ? std::optional(thumb->mime) : std::nullopt,
               thumb ? std::optional<std::int64_t>(thumb->width) : std::nullopt,
               thumb ? std::optional<std::int64_t>(thumb->height) : std::nullopt, a.created_at)
        .run();
    return {};
  };
  co_return co_await write<void>(std::move(job));
}

asio::awaitable<Result<Attachment>> SqliteStore::find_attachment(
    std::string attachment_id, std::optional<std::string> reader) {
  return read<Attachment>([id = std::move(attachment_id),
                           reader = std::move(reader)](Connection& c) -> Result<Attachment> {
    auto s = c.prepare(
        "SELECT a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256, a.width, a.height, "
        "a.thumb_sha256, a.thumb_mime, a.thumb_width, a.thumb_height, a.created_at "
        "FROM attachments a WHERE a.id = ?1 AND (?2 IS NULL OR a.uploader_id = ?2 OR EXISTS "
        "(SELECT 1 FROM message_attachments ma JOIN chat_members cm ON cm.chat_id = ma.chat_id "
        "AND cm.user_id = ?2 WHERE ma.attachment_id = a.id))");
    s.bind_all(id, reader);
    if (!s.step()) return make_error(Errc::not_found, "Attachment not found");
    return read_attachment(s);
  });
}

asio::awaitable<Result<std::vector<Attachment>>> SqliteStore::list_uploads(UploadsQuery query) {
  return read<std::vector<Attachment>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<Attachment>> {
        auto s = c.prepare(
            "SELECT a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256, a.width, a.height, "
            "a.thumb_sha256, a.thumb_mime, a.thumb_width, a.thumb_height, a.created_at "
            "FROM attachments a WHERE a.uploader_id = ? AND (a.created_at, a.id) > (?, ?) "
            "ORDER BY a.created_at, a.id LIMIT ?");
        s.bind_all(q.user_id, q.after_created_at, q.after_id, q.limit);
        std::vector<Attachment> uploads;
        while (s.step()) uploads.push_back(read_attachment(s));
        return uploads;
      });
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::collect_attachments(
    AttachmentCollection collection) {
  auto job = [collection](Connection& c) -> Result<std::vector<std::string>> {
    auto unreferenced = c.prepare(
        "SELECT a.id FROM attachments a JOIN users u ON u.id = a.uploader_id "
        "WHERE (a.created_at < ? OR u.erased_at IS NOT NULL) AND NOT EXISTS "
        "(SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = a.id) LIMIT ?");
    unreferenced.bind_all(collection.uploaded_before, collection.limit);
    const auto ids = first_texts(unreferenced);
    unreferenced.reset();
    delete_attachments(c, ids);
    auto queued = c.prepare("SELECT sha256 FROM orphan_blobs LIMIT ?");
    queued.bind_all(collection.limit);
    return first_texts(queued);
  };
  co_return co_await write<std::vector<std::string>>(std::move(job));
}

asio::awaitable<Result<bool>> SqliteStore::blob_in_use(std::string sha256) {
  return read<bool>([sha = std::move(sha256)](Connection& c) -> Result<bool> {
    auto s = c.prepare(
        "SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1) "
        "OR EXISTS (SELECT 1 FROM attachments WHERE thumb_sha256 = ?1)");
    s.bind_all(sha);
    s.step();
    return s.int64(0) != 0;
  });
}

asio::awaitable<Status> SqliteStore::forget_blobs(std::vector<std::string> sha256s) {
  auto job = [shas = std::move(sha256s)](Connection& c) -> Status {
    auto s = c.prepare("DELETE FROM orphan_blobs WHERE sha256 = ?");
    for (const auto& sha : shas) {
      s.bind_all(sha).run();
      s.reset();
    }
    return {};
  };
  co_return co_await write<void>(std::move(job));
}

}  // namespace chatd::store::sqlite
