#include "chat/admin.h"

#include <algorithm>

#include "chat/members.h"
#include "chat/validation.h"
#include "util/text.h"

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

using detail::invalid;

AdminService::AdminService(store::Store& store, AccountService& accounts, PrivacyService& privacy,
                           Limits limits)
    : store_(store), accounts_(accounts), privacy_(privacy), limits_(limits) {}

asio::awaitable<Status> AdminService::require_admin(const Caller& caller) {
  auto id = caller.user.id;
  auto user = co_await store_.find_user(std::move(id));
  if (!user) co_return user.error();
  if (!user->is_admin) co_return make_error(Errc::forbidden, "Only server admins can do this");
  co_return Status{};
}

asio::awaitable<Result<std::vector<User>>> AdminService::users(Caller caller, std::string search,
                                                               std::optional<int> limit,
                                                               std::optional<int> offset) {
  if (auto admin = co_await require_admin(caller); !admin) co_return admin.error();
  if (!text::is_valid_utf8(search)) co_return invalid("search must be valid UTF-8");
  if (limit && *limit < 1) co_return invalid("limit must be a positive integer");
  if (offset && *offset < 0) co_return invalid("offset must not be negative");
  store::UserSearch query{std::string(text::trim(search)), "",
                          std::min(limit.value_or(limits_.search_default), limits_.search_max),
                          offset.value_or(0)};
  co_return co_await store_.search_users(std::move(query));
}

asio::awaitable<Result<User>> AdminService::set_disabled(Caller caller, std::string user_id,
                                                         bool disabled, ClientInfo client) {
  if (auto admin = co_await require_admin(caller); !admin) co_return admin.error();
  auto id = valid_id(user_id, "User");
  if (!id) co_return id.error();
  if (*id == caller.user.id && disabled) co_return invalid("You cannot disable yourself");
  auto target = *id;
  auto user = co_await store_.find_user(std::move(target));
  if (!user) co_return user.error();
  if (user->erased) co_return make_error(Errc::not_found, "User not found");
  target = *id;
  auto done = co_await accounts_.set_disabled(std::move(target), disabled, std::move(client));
  if (!done) co_return done.error();
  co_return co_await store_.find_user(std::move(*id));
}

asio::awaitable<Status> AdminService::erase_user(Caller caller, std::string user_id) {
  if (auto admin = co_await require_admin(caller); !admin) co_return admin.error();
  auto id = valid_id(user_id, "User");
  if (!id) co_return id.error();
  if (*id == caller.user.id) {
    co_return invalid("Erase your own account with DELETE /api/user/me and your password");
  }
  co_return co_await privacy_.erase_user(std::move(*id));
}

asio::awaitable<Result<std::vector<store::AuditEvent>>> AdminService::audit(
    Caller caller, std::optional<std::string> before, std::optional<int> limit) {
  if (auto admin = co_await require_admin(caller); !admin) co_return admin.error();
  if (limit && *limit < 1) co_return invalid("limit must be a positive integer");
  store::AuditQuery query{"", std::move(before),
                          std::min(limit.value_or(limits_.history_default), limits_.history_max)};
  co_return co_await store_.list_audit(std::move(query));
}

}  // namespace chatd::chat
