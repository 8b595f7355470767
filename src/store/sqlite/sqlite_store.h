#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "store/store.h"

namespace chatd::store::sqlite {

class Checkpointer;
class Writer;
class ReaderPool;

// How much a commit survives. Both run SQLite in WAL mode.
//  full:   every commit is fsynced before it is acknowledged: survives kill -9, OS crash and power
//          loss. The default: an acked message is never lost.
//  normal: the WAL is fsynced only at checkpoints: survives kill -9 (the data is in the OS page
//          cache), may lose the last commits on an OS crash or power loss.
enum class Synchronous { full, normal };

// How a write job runs: in the writer's next group-committed batch, or alone between two batches
// outside any transaction (for statements such as VACUUM that refuse to run inside one).
enum class WriteMode { batched, alone };

struct SqliteOptions {
  std::string path;  // the database file; ":memory:" is refused (readers need a shared file)
  Synchronous synchronous = Synchronous::full;
  std::size_t reader_threads = 2;
  std::size_t max_batch = 512;  // writes committed together at most
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) and migrates the database; throws on failure.
  explicit SqliteStore(const SqliteOptions& options);
  // Finishes every queued write, then closes the connections.
  ~SqliteStore() override;

  void set_change_listener(ChangeListener* listener) override;
  asio::awaitable<Status> check_ready() override;

  asio::awaitable<Result<User>> create_user(NewUser user) override;
  asio::awaitable<Result<User>> find_user(std::string id) override;
  asio::awaitable<Result<UserCredentials>> find_credentials(std::string email) override;
  asio::awaitable<Result<std::vector<User>>> find_users(std::vector<std::string> ids) override;
  asio::awaitable<Result<std::vector<User>>> search_users(UserSearch search) override;
  asio::awaitable<Result<std::vector<std::string>>> find_contacts(std::string user_id) override;
  asio::awaitable<Status> record_last_seen(std::string user_id, std::int64_t at) override;
  asio::awaitable<Result<std::vector<LastSeen>>> find_last_seen(
      std::vector<std::string> ids) override;

  asio::awaitable<Result<Chat>> find_or_create_direct_chat(std::string user_a,
                                                           std::string user_b) override;
  asio::awaitable<Result<Chat>> create_group(std::string name, std::string creator_id,
                                             std::vector<std::string> members) override;
  asio::awaitable<Result<Chat>> find_chat(std::string chat_id) override;
  asio::awaitable<Result<std::vector<Chat>>> list_chats(std::string user_id) override;
  asio::awaitable<Result<Chat>> rename_chat(std::string chat_id, std::string name) override;
  asio::awaitable<Result<Chat>> add_member(std::string chat_id, std::string user_id,
                                           int max_members) override;
  asio::awaitable<Result<Chat>> remove_member(std::string chat_id, std::string user_id) override;
  asio::awaitable<Result<Chat>> set_role(std::string chat_id, std::string user_id,
                                         Role role) override;

  asio::awaitable<Result<AppendedMessage>> append_message(NewMessage message) override;
  asio::awaitable<Result<std::vector<Message>>> list_messages(HistoryQuery query) override;
  asio::awaitable<Result<std::string>> locate_message(std::string message_id) override;
  asio::awaitable<Result<std::vector<SearchHit>>> search_messages(MessageSearch search) override;
  asio::awaitable<Result<ChangedMessage>> change_message(MessageChange change) override;
  asio::awaitable<Result<SyncPage>> sync_chat(SyncQuery query) override;
  asio::awaitable<Result<Message>> find_message(std::string chat_id,
                                                std::string message_id) override;
  asio::awaitable<Status> create_attachment(Attachment attachment) override;
  asio::awaitable<Result<Attachment>> find_attachment(std::string attachment_id,
                                                      std::optional<std::string> reader) override;
  asio::awaitable<Result<std::vector<Attachment>>> list_uploads(UploadsQuery query) override;
  asio::awaitable<Result<std::vector<std::string>>> collect_attachments(
      AttachmentCollection collection) override;
  asio::awaitable<Result<bool>> blob_in_use(std::string sha256) override;
  asio::awaitable<Status> forget_blobs(std::vector<std::string> sha256s) override;
  asio::awaitable<Result<CursorUpdate>> advance_cursors(std::string chat_id, std::string user_id,
                                                        std::int64_t delivered_seq,
                                                        std::int64_t read_seq) override;

