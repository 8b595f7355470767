#include "api/export.h"

#include <boost/json/serialize.hpp>
#include <memory>

#include "api/wire.h"

// Arguments to co_await are named variables (see util/async.h).
namespace chatd::api {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Where the export stands between two pieces.
struct ExportCursor {
  enum class Stage { head, attachments, messages, audit, done };

  ExportCursor(chat::PrivacyService& privacy, chat::Caller caller, chat::ExportHead head)
      : privacy(privacy), caller(std::move(caller)), head(std::move(head)) {}

  chat::PrivacyService& privacy;
  chat::Caller caller;
  chat::ExportHead head;
  Stage stage = Stage::head;
  std::int64_t upload_after_created_at = 0;  // the last upload written
  std::string upload_after_id;
  std::string after_chat_id;  // the last message written
  std::int64_t after_seq = 0;
  std::optional<std::string> audit_before;  // the last audit event written
};

// Everything known before the first page: the user, sessions, chats and receipts.
std::string head_piece(const ExportCursor& cursor) {
  const auto& head = cursor.head;
  json::array sessions;
  for (const auto& s : head.sessions) {
    sessions.push_back(wire::session_info(chat::SessionView{s, s.id == cursor.caller.session_id}));
  }
  json::array chats;
  json::array receipts;
  for (const auto& view : head.chats) {
    chats.push_back(wire::exported_chat(view, head.user.id));
    for (const auto& m : view.chat.members) {
      if (m.user_id == head.user.id) receipts.push_back(wire::exported_receipt(view.chat.id, m));
    }
  }
  // The document's opening, up to the messages array, which the pages fill.
  std::string piece = "{\"user\":" + json::serialize(wire::user(head.user));
  piece += ",\"sessions\":" + json::serialize(sessions);
  piece += ",\"chats\":" + json::serialize(chats);
  piece += ",\"receipts\":" + json::serialize(receipts);
  piece += ",\"attachments\":[";
  return piece;
}

// Items of a page, comma-separated, with a leading comma unless they are the array's first.
template <class T, class Render>
std::string page_piece(const std::vector<T>& items, bool first_page, Render render) {
  std::string piece;
  for (const auto& item : items) {
    if (!first_page || !piece.empty()) piece += ',';
    piece += json::serialize(render(item));
  }
  return piece;
}

// The next piece of the body; empty once the document is complete.
asio::awaitable<Result<std::string>> next_piece(std::shared_ptr<ExportCursor> state) {
  using Stage = ExportCursor::Stage;
  auto& cursor = *state;
  switch (cursor.stage) {
    case Stage::head:
      cursor.stage = Stage::attachments;
      co_return head_piece(cursor);
    case Stage::attachments: {
      const bool first = cursor.upload_after_id.empty();
      auto caller = cursor.caller;
      auto after = cursor.upload_after_id;
      auto page = co_await cursor.privacy.export_uploads(
          std::move(caller), cursor.upload_after_created_at, std::move(after));
      if (!page) co_return page.error();
      if (page->empty()) {
        cursor.stage = Stage::messages;
        co_return std::string("],\"messages\":[");
      }
      cursor.upload_after_created_at = page->back().created_at;
      cursor.upload_after_id = page->back().id;
      co_return page_piece(*page, first, wire::exported_attachment);
    }
    case Stage::messages: {
      const bool first = cursor.after_chat_id.empty();
      auto caller = cursor.caller;
      auto after = cursor.after_chat_id;
      auto page = co_await cursor.privacy.export_messages(std::move(caller), std::move(after),
                                                          cursor.after_seq);
      if (!page) co_return page.error();
      if (page->empty()) {
        cursor.stage = Stage::audit;
        co_return std::string("],\"audit\":[");
      }
      cursor.after_chat_id = page->back().chat_id;
      cursor.after_seq = page->back().seq;
      co_return page_piece(*page, first, wire::exported_message);
    }
    case Stage::audit: {
      const bool first = !cursor.audit_before;
      auto caller = cursor.caller;
      auto before = cursor.audit_before;
      auto page = co_await cursor.privacy.export_audit(std::move(caller), std::move(before));
      if (!page) co_return page.error();
      if (page->empty()) {
        cursor.stage = Stage::done;
        co_return std::string("]}");
      }
      cursor.audit_before = page->back().id;
      co_return page_piece(*page, first, wire::audit_event);
    }
    case Stage::done:
      break;
  }
  co_return std::string();
}

}  // namespace

net::BodyStream export_body(chat::PrivacyService& privacy, chat::Caller caller,
                            chat::ExportHead head) {
  auto cursor = std::make_shared<ExportCursor>(privacy, std::move(caller), std::move(head));
  return [cursor] { return next_piece(cursor); };
}

}  // namespace chatd::api
