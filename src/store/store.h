#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "store/accounts.h"
#include "store/search_text.h"
#include "util/result.h"

// The storage interface: the only way chat/ reaches persisted state. Backends (store/sqlite today,
// store/postgres next) implement it and run the same conformance suite (store/store_conformance.h).
// Every call is a coroutine that completes on the caller's executor; backends never block it.
namespace chatd::store {

namespace asio = boost::asio;

struct User {
  std::string id;
  std::string name;
  std::string email;  // as typed (trimmed); unique case-insensitively
  std::string pic;
  bool is_admin = false;        // a server admin (API.md, "Privacy"), not a group admin
  std::int64_t created_at = 0;  // epoch ms
  std::int64_t updated_at = 0;
  bool disabled = false;  // by a server admin: may not log in, has no session
  // Erased (API.md, "Privacy"): the row stays so that history keeps its sender, with the name and
  // pic the erasure gave it and nothing else (no email, password, sessions or 2FA).
  bool erased = false;
};

struct UserCredentials {
  User user;
  std::string password_hash;
  bool two_factor = false;  // TOTP is enabled: a login needs a code too
};

struct NewUser {
  std::string name;
  std::string email;
  std::string pic;
  std::string password_hash;
};

// A member's role in a chat. The creator of a group is its owner; owners and admins may change the
// group. 1:1 chats have two plain members.
enum class Role { owner = 0, admin = 1, member = 2 };

inline bool is_admin_role(Role r) {
  return r == Role::owner || r == Role::admin;
}

struct Member {
  std::string user_id;
  Role role = Role::member;
  std::int64_t joined_at = 0;
  std::int64_t delivered_seq = 0;  // everything up to this seq reached one of the member's clients
  std::int64_t read_seq = 0;       // everything up to this seq was read; read_seq <= delivered_seq
};

// The users who reacted to a message with one emoji, in the order they did.
struct Reaction {
  std::string emoji;
  std::vector<std::string> user_ids;
};

// What a reply shows of the message it answers (same chat), read with the reply.
struct Quote {
  std::string id;
  std::int64_t seq = 0;
  std::string sender_id;
  std::string sender_name;
  std::string sender_pic;
  std::string content;  // its first kQuoteChars characters
  bool deleted = false;
};

inline constexpr int kQuoteChars = 200;

// The small copy of an image attachment: its bytes are a blob of their own.
struct AttachmentThumbnail {
  std::string sha256;
  std::string mime;
  int width = 0;
  int height = 0;
};

// An uploaded file (API.md, "Rich messages"). Its bytes are a blob in a BlobStore named by their
// SHA-256 (two uploads of the same bytes share it); this row is what refers to the blob. Readable
// by its uploader, and by the members of a chat with a live message that carries it.
struct Attachment {
  std::string id;
  std::string uploader_id;
  std::string name;  // as the uploader named it (a hint, never a path)
  std::uint64_t size = 0;
  std::string mime;  // detected from the bytes
  std::string sha256;
  std::optional<int> width;  // images
  std::optional<int> height;
  std::optional<AttachmentThumbnail> thumbnail;
  std::int64_t created_at = 0;
};

// How many attachments one message may carry.
inline constexpr int kMaxMessageAttachments = 10;

struct Message {
  std::string id;
  std::string chat_id;
  std::int64_t seq = 0;  // gapless and strictly increasing per chat, from 1
  std::string sender_id;
  std::string content;
  std::optional<std::string> client_msg_id;
  std::int64_t created_at = 0;
  // A tombstone: its content (and client_msg_id) were erased, its id and seq stay so that seqs
  // stay gapless.
  bool deleted = false;
  std::optional<std::int64_t> edited_at;
  // The chat's change counter when this message last changed after it was sent (an edit, a
  // deletion, a reaction): sync hands out changes by it. 0: never changed.
  std::int64_t rev = 0;
  std::optional<Quote> reply_to;
  std::vector<Reaction> reactions;      // in the order each emoji was first used
  std::vector<Attachment> attachments;  // in the order sent; none once deleted
};

struct Chat {
  std::string id;
  std::string name;
  bool is_group = false;
  std::int64_t last_seq = 0;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;  // moves on every change: a message, a rename, a membership change
  std::vector<Member> members;  // in joining order: the first is the longest-standing
  std::optional<Message> latest_message;
  // Messages older than this many days are erased (with the server-wide setting, the shorter
  // wins); none: kept.
  std::optional<int> retention_days;
  std::int64_t last_rev = 0;  // the latest Message::rev of the chat
};

struct NewMessage {
  std::string chat_id;
  std::string sender_id;
  std::string content;
  std::optional<std::string> client_msg_id;
  // Who wrote it (an opaque connection id, empty for none): carried to the change feed untouched,
  // so that the writing connection can be left out of the fan-out.
  std::string origin;
  std::optional<std::string> reply_to;  // a message of the same chat (`invalid_input` if not)
  // Ids of attachments the sender uploaded, distinct, at most kMaxMessageAttachments
  // (`invalid_input` if not).
  std::vector<std::string> attachments;
};

struct AppendedMessage {
  Message message;
  // false when (sender, client_msg_id) was already stored: nothing was written.
  bool created = true;
};

// One page of a chat's history: messages with seq in (after, before), the newest `limit` of them
// when only `before` or nothing is set, the oldest `limit` when `after` is set; always ascending.
struct HistoryQuery {
  std::string chat_id;
  std::optional<std::int64_t> before;
  std::optional<std::int64_t> after;
  int limit = 50;
};

// A change to a sent message (API.md, "Rich messages"). Who may make it is the domain's rule,
// checked by the store in the writing transaction, so that it holds whatever races with it.
enum class MessageChangeKind { edit, remove, react, unreact };
enum class ChangeRight { sender, sender_or_group_admin, member };

struct MessageChange {
  std::string chat_id;
  std::string message_id;
  std::string user_id;  // who makes the change
  MessageChangeKind kind = MessageChangeKind::edit;
  ChangeRight right = ChangeRight::sender;
  std::string content;  // edit
  std::string emoji;    // react, unreact
  int max_emojis = 0;   // react: different emojis a message may carry
};

// The message after the change; `changed` false when there was nothing to do (the same content,
// a reaction already there or already gone, a message already deleted).
struct ChangedMessage {
  Message message;
  bool changed = false;
};

// What sync reads of one chat, in one snapshot: the changes (rev above `after_rev`) of messages
// up to `after_seq`, ascending by rev, then the messages after `after_seq`, ascending by seq; at
// most `limit` of both together. When the changes fill the limit (more may follow), no messages.
struct SyncQuery {
  std::string chat_id;
  std::int64_t after_seq = 0;
  std::optional<std::int64_t> after_rev;  // none: no changes wanted
  int limit = 100;
};

struct SyncPage {
  std::vector<Message> changes;
  std::vector<Message> messages;
  std::int64_t last_seq = 0;
  std::int64_t last_rev = 0;
  bool changes_complete = true;  // every change above after_rev is in `changes`
};

// Where a search result stands in the order of results: by score (lower is more relevant), then
// newest first (created_at descending, then chat_id ascending, then seq descending). A page
// continues after the last hit of the one before.
struct SearchCursor {
  double score = 0;
  std::int64_t created_at = 0;
  std::string chat_id;
  std::int64_t seq = 0;
};

// How many matches a search ranks at most: the newest this many in the caller's chats. Ranking
// every match of a common word would grow with the store (0.9 s for one word in a tenth of a
// million messages); this bounds a query's work, at the price of relevance being relative to a
// window of recent matches (docs/BENCHMARKS.md, "Search").
inline constexpr int kSearchCandidates = 2000;

// A full-text search of the messages in the chats `user_id` is a member of (or in one of them).
// Live messages only: a deletion or an erasure takes a message out of the index.
struct MessageSearch {
  std::string user_id;
  std::optional<std::string> chat_id;
  SearchQuery query;  // not empty
  int limit = 20;
  std::optional<SearchCursor> after;
};

struct SearchHit {
  Message message;
  std::string chat_name;
  // The content around the hits, which kMarkOpen/kMarkClose wrap (render_snippet makes it HTML).
  std::string marked_snippet;
  SearchCursor cursor;
};

// A member's cursors after advance_cursors, and whether the call moved them.
struct CursorUpdate {
  Member member;
  bool changed = false;
};

// When a user was last connected: their last disconnect, if they ever connected.
struct LastSeen {
  std::string user_id;
  std::optional<std::int64_t> at;  // epoch ms
};

// A page of the messages a user sent (not tombstones), across chats, ordered by (chat_id, seq):
// those after (after_chat_id, after_seq).
struct SentMessagesQuery {
  std::string user_id;
  std::string after_chat_id;
  std::int64_t after_seq = 0;
  int limit = 500;
};

struct ProfileUpdate {
  std::string user_id;
  std::optional<std::string> name;
  std::optional<std::string> pic;
};

// What an erased user becomes (API.md, "Privacy").
struct UserErasure {
  std::string user_id;
  std::string name;  // "Deleted user"
  std::string pic;   // the default picture
};

// One pass of the retention job: messages created before now minus the retention that applies to
// their chat (the chat's, the server's, the shorter of both) become tombstones, at most `limit`.
struct RetentionSweep {
  std::int64_t now_ms = 0;
  std::optional<int> server_days;
  int limit = 500;
};

// One pass of the attachment collector: attachments that no live message carries and that were
// uploaded before `uploaded_before` (or whose uploader was erased) are deleted, at most `limit`.
struct AttachmentCollection {
  std::int64_t uploaded_before = 0;  // epoch ms
  int limit = 500;
};

// A page of a user's uploads, oldest first: those after (after_created_at, after_id).
struct UploadsQuery {
  std::string user_id;
  std::int64_t after_created_at = 0;
  std::string after_id;
  int limit = 500;
};

// Users not erased, by name.
struct UserSearch {
  std::string query;       // substring of name or email, case-insensitive; '%' and '_' are literal
  std::string exclude_id;  // the caller (empty: nobody, as server admins list users)
  int limit = 50;
  int offset = 0;
};

// ---- The change feed: what clients must hear of, exactly as and in the order it was committed
// ----

// A message was appended (a retry that wrote nothing is not a change).
struct MessageAppended {
  Message message;
  User sender;
  // The chat's members when the message committed: exactly who may receive it, whatever
  // membership changes race with the send.
  std::vector<std::string> member_ids;
  std::string origin;  // NewMessage::origin
};

// A member's cursors moved forward.
struct CursorsAdvanced {
  std::string chat_id;
  Member member;                        // as stored afterwards
  std::vector<std::string> member_ids;  // the chat's members at that commit
};

// A group was created, renamed, or its members or roles changed.
struct GroupChanged {
  Chat chat;                                  // as committed
  std::vector<std::string> removed_user_ids;  // who left or was removed by this change
};

// Sessions of a user were revoked (logout, theft, password change, a disabled account): every
// node forgets them at once and closes their sockets.
struct SessionsRevoked {
  std::string user_id;
  std::vector<std::string> session_ids;
};

// A user's profile changed (or the user was erased): nodes refresh what they keep of them.
struct UserChanged {
  User user;
};

// A sent message changed (API.md, "Rich messages").
struct MessageChanged {
  Message message;  // as committed
  User sender;
  std::vector<std::string> member_ids;  // the chat's members at that commit
  MessageChangeKind kind = MessageChangeKind::edit;
  std::string user_id;  // who made the change (for a reaction: whose it is)
  std::string emoji;    // react, unreact
};

// Its rev is not reported: sync hands the tombstone out by it.
struct ErasedMessage {
  std::string id;
  std::int64_t seq = 0;
};

// Messages of a chat became tombstones (erasure of their sender, retention).
struct MessagesErased {
  std::string chat_id;
  std::vector<ErasedMessage> messages;  // ascending seq
  std::vector<std::string> member_ids;  // the chat's members at that commit
};

using Change = std::variant<MessageAppended, CursorsAdvanced, GroupChanged, SessionsRevoked,
                            UserChanged, MessagesErased, MessageChanged>;

// One committed transaction's changes, in the order they were made.
struct Commit {
  // Its place in the change log of a store that several nodes share (ChangeLog): gapless and in
  // commit order across all nodes, from 1. 0 for a store without a log (SQLite: one node).
  std::int64_t position = 0;
  std::vector<Change> changes;
  // The changes as the log holds them (store/change_codec.h), so that a node can publish them
  // without encoding them again; empty without a log.
  std::string encoded;
};

// Receives every committed change once, in commit order. A backend calls it on a thread of its own
// right after each commit that changed something clients must hear of, and before the writers of
// the transaction are resumed; a transaction that rolls back reports nothing.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // Must not block or call the store: hand the changes to another thread.
  virtual void on_commit(Commit commit) = 0;
};

