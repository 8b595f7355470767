#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chat/events.h"
#include "chat/limits.h"
#include "chat/presence.h"
#include "chat/presence_directory.h"
#include "chat/receipt_queue.h"
#include "chat/sequencer.h"
#include "chat/session_cache.h"
#include "chat/typing.h"
#include "chat/views.h"
#include "store/store.h"
#include "util/rate_limit.h"
#include "util/result.h"

namespace chatd::chat {

namespace asio = boost::asio;

// The message classic clients render as is when a group would be too small (API.md).
inline constexpr const char* kGroupTooSmall = "More than 2 users are required to form a group chat";

struct HistoryRequest {
  std::optional<std::int64_t> before;
  std::optional<std::int64_t> after;
  std::optional<int> limit;
};

// GET /api/message/search and the socket's `search`: q is the user's text (store/search_text.h);
// before is the `next` of the previous page.
struct SearchRequest {
  std::string q;
  std::optional<std::string> chat_id;
  std::optional<int> limit;
  std::optional<std::string> before;
};

struct SyncRequest {
  std::vector<std::pair<std::string, std::int64_t>> cursors;  // chat id -> last seq the client has
  std::optional<int> limit;
  // Chat id -> the change cursor of the previous answer (a chat not named starts at 0); none: the
  // client does not take changes.
  std::optional<std::vector<std::pair<std::string, std::int64_t>>> change_cursors;
};

// A change to a sent message: where it is (the chat may be unknown to the caller, as in REST
// routes that name the message alone) and what.
struct MessageRef {
  std::optional<std::string> chat_id;
  std::string message_id;
};

// The chat domain: users, chats, members and roles, messages, receipts, typing, presence and
// sync. Every rule of who may do what lives here (never in the wire layer or the UI): a caller is
// always an authenticated user, and each operation checks membership and role itself. Changes are
// announced to an EventSink, which delivers them to connected clients: committed ones through the
// Sequencer, which runs on `fanout` (a thread of its own in the server). The service makes itself
// the store's change listener: close the store (or stop writing) before the service goes.
class ChatService {
 public:
  // `sessions` hears of revocations first on every commit (chat/session_cache.h).
  // `limiter` holds the send budgets (in memory, or in Redis for a cluster).
  ChatService(store::Store& store, SessionCache& sessions, util::RateLimiter& limiter,
              Limits limits, asio::any_io_executor fanout);
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  // Where changes are announced (none until set). Set before serving.
  void set_events(EventSink& events);
  // What signs the links of attachments in message views (none: views carry no attachments).
  // Set before serving.
  void set_attachment_links(const AttachmentLinks& links);
  // Where committed changes enter the domain: the store reports to it directly on a single node;
  // in a cluster, the feed of every node's commits does (cluster/commit_feed.h).
  store::ChangeListener& committed_changes() { return sequencer_; }
  // In a cluster: who is online on the other nodes. Set before serving.
  void set_presence_directory(PresenceDirectory& directory) { directory_ = &directory; }
  // In a cluster: typing state and its rate limit across nodes. Set before serving.
  void set_typing_state(TypingState& typing) { typing_ = &typing; }
  // In a cluster: the send budgets in Redis (any thread, while serving).
  void set_rate_limiter(util::RateLimiter& limiter) {
    limiter_.store(&limiter, std::memory_order_release);
  }
  // The sessions the change feed revokes (chat/session_cache.h).
  SessionCache& sessions() { return sessions_; }

  // Users (registration, login and tokens: chat/accounts.h).
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

  // Messages. send_message answers with the full chat (REST); post_message is the lean send of
  // the native protocol, where `origin` is the sending connection (it gets no echo).
  asio::awaitable<Result<SentMessage>> send_message(User caller, std::string chat_id,
                                                    std::string content,
                                                    std::optional<std::string> client_msg_id,
                                                    std::optional<std::string> reply_to = {},
                                                    std::vector<std::string> attachments = {});
  asio::awaitable<Result<MessageView>> post_message(User caller, std::string chat_id,
                                                    std::string content, std::string client_msg_id,
                                                    std::string origin,
                                                    std::optional<std::string> reply_to = {},
                                                    std::vector<std::string> attachments = {});
  asio::awaitable<Result<HistoryView>> history(User caller, std::string chat_id,
                                               HistoryRequest request);
  asio::awaitable<Result<MessageStatus>> message_status(User caller, std::string chat_id,
                                                        std::string message_id);
  // Full-text search of the messages in the caller's chats (chat/message_search.cc).
  asio::awaitable<Result<SearchView>> search_messages(User caller, SearchRequest request);

