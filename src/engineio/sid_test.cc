#include "engineio/sid.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace chatd::engineio {
namespace {

TEST(SessionId, NodeIdsAreOneToThirtyTwoUrlSafeCharacters) {
  EXPECT_TRUE(is_valid_node_id("a"));
  EXPECT_TRUE(is_valid_node_id("node-1"));
  EXPECT_TRUE(is_valid_node_id("eu_west_2-B"));
  EXPECT_TRUE(is_valid_node_id(std::string(32, 'x')));
  EXPECT_FALSE(is_valid_node_id(""));
  EXPECT_FALSE(is_valid_node_id(std::string(33, 'x')));
  EXPECT_FALSE(is_valid_node_id("node.1"));  // the separator of a sid
  EXPECT_FALSE(is_valid_node_id("node 1"));
  EXPECT_FALSE(is_valid_node_id("node/1"));
  EXPECT_FALSE(is_valid_node_id("nöde"));
  EXPECT_FALSE(is_valid_node_id("node%2E1"));
}

TEST(SessionId, OnASingleNodeIsAPlainToken) {
  const auto sid = new_session_id("");
  EXPECT_EQ(sid.size(), 20U);
  EXPECT_EQ(sid.find('.'), std::string::npos);
  EXPECT_EQ(owner_node(sid), "");
}

TEST(SessionId, InAClusterNamesItsNode) {
  const auto sid = new_session_id("node-1");
  EXPECT_EQ(sid.substr(0, 7), "node-1.");
  EXPECT_EQ(sid.size(), 7U + 20U);
  EXPECT_EQ(owner_node(sid), "node-1");
}

TEST(SessionId, IsUrlSafe) {
  const auto sid = new_session_id("n_1-x");
  for (const char c : sid) {
    const bool url_safe =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    EXPECT_TRUE(url_safe) << sid;
  }
}

TEST(SessionId, IsNeverRepeated) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(new_session_id("n"));
  EXPECT_EQ(seen.size(), 1000U);
}

TEST(SessionId, NamesNoNodeWhenMalformed) {
  EXPECT_EQ(owner_node(""), "");
  EXPECT_EQ(owner_node("."), "");
  EXPECT_EQ(owner_node(".abc"), "");       // no node
  EXPECT_EQ(owner_node("node."), "");      // no token
  EXPECT_EQ(owner_node("no de.abc"), "");  // not a node id
  EXPECT_EQ(owner_node(std::string(33, 'x') + ".abc"), "");
  EXPECT_EQ(owner_node("a.b.c"), "a");  // the first '.' separates: node ids hold none
}

}  // namespace
}  // namespace chatd::engineio
