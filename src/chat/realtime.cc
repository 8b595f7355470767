// The real-time half of ChatService: fan-out of committed messages, receipts, typing, presence
// and sync. Everything here is announced through the EventSink; nothing here knows a socket.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <map>
#include <set>

#include "chat/chat_service.h"
#include "chat/members.h"
#include "chat/validation.h"
#include "util/async.h"
#include "util/clock.h"

// As in chat_service.cc: every co_await takes named variables, never temporaries.
namespace chatd::chat {

using detail::find_member;
using detail::invalid;
using detail::not_member;

// ---- Messages ----------------------------------------------------------------------------------

asio::awaitable<void> ChatService::mark_delivered(std::string chat_id, std::string user_id,
                                                  std::int64_t seq) {
  auto done = co_await advance_cursors(std::move(chat_id), std::move(user_id), seq, 0);
  // not_member: they left meanwhile, nothing to count.
  if (!done && done.error().code != Errc::not_member) {
    spdlog::warn("chat: delivery not recorded: {}", done.error().message);
  }
}

// ---- Receipts ----------------------------------------------------------------------------------

asio::awaitable<Status> ChatService::check_member(User caller, std::string chat_id) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto chat = co_await store_.find_chat(std::move(*id));
  if (!chat) co_return chat.error();
  if (!find_member(*chat, caller.id)) co_return not_member();
  co_return Status{};
}

asio::awaitable<Result<store::Member>> ChatService::report_receipt(User caller, std::string chat_id,
                                                                   std::int64_t delivered_seq,
                                                                   std::int64_t read_seq) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  if (delivered_seq < 0 || read_seq < 0) co_return invalid("seq must not be negative");
  co_return co_await advance_cursors(std::move(*id), std::move(caller.id), delivered_seq, read_seq);
}

asio::awaitable<Result<store::Member>> ChatService::advance_cursors(std::string chat_id,
                                                                    std::string user_id,
                                                                    std::int64_t delivered_seq,
                                                                    std::int64_t read_seq) {
  auto executor = co_await asio::this_coro::executor;
  auto join = [this, executor, chat_id = std::move(chat_id), user_id = std::move(user_id),
               delivered_seq, read_seq](ReceiptQueue::Waiter done) {
    if (receipts_.join(chat_id, user_id, delivered_seq, read_seq, std::move(done))) {
      asio::co_spawn(executor, write_receipt_rounds(chat_id, user_id),
                     log_if_failed("chat: background task"));
    }
  };
  co_return co_await async_callback<Result<store::Member>>(std::move(join));
}

// One write per round: reports that arrive while a write is in flight are merged into the next.
asio::awaitable<void> ChatService::write_receipt_rounds(std::string chat_id, std::string user_id) {
  do {
    auto round = receipts_.take(chat_id, user_id);
    auto chat = chat_id;
    auto user = user_id;
    auto update = co_await store_.advance_cursors(std::move(chat), std::move(user),
                                                  round.delivered_seq, round.read_seq);
    Result<store::Member> outcome =
        update ? Result<store::Member>(update->member) : Result<store::Member>(update.error());
    for (auto& waiter : round.waiters) waiter(outcome);
  } while (!receipts_.finish_round(chat_id, user_id));
}

// ---- Typing ------------------------------------------------------------------------------------

asio::awaitable<Status> ChatService::set_typing(User caller, std::string chat_id, bool typing) {
  auto id = valid_id(chat_id, "Chat");
  if (!id) co_return id.error();
  auto reporter = caller.id;
  if (!co_await typing_->allow(std::move(reporter))) {
    co_return make_error(Errc::rate_limited, "Too many typing reports; slow down");
  }
  auto chat = co_await store_.find_chat(std::move(*id));
  if (!chat) co_return chat.error();
  if (!find_member(*chat, caller.id)) co_return not_member();
  std::vector<std::string> member_ids;
  for (const auto& m : chat->members) member_ids.push_back(m.user_id);
  auto where = chat->id;
  auto who = caller.id;
  if (!typing) {
    const bool changed = co_await typing_->stop(std::move(where), std::move(who));
    events_->on_typing(TypingEvent{chat->id, std::move(member_ids), caller.id, false, changed});
    co_return Status{};
  }
  const auto started = co_await typing_->start(std::move(where), std::move(who));
  events_->on_typing(TypingEvent{chat->id, member_ids, caller.id, true, started.changed});
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor,
                 expire_typing(chat->id, caller.id, std::move(member_ids), started.generation),
                 log_if_failed("chat: background task"));
  co_return Status{};
}

