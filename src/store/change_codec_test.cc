#include "store/change_codec.h"

#include <gtest/gtest.h>

namespace chatd::store {
namespace {

Member member(std::string id, Role role, std::int64_t seq) {
  return Member{std::move(id), role, 100, seq, seq - 1};
}

TEST(ChangeCodec, EveryKindComesBackAsItWent) {
  Message message{"m1", "c1", 7, "u1", "héllo \"there\"\n", std::string("client-1"), 1234};
  User sender{"u1", "Ann", "ann@example.com", "pic", false, 1, 2};
  Chat chat{
      "c1",   "Team", true, 7, 10, 20, {member("u1", Role::owner, 7), member("u2", Role::admin, 5)},
      message};
  std::vector<Change> changes{
      MessageAppended{message, sender, {"u1", "u2"}, "conn-9"},
      CursorsAdvanced{"c1", member("u2", Role::member, 6), {"u1", "u2"}},
      GroupChanged{chat, {"u3"}},
      SessionsRevoked{"u1", {"s1", "s2"}},
  };
  auto decoded = decode_changes(encode_changes(changes));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 4U);

  const auto& appended = std::get<MessageAppended>((*decoded)[0]);
  EXPECT_EQ(appended.message.content, message.content);
  EXPECT_EQ(appended.message.client_msg_id, message.client_msg_id);
  EXPECT_EQ(appended.message.seq, 7);
  EXPECT_EQ(appended.sender.email, "ann@example.com");
  EXPECT_EQ(appended.member_ids, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(appended.origin, "conn-9");

  const auto& cursors = std::get<CursorsAdvanced>((*decoded)[1]);
  EXPECT_EQ(cursors.member.user_id, "u2");
  EXPECT_EQ(cursors.member.delivered_seq, 6);
  EXPECT_EQ(cursors.member.read_seq, 5);

  const auto& group = std::get<GroupChanged>((*decoded)[2]);
  EXPECT_EQ(group.chat.name, "Team");
  ASSERT_EQ(group.chat.members.size(), 2U);
  EXPECT_EQ(group.chat.members[1].role, Role::admin);
  ASSERT_TRUE(group.chat.latest_message.has_value());
  EXPECT_EQ(group.chat.latest_message->id, "m1");
  EXPECT_EQ(group.removed_user_ids, (std::vector<std::string>{"u3"}));

  const auto& revoked = std::get<SessionsRevoked>((*decoded)[3]);
  EXPECT_EQ(revoked.user_id, "u1");
  EXPECT_EQ(revoked.session_ids, (std::vector<std::string>{"s1", "s2"}));
}

TEST(ChangeCodec, AMessageWithoutClientIdStaysWithout) {
  Message message{"m1", "c1", 1, "u1", "x", std::nullopt, 1};
  auto decoded = decode_changes(encode_changes({MessageAppended{message, {}, {}, {}}}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_FALSE(std::get<MessageAppended>((*decoded)[0]).message.client_msg_id.has_value());
}

TEST(ChangeCodec, RefusesWhatItDidNotWrite) {
  for (const char* bad :
       {"", "{}", "[1]", R"([{"kind":"message"}])", R"([{"kind":"nope","change":{}}])",
        R"([{"kind":"cursors","change":{"chat_id":1}}])"}) {
    auto decoded = decode_changes(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.error().code, Errc::invalid_input);
  }
}

}  // namespace
}  // namespace chatd::store
