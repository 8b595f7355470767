#include "chat/chat_service.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <map>
#include <set>

#include "chat/chat_views.h"
#include "chat/members.h"
#include "chat/validation.h"
#include "util/async.h"
#include "util/text.h"

// Note for every co_await below: arguments are named variables, never temporaries built inside the
// co_await expression (g++ 12 can destroy such temporaries twice; see util/async.h).
namespace chatd::chat {

using detail::find_member;
using detail::invalid;
using detail::not_member;
using detail::read_by;

ChatService::ChatService(store::Store& store, SessionCache& sessions, util::RateLimiter& limiter,
                         Limits limits, asio::any_io_executor fanout)
    : store_(store),
      sessions_(sessions),
      limiter_(&limiter),
      limits_(limits),
      events_(&detail::no_events()),
      local_typing_(limits.typing_burst, limits.typing_per_second),
      sequencer_(fanout, store, presence_, sessions,
                 [this, fanout](const std::string& chat_id, std::int64_t seq, std::string user_id) {
                   asio::co_spawn(fanout, mark_delivered(chat_id, std::move(user_id), seq),
                                  log_if_failed("chat: background task"));
                 }) {
  store_.set_change_listener(&sequencer_);
}

void ChatService::set_events(EventSink& events) {
  events_ = &events;
  sequencer_.set_sink(events);
}

void ChatService::set_attachment_links(const AttachmentLinks& links) {
  links_ = &links;
  sequencer_.set_attachment_links(links);
}

// ---- Users -------------------------------------------------------------------------------------

asio::awaitable<Result<std::vector<User>>> ChatService::search_users(User caller, std::string query,
                                                                     std::optional<int> limit,
                                                                     std::optional<int> offset) {
  if (!text::is_valid_utf8(query)) co_return invalid("search must be valid UTF-8");
  if (limit && *limit < 1) co_return invalid("limit must be a positive integer");
  if (offset && *offset < 0) co_return invalid("offset must not be negative");
  store::UserSearch search{std::string(text::trim(query)), std::move(caller.id),
                           std::min(limit.value_or(limits_.search_default), limits_.search_max),
                           offset.value_or(0)};
  co_return co_await store_.search_users(std::move(search));
}

// ---- Chats -------------------------------------------------------------------------------------

asio::awaitable<Result<ChatView>> ChatService::member_view(const User& caller,
                                                           const std::string& chat_id) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto chat = co_await store_.find_chat(std::move(*id));
  if (!chat) co_return chat.error();
  if (!find_member(*chat, caller.id)) co_return not_member();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<store::Chat>> ChatService::group_for_admin(const User& caller,
                                                                  const std::string& chat_id) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto chat = co_await store_.find_chat(std::move(*id));
  if (!chat) co_return chat.error();
  const auto* member = find_member(*chat, caller.id);
  if (!member) co_return not_member();
  if (!chat->is_group) co_return invalid("This is not a group chat");
  if (!store::is_admin_role(member->role)) {
    co_return make_error(Errc::forbidden, "Only group admins can do this");
  }
  co_return chat;
}

