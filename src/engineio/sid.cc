#include "engineio/sid.h"

#include <algorithm>

#include "util/object_id.h"

namespace chatd::engineio {

namespace {

constexpr std::size_t kMaxNodeIdLength = 32;
constexpr char kNodeSeparator = '.';

bool is_node_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

bool is_valid_node_id(std::string_view node_id) {
  return !node_id.empty() && node_id.size() <= kMaxNodeIdLength &&
         std::all_of(node_id.begin(), node_id.end(), is_node_id_char);
}

std::string new_session_id(std::string_view node_id) {
  if (node_id.empty()) return random_token();
  std::string sid(node_id);
  sid += kNodeSeparator;
  sid += random_token();
  return sid;
}

std::string_view owner_node(std::string_view sid) {
  const auto separator = sid.find(kNodeSeparator);
  if (separator == std::string_view::npos || separator + 1 == sid.size()) return {};
  const auto node = sid.substr(0, separator);
  return is_valid_node_id(node) ? node : std::string_view{};
}

}  // namespace chatd::engineio
