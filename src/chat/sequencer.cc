#include "chat/sequencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <iterator>
#include <utility>

#include "chat/chat_views.h"
#include "chat/members.h"
#include "util/async.h"

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

namespace asio = boost::asio;

namespace {

// Beyond this many cached classic views the cache starts again (it refills on demand).
constexpr std::size_t kMaxClassicViews = 10'000;

}  // namespace

Sequencer::Sequencer(asio::any_io_executor executor, store::Store& store, const Presence& presence,
                     SessionCache& sessions, ClassicDelivery classic_delivery)
    : executor_(std::move(executor)),
      store_(store),
      presence_(presence),
      sessions_(sessions),
      classic_delivery_(std::move(classic_delivery)),
      sink_(&detail::no_events()) {}

void Sequencer::on_commit(store::Commit commit) {
  // Before the writer resumes (a logout answers only after this): no request checked after the
  // revocation committed can pass with the revoked session, whatever the queue holds.
  sessions_.apply(commit);
  {
    std::lock_guard lock(mutex_);
    std::move(commit.changes.begin(), commit.changes.end(), std::back_inserter(pending_));
    if (std::exchange(draining_, true)) return;  // the running drain will take them
  }
  drain_here();
}

// On the committing thread: no hand-off to another thread (each costs a wake-up and a context
// switch per commit at light load), as long as no change needs a store read. The first that does
// goes back to the head of the queue, for drain() on executor_, which also takes what follows it.
void Sequencer::drain_here() {
  for (;;) {
    std::vector<store::Change> changes;
    if (!take_pending(changes)) return;
    Round round;
    round.events.reserve(changes.size());
    auto first_left = changes.begin();
    while (first_left != changes.end() && add_now(*first_left, round)) ++first_left;
    deliver(round);
    if (first_left == changes.end()) continue;
    {
      std::lock_guard lock(mutex_);
      pending_.insert(pending_.begin(), std::make_move_iterator(first_left),
                      std::make_move_iterator(changes.end()));
    }
    asio::co_spawn(executor_, drain(), log_if_failed("chat: sequencer"));
    return;
  }
}

// False (and the drain is over) when nothing is queued.
bool Sequencer::take_pending(std::vector<store::Change>& changes) {
  std::lock_guard lock(mutex_);
  if (pending_.empty()) {
    draining_ = false;
    return false;
  }
  changes.swap(pending_);
  return true;
}

bool Sequencer::add_now(store::Change& change, Round& round) {
  if (auto* revoked = std::get_if<store::SessionsRevoked>(&change)) {
    round.events.emplace_back(
        SessionsRevokedEvent{std::move(revoked->user_id), std::move(revoked->session_ids)});
    return true;
  }
  if (auto* erased = std::get_if<store::MessagesErased>(&change)) {
    classic_views_.erase(erased->chat_id);  // its latest message may be one of them
    round.events.emplace_back(MessagesErasedEvent{
        std::move(erased->chat_id), std::move(erased->messages), std::move(erased->member_ids)});
    return true;
  }
  if (auto* changed = std::get_if<store::MessageChanged>(&change)) {
    classic_views_.erase(changed->message.chat_id);  // it may be the latest message
    round.events.emplace_back(MessageChangedEvent{
        view_message(links_, std::move(changed->message), std::move(changed->sender)),
        std::move(changed->member_ids), changed->kind, std::move(changed->user_id),
        std::move(changed->emoji)});
    return true;
  }
  if (std::holds_alternative<store::UserChanged>(change)) {
    classic_views_.clear();  // they embed users (SessionCache took the change already)
    return true;
  }
  if (auto* moved = std::get_if<store::CursorsAdvanced>(&change)) {
    round.events.emplace_back(
        ReceiptEvent{std::move(moved->chat_id), std::move(moved->member_ids), moved->member});
    return true;
  }
  auto* message = std::get_if<store::MessageAppended>(&change);
  if (!message) return false;  // a group change: its view is read from the store
  auto classic_users = presence_.with_classic_clients(message->member_ids, message->sender.id);
  auto cached = classic_views_.find(message->message.chat_id);
  if (!classic_users.empty() && cached == classic_views_.end()) return false;
  add_message(std::move(*message), std::move(classic_users), round);
  return true;
}

