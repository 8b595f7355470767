#include "chat/chat_views.h"

#include <map>
#include <set>
#include <string>

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

namespace {

// The group's admin as classic clients show it: the longest-standing owner or admin.
const store::Member* first_admin(const store::Chat& chat) {
  for (const auto& m : chat.members) {
    if (store::is_admin_role(m.role)) return &m;
  }
  return nullptr;
}

std::map<std::string, User> by_id(std::vector<User> users) {
  std::map<std::string, User> map;
  for (auto& u : users) {
    auto id = u.id;
    map.emplace(std::move(id), std::move(u));
  }
  return map;
}

ChatView assemble(store::Chat chat, const std::map<std::string, User>& users) {
  ChatView view;
  for (const auto& m : chat.members) {
    if (auto it = users.find(m.user_id); it != users.end()) view.users.push_back(it->second);
  }
  if (chat.is_group) {
    if (const auto* admin = first_admin(chat)) {
      if (auto it = users.find(admin->user_id); it != users.end()) view.group_admin = it->second;
    }
  }
  if (chat.latest_message) {
    if (auto it = users.find(chat.latest_message->sender_id); it != users.end()) {
      view.latest_sender = it->second;
    }
  }
  view.chat = std::move(chat);
  return view;
}

// Every user a chat view needs: members and the latest message's sender.
void collect_user_ids(const store::Chat& chat, std::set<std::string>& ids) {
  for (const auto& m : chat.members) ids.insert(m.user_id);
  if (chat.latest_message) ids.insert(chat.latest_message->sender_id);
}

}  // namespace

boost::asio::awaitable<Result<std::vector<ChatView>>> load_views(store::Store& store,
                                                                 std::vector<store::Chat> chats) {
  std::set<std::string> ids;
  for (const auto& chat : chats) collect_user_ids(chat, ids);
  std::vector<std::string> wanted(ids.begin(), ids.end());
  auto users = co_await store.find_users(std::move(wanted));
  if (!users) co_return users.error();
  const auto map = by_id(std::move(*users));
  std::vector<ChatView> views;
  views.reserve(chats.size());
  for (auto& chat : chats) views.push_back(assemble(std::move(chat), map));
  co_return views;
}

boost::asio::awaitable<Result<ChatView>> load_view(store::Store& store, store::Chat chat) {
  std::vector<store::Chat> one;
  one.push_back(std::move(chat));
  auto views = co_await load_views(store, std::move(one));
  if (!views) co_return views.error();
  co_return std::move(views->front());
}

MessageView view_message(const AttachmentLinks* links, Message message, User sender,
                         std::vector<std::string> read_by) {
  auto attachments = attachment_views(links, message.attachments);
  return MessageView{std::move(message), std::move(sender), std::move(read_by),
                     std::move(attachments)};
}

}  // namespace chatd::chat
