#pragma once

#include <string>
#include <string_view>

// Session ids. In a cluster every sid names the node that owns its session, so that a request
// reaching another node (a round-robin load balancer, no stickiness) can be forwarded to the owner
// without asking anyone: "<node id>.<random token>". On a single node a sid is the token alone.
namespace chatd::engineio {

// Node ids are 1 to 32 of [A-Za-z0-9_-]: the '.' after one in a sid is unambiguous (the random
// token never holds one) and a sid stays URL-safe.
bool is_valid_node_id(std::string_view node_id);

// A new, unguessable session id owned by `node_id` (empty: a single node's plain token).
std::string new_session_id(std::string_view node_id);

// The node `sid` names; empty when it names none (a single node's sid, or no valid sid at all).
std::string_view owner_node(std::string_view sid);

}  // namespace chatd::engineio
