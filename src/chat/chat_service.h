#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "auth/password.h"
#include "auth/token.h"
#include "chat/limits.h"
#include "chat/views.h"
#include "store/store.h"
#include "util/result.h"

namespace chatd::chat {

namespace asio = boost::asio;

// The message classic clients render as is when a group would be too small (API.md).
inline constexpr const char* kGroupTooSmall = "More than 2 users are required to form a group chat";

struct Registration {
  std::string name;
  std::string email;
  std::string password;
  std::optional<std::string> pic;
};

struct HistoryRequest {
  std::optional<std::int64_t> before;
  std::optional<std::int64_t> after;
  std::optional<int> limit;
};

// The chat domain: users, chats, members and roles, messages. Every rule of who may do what lives
// here (never in the wire layer or the UI): a caller is always an authenticated user, and each
// operation checks membership and role itself.
class ChatService {
 public:
  ChatService(store::Store& store, auth::PasswordHasher& hasher, const auth::TokenIssuer& tokens,
              Limits limits, std::string default_pic);

  // Users.
  asio::awaitable<Result<Session>> register_user(Registration registration);
  asio::awaitable<Result<Session>> login(std::string email, std::string password);
  // The user a bearer token stands for; `unauthorized` when the token is bad or the user is gone.
  asio::awaitable<Result<User>> authenticate(std::string token);
  asio::awaitable<Result<std::vector<User>>> search_users(User caller, std::string query,
                                                          std::optional<int> limit,
                                                          std::optional<int> offset);

  // Chats.
  asio::awaitable<Result<ChatView>> access_direct_chat(User caller, std::string other_user_id);
  asio::awaitable<Result<std::vector<ChatView>>> list_chats(User caller);
  asio::awaitable<Result<ChatView>> create_group(User caller, std::string name,
                                                 std::vector<std::string> user_ids);
  asio::awaitable<Result<ChatView>> rename_group(User caller, std::string chat_id,
                                                 std::string name);
  asio::awaitable<Result<ChatView>> add_to_group(User caller, std::string chat_id,
                                                 std::string user_id);
  asio::awaitable<Result<ChatView>> remove_from_group(User caller, std::string chat_id,
                                                      std::string user_id);
  asio::awaitable<Result<ChatView>> set_group_admin(User caller, std::string chat_id,
                                                    std::string user_id, bool admin);

  // Messages.
  asio::awaitable<Result<SentMessage>> send_message(User caller, std::string chat_id,
                                                    std::string content,
                                                    std::optional<std::string> client_msg_id);
  asio::awaitable<Result<HistoryView>> history(User caller, std::string chat_id,
                                               HistoryRequest request);
  asio::awaitable<Result<MessageStatus>> message_status(User caller, std::string chat_id,
                                                        std::string message_id);

 private:
  // The chat with its users, if the caller is a member (`not_member` otherwise).
  asio::awaitable<Result<ChatView>> member_view(const User& caller, const std::string& chat_id);
  // The group, if the caller may change it (`forbidden` otherwise).
  asio::awaitable<Result<store::Chat>> group_for_admin(const User& caller,
                                                       const std::string& chat_id);
  asio::awaitable<Result<ChatView>> view_of(store::Chat chat);
  asio::awaitable<Result<std::vector<ChatView>>> views_of(std::vector<store::Chat> chats);

  store::Store& store_;
  auth::PasswordHasher& hasher_;
  const auth::TokenIssuer& tokens_;
  Limits limits_;
  std::string default_pic_;
};

}  // namespace chatd::chat