// The numbered record of every commit of a store that several nodes share: how a node learns what
// the others committed while their announcements did not reach it (DESIGN.md, "Catch-up").
class ChangeLog {
 public:
  virtual ~ChangeLog() = default;
  // The position of the latest commit (0 before the first).
  virtual asio::awaitable<Result<std::int64_t>> last_position() = 0;
  // Commits with a position above `after`, ascending, at most `limit`. The log keeps recent commits
  // only: when the first one returned is not `after + 1`, those in between were pruned.
  virtual asio::awaitable<Result<std::vector<Commit>>> read_commits(std::int64_t after,
                                                                    int limit) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Where committed changes go (none until set). Set before the first write; the listener must
  // outlive the store.
  virtual void set_change_listener(ChangeListener* listener) = 0;

  // Whether the store can serve now (`unavailable` when not): what /readyz reports.
  virtual asio::awaitable<Status> check_ready() = 0;

  // Users. create_user fails with `conflict` when the email is taken (case-insensitively).
  virtual asio::awaitable<Result<User>> create_user(NewUser user) = 0;
  virtual asio::awaitable<Result<User>> find_user(std::string id) = 0;
  virtual asio::awaitable<Result<UserCredentials>> find_credentials(std::string email) = 0;
  // The users that exist among `ids`, in no particular order.
  virtual asio::awaitable<Result<std::vector<User>>> find_users(std::vector<std::string> ids) = 0;
  virtual asio::awaitable<Result<std::vector<User>>> search_users(UserSearch search) = 0;
  // The users who share at least one chat with `user_id` (the user themself excluded).
  virtual asio::awaitable<Result<std::vector<std::string>>> find_contacts(std::string user_id) = 0;
  virtual asio::awaitable<Status> record_last_seen(std::string user_id, std::int64_t at) = 0;
  // One entry per existing user among `ids`, in no particular order.
  virtual asio::awaitable<Result<std::vector<LastSeen>>> find_last_seen(
      std::vector<std::string> ids) = 0;

