#include "store/change_codec.h"

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11/algorithm.hpp>
#include <type_traits>

#include "util/json.h"

namespace chatd::store {

// Field lists for Boost.JSON's conversion of described types (one object per struct, keys named
// as the members).
BOOST_DESCRIBE_ENUM(Role, owner, admin, member)
BOOST_DESCRIBE_STRUCT(User, (),
                      (id, name, email, pic, is_admin, created_at, updated_at, disabled, erased))
BOOST_DESCRIBE_STRUCT(Member, (), (user_id, role, joined_at, delivered_seq, read_seq))
BOOST_DESCRIBE_ENUM(MessageChangeKind, edit, remove, react, unreact)
BOOST_DESCRIBE_STRUCT(Reaction, (), (emoji, user_ids))
BOOST_DESCRIBE_STRUCT(Quote, (), (id, seq, sender_id, sender_name, sender_pic, content, deleted))
BOOST_DESCRIBE_STRUCT(AttachmentThumbnail, (), (sha256, mime, width, height))
BOOST_DESCRIBE_STRUCT(Attachment, (),
                      (id, uploader_id, name, size, mime, sha256, width, height, thumbnail,
                       created_at))
BOOST_DESCRIBE_STRUCT(Message, (),
                      (id, chat_id, seq, sender_id, content, client_msg_id, created_at, deleted,
                       edited_at, rev, reply_to, reactions, attachments))
BOOST_DESCRIBE_STRUCT(Chat, (),
                      (id, name, is_group, last_seq, created_at, updated_at, members,
                       latest_message, retention_days, last_rev))
BOOST_DESCRIBE_STRUCT(MessageAppended, (), (message, sender, member_ids, origin))
BOOST_DESCRIBE_STRUCT(CursorsAdvanced, (), (chat_id, member, member_ids))
BOOST_DESCRIBE_STRUCT(GroupChanged, (), (chat, removed_user_ids))
BOOST_DESCRIBE_STRUCT(SessionsRevoked, (), (user_id, session_ids))
BOOST_DESCRIBE_STRUCT(UserChanged, (), (user))
BOOST_DESCRIBE_STRUCT(ErasedMessage, (), (id, seq))
BOOST_DESCRIBE_STRUCT(MessagesErased, (), (chat_id, messages, member_ids))
BOOST_DESCRIBE_STRUCT(MessageChanged, (), (message, sender, member_ids, kind, user_id, emoji))

namespace json = boost::json;

// Reads a described struct leniently: a member missing from the object keeps its default, so that
// the change log's rows written before a member existed (a node of the previous release, during
// a rolling upgrade) still decode. Found by argument-dependent lookup, it takes precedence over
// Boost.JSON's own conversion of described structs, which requires every member.
template <class T,
          class Members = boost::describe::describe_members<T, boost::describe::mod_public>>
T tag_invoke(json::value_to_tag<T>, const json::value& value) {
  const auto& object = value.as_object();  // anything else throws: a malformed change
  T result{};
  boost::mp11::mp_for_each<Members>([&](auto member) {
    if (const auto* field = object.if_contains(member.name)) {
      using Field = std::remove_cvref_t<decltype(result.*member.pointer)>;
      result.*member.pointer = json::value_to<Field>(*field);
    }
  });
  return result;
}

namespace {

// Each change is {"kind": ..., "change": {...}}; the kinds name the variant's alternatives.
constexpr std::string_view kKinds[] = {"message",          "cursors",      "group",
                                       "sessions_revoked", "user_changed", "messages_erased",
                                       "message_changed"};
static_assert(std::size(kKinds) == std::variant_size_v<Change>);

template <std::size_t I = 0>
Result<Change> decode_kind(std::string_view kind, const json::value& body) {
  if constexpr (I == std::variant_size_v<Change>) {
    return make_error(Errc::invalid_input, "unknown change kind");
  } else {
    if (kind != kKinds[I]) return decode_kind<I + 1>(kind, body);
    try {
      return Change{json::value_to<std::variant_alternative_t<I, Change>>(body)};
    } catch (const std::exception&) {
      return make_error(Errc::invalid_input, "malformed " + std::string(kind));
    }
  }
}

}  // namespace

std::string encode_changes(const std::vector<Change>& changes) {
  json::array encoded;
  encoded.reserve(changes.size());
  for (const auto& change : changes) {
    std::visit(
        [&](const auto& alternative) {
          encoded.push_back(json::object{{"kind", kKinds[change.index()]},
                                         {"change", json::value_from(alternative)}});
        },
        change);
  }
  return json::serialize(encoded);
}

Result<std::vector<Change>> decode_changes(std::string_view encoded) {
  auto parsed = chatd::json::parse(encoded);
  if (!parsed || !parsed->is_array()) return make_error(Errc::invalid_input, "not a change list");
  std::vector<Change> changes;
  changes.reserve(parsed->get_array().size());
  for (const auto& item : parsed->get_array()) {
    const auto* object = item.if_object();
    const auto* kind = object ? object->if_contains("kind") : nullptr;
    const auto* body = object ? object->if_contains("change") : nullptr;
    if (!kind || !kind->is_string() || !body) {
      return make_error(Errc::invalid_input, "not a change");
    }
    auto change = decode_kind(kind->get_string(), *body);
    if (!change) return std::move(change).take_error();
    changes.push_back(std::move(*change));
  }
  return changes;
}

}  // namespace chatd::store