  // Changes to sent messages (chat/message_changes.cc): the sender edits; the sender or a group
  // admin deletes (a tombstone); members react. Each answers with the message as it is after.
  asio::awaitable<Result<ChangedMessageView>> edit_message(User caller, MessageRef ref,
                                                           std::string content);
  asio::awaitable<Result<ChangedMessageView>> delete_message(User caller, MessageRef ref);
  asio::awaitable<Result<ChangedMessageView>> react(User caller, MessageRef ref, std::string emoji,
                                                    bool on);

  // Real time (chat/realtime.cc).
  asio::awaitable<Status> check_member(User caller, std::string chat_id);
  // Moves the caller's cursors forward (delivered/read up to a seq); the stored values after.
  asio::awaitable<Result<store::Member>> report_receipt(User caller, std::string chat_id,
                                                        std::int64_t delivered_seq,
                                                        std::int64_t read_seq);
  asio::awaitable<Status> set_typing(User caller, std::string chat_id, bool typing);
  asio::awaitable<Result<SyncView>> sync(User caller, SyncRequest request);
  asio::awaitable<Result<std::vector<PresenceView>>> presence_of(User caller,
                                                                 std::vector<std::string> user_ids);
  // A client of the user connected or disconnected (presence, lastSeen).
  asio::awaitable<void> client_connected(User user, ClientKind kind);
  asio::awaitable<void> client_disconnected(User user, ClientKind kind);
  // In a cluster: the user's last clients were on a node that died, and they have none elsewhere.
  asio::awaitable<void> user_lost(std::string user_id);

 private:
  // Validation and the store write shared by send_message and post_message.
  asio::awaitable<Result<store::AppendedMessage>> append(const User& caller, std::string chat_id,
                                                         std::string content,
                                                         std::optional<std::string> client_msg_id,
                                                         std::string origin,
                                                         std::optional<std::string> reply_to,
                                                         std::vector<std::string> attachments);
  // The store's change of a message, then the message and its chat as views.
  asio::awaitable<Result<ChangedMessageView>> change_message(User caller, MessageRef ref,
                                                             store::MessageChange change);
  // Senders of the messages of both lists, read once (members of the chat or not).
  asio::awaitable<Result<std::map<std::string, User>>> senders_of(
      const std::vector<Message>& messages, const std::vector<Message>& more);
  // Writes a member's cursors, merging reports that arrive meanwhile (ReceiptQueue).
  asio::awaitable<Result<store::Member>> advance_cursors(std::string chat_id, std::string user_id,
                                                         std::int64_t delivered_seq,
                                                         std::int64_t read_seq);
  // Counts a message delivered to a user with a classic client (they never report it).
  asio::awaitable<void> mark_delivered(std::string chat_id, std::string user_id, std::int64_t seq);
  asio::awaitable<void> write_receipt_rounds(std::string chat_id, std::string user_id);
  asio::awaitable<void> expire_typing(std::string chat_id, std::string user_id,
                                      std::vector<std::string> member_ids,
                                      std::uint64_t generation);
  asio::awaitable<void> announce_presence(std::string user_id, Presence::Transition transition,
                                          std::optional<std::int64_t> last_seen);
  asio::awaitable<std::int64_t> record_last_seen(std::string user_id);

  // The chat with its users, if the caller is a member (`not_member` otherwise).
  asio::awaitable<Result<ChatView>> member_view(const User& caller, const std::string& chat_id);
  // The group, if the caller may change it (`forbidden` otherwise).
  asio::awaitable<Result<store::Chat>> group_for_admin(const User& caller,
                                                       const std::string& chat_id);

  store::Store& store_;
  SessionCache& sessions_;
  std::atomic<util::RateLimiter*> limiter_;
  Limits limits_;
  EventSink* events_ = nullptr;
  const AttachmentLinks* links_ = nullptr;
  Presence presence_;
  PresenceDirectory* directory_ = nullptr;
  TypingTracker local_typing_;
  TypingState* typing_ = &local_typing_;
  ReceiptQueue receipts_;
  Sequencer sequencer_;
  std::atomic<std::size_t> sends_in_flight_{0};  // admission control: see append()
};

}  // namespace chatd::chat
