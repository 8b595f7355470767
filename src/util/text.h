#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chatd::text {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Number of code points in a valid UTF-8 string: limits are counted in characters, as users see
// them.
std::size_t utf8_length(std::string_view s);

// `s` without leading and trailing ASCII white space.
std::string_view trim(std::string_view s);

// ASCII lower-casing; used for case-insensitive matching of emails and paths.
std::string ascii_lower(std::string_view s);

bool iequals(std::string_view a, std::string_view b);

}  // namespace chatd::text
