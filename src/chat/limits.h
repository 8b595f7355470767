#pragma once

#include <cstddef>

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
  int group_max_members = 1000;
  int search_default = 50;
  int search_max = 100;
  int history_default = 50;
  int history_max = 200;
};

}  // namespace chatd::chat