asio::awaitable<void> Sequencer::drain() {
  for (;;) {
    std::vector<store::Change> changes;
    if (!take_pending(changes)) co_return;
    Round round;
    round.events.reserve(changes.size());
    for (auto& change : changes) {
      if (add_now(change, round)) continue;
      if (auto* message = std::get_if<store::MessageAppended>(&change)) {
        co_await add(std::move(*message), round);
      } else {
        co_await add(std::move(std::get<store::GroupChanged>(change)), round.events);
      }
    }
    deliver(round);
  }
}

void Sequencer::deliver(Round& round) {
  if (round.events.empty()) return;
  sink_->on_committed(round.events);
  for (auto& delivered : round.classic) {
    for (auto& user : delivered.user_ids) {
      classic_delivery_(delivered.chat_id, delivered.seq, std::move(user));
    }
  }
}

asio::awaitable<void> Sequencer::add(store::MessageAppended change, Round& round) {
  auto classic_users = presence_.with_classic_clients(change.member_ids, change.sender.id);
  const auto& chat_id = change.message.chat_id;
  if (!classic_users.empty() && !classic_views_.count(chat_id)) {
    auto id = chat_id;
    auto view = co_await load_classic_view(std::move(id));
    if (view) {
      if (classic_views_.size() >= kMaxClassicViews) classic_views_.clear();
      classic_views_.insert_or_assign(chat_id, std::move(*view));
    }
  }
  add_message(std::move(change), std::move(classic_users), round);
}

// Classic clients get the chat with the message (as this message left it), when its view is
// known; native ones get the lean message alone.
void Sequencer::add_message(store::MessageAppended change, std::vector<std::string> classic_users,
                            Round& round) {
  MessageEvent event{view_message(links_, std::move(change.message), std::move(change.sender)),
                     std::move(change.member_ids), std::nullopt, std::move(change.origin)};
  const auto& sent = event.message;
  if (!classic_users.empty()) {
    if (auto cached = classic_views_.find(sent.message.chat_id); cached != classic_views_.end()) {
      auto& view = cached->second;
      view.chat.updated_at = std::max(view.chat.updated_at, sent.message.created_at);
      if (!view.chat.latest_message || view.chat.latest_message->seq < sent.message.seq) {
        view.chat.latest_message = sent.message;
        view.latest_sender = sent.sender;
      }
      event.chat = view;
      round.classic.push_back(
          ClassicDelivered{sent.message.chat_id, sent.message.seq, std::move(classic_users)});
    }
  }
  round.events.emplace_back(std::move(event));
}

asio::awaitable<void> Sequencer::add(store::GroupChanged change,
                                     std::vector<CommittedEvent>& events) {
  auto id = change.chat.id;
  auto view = co_await load_view(store_, std::move(change.chat));
  if (!view) {
    spdlog::warn("chat: a change of group {} was not announced: {}", id, view.error().message);
    co_return;
  }
  if (auto cached = classic_views_.find(id); cached != classic_views_.end()) {
    cached->second = *view;
  }
  events.emplace_back(ChatEvent{std::move(*view), std::move(change.removed_user_ids)});
}

asio::awaitable<std::optional<ChatView>> Sequencer::load_classic_view(std::string chat_id) {
  auto chat = co_await store_.find_chat(std::move(chat_id));
  if (!chat) co_return std::nullopt;
  auto view = co_await load_view(store_, std::move(*chat));
  if (!view) co_return std::nullopt;
  co_return std::move(*view);
}

}  // namespace chatd::chat
