#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/store.h"

// Queries that more than one file of SqliteStore runs (defined in sqlite_store.cc).
namespace chatd::store::sqlite {

// Columns: chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, edited_at,
// rev, reply_to, reactions. The quote holds only the id of the message it quotes, and reactions
// are not read: read_messages reads both.
Message read_message(const Statement& s);
// Every row of `s` (columns as for read_message) with its quote, reactions and attachments.
std::vector<Message> read_messages(Connection& c, Statement& s);
// Columns: id, uploader_id, name, size, mime, sha256, width, height, thumb_sha256, thumb_mime,
// thumb_width, thumb_height, created_at, from column `first` on.
Attachment read_attachment(const Statement& s, int first = 0);
// Links the attachments to a message being appended, in order, after checking that the sender
// uploaded each of them (`invalid_input` if not).
Status attach_to_message(Connection& c, const NewMessage& message, std::string_view message_id);
// Deletes the user's uploads that no live message carries (queueing their blobs for the
// collector): the last step of an account erasure.
void delete_uploads_of(Connection& c, std::string_view user_id);
// The first column of every row of `s`, as text.
std::vector<std::string> first_texts(Statement& s);
// Moves the chat's change counter on: the rev of the change being made.
std::int64_t next_rev(Connection& c, std::string_view chat_id);
std::optional<User> select_user(Connection& c, std::string_view id);
// Whether the user exists and is not erased.
bool user_exists(Connection& c, std::string_view id);
// The chat's members' ids in joining order.
std::vector<std::string> member_ids(Connection& c, std::string_view chat_id);
Result<Chat> load_chat(Connection& c, std::string_view chat_id);
// The group as this write leaves it, reported to the change feed.
Result<Chat> group_changed(Connection& c, std::string_view chat_id, std::vector<Change>& changes,
                           std::vector<std::string> removed_user_ids = {});
// Removes a member from a group, passing the admin role on to the longest-standing member when no
// owner or admin is left; reports the group change.
Result<Chat> leave_group(Connection& c, std::string_view chat_id, std::string_view user_id,
                         std::int64_t activity, std::vector<Change>& changes);

}  // namespace chatd::store::sqlite
