#pragma once

#include <string>
#include <string_view>

// Every name the cluster uses in Redis, in one place (the Lua scripts of redis_presence.cc spell
// the alive prefix too).
namespace chatd::cluster::keys {

// Channels.
inline constexpr std::string_view kCommits = "chatd:channel:commits";
inline constexpr std::string_view kTyping = "chatd:channel:typing";
inline constexpr std::string_view kPresence = "chatd:channel:presence";
inline constexpr std::string_view kNodesJoined = "chatd:channel:nodes";

// node id -> host:port where it takes forwarded requests.
inline constexpr std::string_view kNodes = "chatd:nodes";

// The nodes where a user has clients (a hash of node ids).
inline std::string presence(std::string_view user_id) {
  return "chatd:presence:" + std::string(user_id);
}
// The users with clients on a node (a set).
inline std::string node_users(std::string_view node_id) {
  return "chatd:node-users:" + std::string(node_id);
}
// Exists while the node lives.
inline std::string alive(std::string_view node_id) {
  return "chatd:alive:" + std::string(node_id);
}
// Held by the node that reaps a dead one.
inline std::string reaping(std::string_view node_id) {
  return "chatd:reaping:" + std::string(node_id);
}

// A chat/user's typing: the generation of their latest report (expires by itself).
inline std::string typing(std::string_view chat_id, std::string_view user_id) {
  return "chatd:typing:" + std::string(chat_id) + ":" + std::string(user_id);
}
// A user's typing allowance (a token bucket).
inline std::string typing_allowance(std::string_view user_id) {
  return "chatd:typing-allowance:" + std::string(user_id);
}
// The counter typing generations come from.
inline constexpr std::string_view kTypingGeneration = "chatd:typing-generation";

// A rate limit's bucket: when it is full again (expires then; redis_rate_limit.cc).
inline constexpr std::string_view kRatePrefix = "chatd:rate:";
inline std::string rate(std::string_view key) {
  return std::string(kRatePrefix) + std::string(key);
}

}  // namespace chatd::cluster::keys