  // Chats. The 1:1 chat of two users is unique: concurrent calls return the same chat.
  virtual asio::awaitable<Result<Chat>> find_or_create_direct_chat(std::string user_a,
                                                                   std::string user_b) = 0;
  // `members` excludes the creator, who joins as owner; the others join as members.
  virtual asio::awaitable<Result<Chat>> create_group(std::string name, std::string creator_id,
                                                     std::vector<std::string> members) = 0;
  virtual asio::awaitable<Result<Chat>> find_chat(std::string chat_id) = 0;
  // The user's chats, most recently changed first.
  virtual asio::awaitable<Result<std::vector<Chat>>> list_chats(std::string user_id) = 0;
  virtual asio::awaitable<Result<Chat>> rename_chat(std::string chat_id, std::string name) = 0;
  // Adding a member twice is a no-op. A new member starts with both cursors at the chat's last seq.
  // `max_members` bounds the group's size (`invalid_input` above it).
  virtual asio::awaitable<Result<Chat>> add_member(std::string chat_id, std::string user_id,
                                                   int max_members) = 0;
  // Removing a non-member is a no-op; an unknown user is `not_found`. When the last owner/admin
  // leaves, the longest-standing remaining member becomes admin.
  virtual asio::awaitable<Result<Chat>> remove_member(std::string chat_id, std::string user_id) = 0;
  virtual asio::awaitable<Result<Chat>> set_role(std::string chat_id, std::string user_id,
                                                 Role role) = 0;

