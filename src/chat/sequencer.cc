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
                     ClassicDelivery classic_delivery)
    : executor_(std::move(executor)),
      store_(store),
      presence_(presence),
      classic_delivery_(std::move(classic_delivery)),
      sink_(&detail::no_events()) {}

void Sequencer::on_commit(std::vector<store::Change> changes) {
  {
    std::lock_guard lock(mutex_);
    std::move(changes.begin(), changes.end(), std::back_inserter(pending_));
    if (std::exchange(draining_, true)) return;  // the running drain() will take them
  }
  asio::post(executor_,
             [this] { asio::co_spawn(executor_, drain(), log_if_failed("chat: sequencer")); });
}

asio::awaitable<void> Sequencer::drain() {
  for (;;) {
    std::vector<store::Change> changes;
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty()) {
        draining_ = false;
        co_return;
      }
      changes.swap(pending_);
    }
    std::vector<CommittedEvent> events;
    events.reserve(changes.size());
    std::vector<ClassicDelivered> classic;
    for (auto& change : changes) {
      if (auto* message = std::get_if<store::MessageAppended>(&change)) {
        co_await add(std::move(*message), events, classic);
      } else if (auto* group = std::get_if<store::GroupChanged>(&change)) {
        co_await add(std::move(*group), events);
      } else {
        auto& moved = std::get<store::CursorsAdvanced>(change);
        events.emplace_back(
            ReceiptEvent{std::move(moved.chat_id), std::move(moved.member_ids), moved.member});
      }
    }
    sink_->on_committed(events);
    for (auto& delivered : classic) {
      for (auto& user : delivered.user_ids) {
        classic_delivery_(delivered.chat_id, delivered.seq, std::move(user));
      }
    }
  }
}

asio::awaitable<void> Sequencer::add(store::MessageAppended change,
                                     std::vector<CommittedEvent>& events,
                                     std::vector<ClassicDelivered>& classic) {
  MessageEvent event{MessageView{std::move(change.message), std::move(change.sender), {}},
                     std::move(change.member_ids), std::nullopt, std::move(change.origin)};
  const auto& sent = event.message;
  auto classic_users = presence_.with_classic_clients(event.member_ids, sent.sender.id);
  if (!classic_users.empty()) {
    event.chat = co_await classic_view(sent.message, sent.sender);
    if (event.chat) {
      classic.push_back(
          ClassicDelivered{sent.message.chat_id, sent.message.seq, std::move(classic_users)});
    }
  }
  events.emplace_back(std::move(event));
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

asio::awaitable<std::optional<ChatView>> Sequencer::classic_view(const store::Message& message,
                                                                 const User& sender) {
  auto cached = classic_views_.find(message.chat_id);
  if (cached == classic_views_.end()) {
    auto id = message.chat_id;
    auto chat = co_await store_.find_chat(std::move(id));
    if (!chat) co_return std::nullopt;
    auto view = co_await load_view(store_, std::move(*chat));
    if (!view) co_return std::nullopt;
    if (classic_views_.size() >= kMaxClassicViews) classic_views_.clear();
    cached = classic_views_.insert_or_assign(message.chat_id, std::move(*view)).first;
  }
  // The chat as this message left it.
  auto& view = cached->second;
  view.chat.updated_at = std::max(view.chat.updated_at, message.created_at);
  if (!view.chat.latest_message || view.chat.latest_message->seq < message.seq) {
    view.chat.latest_message = message;
    view.latest_sender = sender;
  }
  co_return view;
}

}  // namespace chatd::chat
