#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/events.h"
#include "chat/presence.h"
#include "chat/session_cache.h"
#include "store/store.h"

// The one road from a commit to the clients (DESIGN.md, "Delivery order").
//
// The store reports each committed transaction's changes on its writer thread, in commit order
// (store::ChangeListener). The sequencer queues them, and one drain at a time (draining_) turns
// them into events and hands them to the sink, one call per round with everything that queued
// meanwhile. The drain runs on the committing thread itself while no change needs a store read
// (no thread hand-off per commit); a change that does (a group change, a message to classic
// clients whose chat view is not cached) and everything after it move to a coroutine on the
// sequencer's own executor, and later commits queue behind it. Because a single drain takes the
// queue in order, every recipient hears of a chat's messages, receipts and group changes in commit
// order, whichever network thread the writer's connection lives on; the sink (api/SocketApi)
// keeps that order by posting each network thread one task per round. Never publish a committed
// change from the thread that resumed the sender: two threads racing to post break order.
//
// Seam for a cluster: another node's committed changes enter through on_commit too, from a feed
// that delivers them in commit order.
namespace chatd::chat {

class Sequencer final : public store::ChangeListener {
 public:
  // Told of each message written to users' classic clients: they never report delivery, so the
  // server counts it for them (API.md).
  using ClassicDelivery =
      std::function<void(const std::string& chat_id, std::int64_t seq, std::string user_id)>;

  // `sessions` is told of revoked sessions before anything else hears of their commit.
  Sequencer(boost::asio::any_io_executor executor, store::Store& store, const Presence& presence,
            SessionCache& sessions, ClassicDelivery classic_delivery);

  // Where events go. Set before serving.
  void set_sink(EventSink& sink) { sink_ = &sink; }
  // What signs the links of the attachments in events (none: events carry no attachments).
  void set_attachment_links(const AttachmentLinks& links) { links_ = &links; }

  // Any thread; changes of one source must come in that source's commit order.
  void on_commit(store::Commit commit) override;

 private:
  // A message that went to users' classic clients.
  struct ClassicDelivered {
    std::string chat_id;
    std::int64_t seq = 0;
    std::vector<std::string> user_ids;
  };

  // The events of one round, for the sink, and the classic deliveries to count after them.
  struct Round {
    std::vector<CommittedEvent> events;
    std::vector<ClassicDelivered> classic;
  };

  void drain_here();
  bool take_pending(std::vector<store::Change>& changes);
  boost::asio::awaitable<void> drain();
  // Adds the change's event if that needs no store read; false (change untouched) otherwise.
  bool add_now(store::Change& change, Round& round);
  boost::asio::awaitable<void> add(store::MessageAppended change, Round& round);
  boost::asio::awaitable<void> add(store::GroupChanged change, std::vector<CommittedEvent>& events);
  void add_message(store::MessageAppended change, std::vector<std::string> classic_users,
                   Round& round);
  boost::asio::awaitable<std::optional<ChatView>> load_classic_view(std::string chat_id);
  void deliver(Round& round);

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  const Presence& presence_;
  SessionCache& sessions_;
  ClassicDelivery classic_delivery_;
  EventSink* sink_;
  const AttachmentLinks* links_ = nullptr;

  std::mutex mutex_;  // guards pending_ and draining_: the store's thread adds, drain() takes
  std::vector<store::Change> pending_;
  bool draining_ = false;

  // Views of chats with classic recipients, kept current by the group changes that pass here (so
  // a message does not cost two reads). Touched only by the one drain running (draining_).
  std::unordered_map<std::string, ChatView> classic_views_;
};

}  // namespace chatd::chat
