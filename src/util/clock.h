#pragma once

#include <cstdint>
#include <string>

namespace chatd::clock {

// Milliseconds since the Unix epoch (wall clock): what timestamps on the wire are made of.
std::int64_t now_ms();

// ISO 8601 UTC with milliseconds, e.g. "2026-11-24T08:25:04.123Z", the format of JavaScript's
// Date.prototype.toJSON, which classic clients parse.
std::string iso8601(std::int64_t epoch_ms);

}  // namespace chatd::clock
