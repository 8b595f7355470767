#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/events.h"
#include "store/store.h"
#include "util/result.h"

// Small rules shared by the domain's source files.
namespace chatd::chat::detail {

inline Error not_member() {
  return make_error(Errc::not_member, "You are not a member of this chat");
}

inline Error invalid(std::string message) {
  return make_error(Errc::invalid_input, std::move(message));
}

inline const store::Member* find_member(const store::Chat& chat, std::string_view user_id) {
  for (const auto& m : chat.members) {
    if (m.user_id == user_id) return &m;
  }
  return nullptr;
}

// The members other than the sender who read the message.
inline std::vector<std::string> read_by(const store::Chat& chat, const store::Message& message) {
  std::vector<std::string> ids;
  for (const auto& m : chat.members) {
    if (m.user_id != message.sender_id && m.read_seq >= message.seq) ids.push_back(m.user_id);
  }
  return ids;
}

// The sink of a service nobody listens to.
inline EventSink& no_events() {
  struct Ignore final : EventSink {
    void on_committed(const std::vector<CommittedEvent>&) override {}
    void on_typing(const TypingEvent&) override {}
    void on_presence(const PresenceEvent&) override {}
  };
  static Ignore ignore;
  return ignore;
}

}  // namespace chatd::chat::detail
