// Message search (API.md, "Search"): the request checked, the store's ranked hits joined with
// their senders, snippets rendered, and the page's position handed out as an opaque cursor.
#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "chat/chat_service.h"
#include "chat/members.h"
#include "store/search_text.h"
#include "util/text.h"

// As everywhere in chat/: every co_await takes named variables, never temporaries.
namespace chatd::chat {

using detail::invalid;

namespace {

constexpr int kBase64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

// `next`: the last hit's place in the order, as base64url JSON. Clients treat it as opaque.
std::string encode_cursor(const store::SearchCursor& cursor) {
  const auto text = boost::json::serialize(boost::json::object{
      {"s", cursor.score}, {"t", cursor.created_at}, {"c", cursor.chat_id}, {"q", cursor.seq}});
  std::string encoded(sodium_base64_ENCODED_LEN(text.size(), kBase64), '\0');
  sodium_bin2base64(encoded.data(), encoded.size(),
                    reinterpret_cast<const unsigned char*>(text.data()), text.size(), kBase64);
  encoded.resize(encoded.size() - 1);  // the terminating NUL sodium writes
  return encoded;
}

Result<store::SearchCursor> decode_cursor(const std::string& text) {
  const auto bad = make_error(Errc::invalid_input, "before must be the next of an earlier page");
  std::string json(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(json.data()), json.size(), text.data(),
                        text.size(), nullptr, &length, nullptr, kBase64) != 0) {
    return bad;
  }
  json.resize(length);
  boost::system::error_code ec;
  const auto value = boost::json::parse(json, ec);
  const auto* object = ec ? nullptr : value.if_object();
  if (!object) return bad;
  const auto* score = object->if_contains("s");
  const auto* created = object->if_contains("t");
  const auto* chat = object->if_contains("c");
  const auto* seq = object->if_contains("q");
  if (!score || !(score->is_double() || score->is_int64()) || !created || !created->is_int64() ||
      !chat || !chat->is_string() || !seq || !seq->is_int64()) {
    return bad;
  }
  return store::SearchCursor{score->to_number<double>(), created->as_int64(),
                             std::string(chat->as_string()), seq->as_int64()};
}

}  // namespace

asio::awaitable<Result<SearchView>> ChatService::search_messages(User caller,
                                                                 SearchRequest request) {
  if (text::utf8_length(request.q) > limits_.search_text_max) {
    co_return invalid("q must be at most " + std::to_string(limits_.search_text_max) +
                      " characters");
  }
  auto query = store::parse_search(request.q);
  if (query.empty()) co_return invalid("q must contain a word");
  if (request.limit && *request.limit < 1) co_return invalid("limit must be a positive integer");
  std::optional<store::SearchCursor> after;
  if (request.before) {
    auto cursor = decode_cursor(*request.before);
    if (!cursor) co_return cursor.error();
    after = std::move(*cursor);
  }
  if (request.chat_id) {
    auto chat_id = *request.chat_id;
    if (auto member = co_await check_member(caller, std::move(chat_id)); !member) {
      co_return member.error();
    }
  }
  const int limit =
      std::min(request.limit.value_or(limits_.message_search_default), limits_.message_search_max);
  // One more than asked: whether there is a next page.
  store::MessageSearch search{caller.id, std::move(request.chat_id), std::move(query), limit + 1,
                              std::move(after)};
  auto hits = co_await store_.search_messages(std::move(search));
  if (!hits) co_return hits.error();

  SearchView view;
  if (static_cast<int>(hits->size()) > limit) {
    hits->resize(static_cast<std::size_t>(limit));
    view.next = encode_cursor(hits->back().cursor);
  }
  std::vector<Message> messages;
  messages.reserve(hits->size());
  for (const auto& hit : *hits) messages.push_back(hit.message);
  const std::vector<Message> none;
  auto senders = co_await senders_of(messages, none);
  if (!senders) co_return senders.error();
  for (auto& hit : *hits) {
    auto sender = senders->find(hit.message.sender_id);
    if (sender == senders->end()) continue;  // a deleted user's messages are not shown
    view.hits.push_back(SearchHitView{view_message(links_, std::move(hit.message), sender->second),
                                      std::move(hit.chat_name),
                                      store::render_snippet(hit.marked_snippet)});
  }
  co_return view;
}

}  // namespace chatd::chat
