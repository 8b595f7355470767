#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "chat/accounts.h"
#include "chat/limits.h"
#include "chat/views.h"
#include "store/store.h"
#include "util/result.h"

namespace chatd::chat {

namespace asio = boost::asio;

struct ProfileChange {
  std::optional<std::string> name;
  std::optional<std::string> pic;
};

struct PrivacyOptions {
  // Server-wide retention (--retention-days): messages older than this are erased; none: kept.
  std::optional<int> retention_days;
  // Revoked sessions (with their spent refresh tokens) are kept this long for reuse detection
  // and the audit trail, then deleted; audit events likewise.
  int revoked_session_keep_days = 30;
  int audit_keep_days = 365;
};

// The start of a user's data export: who they are, their sessions and their chats (with the
// members and their own cursors); their messages and audit events follow in pages.
struct ExportHead {
  User user;
  std::vector<store::Session> sessions;
  std::vector<ChatView> chats;
};

// A person's rights over their data (API.md, "Privacy"): their profile, an export of everything
// kept about them, erasure; and the jobs that keep the promises later: retention, the end of an
// erasure cut short, the pruning of old account records.
//
// Erasure happens in two steps, each safe to repeat: the account (one transaction: sessions
// revoked, email, name, password and 2FA gone, groups left), then the messages a batch at a time
// (tombstones; a batch per transaction keeps the store's writer responsive). A crash between
// them is finished by housekeeping(), which looks for erased users with live messages.
class AttachmentService;

class PrivacyService {
 public:
  // Messages erased per transaction.
  static constexpr int kEraseBatch = 500;

  PrivacyService(store::Store& store, AccountService& accounts, Limits limits,
                 std::string default_pic, PrivacyOptions options);

  asio::awaitable<Result<User>> profile(Caller caller);
  asio::awaitable<Result<User>> update_profile(Caller caller, ProfileChange change);

  asio::awaitable<Result<ExportHead>> export_head(Caller caller);
  // The caller's messages after (chat id, seq) of the previous page (empty: from the start).
  asio::awaitable<Result<std::vector<Message>>> export_messages(Caller caller,
                                                                std::string after_chat_id,
                                                                std::int64_t after_seq);
  // The caller's uploads after (created_at, id) of the previous page (0 and "": from the start).
  asio::awaitable<Result<std::vector<store::Attachment>>> export_uploads(
      Caller caller, std::int64_t after_created_at, std::string after_id);
  // The caller's audit events older than `before` (none: from the newest).
  asio::awaitable<Result<std::vector<store::AuditEvent>>> export_audit(
      Caller caller, std::optional<std::string> before);

  // The caller erases their account, proving who they are again (password, and a code with 2FA).
  asio::awaitable<Status> erase_account(Caller caller, std::string password,
                                        std::optional<std::string> otp);
  // Erases a user (their own request, or a server admin's).
  asio::awaitable<Status> erase_user(std::string user_id);

  // Sets a chat's retention: group admins, either member of a 1:1 chat. 1..36500 days, or none.
  asio::awaitable<Result<ChatView>> set_retention(Caller caller, std::string chat_id,
                                                  std::optional<std::int64_t> days);

  // The collector of attachments, which erasure and housekeeping run (none: not run). Set
  // before serving.
  void set_attachments(AttachmentService& attachments) { attachments_ = &attachments; }

  // One pass of the background jobs: finishes erasures cut short, applies retention, collects
  // attachments no message carries, prunes.
  asio::awaitable<void> housekeeping();
  // housekeeping() now and every `period`, until the executor stops.
  asio::awaitable<void> housekeeping_every(std::chrono::milliseconds period);

 private:
  asio::awaitable<Status> erase_messages_of(std::string user_id);
  asio::awaitable<Status> apply_retention();

  store::Store& store_;
  AccountService& accounts_;
  Limits limits_;
  std::string default_pic_;
  PrivacyOptions options_;
  AttachmentService* attachments_ = nullptr;
};

}  // namespace chatd::chat
