#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/accounts.h"
#include "chat/limits.h"
#include "chat/privacy.h"
#include "store/store.h"
#include "util/result.h"

namespace chatd::chat {

namespace asio = boost::asio;

// What server admins may do (API.md, "Privacy"): list users, disable or enable an account, erase
// one, read the server-wide audit trail. Every call checks that the caller is a server admin now,
// in the store (a grant or revocation by `chatd admin` takes effect at once); anyone else is
// `forbidden`. The network check (--admin-allow-ip) is the edge's (api/edge.h).
class AdminService {
 public:
  AdminService(store::Store& store, AccountService& accounts, PrivacyService& privacy,
               Limits limits);

  asio::awaitable<Result<std::vector<User>>> users(Caller caller, std::string search,
                                                   std::optional<int> limit,
                                                   std::optional<int> offset);
  // Returns the user as stored afterwards. An admin cannot disable themself.
  asio::awaitable<Result<User>> set_disabled(Caller caller, std::string user_id, bool disabled,
                                             ClientInfo client);
  // An admin erases themself through DELETE /api/user/me, with their password.
  asio::awaitable<Status> erase_user(Caller caller, std::string user_id);
  asio::awaitable<Result<std::vector<store::AuditEvent>>> audit(Caller caller,
                                                                std::optional<std::string> before,
                                                                std::optional<int> limit);

 private:
  asio::awaitable<Status> require_admin(const Caller& caller);

  store::Store& store_;
  AccountService& accounts_;
  PrivacyService& privacy_;
  Limits limits_;
};

}  // namespace chatd::chat