  // Messages. In one transaction: checks membership (`not_member`), assigns the next seq, inserts,
  // moves the chat up. A repeated (sender, client_msg_id) in the same chat returns the original
  // message with created=false; in another chat it is a `conflict`.
  virtual asio::awaitable<Result<AppendedMessage>> append_message(NewMessage message) = 0;
  // Tombstones included (they keep their seq).
  virtual asio::awaitable<Result<std::vector<Message>>> list_messages(HistoryQuery query) = 0;
  // In one transaction: checks that the message is in the chat (`not_found`), that the user is a
  // member (`not_member`) with the right (`forbidden`), and that an edited or reacted message is
  // not deleted (`conflict`); then changes it, moving the chat's last_rev to the message's new
  // rev, and reports MessageChanged. A deletion leaves a tombstone (reactions and reply gone, the
  // client_msg_id kept so that a retried send still finds it).
  virtual asio::awaitable<Result<ChangedMessage>> change_message(MessageChange change) = 0;
  // `not_found` for an unknown chat.
  virtual asio::awaitable<Result<SyncPage>> sync_chat(SyncQuery query) = 0;
  virtual asio::awaitable<Result<Message>> find_message(std::string chat_id,
                                                        std::string message_id) = 0;
  // The chat a message is in (`not_found` for an unknown message).
  virtual asio::awaitable<Result<std::string>> locate_message(std::string message_id) = 0;
  // Ranked by relevance, then newest; the index is kept in step with every write of a message
  // (content, deletion) and of a sender's name, in the same transaction.
  virtual asio::awaitable<Result<std::vector<SearchHit>>> search_messages(MessageSearch search) = 0;

