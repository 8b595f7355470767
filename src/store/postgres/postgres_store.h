#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace chatd::store::postgres {

class ConnInfo;
class Pruner;
class ReaderPool;
class Writer;
struct Statement;
template <class T>
struct Round;

struct PostgresOptions {
  // Where the database is: a postgresql:// URL or a libpq connection string.
  std::string url;
  std::size_t reader_connections = 2;
  std::size_t max_batch = 512;  // writes committed together at most
  // How long the change log keeps a commit (ChangeLog::read_commits) before it is pruned.
  std::chrono::milliseconds change_log_retention = std::chrono::minutes(10);
};

// The Store on PostgreSQL, shared by every chatd node of a cluster, and the numbered ChangeLog of
// their commits. One writer connection commits batches of writes (group commit), reader
// connections serve reads, each on a thread of its own (README.md in this directory).
class PostgresStore final : public Store, public ChangeLog {
 public:
  // Connects and migrates the database; throws when it cannot (std::invalid_argument for a bad
  // URL, PgError, SchemaTooNew).
  explicit PostgresStore(const PostgresOptions& options);
  // Finishes every queued write, then closes the connections.
  ~PostgresStore() override;

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
  asio::awaitable<Status> create_attachment(Attachment attachment) override;
  asio::awaitable<Result<Attachment>> find_attachment(std::string attachment_id,
                                                      std::optional<std::string> reader) override;
  asio::awaitable<Result<std::vector<Attachment>>> list_uploads(UploadsQuery query) override;
  asio::awaitable<Result<std::vector<std::string>>> collect_attachments(
      AttachmentCollection collection) override;
  asio::awaitable<Result<bool>> blob_in_use(std::string sha256) override;
  asio::awaitable<Status> forget_blobs(std::vector<std::string> sha256s) override;
  asio::awaitable<Result<ChangedMessage>> change_message(MessageChange change) override;
  asio::awaitable<Result<SyncPage>> sync_chat(SyncQuery query) override;
  asio::awaitable<Result<Message>> find_message(std::string chat_id,
                                                std::string message_id) override;
  asio::awaitable<Result<CursorUpdate>> advance_cursors(std::string chat_id, std::string user_id,
                                                        std::int64_t delivered_seq,
                                                        std::int64_t read_seq) override;

  asio::awaitable<Result<User>> update_profile(ProfileUpdate update) override;
  asio::awaitable<Result<std::vector<Message>>> list_sent_messages(
      SentMessagesQuery query) override;
  asio::awaitable<Status> erase_user(UserErasure erasure) override;
  asio::awaitable<Result<int>> erase_sent_messages(std::string user_id, int limit) override;
  asio::awaitable<Result<std::vector<std::string>>> find_unfinished_erasures(int limit) override;
  asio::awaitable<Result<Chat>> set_retention(std::string chat_id,
                                              std::optional<int> days) override;
  asio::awaitable<Result<int>> erase_expired_messages(RetentionSweep sweep) override;

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
  asio::awaitable<Result<int>> prune_accounts(AccountPruning pruning) override;
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

  asio::awaitable<Result<std::int64_t>> last_position() override;
  asio::awaitable<Result<std::vector<Commit>>> read_commits(std::int64_t after, int limit) override;

 private:
  template <class T, class Fn>
  asio::awaitable<Result<T>> read(Fn fn);
  template <class T, class Receive>
  asio::awaitable<Result<T>> write(std::vector<Statement> statements, Receive receive);
  // A write in rounds (Round), in a transaction of its own.
  template <class T>
  asio::awaitable<Result<T>> write_alone(Round<T> first);

  std::unique_ptr<const ConnInfo> info_;  // outlives the threads, whose links refer to it
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<ReaderPool> readers_;
  std::unique_ptr<Pruner> pruner_;
};

}  // namespace chatd::store::postgres
