#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string_view>

namespace chatd::json {

// Parses JSON the way JavaScript's JSON.parse reads it, where Boost.JSON 1.81 differs:
//  - numbers with a fraction or exponent are read exactly (Boost.JSON's own parser may be off by
//    an ulp, so a relayed 0.1 + 0.2 could come back changed);
//  - numbers beyond a double become null (as JSON.stringify(JSON.parse("1e999")) does), because
//    Boost.JSON would write infinity as "Infinity", which is not JSON;
//  - a lone UTF-16 surrogate escape ("\ud800"), which Boost.JSON refuses but JavaScript accepts,
//    is read as U+FFFD;
//  - nesting may go 1000 deep (Boost.JSON's default stops at 32).
// Invalid UTF-8 is refused. nullopt for anything that is not one JSON document.
std::optional<boost::json::value> parse(std::string_view text);

}  // namespace chatd::json
