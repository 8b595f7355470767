#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "chat/views.h"

// What the domain tells connected clients about. The domain decides who is concerned (member ids);
// a sink (api/SocketApi) turns each event into wire shapes and delivers them. Committed changes
// reach the sink in commit order from the Sequencer (chat/sequencer.h); typing and presence, which
// nothing stores, from any network thread. Sinks must not block.
namespace chatd::chat {

struct MessageEvent {
  MessageView message;
  std::vector<std::string> member_ids;  // the chat's members when the message committed
  // The chat with full users, for clients that need the classic message shape; set only when
  // some recipient has such a client connected.
  std::optional<ChatView> chat;
  std::string origin;  // the client connection that sent it (empty for REST): not echoed to it
};

struct ReceiptEvent {
  std::string chat_id;
  std::vector<std::string> member_ids;
  store::Member member;  // whose cursors grew, and their new values
};

struct TypingEvent {
  std::string chat_id;
  std::vector<std::string> member_ids;
  std::string user_id;
  bool typing = false;
  // The user's state changed (a refresh or a repeated stop does not): native clients hear of
  // changes only; classic clients expect every report relayed, as classic servers do.
  bool changed = true;
};

struct PresenceEvent {
  std::vector<std::string> contact_ids;  // users who share a chat with user_id
  std::string user_id;
  bool online = false;
  std::optional<std::int64_t> last_seen;  // epoch ms; none while online
};

// A group was created or changed (renamed, members or roles changed).
struct ChatEvent {
  ChatView chat;
  std::vector<std::string> removed_user_ids;  // who left or was removed by this change
};

// Sessions were revoked: their sockets are disconnected.
struct SessionsRevokedEvent {
  std::string user_id;
  std::vector<std::string> session_ids;
};

// Messages became tombstones (their sender was erased, or retention): clients drop their content.
struct MessagesErasedEvent {
  std::string chat_id;
  std::vector<store::ErasedMessage> messages;  // ascending seq
  std::vector<std::string> member_ids;
};

// A sent message was edited, deleted by its sender or an admin, or reacted to.
struct MessageChangedEvent {
  MessageView message;  // as committed
  std::vector<std::string> member_ids;
  store::MessageChangeKind kind = store::MessageChangeKind::edit;
  std::string user_id;  // who made the change (a reaction's user)
  std::string emoji;    // reactions
};

// A committed change, as clients hear of it.
using CommittedEvent = std::variant<MessageEvent, ReceiptEvent, ChatEvent, SessionsRevokedEvent,
                                    MessagesErasedEvent, MessageChangedEvent>;

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Committed changes in commit order, a batch at a time, always from the same thread. The sink
  // must keep that order for every recipient: within the batch and from one batch to the next.
  virtual void on_committed(const std::vector<CommittedEvent>& events) = 0;
  virtual void on_typing(const TypingEvent& event) = 0;
  virtual void on_presence(const PresenceEvent& event) = 0;
  // Broadcasts handed over and not yet applied, per network thread (0 if the sink never lags).
  virtual std::size_t backlog() const { return 0; }
};

}  // namespace chatd::chat
