#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chat/attachment_links.h"
#include "store/store.h"

// What the domain hands to the wire layer: stored records joined with the users they name, so that
// api/ can build the MERN shapes (which embed full user objects) without asking the store again.
namespace chatd::chat {

using store::Message;
using store::User;

struct ChatView {
  store::Chat chat;
  std::vector<User> users;            // the members, in joining order
  std::optional<User> group_admin;    // groups: the longest-standing owner/admin
  std::optional<User> latest_sender;  // set when chat.latest_message is
};

struct MessageView {
  Message message;
  User sender;
  std::vector<std::string> read_by;         // members other than the sender with read_seq >= seq
  std::vector<AttachmentView> attachments;  // message.attachments, with their signed links
};

// The view of a message, its attachments signed with `links` (chat/attachment_links.h).
MessageView view_message(const AttachmentLinks* links, Message message, User sender,
                         std::vector<std::string> read_by = {});

// A page of history: the messages and the chat they belong to (every message embeds it).
struct HistoryView {
  ChatView chat;
  std::vector<MessageView> messages;
};

struct SentMessage {
  MessageView message;
  ChatView chat;
  bool created = true;  // false for a retry of a clientMsgId: the original is returned
};

// A user with a fresh session, as register and login return: the access token (a JWT naming the
// session) and the opaque refresh token that renews it.
struct Session {
  User user;
  std::string token;
  std::string refresh_token;
};

struct MemberStatus {
  std::string user_id;
  std::int64_t delivered_seq = 0;
  std::int64_t read_seq = 0;
  bool delivered = false;
  bool read = false;
};

// Where a message stands for its sender: sent (committed), delivered (every other current member
// has it) or read (every other current member read it).
struct MessageStatus {
  Message message;
  std::string status;  // "sent" | "delivered" | "read"
  std::vector<MemberStatus> members;
};

// A member's cursors in a chat, as receipts and sync report them.
struct ReceiptView {
  std::string chat_id;
  store::Member member;
};

// A message after a change (edit, deletion, reaction) and its chat, as REST answers it.
struct ChangedMessageView {
  MessageView message;
  ChatView chat;
};

// A message search's page (API.md, "Search"): each hit with its chat's name and its snippet
// (HTML: escaped text with <mark> around the hits), and the cursor of the next page, if any.
struct SearchHitView {
  MessageView message;
  std::string chat_name;
  std::string snippet;
};

struct SearchView {
  std::vector<SearchHitView> hits;
  std::optional<std::string> next;
};

// What a reconnecting client missed (API.md `sync`).
struct SyncView {
  std::vector<MessageView> messages;  // ascending by (chat id, seq)
  // Asked for with change cursors: messages the client has that changed since (their state now),
  // ascending by (chat id, rev), and each chat's change cursor for the next call.
  bool with_changes = false;
  std::vector<MessageView> changes;
  std::vector<std::pair<std::string, std::int64_t>> change_cursors;
  std::vector<ReceiptView> receipts;  // the other members of the chats concerned
  std::vector<std::string> removed;   // chats named by the caller that they no longer belong to
  bool more = false;                  // the limit cut the answer short: call again
};

struct PresenceView {
  std::string user_id;
  bool online = false;
  std::optional<std::int64_t> last_seen;  // epoch ms of the last disconnect; none while online
};

}  // namespace chatd::chat