  // ---- Attachments (API.md, "Rich messages"). The bytes are a BlobStore's; these are the rows.

  // Stores an uploaded file's row (id and created_at as given).
  virtual asio::awaitable<Status> create_attachment(Attachment attachment) = 0;
  // The attachment, if `reader` may read it: its uploader, or a member of a chat with a live
  // message that carries it; none: anyone (the caller checked a signed URL). Else `not_found`.
  virtual asio::awaitable<Result<Attachment>> find_attachment(
      std::string attachment_id, std::optional<std::string> reader) = 0;
  virtual asio::awaitable<Result<std::vector<Attachment>>> list_uploads(UploadsQuery query) = 0;
  // Deletes the rows of one collector pass, queueing the blobs (contents and thumbnails) no row
  // refers to any more; returns up to `limit` queued blobs, which the caller removes from the
  // BlobStore and then forgets. A finished account erasure deletes the erased user's rows itself
  // (erase_sent_messages), so that nothing of them stays in the store's files.
  virtual asio::awaitable<Result<std::vector<std::string>>> collect_attachments(
      AttachmentCollection collection) = 0;
  // Whether any attachment row refers to the blob (content or thumbnail).
  virtual asio::awaitable<Result<bool>> blob_in_use(std::string sha256) = 0;
  // Takes removed (or again used) blobs off the collector's queue.
  virtual asio::awaitable<Status> forget_blobs(std::vector<std::string> sha256s) = 0;

  // Moves a member's cursors forward (never back), clamped to the chat's last seq; read implies
  // delivered. Returns the member as stored afterwards.
  virtual asio::awaitable<Result<CursorUpdate>> advance_cursors(std::string chat_id,
                                                                std::string user_id,
                                                                std::int64_t delivered_seq,
                                                                std::int64_t read_seq) = 0;

  // ---- Privacy (API.md, "Privacy"). Erased users are never found by email or search, and cannot
  // join chats (`not_found`), but find_user and find_users return them (erased = true).

  // `not_found` for an unknown or erased user; reports UserChanged.
  virtual asio::awaitable<Result<User>> update_profile(ProfileUpdate update) = 0;
  virtual asio::awaitable<Result<std::vector<Message>>> list_sent_messages(
      SentMessagesQuery query) = 0;
  // In one transaction: the user's email, name, pic, password hash, admin flag and last seen are
  // replaced (the email can register again), their sessions (SessionsRevoked for live ones),
  // spent refresh tokens, audit events and two-factor state deleted, and they leave every group
  // (GroupChanged each; an admin's role passes on as when leaving); reports UserChanged. Their
  // messages are erased by erase_sent_messages. Erasing an erased user changes nothing;
  // `not_found` for an unknown one.
  virtual asio::awaitable<Status> erase_user(UserErasure erasure) = 0;
  // Turns up to `limit` messages that the user sent into tombstones, reporting MessagesErased per
  // chat; returns how many (0: none left). Every trace of their content goes, the change log's
  // copies included.
  virtual asio::awaitable<Result<int>> erase_sent_messages(std::string user_id, int limit) = 0;
  // Erased users whose messages are not all tombstones yet (an erasure cut short), at most `limit`.
  virtual asio::awaitable<Result<std::vector<std::string>>> find_unfinished_erasures(int limit) = 0;
  // `days` none: the chat keeps its messages (as far as the server-wide setting lets it).
  virtual asio::awaitable<Result<Chat>> set_retention(std::string chat_id,
                                                      std::optional<int> days) = 0;
  // Returns how many messages became tombstones (reported as MessagesErased per chat).
  virtual asio::awaitable<Result<int>> erase_expired_messages(RetentionSweep sweep) = 0;

