#include "api/wire.h"

#include <boost/json/serialize.hpp>

#include "util/clock.h"

namespace chatd::api::wire {

namespace json = boost::json;

json::object user(const chat::User& u) {
  if (u.erased) return erased_user(u);
  return json::object{
      {"_id", u.id}, {"name", u.name}, {"email", u.email}, {"pic", u.pic}, {"isAdmin", u.is_admin}};
}

json::object erased_user(const chat::User& u) {
  return json::object{{"_id", u.id}, {"name", u.name}, {"pic", u.pic}};
}

json::object admin_user(const chat::User& u) {
  auto object = user(u);
  object["disabled"] = u.disabled;
  object["createdAt"] = clock::iso8601(u.created_at);
  return object;
}

json::object admin_audit_event(const store::AuditEvent& event) {
  auto object = audit_event(event);
  object["userId"] = event.user_id;
  return object;
}

json::object session(const chat::Session& s) {
  auto object = user(s.user);
  object["token"] = s.token;
  object["refreshToken"] = s.refresh_token;
  return object;
}

json::object token_pair(const chat::TokenPair& tokens) {
  return json::object{{"token", tokens.token}, {"refreshToken", tokens.refresh_token}};
}

json::object session_info(const chat::SessionView& view) {
  const auto& s = view.session;
  return json::object{{"_id", s.id},
                      {"createdAt", clock::iso8601(s.created_at)},
                      {"lastUsedAt", clock::iso8601(s.last_used_at)},
                      {"ip", s.ip},
                      {"userAgent", s.user_agent},
                      {"current", view.current}};
}

json::object two_factor_setup(const chat::TwoFactorSetup& setup) {
  return json::object{{"secret", setup.secret}, {"otpauthUrl", setup.otpauth_url}};
}

json::object recovery_codes(const std::vector<std::string>& codes) {
  json::array list;
  for (const auto& code : codes) list.emplace_back(code);
  return json::object{{"recoveryCodes", std::move(list)}};
}

json::object audit_event(const store::AuditEvent& e) {
  return json::object{{"_id", e.id},
                      {"type", e.type},
                      {"at", clock::iso8601(e.at)},
                      {"ip", e.ip},
                      {"userAgent", e.user_agent}};
}

json::object sender(const chat::User& u) {
  if (u.erased) return erased_user(u);
  return json::object{{"_id", u.id}, {"name", u.name}, {"pic", u.pic}, {"email", u.email}};
}

json::object chat_of_message(const chat::ChatView& view) {
  json::array users;
  users.reserve(view.users.size());
  for (const auto& u : view.users) users.push_back(user(u));
  json::object object{{"_id", view.chat.id},
                      {"chatName", view.chat.name},
                      {"isGroupChat", view.chat.is_group},
                      {"users", std::move(users)}};
  if (view.group_admin) object["groupAdmin"] = user(*view.group_admin);
  if (view.chat.retention_days) object["retentionDays"] = *view.chat.retention_days;
  object["createdAt"] = clock::iso8601(view.chat.created_at);
  object["updatedAt"] = clock::iso8601(view.chat.updated_at);
  return object;
}

json::object chat(const chat::ChatView& view) {
  auto object = chat_of_message(view);
  if (view.chat.latest_message && view.latest_sender) {
    const auto& m = *view.chat.latest_message;
    json::object latest{{"_id", m.id},
                        {"seq", m.seq},
                        {"sender", sender(*view.latest_sender)},
                        {"content", m.content},
                        {"chat", m.chat_id},
                        {"createdAt", clock::iso8601(m.created_at)},
                        {"updatedAt", clock::iso8601(m.created_at)}};
    if (m.deleted) latest["deleted"] = true;
    object["latestMessage"] = std::move(latest);
  }
  return object;
}

namespace {

// What a reply shows of the message it answers.
json::object quote(const store::Quote& q) {
  json::object object{
      {"_id", q.id},
      {"seq", q.seq},
      {"sender",
       json::object{{"_id", q.sender_id}, {"name", q.sender_name}, {"pic", q.sender_pic}}},
      {"content", q.content}};
  if (q.deleted) object["deleted"] = true;
  return object;
}

json::object reactions(const std::vector<store::Reaction>& reactions) {
  json::object object;
  for (const auto& r : reactions) {
    json::array users;
    for (const auto& id : r.user_ids) users.emplace_back(id);
    object[r.emoji] = std::move(users);
  }
  return object;
}

// What every shape of an attachment says of it.
json::object attachment_fields(const store::Attachment& a) {
  json::object object{{"_id", a.id}, {"name", a.name}, {"size", a.size}, {"mime", a.mime}};
  if (a.width) object["width"] = *a.width;
  if (a.height) object["height"] = *a.height;
  return object;
}

json::array attachments(const std::vector<chat::AttachmentView>& views) {
  json::array array;
  array.reserve(views.size());
  for (const auto& view : views) array.push_back(attachment(view));
  return array;
}

// The fields of a message's changes and extras, each absent when empty (API.md).
void add_rich_fields(json::object& object, const chat::MessageView& view) {
  const auto& m = view.message;
  if (!view.attachments.empty()) object["attachments"] = attachments(view.attachments);
  if (m.reply_to) object["replyTo"] = quote(*m.reply_to);
  if (m.edited_at) object["editedAt"] = clock::iso8601(*m.edited_at);
  if (!m.reactions.empty()) object["reactions"] = reactions(m.reactions);
}

// A message without its "chat", which callers add (as an object or as spliced text).
json::object message_fields(const chat::MessageView& view) {
  const auto& m = view.message;
  json::array read_by;
  read_by.reserve(view.read_by.size());
  for (const auto& id : view.read_by) read_by.emplace_back(id);
  json::object object{{"_id", m.id}, {"seq", m.seq}};
  if (m.client_msg_id && !m.deleted) object["clientMsgId"] = *m.client_msg_id;
  object["sender"] = sender(view.sender);
  object["content"] = m.content;
  if (m.deleted) object["deleted"] = true;
  add_rich_fields(object, view);
  object["readBy"] = std::move(read_by);
  const auto created = clock::iso8601(m.created_at);
  object["createdAt"] = created;
  object["updatedAt"] = created;
  return object;
}

}  // namespace

json::object attachment(const chat::AttachmentView& view) {
  auto object = attachment_fields(view.attachment);
  object["url"] = view.url;
  if (view.thumbnail_url) object["thumbnailUrl"] = *view.thumbnail_url;
  return object;
}

json::object uploaded_attachment(const chat::AttachmentView& view) {
  const auto& a = view.attachment;
  auto object = attachment(view);
  object["sha256"] = a.sha256;
  if (a.thumbnail) {
    object["thumbnail"] = json::object{{"width", a.thumbnail->width},
                                       {"height", a.thumbnail->height},
                                       {"mime", a.thumbnail->mime}};
  } else {
    object["thumbnail"] = nullptr;
  }
  return object;
}

json::object message(const chat::MessageView& view, const json::object& chat) {
  auto object = message_fields(view);
  object["chat"] = chat;
  return object;
}

std::string message_page(const std::vector<chat::MessageView>& messages,
                         const chat::ChatView& chat) {
  constexpr std::string_view kChatKey = ",\"chat\":";
  const std::string chat_text = json::serialize(chat_of_message(chat));
  // Each message's own fields first, so that the page is allocated once at its final size: a
  // page of a big group is hundreds of kB, and growing it by doubling copied it twice over.
  std::vector<std::string> fields;
  fields.reserve(messages.size());
  std::size_t size = 2;
  for (const auto& view : messages) {
    fields.push_back(json::serialize(message_fields(view)));
    size += fields.back().size() + kChatKey.size() + chat_text.size() + 1;
  }
  std::string page;
  page.reserve(size);
  page += '[';
  for (const auto& text : fields) {
    if (page.size() > 1) page += ',';
    page.append(text, 0, text.size() - 1);  // the closing '}' comes after the chat
    page += kChatKey;
    page += chat_text;
    page += '}';
  }
  page += ']';
  return page;
}

json::object message_status(const chat::MessageStatus& status) {
  json::array members;
  for (const auto& m : status.members) {
    members.push_back(json::object{{"userId", m.user_id},
                                   {"deliveredSeq", m.delivered_seq},
                                   {"readSeq", m.read_seq},
                                   {"delivered", m.delivered},
                                   {"read", m.read}});
  }
  return json::object{{"messageId", status.message.id},
                      {"chatId", status.message.chat_id},
                      {"seq", status.message.seq},
                      {"status", status.status},
                      {"members", std::move(members)}};
}

// ---- A user's data export ----

json::object exported_chat(const chat::ChatView& view, const std::string& user_id) {
  json::array members;
  members.reserve(view.users.size());
  for (const auto& u : view.users) members.push_back(json::object{{"_id", u.id}, {"name", u.name}});
  json::object object{{"_id", view.chat.id},
                      {"chatName", view.chat.name},
                      {"isGroupChat", view.chat.is_group},
                      {"members", std::move(members)}};
  for (const auto& m : view.chat.members) {
    if (m.user_id == user_id) object["joinedAt"] = clock::iso8601(m.joined_at);
  }
  return object;
}

json::object exported_receipt(const std::string& chat_id, const store::Member& member) {
  return json::object{
      {"chatId", chat_id}, {"deliveredSeq", member.delivered_seq}, {"readSeq", member.read_seq}};
}

json::object exported_attachment(const store::Attachment& a) {
  auto object = attachment_fields(a);
  object["sha256"] = a.sha256;
  object["createdAt"] = clock::iso8601(a.created_at);
  return object;
}

json::object exported_message(const store::Message& m) {
  json::object object{{"_id", m.id}, {"chatId", m.chat_id}, {"seq", m.seq}, {"content", m.content}};
  if (m.client_msg_id) object["clientMsgId"] = *m.client_msg_id;
  if (!m.attachments.empty()) {
    json::array ids;
    for (const auto& a : m.attachments) ids.emplace_back(a.id);
    object["attachments"] = std::move(ids);
  }
  object["createdAt"] = clock::iso8601(m.created_at);
  return object;
}

// ---- Socket.IO, native protocol ----

json::object lean_message(const chat::MessageView& view) {
  const auto& m = view.message;
  json::object object{
      {"_id", m.id},
      {"chatId", m.chat_id},
      {"seq", m.seq},
      {"sender",
       json::object{{"_id", view.sender.id}, {"name", view.sender.name}, {"pic", view.sender.pic}}},
      {"content", m.content}};
  if (m.deleted) object["deleted"] = true;
  if (m.client_msg_id && !m.deleted) object["clientMsgId"] = *m.client_msg_id;
  add_rich_fields(object, view);
  if (m.rev > 0) object["rev"] = m.rev;
  object["createdAt"] = clock::iso8601(m.created_at);
  return object;
}

json::object search_page(const chat::SearchView& page) {
  json::array results;
  results.reserve(page.hits.size());
  for (const auto& hit : page.hits) {
    auto message = lean_message(hit.message);
    message["chatName"] = hit.chat_name;
    results.emplace_back(json::object{{"message", std::move(message)}, {"snippet", hit.snippet}});
  }
  json::value next = nullptr;
  if (page.next) next = *page.next;
  return json::object{{"results", std::move(results)}, {"next", std::move(next)}};
}

json::object message_deleted(const std::string& chat_id, const store::ErasedMessage& message) {
  return json::object{{"chatId", chat_id}, {"messageId", message.id}, {"seq", message.seq}};
}

json::object message_updated(const chat::MessageView& message) {
  return json::object{{"message", lean_message(message)}};
}

json::object reaction(const chat::MessageChangedEvent& event) {
  const auto& m = event.message.message;
  return json::object{{"chatId", m.chat_id},
                      {"messageId", m.id},
                      {"emoji", event.emoji},
                      {"userId", event.user_id},
                      {"on", event.kind == store::MessageChangeKind::react}};
}

json::object receipt(const std::string& chat_id, const store::Member& member) {
  return json::object{{"chatId", chat_id},
                      {"userId", member.user_id},
                      {"deliveredSeq", member.delivered_seq},
                      {"readSeq", member.read_seq}};
}

json::object typing(const std::string& chat_id, const std::string& user_id, bool typing) {
  return json::object{{"chatId", chat_id}, {"userId", user_id}, {"typing", typing}};
}

json::object presence(const chat::PresenceView& presence) {
  json::object object{{"userId", presence.user_id}, {"online", presence.online}};
  if (presence.last_seen) {
    object["lastSeen"] = clock::iso8601(*presence.last_seen);
  } else {
    object["lastSeen"] = nullptr;
  }
  return object;
}

json::object sync(const chat::SyncView& sync) {
  json::array messages;
  messages.reserve(sync.messages.size());
  for (const auto& m : sync.messages) messages.push_back(lean_message(m));
  json::array receipts;
  receipts.reserve(sync.receipts.size());
  for (const auto& r : sync.receipts) receipts.push_back(receipt(r.chat_id, r.member));
  json::array removed;
  for (const auto& id : sync.removed) removed.emplace_back(id);
  json::object answer{{"messages", std::move(messages)},
                      {"receipts", std::move(receipts)},
                      {"removed", std::move(removed)},
                      {"more", sync.more}};
  if (!sync.with_changes) return answer;
  json::array changes;
  changes.reserve(sync.changes.size());
  for (const auto& m : sync.changes) changes.push_back(lean_message(m));
  json::object cursors;
  for (const auto& [chat_id, rev] : sync.change_cursors) cursors[chat_id] = rev;
  answer["changes"] = std::move(changes);
  answer["changeCursors"] = std::move(cursors);
  return answer;
}

json::object ack_ok(json::object fields) {
  json::object object;
  object.reserve(fields.size() + 1);
  object.emplace("ok", true);
  for (auto& field : fields) object.emplace(field.key(), std::move(field.value()));
  return object;
}

json::object ack_error(const Error& error) {
  json::object detail{{"code", errc_name(error.code)}, {"message", error.message}};
  if (error.retry_after_s > 0) detail["retryAfter"] = error.retry_after_s;
  return json::object{{"ok", false}, {"error", std::move(detail)}};
}

}  // namespace chatd::api::wire
