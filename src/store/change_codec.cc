#include "store/change_codec.h"

#include <boost/describe.hpp>
#include <boost/json.hpp>

#include "util/json.h"

namespace chatd::store {

// Field lists for Boost.JSON's conversion of described types (one object per struct, keys named
// as the members).
BOOST_DESCRIBE_ENUM(Role, owner, admin, member)
BOOST_DESCRIBE_STRUCT(User, (), (id, name, email, pic, is_admin, created_at, updated_at, disabled))
BOOST_DESCRIBE_STRUCT(Member, (), (user_id, role, joined_at, delivered_seq, read_seq))
BOOST_DESCRIBE_STRUCT(Message, (),
                      (id, chat_id, seq, sender_id, content, client_msg_id, created_at))
BOOST_DESCRIBE_STRUCT(Chat, (),
                      (id, name, is_group, last_seq, created_at, updated_at, members,
                       latest_message))
BOOST_DESCRIBE_STRUCT(MessageAppended, (), (message, sender, member_ids, origin))
BOOST_DESCRIBE_STRUCT(CursorsAdvanced, (), (chat_id, member, member_ids))
BOOST_DESCRIBE_STRUCT(GroupChanged, (), (chat, removed_user_ids))
BOOST_DESCRIBE_STRUCT(SessionsRevoked, (), (user_id, session_ids))

namespace {

namespace json = boost::json;

// Each change is {"kind": ..., "change": {...}}; the kinds name the variant's alternatives.
constexpr std::string_view kKinds[] = {"message", "cursors", "group", "sessions_revoked"};
static_assert(std::size(kKinds) == std::variant_size_v<Change>);

template <std::size_t I = 0>
Result<Change> decode_kind(std::string_view kind, const json::value& body) {
  if constexpr (I == std::variant_size_v<Change>) {
    return make_error(Errc::invalid_input, "unknown change kind");
  } else {
    if (kind != kKinds[I]) return decode_kind<I + 1>(kind, body);
    auto change = json::try_value_to<std::variant_alternative_t<I, Change>>(body);
    if (!change) return make_error(Errc::invalid_input, "malformed " + std::string(kind));
    return Change{std::move(*change)};
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