  // ---- Accounts (store/accounts.h). Every call that revokes sessions reports SessionsRevoked with
  // the ids it revoked (none: nothing reported).

  // Server admins (`chatd admin grant`): `not_found` for an unknown email.
  virtual asio::awaitable<Result<User>> set_server_admin(std::string email, bool admin) = 0;
  // Disabling revokes every session of the user, in the same transaction; returns the ids.
  virtual asio::awaitable<Result<std::vector<std::string>>> set_disabled(std::string user_id,
                                                                         bool disabled) = 0;

  // `forbidden` for a disabled user, `not_found` for an unknown one.
  virtual asio::awaitable<Result<Session>> create_session(NewSession session) = 0;
  // `not_found` for an unknown id; a revoked session is found, with revoked = true.
  virtual asio::awaitable<Result<Session>> find_session(std::string session_id) = 0;
  // The user's sessions that are not revoked, most recently used first.
  virtual asio::awaitable<Result<std::vector<Session>>> list_sessions(std::string user_id) = 0;
  // In one transaction: the session whose current refresh hash is the presented one takes
  // `next_hash` (the presented one is spent), with ip, user agent and last use updated; a spent
  // hash revokes its session (`reused`); anything else, or a revoked session's hash, is `unknown`.
  virtual asio::awaitable<Result<RefreshResult>> rotate_refresh(RefreshRotation rotation) = 0;
  // `not_found` unless the session is the user's; revoking a revoked session changes nothing.
  virtual asio::awaitable<Status> revoke_session(std::string user_id, std::string session_id) = 0;
  // Revokes every session of the user but `keep` (nullopt: all); returns the ids revoked.
  virtual asio::awaitable<Result<std::vector<std::string>>> revoke_sessions(
      std::string user_id, std::optional<std::string> keep) = 0;
  // Moves last_used_at forward (never back); unknown sessions are skipped.
  virtual asio::awaitable<Status> touch_sessions(std::vector<SessionUse> uses) = 0;
  // Sets the password hash and revokes every session of the user but `keep`, in one transaction.
  virtual asio::awaitable<Result<std::vector<std::string>>> change_password(
      std::string user_id, std::string password_hash, std::optional<std::string> keep) = 0;

  virtual asio::awaitable<Status> record_audit(NewAuditEvent event) = 0;
  virtual asio::awaitable<Result<std::vector<AuditEvent>>> list_audit(AuditQuery query) = 0;
  // Housekeeping: deletes sessions revoked before `revoked_before_ms` (their spent refresh tokens
  // with them) and audit events older than `audit_before_ms`, at most `limit` rows of each; returns
  // how many rows went.
  virtual asio::awaitable<Result<int>> prune_accounts(AccountPruning pruning) = 0;

  // `not_found` when the user never set 2FA up (or disabled it).
  virtual asio::awaitable<Result<TwoFactor>> find_two_factor(std::string user_id) = 0;
  // Stores a pending secret, replacing a pending one; `conflict` when 2FA is enabled.
  virtual asio::awaitable<Status> set_pending_two_factor(std::string user_id,
                                                         std::string sealed_secret) = 0;
  // Enables the pending secret with these recovery codes; `step` (the code that proved it) counts
  // as used. `not_found` when nothing is pending, `conflict` when already enabled.
  virtual asio::awaitable<Status> enable_two_factor(std::string user_id,
                                                    std::vector<std::string> recovery_hashes,
                                                    std::int64_t step) = 0;
  // Forgets the secret and the recovery codes; a no-op without 2FA.
  virtual asio::awaitable<Status> disable_two_factor(std::string user_id) = 0;
  // Accepts a TOTP time step once, atomically across nodes: true when it is newer than the last
  // accepted one (it becomes the last), false for a replay or an older step.
  virtual asio::awaitable<Result<bool>> consume_totp_step(std::string user_id,
                                                          std::int64_t step) = 0;
  // Spends a recovery code: true when `code_hash` was an unused code of the user (now removed).
  virtual asio::awaitable<Result<bool>> consume_recovery_code(std::string user_id,
                                                              std::string code_hash) = 0;
};

}  // namespace chatd::store