  // Accounts (sqlite_accounts.cc).
  asio::awaitable<Result<User>> set_server_admin(std::string email, bool admin) override;
  asio::awaitable<Result<std::vector<std::string>>> set_disabled(std::string user_id,
                                                                 bool disabled) override;
  asio::awaitable<Result<Session>> create_session(NewSession session) override;
  asio::awaitable<Result<Session>> find_session(std::string session_id) override;
  asio::awaitable<Result<std::vector<Session>>> list_sessions(std::string user_id) override;
  asio::awaitable<Result<RefreshResult>> rotate_refresh(RefreshRotation rotation) override;
  asio::awaitable<Status> revoke_session(std::string user_id, std::string session_id) override;
  asio::awaitable<Result<std::vector<std::string>>> revoke_sessions(
      std::string user_id, std::optional<std::string> keep) override;
  asio::awaitable<Status> touch_sessions(std::vector<SessionUse> uses) override;
  asio::awaitable<Result<std::vector<std::string>>> change_password(
      std::string user_id, std::string password_hash, std::optional<std::string> keep) override;
  asio::awaitable<Status> record_audit(NewAuditEvent event) override;
  asio::awaitable<Result<std::vector<AuditEvent>>> list_audit(AuditQuery query) override;
  asio::awaitable<Result<TwoFactor>> find_two_factor(std::string user_id) override;
  asio::awaitable<Status> set_pending_two_factor(std::string user_id,
                                                 std::string sealed_secret) override;
  asio::awaitable<Status> enable_two_factor(std::string user_id,
                                            std::vector<std::string> recovery_hashes,
                                            std::int64_t step) override;
  asio::awaitable<Status> disable_two_factor(std::string user_id) override;
  asio::awaitable<Result<bool>> consume_totp_step(std::string user_id, std::int64_t step) override;
  asio::awaitable<Result<bool>> consume_recovery_code(std::string user_id,
                                                      std::string code_hash) override;
  asio::awaitable<Result<int>> prune_accounts(AccountPruning pruning) override;

  // Privacy (sqlite_privacy.cc).
  asio::awaitable<Result<User>> update_profile(ProfileUpdate update) override;
  asio::awaitable<Result<std::vector<Message>>> list_sent_messages(
      SentMessagesQuery query) override;
  asio::awaitable<Status> erase_user(UserErasure erasure) override;
  asio::awaitable<Result<int>> erase_sent_messages(std::string user_id, int limit) override;
  asio::awaitable<Result<std::vector<std::string>>> find_unfinished_erasures(int limit) override;
  asio::awaitable<Result<Chat>> set_retention(std::string chat_id,
                                              std::optional<int> days) override;
  asio::awaitable<Result<int>> erase_expired_messages(RetentionSweep sweep) override;

 private:
  template <class T, class Fn>
  asio::awaitable<Result<T>> read(Fn fn);
  template <class T, class Fn>
  asio::awaitable<Result<T>> write(Fn fn, WriteMode mode = WriteMode::batched);
  // Copies the WAL into the database file and empties it, so that erased content is gone from
  // both (with secure_delete, the database file keeps no freed bytes).
  asio::awaitable<void> truncate_wal();
  // Merges the search index (which keeps a deleted row's words until then) and rebuilds the
  // database file (VACUUM), then empties the WAL: secure_delete zeroes what is
  // deleted, but not the copies SQLite leaves in a page's unused middle when it rebuilds the page
  // (rebuildPage, during a b-tree balance); only a rebuild of the whole file drops those.
  asio::awaitable<void> rebuild_file();

  // Bumped on every chat change to order chat lists. Only the writer thread changes it; atomic so
  // that the constructor's initial value is published to that thread.
  std::atomic<std::int64_t> activity_{0};
  std::unique_ptr<Checkpointer> checkpointer_;  // outlives the writer, whose commits it watches
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<ReaderPool> readers_;
};

}  // namespace chatd::store::sqlite
