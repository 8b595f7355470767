#include "chat/chat_service.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "store/sqlite/sqlite_store.h"
#include "util/run_blocking.h"

namespace chatd::chat {
namespace {

namespace fs = std::filesystem;

// The domain against a real SQLite store in a temporary directory.
class ChatServiceTest : public ::testing::Test {
 protected:
  ChatServiceTest()
      : dir_(make_dir()),
        store_(store::sqlite::SqliteOptions{(dir_ / "chatd.db").string()}),
        hasher_(auth::PasswordCost{1, 8192}, 1),
        tokens_("test secret", std::chrono::hours(1)),
        chats_(store_, hasher_, tokens_, Limits{}, "default.png") {}
  ~ChatServiceTest() override { fs::remove_all(dir_); }

  static fs::path make_dir() {
    std::string pattern = (fs::temp_directory_path() / "chatd-chat-XXXXXX").string();
    return mkdtemp(pattern.data());
  }

  template <class T>
  T run(boost::asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  User user(const std::string& name) {
    auto session = run(chats_.register_user(
        Registration{name, name + "@example.com", "password123", std::nullopt}));
    EXPECT_TRUE(session.ok());
    return session->user;
  }

  fs::path dir_;
  boost::asio::io_context io_;
  store::sqlite::SqliteStore store_;
  auth::PasswordHasher hasher_;
  auth::TokenIssuer tokens_;
  ChatService chats_;
};

TEST_F(ChatServiceTest, RegisterLoginAndAuthenticate) {
  auto session = run(chats_.register_user(
      Registration{"  Ann  ", " Ann@Example.com ", "password123", std::nullopt}));
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->user.name, "Ann");
  EXPECT_EQ(session->user.email, "Ann@Example.com");
  EXPECT_EQ(session->user.pic, "default.png");

  auto again = run(
      chats_.register_user(Registration{"Other", "ann@example.com", "password123", std::nullopt}));
  EXPECT_EQ(again.error().message, "User already exists");

  auto login = run(chats_.login("ANN@example.com", "password123"));
  ASSERT_TRUE(login.ok());
  auto me = run(chats_.authenticate(login->token));
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->id, session->user.id);

  EXPECT_EQ(run(chats_.login("ann@example.com", "wrong-password")).error().code,
            Errc::unauthorized);
  EXPECT_EQ(run(chats_.login("nobody@example.com", "password123")).error().message,
            "Invalid Email or Password");
  EXPECT_EQ(run(chats_.authenticate("garbage")).error().code, Errc::unauthorized);
  // A valid token for a user that does not exist.
  EXPECT_EQ(run(chats_.authenticate(tokens_.issue("0123456789abcdef01234567"))).error().code,
            Errc::unauthorized);
}

TEST_F(ChatServiceTest, GroupRulesAndRoles) {
  auto owner = user("owner");
  auto b = user("bee");
  auto c = user("cee");
  auto d = user("dee");

  auto small = run(chats_.create_group(owner, "G", {b.id, owner.id}));
  EXPECT_EQ(small.error().message, kGroupTooSmall);

  auto group = run(chats_.create_group(owner, "G", {b.id, c.id}));
  ASSERT_TRUE(group.ok());
  ASSERT_TRUE(group->group_admin.has_value());
  EXPECT_EQ(group->group_admin->id, owner.id);
  EXPECT_EQ(group->users.size(), 3U);
  const auto id = group->chat.id;

  EXPECT_EQ(run(chats_.rename_group(b, id, "B's")).error().code, Errc::forbidden);
  EXPECT_EQ(run(chats_.add_to_group(d, id, d.id)).error().code, Errc::not_member);
  EXPECT_EQ(run(chats_.remove_from_group(b, id, c.id)).error().code, Errc::forbidden);
  ASSERT_TRUE(run(chats_.add_to_group(owner, id, d.id)).ok());
  ASSERT_TRUE(run(chats_.set_group_admin(owner, id, b.id, true)).ok());
  EXPECT_TRUE(run(chats_.rename_group(b, id, "B's")).ok());

  auto left = run(chats_.remove_from_group(c, id, c.id));  // leaving needs no role
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->users.size(), 3U);

  auto direct = run(chats_.access_direct_chat(owner, b.id)).value();
  EXPECT_EQ(run(chats_.rename_group(owner, direct.chat.id, "x")).error().code, Errc::invalid_input);
  EXPECT_EQ(run(chats_.access_direct_chat(owner, owner.id)).error().code, Errc::invalid_input);
}

TEST_F(ChatServiceTest, MessagesHistoryAndStatus) {
  auto a = user("ay");
  auto b = user("bee");
  auto c = user("cee");
  auto outsider = user("out");
  auto group = run(chats_.create_group(a, "G", {b.id, c.id})).value();
  const auto id = group.chat.id;

  auto sent = run(chats_.send_message(a, id, "hello", std::string("k1")));
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->message.message.seq, 1);
  EXPECT_TRUE(sent->created);
  auto retry = run(chats_.send_message(a, id, "hello again", std::string("k1")));
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->message.message.id, sent->message.message.id);

  EXPECT_EQ(run(chats_.send_message(outsider, id, "x", std::nullopt)).error().code,
            Errc::not_member);
  EXPECT_EQ(run(chats_.history(outsider, id, {})).error().code, Errc::not_member);
  EXPECT_EQ(run(chats_.send_message(a, id, "   ", std::nullopt)).error().code, Errc::invalid_input);

  auto status = run(chats_.message_status(b, id, sent->message.message.id)).value();
  EXPECT_EQ(status.status, "sent");
  EXPECT_EQ(status.members.size(), 2U);
  ASSERT_TRUE(run(store_.advance_cursors(id, b.id, 1, 1)).ok());
  ASSERT_TRUE(run(store_.advance_cursors(id, c.id, 1, 0)).ok());
  EXPECT_EQ(run(chats_.message_status(a, id, sent->message.message.id))->status, "delivered");
  ASSERT_TRUE(run(store_.advance_cursors(id, c.id, 1, 1)).ok());
  EXPECT_EQ(run(chats_.message_status(a, id, sent->message.message.id))->status, "read");

  auto history = run(chats_.history(c, id, {})).value();
  ASSERT_EQ(history.messages.size(), 1U);
  EXPECT_EQ(history.messages[0].sender.id, a.id);
  EXPECT_EQ(history.messages[0].read_by.size(), 2U);
  EXPECT_EQ(run(chats_.history(c, id, HistoryRequest{1, 0, std::nullopt})).error().code,
            Errc::invalid_input);
}

}  // namespace
}  // namespace chatd::chat
