#pragma once

#include <cstddef>

#include "util/rate_limit.h"

namespace chatd::chat {

// Every input limit of the chat domain, with its default (API.md "Limits"). Lengths count
// characters (code points), not bytes. Enforced in chat/validation.cc only.
struct Limits {
  std::size_t name_max = 100;
  std::size_t email_max = 254;
  std::size_t password_min = 8;  // the documented minimum password length
  std::size_t password_max = 128;
  std::size_t pic_max = 2048;
  std::size_t content_max = 4000;
  std::size_t chat_name_max = 100;
  std::size_t client_msg_id_max = 64;
  std::size_t emoji_max = 16;    // characters of one reaction
  int reaction_emojis_max = 20;  // different reactions on one message
  int group_max_members = 1000;
  int search_default = 50;
  int search_max = 100;
  int message_search_default = 20;
  int message_search_max = 50;
  std::size_t search_text_max = 1000;  // characters of a message search's q
  int history_default = 50;
  int history_max = 200;
  int sync_default = 100;
  int sync_max = 1000;
  std::size_t presence_query_max = 1000;  // user ids in one presence:get
  int typing_burst = 10;                  // typing reports in a row, then typing_per_second
  double typing_per_second = 2;
  int typing_expiry_ms = 5000;  // a typing report not refreshed within this ends by itself
  // Admission control: sends taken on and not yet answered by the store, at most; and while the
  // deliveries of committed messages lag by more than this many broadcasts per network thread,
  // no new send is taken either. Above either, a send is refused `unavailable` at once (the
  // client retries with the same clientMsgId), so overload costs neither memory nor throughput.
  std::size_t sends_in_flight_max = 2048;
  // Messages per user (REST and sockets together): 30 at once, 10 a second after that.
  util::RateRule sends_per_user{10, 30};
};

}  // namespace chatd::chat
