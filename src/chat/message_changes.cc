// Changes to sent messages (API.md, "Rich messages"): edits, deletions, reactions. The rules of
// who may make each are here; the store checks them in the writing transaction (store.h,
// MessageChange), so that they hold whatever membership or role change races with the call.
#include <set>

#include "chat/chat_service.h"
#include "chat/chat_views.h"
#include "chat/members.h"
#include "chat/validation.h"

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

using detail::read_by;

asio::awaitable<Result<ChangedMessageView>> ChatService::edit_message(User caller, MessageRef ref,
                                                                      std::string content) {
  if (auto ok = valid_content(content, limits_.content_max); !ok) co_return ok.error();
  store::MessageChange change{
      {}, {}, caller.id, store::MessageChangeKind::edit, store::ChangeRight::sender};
  change.content = std::move(content);
  co_return co_await change_message(std::move(caller), std::move(ref), std::move(change));
}

asio::awaitable<Result<ChangedMessageView>> ChatService::delete_message(User caller,
                                                                        MessageRef ref) {
  store::MessageChange change{{},
                              {},
                              caller.id,
                              store::MessageChangeKind::remove,
                              store::ChangeRight::sender_or_group_admin};
  co_return co_await change_message(std::move(caller), std::move(ref), std::move(change));
}

asio::awaitable<Result<ChangedMessageView>> ChatService::react(User caller, MessageRef ref,
                                                               std::string emoji, bool on) {
  if (auto ok = valid_emoji(emoji, limits_.emoji_max); !ok) co_return ok.error();
  store::MessageChange change{
      {},
      {},
      caller.id,
      on ? store::MessageChangeKind::react : store::MessageChangeKind::unreact,
      store::ChangeRight::member};
  change.emoji = std::move(emoji);
  change.max_emojis = limits_.reaction_emojis_max;
  co_return co_await change_message(std::move(caller), std::move(ref), std::move(change));
}

asio::awaitable<Result<ChangedMessageView>> ChatService::change_message(
    User caller, MessageRef ref, store::MessageChange change) {
  auto message_id = valid_id(ref.message_id, "Message");
  if (!message_id) co_return message_id.error();
  if (ref.chat_id) {
    auto chat_id = valid_id(*ref.chat_id, "Chat");
    if (!chat_id) co_return chat_id.error();
    change.chat_id = std::move(*chat_id);
  } else {
    auto where = *message_id;
    auto located = co_await store_.locate_message(std::move(where));
    if (!located) co_return located.error();
    change.chat_id = std::move(*located);
  }
  change.message_id = std::move(*message_id);
  auto changed = co_await store_.change_message(std::move(change));
  if (!changed) co_return changed.error();
  auto chat_id = changed->message.chat_id;
  auto chat = co_await store_.find_chat(std::move(chat_id));
  if (!chat) co_return chat.error();
  auto view = co_await load_view(store_, std::move(*chat));
  if (!view) co_return view.error();
  std::vector<Message> changed_messages{changed->message};
  std::vector<Message> none;
  auto senders = co_await senders_of(changed_messages, none);
  if (!senders) co_return senders.error();
  auto sender = senders->find(changed->message.sender_id);
  if (sender == senders->end()) co_return make_error(Errc::not_found, "Message not found");
  auto by = read_by(view->chat, changed->message);
  auto message = view_message(links_, std::move(changed->message), sender->second, std::move(by));
  co_return ChangedMessageView{std::move(message), std::move(*view)};
}

asio::awaitable<Result<std::map<std::string, User>>> ChatService::senders_of(
    const std::vector<Message>& messages, const std::vector<Message>& more) {
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.sender_id);
  for (const auto& m : more) ids.insert(m.sender_id);
  std::vector<std::string> wanted(ids.begin(), ids.end());
  auto users = co_await store_.find_users(std::move(wanted));
  if (!users) co_return users.error();
  std::map<std::string, User> by_id;
  for (auto& u : *users) by_id.emplace(u.id, std::move(u));
  co_return by_id;
}

}  // namespace chatd::chat
