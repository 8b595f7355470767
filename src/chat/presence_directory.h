#pragma once

#include <boost/asio/awaitable.hpp>
#include <set>
#include <string>
#include <vector>

// Presence across the nodes of a cluster (cluster/redis_presence.h). A single node has none: its
// own Presence knows every client. With one, a user comes online when their first client on any
// node connects, and goes offline when their last client on every node has gone.
namespace chatd::chat {

class PresenceDirectory {
 public:
  virtual ~PresenceDirectory() = default;
  // This node's first client of the user connected. True when the user was online on another node
  // already (nobody is told again).
  virtual boost::asio::awaitable<bool> joined(std::string user_id) = 0;
  // This node's last client of the user left. True when the user is still online on another node.
  virtual boost::asio::awaitable<bool> left(std::string user_id) = 0;
  // Those of `user_ids` who are online on another node.
  virtual boost::asio::awaitable<std::set<std::string>> online_elsewhere(
      std::vector<std::string> user_ids) = 0;
};

}  // namespace chatd::chat