asio::awaitable<void> ChatService::expire_typing(std::string chat_id, std::string user_id,
                                                 std::vector<std::string> member_ids,
                                                 std::uint64_t generation) {
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           std::chrono::milliseconds(limits_.typing_expiry_ms));
  co_await timer.async_wait(asio::use_awaitable);
  auto where = chat_id;
  auto who = user_id;
  if (co_await typing_->expire(std::move(where), std::move(who), generation)) {
    events_->on_typing(
        TypingEvent{std::move(chat_id), std::move(member_ids), std::move(user_id), false, true});
  }
}

// ---- Presence ----------------------------------------------------------------------------------

asio::awaitable<void> ChatService::client_connected(User user, ClientKind kind) {
  auto transition = presence_.connect(user.id, kind);
  if (!transition) co_return;
  if (directory_) {
    auto id = user.id;
    if (co_await directory_->joined(std::move(id))) co_return;  // online on another node already
  }
  co_await announce_presence(std::move(user.id), *transition, std::nullopt);
}

asio::awaitable<void> ChatService::client_disconnected(User user, ClientKind kind) {
  auto transition = presence_.disconnect(user.id, kind);
  if (!transition) co_return;
  if (directory_) {
    auto id = user.id;
    if (co_await directory_->left(std::move(id))) co_return;  // still online on another node
  }
  auto id = user.id;
  const auto now = co_await record_last_seen(std::move(id));
  co_await announce_presence(std::move(user.id), *transition, now);
}

asio::awaitable<void> ChatService::user_lost(std::string user_id) {
  if (presence_.online(user_id)) co_return;  // they have come back here meanwhile
  auto id = user_id;
  const auto now = co_await record_last_seen(std::move(id));
  auto whose = user_id;
  auto contacts = co_await store_.find_contacts(std::move(whose));
  if (!contacts) co_return;
  events_->on_presence(PresenceEvent{std::move(*contacts), std::move(user_id), false, now});
}

asio::awaitable<std::int64_t> ChatService::record_last_seen(std::string user_id) {
  const auto now = clock::now_ms();
  auto id = user_id;
  auto recorded = co_await store_.record_last_seen(std::move(id), now);
  if (!recorded && recorded.error().code != Errc::not_found) {
    spdlog::warn("chat: lastSeen of {} not stored: {}", user_id, recorded.error().message);
  }
  co_return now;
}

asio::awaitable<void> ChatService::announce_presence(std::string user_id,
                                                     Presence::Transition transition,
                                                     std::optional<std::int64_t> last_seen) {
  auto id = user_id;
  auto contacts = co_await store_.find_contacts(std::move(id));
  if (!contacts) co_return;
  presence_.announce_if_latest(user_id, transition.generation, [&] {
    events_->on_presence(
        PresenceEvent{std::move(*contacts), user_id, transition.online, last_seen});
  });
}

asio::awaitable<Result<std::vector<PresenceView>>> ChatService::presence_of(
    User caller, std::vector<std::string> user_ids) {
  if (user_ids.size() > limits_.presence_query_max) {
    co_return invalid("Ask for at most " + std::to_string(limits_.presence_query_max) + " users");
  }
  std::set<std::string> wanted;
  for (const auto& raw : user_ids) {
    auto id = valid_id(raw, "User");
    if (!id) co_return invalid("userIds must hold user ids");
    wanted.insert(std::move(*id));
  }
  // Only the presence of people one shares a chat with (and one's own) is anyone's business.
  auto me = caller.id;
  auto contacts = co_await store_.find_contacts(std::move(me));
  if (!contacts) co_return contacts.error();
  std::set<std::string> visible(contacts->begin(), contacts->end());
  visible.insert(caller.id);
  std::vector<std::string> asked;
  for (const auto& id : wanted) {
    if (visible.count(id)) asked.push_back(id);
  }
  std::set<std::string> elsewhere;
  if (directory_) {
    auto remote = asked;
    elsewhere = co_await directory_->online_elsewhere(std::move(remote));
  }
  auto seen = co_await store_.find_last_seen(std::move(asked));
  if (!seen) co_return seen.error();
  std::vector<PresenceView> views;
  for (auto& s : *seen) {
    const bool online = presence_.online(s.user_id) || elsewhere.count(s.user_id);
    views.push_back(PresenceView{std::move(s.user_id), online, online ? std::nullopt : s.at});
  }
  co_return views;
}

