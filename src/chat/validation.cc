#include "chat/validation.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/object_id.h"
#include "util/text.h"

namespace chatd::chat {

namespace {

Error invalid(std::string message) {
  return make_error(Errc::invalid_input, std::move(message));
}

}  // namespace

Result<std::string> required_text(std::string_view value, std::string_view what, std::size_t max) {
  if (!text::is_valid_utf8(value)) return invalid(fmt::format("{} must be valid UTF-8", what));
  const auto trimmed = text::trim(value);
  if (trimmed.empty()) return invalid(fmt::format("{} is required", what));
  if (text::utf8_length(trimmed) > max) {
    return invalid(fmt::format("{} must be at most {} characters", what, max));
  }
  return std::string(trimmed);
}

Result<std::string> valid_email(std::string_view value, std::size_t max) {
  auto email = required_text(value, "Email", max);
  if (!email) return email;
  const auto at = email->find('@');
  const bool shaped = at != std::string::npos && at > 0 && at + 1 < email->size() &&
                      email->find('@', at + 1) == std::string::npos &&
                      email->find_first_of(" \t\r\n") == std::string::npos;
  if (!shaped) return invalid("Email is not a valid email address");
  return email;
}

Status valid_password(std::string_view value, std::size_t min, std::size_t max) {
  if (!text::is_valid_utf8(value)) return invalid("Password must be valid UTF-8");
  const auto length = text::utf8_length(value);
  if (length < min || length > max) {
    return invalid(fmt::format("Password must be {} to {} characters", min, max));
  }
  return {};
}

Status valid_content(std::string_view value, std::size_t max) {
  if (!text::is_valid_utf8(value)) return invalid("Message content must be valid UTF-8");
  if (text::trim(value).empty()) return invalid("Message content is required");
  if (text::utf8_length(value) > max) {
    return invalid(fmt::format("Message content must be at most {} characters", max));
  }
  return {};
}

Status valid_emoji(std::string_view value, std::size_t max) {
  if (!text::is_valid_utf8(value)) return invalid("emoji must be valid UTF-8");
  const auto length = text::utf8_length(value);
  if (length == 0 || length > max) {
    return invalid(fmt::format("emoji must be 1 to {} characters", max));
  }
  const bool spaced = std::any_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
  if (spaced) return invalid("emoji must not contain white space or control characters");
  return {};
}

Result<std::string> valid_id(std::string_view value, std::string_view what) {
  if (!is_object_id(value)) return make_error(Errc::not_found, fmt::format("{} not found", what));
  return text::ascii_lower(value);
}

}  // namespace chatd::chat
