#include "chat/presence.h"

#include <gtest/gtest.h>

namespace chatd::chat {
namespace {

TEST(Presence, OnlineFromTheFirstClientToTheLast) {
  Presence presence;
  auto first = presence.connect("u", ClientKind::native);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->online);
  EXPECT_FALSE(presence.connect("u", ClientKind::classic).has_value());
  EXPECT_TRUE(presence.online("u"));
  EXPECT_FALSE(presence.disconnect("u", ClientKind::native).has_value());
  EXPECT_TRUE(presence.online("u"));
  auto last = presence.disconnect("u", ClientKind::classic);
  ASSERT_TRUE(last.has_value());
  EXPECT_FALSE(last->online);
  EXPECT_FALSE(presence.online("u"));
  // A disconnect nobody counted in changes nothing.
  EXPECT_FALSE(presence.disconnect("u", ClientKind::classic).has_value());
}

TEST(Presence, OnlyTheLatestTransitionIsAnnounced) {
  Presence presence;
  auto online = presence.connect("u", ClientKind::native);
  auto offline = presence.disconnect("u", ClientKind::native);
  auto again = presence.connect("u", ClientKind::native);
  int announced = 0;
  presence.announce_if_latest("u", online->generation, [&] { ++announced; });
  presence.announce_if_latest("u", offline->generation, [&] { ++announced; });
  EXPECT_EQ(announced, 0);  // both superseded by `again`
  presence.announce_if_latest("u", again->generation, [&] { ++announced; });
  EXPECT_EQ(announced, 1);
  auto gone = presence.disconnect("u", ClientKind::native);
  presence.announce_if_latest("u", gone->generation, [&] { ++announced; });
  presence.announce_if_latest("u", gone->generation, [&] { ++announced; });
  EXPECT_EQ(announced, 2);  // once
}

TEST(Presence, FindsUsersWithClassicClients) {
  Presence presence;
  presence.connect("a", ClientKind::classic);
  presence.connect("b", ClientKind::native);
  presence.connect("c", ClientKind::classic);
  EXPECT_EQ(presence.with_classic_clients({"a", "b", "c", "d"}, "c"),
            (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace chatd::chat