// ---- Sync --------------------------------------------------------------------------------------

namespace {

// Chat ids of `cursors` as valid ids, with their values (`what` names them in errors).
Result<std::map<std::string, std::int64_t>> named_cursors(
    const std::vector<std::pair<std::string, std::int64_t>>& cursors, std::string_view what) {
  std::map<std::string, std::int64_t> named;
  for (const auto& [raw, value] : cursors) {
    auto id = valid_id(raw, "Chat");
    if (!id) return invalid(std::string(what) + " must map chat ids to numbers");
    if (value < 0) return invalid(std::string(what) + " must not be negative");
    named[std::move(*id)] = value;
  }
  return named;
}

// Whether a chat's page leaves something for the next call.
bool cut_short(const store::SyncPage& page, std::int64_t cursor) {
  if (!page.changes_complete) return true;
  const auto last_given = page.messages.empty() ? cursor : page.messages.back().seq;
  return last_given < page.last_seq;
}

}  // namespace

asio::awaitable<Result<SyncView>> ChatService::sync(User caller, SyncRequest request) {
  if (request.limit && *request.limit < 1) co_return invalid("limit must be a positive integer");
  int remaining = std::min(request.limit.value_or(limits_.sync_default), limits_.sync_max);
  auto named = named_cursors(request.cursors, "cursors");
  if (!named) co_return named.error();
  std::map<std::string, std::int64_t> named_changes;
  if (request.change_cursors) {
    auto changes = named_cursors(*request.change_cursors, "changeCursors");
    if (!changes) co_return changes.error();
    named_changes = std::move(*changes);
  }
  auto me = caller.id;
  auto chats = co_await store_.list_chats(std::move(me));
  if (!chats) co_return chats.error();
  // Ascending by chat id: the order of the answer, so that a cut answer resumes where it ended.
  std::sort(chats->begin(), chats->end(),
            [](const store::Chat& a, const store::Chat& b) { return a.id < b.id; });

  SyncView view;
  view.with_changes = request.change_cursors.has_value();
  std::set<std::string> mine;
  for (const auto& chat : *chats) mine.insert(chat.id);
  for (const auto& [id, seq] : *named) {
    if (!mine.count(id)) view.removed.push_back(id);
  }
  std::vector<Message> messages;
  std::vector<Message> changes;
  for (const auto& chat : *chats) {
    const auto* self = find_member(chat, caller.id);
    if (!self) continue;
    const auto named_cursor = named->find(chat.id);
    const auto cursor = named_cursor != named->end() ? named_cursor->second : self->delivered_seq;
    std::optional<std::int64_t> change_cursor;
    if (view.with_changes) {
      const auto found = named_changes.find(chat.id);
      change_cursor = found != named_changes.end() ? found->second : 0;
    }
    const bool changed = change_cursor && chat.last_rev > *change_cursor;
    if (named_cursor != named->end() || chat.last_seq > cursor) {
      for (const auto& m : chat.members) {
        if (m.user_id != caller.id) view.receipts.push_back(ReceiptView{chat.id, m});
      }
    }
    if (chat.last_seq <= cursor && !changed) continue;
    if (remaining == 0) {
      view.more = true;
      continue;
    }
    // The change cursor goes in even when the chat looked unchanged: the page's snapshot decides.
    store::SyncQuery query{chat.id, cursor, change_cursor, remaining};
    auto page = co_await store_.sync_chat(std::move(query));
    if (!page) co_return page.error();
    remaining -= static_cast<int>(page->changes.size() + page->messages.size());
    if (cut_short(*page, cursor)) view.more = true;
    if (change_cursor) {
      view.change_cursors.emplace_back(
          chat.id, page->changes_complete ? page->last_rev : page->changes.back().rev);
    }
    std::move(page->changes.begin(), page->changes.end(), std::back_inserter(changes));
    std::move(page->messages.begin(), page->messages.end(), std::back_inserter(messages));
  }

  auto senders = co_await senders_of(messages, changes);
  if (!senders) co_return senders.error();
  auto views = [&](std::vector<Message>& from, std::vector<MessageView>& to) {
    to.reserve(from.size());
    for (auto& m : from) {
      auto sender = senders->find(m.sender_id);
      if (sender == senders->end()) continue;  // a deleted user's messages are not shown
      to.push_back(view_message(links_, std::move(m), sender->second));
    }
  };
  views(messages, view.messages);
  views(changes, view.changes);
  co_return view;
}

}  // namespace chatd::chat