asio::awaitable<Result<ChatView>> ChatService::access_direct_chat(User caller,
                                                                  std::string other_user_id) {
  auto other = valid_id(other_user_id, "User");
  if (!other) co_return other.error();
  if (*other == caller.id) co_return invalid("You cannot start a chat with yourself");
  auto chat = co_await store_.find_or_create_direct_chat(std::move(caller.id), std::move(*other));
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<std::vector<ChatView>>> ChatService::list_chats(User caller) {
  auto chats = co_await store_.list_chats(std::move(caller.id));
  if (!chats) co_return chats.error();
  co_return co_await load_views(store_, std::move(*chats));
}

asio::awaitable<Result<ChatView>> ChatService::create_group(User caller, std::string name,
                                                            std::vector<std::string> user_ids) {
  auto group_name = required_text(name, "Chat name", limits_.chat_name_max);
  if (!group_name) co_return group_name.error();
  std::set<std::string> others;
  for (const auto& raw : user_ids) {
    auto id = valid_id(raw, "User");
    if (!id) co_return id.error();
    if (*id != caller.id) others.insert(std::move(*id));
  }
  if (others.size() < 2) co_return invalid(kGroupTooSmall);
  if (others.size() + 1 > static_cast<std::size_t>(limits_.group_max_members)) {
    co_return invalid("A group can have at most " + std::to_string(limits_.group_max_members) +
                      " members");
  }
  // Members join in the order the creator listed them.
  std::vector<std::string> members;
  std::set<std::string> seen;
  for (const auto& raw : user_ids) {
    auto id = text::ascii_lower(raw);
    if (others.count(id) && seen.insert(id).second) members.push_back(std::move(id));
  }
  auto chat = co_await store_.create_group(std::move(*group_name), std::move(caller.id),
                                           std::move(members));
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<ChatView>> ChatService::rename_group(User caller, std::string chat_id,
                                                            std::string name) {
  auto new_name = required_text(name, "Chat name", limits_.chat_name_max);
  if (!new_name) co_return new_name.error();
  auto group = co_await group_for_admin(caller, chat_id);
  if (!group) co_return group.error();
  auto chat = co_await store_.rename_chat(std::move(group->id), std::move(*new_name));
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<ChatView>> ChatService::add_to_group(User caller, std::string chat_id,
                                                            std::string user_id) {
  auto user = valid_id(user_id, "User");
  if (!user) co_return user.error();
  auto group = co_await group_for_admin(caller, chat_id);
  if (!group) co_return group.error();
  auto chat =
      co_await store_.add_member(std::move(group->id), std::move(*user), limits_.group_max_members);
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<ChatView>> ChatService::remove_from_group(User caller, std::string chat_id,
                                                                 std::string user_id) {
  auto user = valid_id(user_id, "User");
  if (!user) co_return user.error();
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto found = co_await store_.find_chat(std::move(*id));
  if (!found) co_return found.error();
  const auto* me = find_member(*found, caller.id);
  if (!me) co_return not_member();
  if (!found->is_group) co_return invalid("This is not a group chat");
  // Anyone may leave; only admins remove others.
  if (*user != caller.id && !store::is_admin_role(me->role)) {
    co_return make_error(Errc::forbidden, "Only group admins can remove members");
  }
  auto chat = co_await store_.remove_member(std::move(found->id), std::move(*user));
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

asio::awaitable<Result<ChatView>> ChatService::set_group_admin(User caller, std::string chat_id,
                                                               std::string user_id, bool admin) {
  auto user = valid_id(user_id, "User");
  if (!user) co_return user.error();
  auto group = co_await group_for_admin(caller, chat_id);
  if (!group) co_return group.error();
  const auto* target = find_member(*group, *user);
  if (!target) {
    auto exists = co_await store_.find_user(std::move(*user));
    if (!exists) co_return exists.error();
    co_return invalid("That user is not a member of this chat");
  }
  // Granting keeps an owner an owner; revoking makes anyone a plain member.
  const auto role =
      admin ? (target->role == store::Role::owner ? store::Role::owner : store::Role::admin)
            : store::Role::member;
  auto chat = co_await store_.set_role(std::move(group->id), std::move(*user), role);
  if (!chat) co_return chat.error();
  co_return co_await load_view(store_, std::move(*chat));
}

// ---- Messages ----------------------------------------------------------------------------------

namespace {

// A send's place among those in flight (admission control, Limits::sends_in_flight_max), held
// until the store has answered it.
class SendPlace {
 public:
  explicit SendPlace(std::atomic<std::size_t>& in_flight)
      : in_flight_(in_flight), taken_(in_flight.fetch_add(1) + 1) {}
  SendPlace(const SendPlace&) = delete;
  SendPlace& operator=(const SendPlace&) = delete;
  ~SendPlace() { in_flight_.fetch_sub(1); }
  std::size_t taken() const { return taken_; }  // places in use with this one

 private:
  std::atomic<std::size_t>& in_flight_;
  std::size_t taken_;
};

}  // namespace

asio::awaitable<Result<store::AppendedMessage>> ChatService::append(
    const User& caller, std::string chat_id, std::string content,
    std::optional<std::string> client_msg_id, std::string origin,
    std::optional<std::string> reply_to, std::vector<std::string> attachments) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  if (attachments.size() > static_cast<std::size_t>(store::kMaxMessageAttachments)) {
    co_return invalid("A message can carry at most " +
                      std::to_string(store::kMaxMessageAttachments) + " attachments");
  }
  for (auto& attachment : attachments) {
    auto valid = valid_id(attachment, "Attachment");
    if (!valid) co_return invalid("Unknown attachment: " + attachment);
    attachment = std::move(*valid);
  }
  if (reply_to) {
    auto quoted = valid_id(*reply_to, "Message");
    if (!quoted) co_return invalid("replyTo must be a message of this chat");
    reply_to = std::move(*quoted);
  }
  const bool may_be_empty = !attachments.empty() && text::trim(content).empty();
  if (auto ok = valid_content(content, limits_.content_max); !ok && !may_be_empty) {
    co_return ok.error();
  }
  if (client_msg_id) {
    auto key = required_text(*client_msg_id, "clientMsgId", limits_.client_msg_id_max);
    if (!key) co_return key.error();
    if (*key != *client_msg_id) co_return invalid("clientMsgId must not start or end with spaces");
  }
  std::string budget = "send:" + caller.id;
  auto& limiter = *limiter_.load(std::memory_order_acquire);
  auto decision = co_await limiter.acquire(std::move(budget), limits_.sends_per_user);
  if (!decision.allowed) co_return util::rate_limited(decision);
  const SendPlace place(sends_in_flight_);
  if (place.taken() > limits_.sends_in_flight_max ||
      events_->backlog() > limits_.sends_in_flight_max) {
    co_return make_error(Errc::unavailable, "The server is busy: retry the send in a moment");
  }
  store::NewMessage message{std::move(*id),           caller.id,         std::move(content),
                            std::move(client_msg_id), std::move(origin), std::move(reply_to),
                            std::move(attachments)};
  co_return co_await store_.append_message(std::move(message));
}

asio::awaitable<Result<SentMessage>> ChatService::send_message(
    User caller, std::string chat_id, std::string content, std::optional<std::string> client_msg_id,
    std::optional<std::string> reply_to, std::vector<std::string> attachments) {
  std::string no_origin;
  auto appended =
      co_await append(caller, std::move(chat_id), std::move(content), std::move(client_msg_id),
                      std::move(no_origin), std::move(reply_to), std::move(attachments));
  if (!appended) co_return appended.error();
  auto found = appended->message.chat_id;
  auto chat = co_await store_.find_chat(std::move(found));
  if (!chat) co_return chat.error();
  auto by = read_by(*chat, appended->message);
  auto view = co_await load_view(store_, std::move(*chat));
  if (!view) co_return view.error();
  auto sent = view_message(links_, std::move(appended->message), std::move(caller), std::move(by));
  co_return SentMessage{std::move(sent), std::move(*view), appended->created};
}

asio::awaitable<Result<MessageView>> ChatService::post_message(
    User caller, std::string chat_id, std::string content, std::string client_msg_id,
    std::string origin, std::optional<std::string> reply_to, std::vector<std::string> attachments) {
  std::optional<std::string> key = std::move(client_msg_id);
  auto appended = co_await append(caller, std::move(chat_id), std::move(content), std::move(key),
                                  std::move(origin), std::move(reply_to), std::move(attachments));
  if (!appended) co_return appended.error();
  co_return view_message(links_, std::move(appended->message), std::move(caller));
}

asio::awaitable<Result<HistoryView>> ChatService::history(User caller, std::string chat_id,
                                                          HistoryRequest request) {
  if (request.before && request.after) co_return invalid("Use either before or after, not both");
  if (request.limit && *request.limit < 1) co_return invalid("limit must be a positive integer");
  if ((request.before && *request.before < 0) || (request.after && *request.after < 0)) {
    co_return invalid("before and after must not be negative");
  }
  auto view = co_await member_view(caller, chat_id);
  if (!view) co_return view.error();
  store::HistoryQuery query{
      view->chat.id, request.before, request.after,
      std::min(request.limit.value_or(limits_.history_default), limits_.history_max)};
  auto page = co_await store_.list_messages(std::move(query));
  if (!page) co_return page.error();

  // Senders who left the chat are no longer among its users: look them up too.
  std::map<std::string, User> users;
  for (const auto& u : view->users) users.emplace(u.id, u);
  std::vector<std::string> missing;
  for (const auto& m : *page) {
    if (!users.count(m.sender_id)) missing.push_back(m.sender_id);
  }
  if (!missing.empty()) {
    auto former = co_await store_.find_users(std::move(missing));
    if (!former) co_return former.error();
    for (auto& u : *former) users.emplace(u.id, std::move(u));
  }
  HistoryView history{std::move(*view), {}};
  history.messages.reserve(page->size());
  for (auto& m : *page) {
    auto sender = users.find(m.sender_id);
    if (sender == users.end()) continue;  // a deleted user's messages are not shown
    auto by = read_by(history.chat.chat, m);
    history.messages.push_back(view_message(links_, std::move(m), sender->second, std::move(by)));
  }
  co_return history;
}

asio::awaitable<Result<MessageStatus>> ChatService::message_status(User caller, std::string chat_id,
                                                                   std::string message_id) {
  auto chat_key = valid_id(chat_id, "Chat");
  if (!chat_key) co_return chat_key.error();
  auto message_key = valid_id(message_id, "Message");
  if (!message_key) co_return message_key.error();
  auto chat = co_await store_.find_chat(*chat_key);
  if (!chat) co_return chat.error();
  if (!find_member(*chat, caller.id)) co_return not_member();
  auto message = co_await store_.find_message(std::move(*chat_key), std::move(*message_key));
  if (!message) co_return message.error();

  MessageStatus status{std::move(*message), "read", {}};
  bool all_delivered = true;
  bool all_read = true;
  for (const auto& m : chat->members) {
    if (m.user_id == status.message.sender_id) continue;
    MemberStatus member{m.user_id, m.delivered_seq, m.read_seq,
                        m.delivered_seq >= status.message.seq, m.read_seq >= status.message.seq};
    all_delivered = all_delivered && member.delivered;
    all_read = all_read && member.read;
    status.members.push_back(std::move(member));
  }
  status.status = all_read ? "read" : all_delivered ? "delivered" : "sent";
  co_return status;
}

}  // namespace chatd::chat
