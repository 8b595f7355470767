#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.h"

namespace chatd::chat {

// A required text field: valid UTF-8, trimmed, 1..max characters. `what` names it in the error.
Result<std::string> required_text(std::string_view value, std::string_view what, std::size_t max);

// A user's email: trimmed, 3..max characters, one '@' between non-empty parts, no white space.
Result<std::string> valid_email(std::string_view value, std::size_t max);

// A password: valid UTF-8, min..max characters, not trimmed (spaces are part of it).
Status valid_password(std::string_view value, std::size_t min, std::size_t max);

// Message content: valid UTF-8, 1..max characters, not only white space; kept as sent.
Status valid_content(std::string_view value, std::size_t max);

// A reaction: valid UTF-8, 1..max characters, no white space or control characters (an emoji,
// or a short name such as ":+1:").
Status valid_emoji(std::string_view value, std::size_t max);

// An id naming a stored object. Anything that cannot be one is `not_found`: no such object.
Result<std::string> valid_id(std::string_view value, std::string_view what);

}  // namespace chatd::chat
