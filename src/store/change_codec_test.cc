#include "store/change_codec.h"

#include <gtest/gtest.h>

namespace chatd::store {
namespace {

Member member(std::string id, Role role, std::int64_t seq) {
  return Member{std::move(id), role, 100, seq, seq - 1};
}

// A message with everything a message can carry.
Message rich_message() {
  Message m{"m3", "c1", 9, "u1", "edited", std::nullopt, 1300};
  m.edited_at = 1400;
  m.rev = 5;
  m.reply_to = Quote{"m1", 7, "u1", "Ann", "pic", "héllo", false};
  m.reactions = {Reaction{"👍", {"u2", "u1"}}, Reaction{"❤", {"u2"}}};
  return m;
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
      UserChanged{User{"u4", "Deleted user", "", "p", false, 1, 2, false, true}},
      MessagesErased{"c1", {{"m1", 7}, {"m2", 8}}, {"u1", "u2"}},
      MessageChanged{rich_message(), sender, {"u1", "u2"}, MessageChangeKind::react, "u2", "👍"},
  };
  auto decoded = decode_changes(encode_changes(changes));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 7U);

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

  const auto& user = std::get<UserChanged>((*decoded)[4]).user;
  EXPECT_EQ(user.name, "Deleted user");
  EXPECT_TRUE(user.erased);

  const auto& erased = std::get<MessagesErased>((*decoded)[5]);
  EXPECT_EQ(erased.chat_id, "c1");
  ASSERT_EQ(erased.messages.size(), 2U);
  EXPECT_EQ(erased.messages[1].id, "m2");
  EXPECT_EQ(erased.messages[1].seq, 8);
  EXPECT_EQ(erased.member_ids, (std::vector<std::string>{"u1", "u2"}));

  const auto& changed = std::get<MessageChanged>((*decoded)[6]);
  EXPECT_EQ(changed.kind, MessageChangeKind::react);
  EXPECT_EQ(changed.emoji, "👍");
  EXPECT_EQ(changed.message.edited_at, 1400);
  EXPECT_EQ(changed.message.rev, 5);
  ASSERT_TRUE(changed.message.reply_to.has_value());
  EXPECT_EQ(changed.message.reply_to->content, "héllo");
  ASSERT_EQ(changed.message.reactions.size(), 2U);
  EXPECT_EQ(changed.message.reactions[0].user_ids, (std::vector<std::string>{"u2", "u1"}));
}

// A row of the previous release (before erasure and retention) decodes with the new members at
// their defaults.
TEST(ChangeCodec, RowsWithoutNewerMembersDecodeWithDefaults) {
  const std::string old_row =
      R"([{"kind":"message","change":{"message":{"id":"m1","chat_id":"c1","seq":3,)"
      R"("sender_id":"u1","content":"hi","client_msg_id":null,"created_at":5},)"
      R"("sender":{"id":"u1","name":"Ann","email":"a@x.io","pic":"p","is_admin":false,)"
      R"("created_at":1,"updated_at":2,"disabled":false},"member_ids":["u1"],"origin":""}}])";
  auto decoded = decode_changes(old_row);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  const auto& appended = std::get<MessageAppended>((*decoded)[0]);
  EXPECT_EQ(appended.message.content, "hi");
  EXPECT_FALSE(appended.message.deleted);
  EXPECT_FALSE(appended.sender.erased);
  EXPECT_EQ(appended.sender.name, "Ann");
}

TEST(ChangeCodec, AMalformedChangeIsAnError) {
  EXPECT_FALSE(decode_changes(R"([{"kind":"message","change":{"message":7}}])").ok());
  EXPECT_FALSE(decode_changes(R"([{"kind":"cursors","change":[]}])").ok());
  EXPECT_FALSE(decode_changes(R"([{"kind":"group","change":{"chat":{"last_seq":"x"}}}])").ok());
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
