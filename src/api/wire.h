#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "chat/accounts.h"
#include "chat/events.h"
#include "chat/views.h"

// The one place that builds each wire shape (API.md): the REST API's and the Socket.IO events' and
// acks', so the MERN-compatible shapes and the native ones cannot drift apart.
namespace chatd::api::wire {

// {_id, name, email, pic, isAdmin}: never a password hash. An erased user: erased_user().
boost::json::object user(const chat::User& user);
// {_id, name: "Deleted user", pic}: what is left of an erased user.
boost::json::object erased_user(const chat::User& user);
// user + {disabled, createdAt}: what server admins see.
boost::json::object admin_user(const chat::User& user);
// audit_event + {userId}: the server-wide audit trail.
boost::json::object admin_audit_event(const store::AuditEvent& event);
// user + token + refreshToken, as register and login answer.
boost::json::object session(const chat::Session& session);
// {token, refreshToken}: a refresh's answer.
boost::json::object token_pair(const chat::TokenPair& tokens);
// {_id, createdAt, lastUsedAt, ip, userAgent, current}.
boost::json::object session_info(const chat::SessionView& session);
// {secret, otpauthUrl}.
boost::json::object two_factor_setup(const chat::TwoFactorSetup& setup);
// {recoveryCodes: [...]}.
boost::json::object recovery_codes(const std::vector<std::string>& codes);
// {_id, type, at, ip, userAgent}.
boost::json::object audit_event(const store::AuditEvent& event);
// {_id, name, pic, email}: a message's sender.
boost::json::object sender(const chat::User& user);
// {_id, chatName, isGroupChat, users, groupAdmin (groups), retentionDays?, latestMessage?,
// createdAt, updatedAt}.
boost::json::object chat(const chat::ChatView& chat);
// {_id, seq, clientMsgId?, sender, content, deleted?, chat, readBy, createdAt, updatedAt}
// (a tombstone: content "" and deleted true); `chat` is the
// chat object embedded in it (built once per response, shared by a page of messages).
boost::json::object message(const chat::MessageView& message, const boost::json::object& chat);
// A page of history as a JSON array (text). Every message embeds the same chat: it is serialized
// once and spliced into each message rather than deep-copied into fifty JSON objects.
std::string message_page(const std::vector<chat::MessageView>& messages,
                         const chat::ChatView& chat);
// The chat as embedded in a message: chat() without latestMessage.
boost::json::object chat_of_message(const chat::ChatView& chat);
// {messageId, chatId, seq, status, members: [{userId, deliveredSeq, readSeq, delivered, read}]}.
boost::json::object message_status(const chat::MessageStatus& status);

// A message search's page, REST and socket alike: {results: [{message: the lean message with
// chatName, snippet}], next: the cursor of the next page or null}.
boost::json::object search_page(const chat::SearchView& page);

// ---- Attachments ----

// {_id, name, size, mime, width?, height?, url, thumbnailUrl?}: as messages carry it.
boost::json::object attachment(const chat::AttachmentView& attachment);
// The answer to an upload: the attachment with {sha256, thumbnail: {width, height, mime} | null}.
boost::json::object uploaded_attachment(const chat::AttachmentView& attachment);

// ---- A user's data export (GET /api/user/me/export) ----

// {_id, chatName, isGroupChat, members: [{_id, name}], joinedAt}: a chat of the user's.
boost::json::object exported_chat(const chat::ChatView& chat, const std::string& user_id);
// {chatId, deliveredSeq, readSeq}: the user's cursors in a chat.
boost::json::object exported_receipt(const std::string& chat_id, const store::Member& member);
// {_id, name, size, mime, width?, height?, sha256, createdAt}: an upload of the user's.
boost::json::object exported_attachment(const store::Attachment& attachment);
// {_id, chatId, seq, content, clientMsgId?, attachments?: [id], createdAt}: a message the user
// sent (its files are in the export's attachments).
boost::json::object exported_message(const store::Message& message);

// ---- Socket.IO, native protocol ----

// The lean message: {_id, chatId, seq, sender: {_id, name, pic}, content, deleted?, clientMsgId?,
// createdAt}.
boost::json::object lean_message(const chat::MessageView& message);
// {chatId, messageId, seq}: a message became a tombstone.
// message:updated {message} and reaction {chatId, messageId, emoji, userId, on}.
boost::json::object message_updated(const chat::MessageView& message);
boost::json::object reaction(const chat::MessageChangedEvent& event);
boost::json::object message_deleted(const std::string& chat_id,
                                    const store::ErasedMessage& message);
// {chatId, userId, deliveredSeq, readSeq}.
boost::json::object receipt(const std::string& chat_id, const store::Member& member);
// {chatId, userId, typing}.
boost::json::object typing(const std::string& chat_id, const std::string& user_id, bool typing);
// {userId, online, lastSeen}: lastSeen an ISO date, or null while online or if never seen.
boost::json::object presence(const chat::PresenceView& presence);
// The sync answer's fields: {messages, receipts, removed, more}.
boost::json::object sync(const chat::SyncView& sync);
// Acks: {ok: true, ...fields} and {ok: false, error: {code, message}}.
boost::json::object ack_ok(boost::json::object fields = {});
boost::json::object ack_error(const Error& error);

}  // namespace chatd::api::wire
