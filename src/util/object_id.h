#pragma once

#include <string>
#include <string_view>

namespace chatd {

// Ids are opaque strings on the wire. chatd makes them in the shape of MongoDB ObjectIds (24 lower
// hex digits: 4 bytes of seconds, 5 random bytes, a 3-byte counter), which is what classic MERN
// clients have always seen; they sort roughly by creation time and are not guessable in sequence.
std::string new_object_id();

// True for 24 hex digits; anything else cannot name a stored object.
bool is_object_id(std::string_view s);

// 20 URL-safe characters from 15 random bytes: Engine.IO session ids and Socket.IO socket ids
// (unguessable, since a session id is all a polling request shows).
std::string random_token();

}  // namespace chatd
