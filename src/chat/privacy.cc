#include "chat/privacy.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "chat/attachments.h"
#include "chat/chat_views.h"
#include "chat/members.h"
#include "chat/validation.h"
#include "util/clock.h"
#include "util/text.h"

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

using detail::find_member;
using detail::invalid;
using detail::not_member;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kMaxRetentionDays = 36'500;
constexpr int kExportPage = 500;
constexpr int kPruneBatch = 1000;
// An erasure cut short is finished at the next housekeeping pass: this many users per pass.
constexpr int kUnfinishedErasures = 100;

}  // namespace

PrivacyService::PrivacyService(store::Store& store, AccountService& accounts, Limits limits,
                               std::string default_pic, PrivacyOptions options)
    : store_(store),
      accounts_(accounts),
      limits_(limits),
      default_pic_(std::move(default_pic)),
      options_(options) {}

asio::awaitable<Result<User>> PrivacyService::profile(Caller caller) {
  co_return co_await store_.find_user(std::move(caller.user.id));
}

asio::awaitable<Result<User>> PrivacyService::update_profile(Caller caller, ProfileChange change) {
  store::ProfileUpdate update{std::move(caller.user.id), std::nullopt, std::nullopt};
  if (change.name) {
    auto name = required_text(*change.name, "Name", limits_.name_max);
    if (!name) co_return name.error();
    update.name = std::move(*name);
  }
  if (change.pic) {
    // An empty picture goes back to the default, as at registration.
    if (text::trim(*change.pic).empty()) {
      update.pic = default_pic_;
    } else {
      auto pic = required_text(*change.pic, "Picture", limits_.pic_max);
      if (!pic) co_return pic.error();
      update.pic = std::move(*pic);
    }
  }
  co_return co_await store_.update_profile(std::move(update));
}

asio::awaitable<Result<ExportHead>> PrivacyService::export_head(Caller caller) {
  auto id = caller.user.id;
  auto user = co_await store_.find_user(std::move(id));
  if (!user) co_return user.error();
  id = caller.user.id;
  auto sessions = co_await store_.list_sessions(std::move(id));
  if (!sessions) co_return sessions.error();
  id = caller.user.id;
  auto chats = co_await store_.list_chats(std::move(id));
  if (!chats) co_return chats.error();
  auto views = co_await load_views(store_, std::move(*chats));
  if (!views) co_return views.error();
  co_return ExportHead{std::move(*user), std::move(*sessions), std::move(*views)};
}

asio::awaitable<Result<std::vector<Message>>> PrivacyService::export_messages(
    Caller caller, std::string after_chat_id, std::int64_t after_seq) {
  store::SentMessagesQuery query{std::move(caller.user.id), std::move(after_chat_id), after_seq,
                                 kExportPage};
  co_return co_await store_.list_sent_messages(std::move(query));
}

asio::awaitable<Result<std::vector<store::Attachment>>> PrivacyService::export_uploads(
    Caller caller, std::int64_t after_created_at, std::string after_id) {
  store::UploadsQuery query{std::move(caller.user.id), after_created_at, std::move(after_id),
                            kExportPage};
  co_return co_await store_.list_uploads(std::move(query));
}

asio::awaitable<Result<std::vector<store::AuditEvent>>> PrivacyService::export_audit(
    Caller caller, std::optional<std::string> before) {
  store::AuditQuery query{std::move(caller.user.id), std::move(before), kExportPage};
  co_return co_await store_.list_audit(std::move(query));
}

asio::awaitable<Status> PrivacyService::erase_account(Caller caller, std::string password,
                                                      std::optional<std::string> otp) {
  auto user_id = caller.user.id;
  auto confirmed =
      co_await accounts_.confirm_identity(std::move(caller), std::move(password), std::move(otp));
  if (!confirmed) co_return confirmed;
  co_return co_await erase_user(std::move(user_id));
}

asio::awaitable<Status> PrivacyService::erase_user(std::string user_id) {
  auto id = valid_id(user_id, "User");
  if (!id) co_return id.error();
  store::UserErasure erasure{*id, "Deleted user", default_pic_};
  auto erased = co_await store_.erase_user(std::move(erasure));
  if (!erased) co_return erased;
  spdlog::info("privacy: user {} erased", *id);
  co_return co_await erase_messages_of(std::move(*id));
}

asio::awaitable<Status> PrivacyService::erase_messages_of(std::string user_id) {
  for (;;) {
    auto id = user_id;
    auto erased = co_await store_.erase_sent_messages(std::move(id), kEraseBatch);
    if (!erased) co_return erased.error();
    if (*erased < kEraseBatch) {
      // The last page deleted the user's uploads: their bytes go now, not at the next pass.
      if (attachments_ != nullptr) co_await attachments_->collect();
      co_return Status{};
    }
  }
}

asio::awaitable<Result<ChatView>> PrivacyService::set_retention(Caller caller, std::string chat_id,
                                                                std::optional<std::int64_t> days) {
  if (days && (*days < 1 || *days > kMaxRetentionDays)) {
    co_return invalid("days must be between 1 and " + std::to_string(kMaxRetentionDays) +
                      ", or null");
  }
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto lookup = *id;
  auto chat = co_await store_.find_chat(std::move(lookup));
  if (!chat) co_return chat.error();
  const auto* member = find_member(*chat, caller.user.id);
  if (!member) co_return not_member();
  if (chat->is_group && !store::is_admin_role(member->role)) {
    co_return make_error(Errc::forbidden, "Only group admins can do this");
  }
  std::optional<int> stored;
  if (days) stored = static_cast<int>(*days);
  auto updated = co_await store_.set_retention(std::move(*id), stored);
  if (!updated) co_return updated.error();
  co_return co_await load_view(store_, std::move(*updated));
}

asio::awaitable<Status> PrivacyService::apply_retention() {
  for (;;) {
    store::RetentionSweep sweep{clock::now_ms(), options_.retention_days, kEraseBatch};
    auto erased = co_await store_.erase_expired_messages(sweep);
    if (!erased) co_return erased.error();
    if (*erased > 0) spdlog::info("privacy: retention erased {} messages", *erased);
    if (*erased < kEraseBatch) co_return Status{};
  }
}

asio::awaitable<void> PrivacyService::housekeeping() {
  auto unfinished = co_await store_.find_unfinished_erasures(kUnfinishedErasures);
  if (unfinished) {
    for (auto& user_id : *unfinished) {
      spdlog::info("privacy: finishing the erasure of user {}", user_id);
      if (auto done = co_await erase_messages_of(std::move(user_id)); !done) {
        spdlog::warn("privacy: erasure not finished: {}", done.error().message);
      }
    }
  }
  if (auto retained = co_await apply_retention(); !retained) {
    spdlog::warn("privacy: retention pass failed: {}", retained.error().message);
  }
  if (attachments_ != nullptr) co_await attachments_->collect();
  const auto now = clock::now_ms();
  store::AccountPruning pruning{now - options_.revoked_session_keep_days * kDayMs,
                                now - options_.audit_keep_days * kDayMs, kPruneBatch};
  auto pruned = co_await store_.prune_accounts(pruning);
  if (!pruned) spdlog::warn("privacy: pruning failed: {}", pruned.error().message);
}

asio::awaitable<void> PrivacyService::housekeeping_every(std::chrono::milliseconds period) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    co_await housekeeping();
    timer.expires_after(period);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace chatd::chat
