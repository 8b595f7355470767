#include "chat/chat_service.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "auth/password.h"
#include "auth/token.h"
#include "chat/accounts.h"
#include "store/sqlite/sqlite_store.h"
#include "util/rate_limit.h"
#include "util/run_blocking.h"

namespace chatd::chat {
namespace {

namespace fs = std::filesystem;

// Records what the domain announces.
struct RecordedEvents final : EventSink {
  std::vector<SessionsRevokedEvent> revoked;
  std::vector<MessageEvent> messages;
  std::vector<ReceiptEvent> receipts;
  std::vector<TypingEvent> typing;
  std::vector<PresenceEvent> presence;
  std::vector<ChatEvent> chats;
  std::vector<MessagesErasedEvent> erased;
  std::vector<MessageChangedEvent> changed;
  std::size_t batches = 0;
  std::size_t lag = 0;  // what backlog() reports
  void on_committed(const std::vector<CommittedEvent>& events) override {
    ++batches;
    for (const auto& event : events) {
      std::visit([this](const auto& e) { record(e); }, event);
    }
  }
  void on_typing(const TypingEvent& e) override { typing.push_back(e); }
  void on_presence(const PresenceEvent& e) override { presence.push_back(e); }
  std::size_t backlog() const override { return lag; }

 private:
  void record(const MessageEvent& e) { messages.push_back(e); }
  void record(const ReceiptEvent& e) { receipts.push_back(e); }
  void record(const ChatEvent& e) { chats.push_back(e); }
  void record(const SessionsRevokedEvent& e) { revoked.push_back(e); }
  void record(const MessagesErasedEvent& e) { erased.push_back(e); }
  void record(const MessageChangedEvent& e) { changed.push_back(e); }
};

Limits test_limits() {
  Limits limits;
  limits.typing_expiry_ms = 20;  // run_blocking waits for the expiry timers too
  limits.typing_burst = 3;
  limits.sends_in_flight_max = 200;
  limits.sends_per_user = util::RateRule{0, 1};  // sends are limited in their own test
  return limits;
}

// The domain against a real SQLite store in a temporary directory.
class ChatServiceTest : public ::testing::Test {
 protected:
  ChatServiceTest()
      : dir_(make_dir()),
        store_(store::sqlite::SqliteOptions{(dir_ / "chatd.db").string()}),
        hasher_(auth::PasswordCost{1, 8192}, 1),
        tokens_("test secret", std::chrono::hours(1)),
        secrets_(auth::SecretBox::Key{}),
        accounts_(store_, hasher_, tokens_, secrets_, limiter_, AccountLimits{}, test_limits(),
                  "default.png"),
        chats_(store_, accounts_.sessions(), limiter_, test_limits(), io_.get_executor()) {
    chats_.set_events(events_);
  }
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
    auto session = run(accounts_.register_user(
        Registration{name, name + "@example.com", "password123", std::nullopt}, ClientInfo{}));
    EXPECT_TRUE(session.ok());
    return session->user;
  }

  fs::path dir_;
  boost::asio::io_context io_;
  store::sqlite::SqliteStore store_;
  auth::PasswordHasher hasher_;
  auth::TokenIssuer tokens_;
  auth::SecretBox secrets_;
  util::LocalRateLimiter limiter_;
  AccountService accounts_;
  ChatService chats_;
  RecordedEvents events_;
};

TEST_F(ChatServiceTest, RegisterLoginAndAuthenticate) {
  auto session = run(accounts_.register_user(
      Registration{"  Ann  ", " Ann@Example.com ", "password123", std::nullopt}, ClientInfo{}));
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->user.name, "Ann");
  EXPECT_EQ(session->user.email, "Ann@Example.com");
  EXPECT_EQ(session->user.pic, "default.png");

  auto again = run(accounts_.register_user(
      Registration{"Other", "ann@example.com", "password123", std::nullopt}, ClientInfo{}));
  EXPECT_EQ(again.error().message, "User already exists");

  auto login = run(
      accounts_.login(LoginRequest{"ANN@example.com", "password123", std::nullopt}, ClientInfo{}));
  ASSERT_TRUE(login.ok());
  auto me = run(accounts_.authenticate(login->token));
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->user.id, session->user.id);

  EXPECT_EQ(run(accounts_.login(LoginRequest{"ann@example.com", "wrong-password", std::nullopt},
                                ClientInfo{}))
                .error()
                .code,
            Errc::unauthorized);
  EXPECT_EQ(run(accounts_.login(LoginRequest{"nobody@example.com", "password123", std::nullopt},
                                ClientInfo{}))
                .error()
                .message,
            "Invalid Email or Password");
  EXPECT_EQ(run(accounts_.authenticate("garbage")).error().code, Errc::unauthorized);
  // A valid token for a session that does not exist.
  EXPECT_EQ(run(accounts_.authenticate(tokens_.issue({session->user.id, "no-such-session"})))
                .error()
                .code,
            Errc::unauthorized);
  // A logout revokes the session at once; the other session goes on.
  auto other = run(accounts_.authenticate(login->token)).value();
  ASSERT_TRUE(run(accounts_.logout(other, ClientInfo{})).ok());
  EXPECT_EQ(run(accounts_.authenticate(login->token)).error().code, Errc::unauthorized);
  EXPECT_TRUE(run(accounts_.authenticate(session->token)).ok());
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

namespace chatd::chat {
namespace {

TEST_F(ChatServiceTest, MessagesAreAnnouncedOnceToTheCommittedMembers) {
  auto a = user("a");
  auto b = user("b");
  auto c = user("c");
  auto group = run(chats_.create_group(a, "g", {b.id, c.id})).value();
  ASSERT_EQ(events_.chats.size(), 1U);  // the new group
  auto sent = run(chats_.post_message(a, group.chat.id, "hi", "k1", "socket-1")).value();
  ASSERT_EQ(events_.messages.size(), 1U);
  EXPECT_EQ(events_.messages[0].member_ids, (std::vector<std::string>{a.id, b.id, c.id}));
  EXPECT_EQ(events_.messages[0].origin, "socket-1");
  EXPECT_FALSE(events_.messages[0].chat.has_value());  // no classic client is connected
  auto retry = run(chats_.post_message(a, group.chat.id, "changed", "k1", "socket-2")).value();
  EXPECT_EQ(retry.message.id, sent.message.id);
  EXPECT_EQ(events_.messages.size(), 1U);  // a retry announces nothing

  // A classic client needs the full chat, and counts as delivery.
  run(chats_.client_connected(b, ClientKind::classic));
  run(chats_.post_message(a, group.chat.id, "again", "k2", "socket-1")).value();
  ASSERT_EQ(events_.messages.size(), 2U);
  ASSERT_TRUE(events_.messages[1].chat.has_value());
  EXPECT_EQ(events_.messages[1].chat->users.size(), 3U);
  auto status =
      run(chats_.message_status(a, group.chat.id, events_.messages[1].message.message.id));
  EXPECT_EQ(status->members[0].user_id, b.id);
  EXPECT_TRUE(status->members[0].delivered);

  // Removed: no longer among the members of what follows.
  run(chats_.remove_from_group(a, group.chat.id, c.id)).value();
  ASSERT_EQ(events_.chats.back().removed_user_ids, (std::vector<std::string>{c.id}));
  run(chats_.post_message(a, group.chat.id, "after", "k3", "")).value();
  EXPECT_EQ(events_.messages.back().member_ids, (std::vector<std::string>{a.id, b.id}));
  EXPECT_EQ(run(chats_.post_message(c, group.chat.id, "x", "k4", "")).error().code,
            Errc::not_member);
}

// Sends that commit together are announced together, in commit (seq) order, whatever order their
// writers are resumed in: the sink sees fewer rounds than messages and never an inversion.
TEST_F(ChatServiceTest, CommittedChangesAreAnnouncedInCommitOrderInRounds) {
  auto a = user("a");
  auto b = user("b");
  auto c = user("c");
  auto group = run(chats_.create_group(a, "g", {b.id, c.id})).value();
  const auto rounds_before = events_.batches;
  constexpr int kSends = 200;
  for (int i = 0; i < kSends; ++i) {
    boost::asio::co_spawn(
        io_,
        [&, i]() -> boost::asio::awaitable<void> {
          auto sender = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
          auto id = group.chat.id;
          auto key = "k" + std::to_string(i);
          auto sent = co_await chats_.post_message(std::move(sender), std::move(id), "m",
                                                   std::move(key), "");
          EXPECT_TRUE(sent.ok());
        },
        boost::asio::detached);
  }
  io_.restart();
  io_.run();
  ASSERT_EQ(events_.messages.size(), static_cast<std::size_t>(kSends));
  for (int i = 0; i < kSends; ++i) {
    EXPECT_EQ(events_.messages[static_cast<std::size_t>(i)].message.message.seq, i + 1);
  }
  EXPECT_LT(events_.batches - rounds_before, static_cast<std::size_t>(kSends));
}

// Admission control: at most sends_in_flight_max sends (200 here) wait for the store at once. All
// the sends below are taken on before the store answers any (their coroutines run up to the store
// call before any completion is handled), so exactly 200 go in and the rest are refused at once,
// writing nothing. While the sink's deliveries lag beyond the limit, no send is taken.
TEST_F(ChatServiceTest, SendsBeyondTheInFlightLimitOrWhileDeliveryLagsAreRefusedUnavailable) {
  auto a = user("a");
  auto b = user("b");
  auto chat = run(chats_.access_direct_chat(a, b.id)).value();
  constexpr int kSends = 250;
  int accepted = 0, refused = 0;
  for (int i = 0; i < kSends; ++i) {
    boost::asio::co_spawn(
        io_,
        [&, i]() -> boost::asio::awaitable<void> {
          auto id = chat.chat.id;
          auto sent =
              co_await chats_.post_message(a, std::move(id), "m", "k" + std::to_string(i), "");
          if (sent.ok()) ++accepted;
          if (!sent.ok() && sent.error().code == Errc::unavailable) ++refused;
        },
        boost::asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(accepted, 200);
  EXPECT_EQ(refused, 50);
  EXPECT_EQ(run(chats_.history(a, chat.chat.id, {})).value().messages.back().message.seq, 200);

  events_.lag = 201;
  EXPECT_EQ(run(chats_.post_message(a, chat.chat.id, "m", "late", "")).error().code,
            Errc::unavailable);
  events_.lag = 200;
  EXPECT_EQ(run(chats_.post_message(a, chat.chat.id, "m", "late", "")).value().message.seq, 201);
}

TEST_F(ChatServiceTest, ReceiptsMoveForwardAndAreAnnouncedWhenTheyChange) {
  auto a = user("a");
  auto b = user("b");
  auto chat = run(chats_.access_direct_chat(a, b.id)).value();
  for (int i = 0; i < 3; ++i) {
    run(chats_.post_message(a, chat.chat.id, "m", "k" + std::to_string(i), "")).value();
  }
  auto member = run(chats_.report_receipt(b, chat.chat.id, 2, 0)).value();
  EXPECT_EQ(member.delivered_seq, 2);
  ASSERT_EQ(events_.receipts.size(), 1U);
  EXPECT_EQ(events_.receipts[0].member.user_id, b.id);
  member = run(chats_.report_receipt(b, chat.chat.id, 1, 0)).value();  // never backwards
  EXPECT_EQ(member.delivered_seq, 2);
  EXPECT_EQ(events_.receipts.size(), 1U);  // nothing changed, nothing said
  member = run(chats_.report_receipt(b, chat.chat.id, 99, 99)).value();
  EXPECT_EQ(member.read_seq, 3);  // clamped
  EXPECT_EQ(events_.receipts.size(), 2U);
  auto outsider = user("o");
  EXPECT_EQ(run(chats_.report_receipt(outsider, chat.chat.id, 1, 0)).error().code,
            Errc::not_member);
  EXPECT_EQ(run(chats_.report_receipt(b, chat.chat.id, -1, 0)).error().code, Errc::invalid_input);
}

TEST_F(ChatServiceTest, TypingIsAnnouncedOnChangeExpiresAndIsRateLimited) {
  auto a = user("a");
  auto b = user("b");
  auto chat = run(chats_.access_direct_chat(a, b.id)).value();
  ASSERT_TRUE(run(chats_.set_typing(a, chat.chat.id, true)).ok());  // run() waits for the expiry
  ASSERT_EQ(events_.typing.size(), 2U);
  EXPECT_TRUE(events_.typing[0].typing);
  EXPECT_TRUE(events_.typing[0].changed);
  EXPECT_FALSE(events_.typing[1].typing);  // expired by itself
  EXPECT_TRUE(events_.typing[1].changed);
  ASSERT_TRUE(run(chats_.set_typing(a, chat.chat.id, false)).ok());
  EXPECT_FALSE(events_.typing.back().changed);                      // was not typing any more
  EXPECT_TRUE(run(chats_.set_typing(a, chat.chat.id, true)).ok());  // the third of a burst of 3
  EXPECT_EQ(run(chats_.set_typing(a, chat.chat.id, true)).error().code, Errc::rate_limited);
  auto outsider = user("o");
  EXPECT_EQ(run(chats_.set_typing(outsider, chat.chat.id, true)).error().code, Errc::not_member);
}

TEST_F(ChatServiceTest, PresenceGoesToContactsAndKeepsLastSeen) {
  auto a = user("a");
  auto b = user("b");
  auto stranger = user("s");
  run(chats_.access_direct_chat(a, b.id)).value();
  run(chats_.client_connected(a, ClientKind::native));
  run(chats_.client_connected(a, ClientKind::classic));
  ASSERT_EQ(events_.presence.size(), 1U);  // online once, whatever the number of clients
  EXPECT_TRUE(events_.presence[0].online);
  EXPECT_EQ(events_.presence[0].contact_ids, (std::vector<std::string>{b.id}));
  run(chats_.client_disconnected(a, ClientKind::native));
  run(chats_.client_disconnected(a, ClientKind::classic));
  ASSERT_EQ(events_.presence.size(), 2U);
  EXPECT_FALSE(events_.presence[1].online);
  ASSERT_TRUE(events_.presence[1].last_seen.has_value());

  auto seen = run(chats_.presence_of(b, {a.id, stranger.id})).value();
  ASSERT_EQ(seen.size(), 1U);  // a stranger's presence is none of b's business
  EXPECT_EQ(seen[0].user_id, a.id);
  EXPECT_FALSE(seen[0].online);
  EXPECT_EQ(seen[0].last_seen, events_.presence[1].last_seen);
}

TEST_F(ChatServiceTest, SyncServesMissedMessagesInBoundedOrderedBatches) {
  auto a = user("a");
  auto b = user("b");
  auto c = user("c");
  auto ab = run(chats_.access_direct_chat(a, b.id)).value();
  auto ac = run(chats_.access_direct_chat(a, c.id)).value();
  for (int i = 0; i < 5; ++i) {
    run(chats_.post_message(b, ab.chat.id, "b", "b" + std::to_string(i), "")).value();
    run(chats_.post_message(c, ac.chat.id, "c", "c" + std::to_string(i), "")).value();
  }
  std::vector<std::pair<std::string, std::int64_t>> seen;
  SyncRequest request{{}, 4};
  for (int round = 0; round < 10; ++round) {
    auto page = run(chats_.sync(a, request)).value();
    EXPECT_LE(page.messages.size(), 4U);
    for (const auto& m : page.messages) seen.emplace_back(m.message.chat_id, m.message.seq);
    for (const auto& m : page.messages) {
      auto it = std::find_if(request.cursors.begin(), request.cursors.end(),
                             [&](const auto& c) { return c.first == m.message.chat_id; });
      if (it == request.cursors.end()) {
        request.cursors.emplace_back(m.message.chat_id, m.message.seq);
      } else {
        it->second = std::max(it->second, m.message.seq);
      }
    }
    if (!page.more) break;
  }
  ASSERT_EQ(seen.size(), 10U);  // all, once
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  // Cursors come from the stored delivery when not named; an old chat is reported removed.
  run(chats_.report_receipt(a, ab.chat.id, 5, 0)).value();
  auto rest = run(chats_.sync(a, SyncRequest{})).value();
  ASSERT_EQ(rest.messages.size(), 5U);
  EXPECT_EQ(rest.messages[0].message.chat_id, ac.chat.id);
  auto group = run(chats_.create_group(b, "g", {a.id, c.id})).value();
  run(chats_.remove_from_group(b, group.chat.id, a.id)).value();
  auto removed = run(chats_.sync(a, SyncRequest{{{group.chat.id, 0}}, std::nullopt})).value();
  EXPECT_EQ(removed.removed, (std::vector<std::string>{group.chat.id}));
  EXPECT_EQ(run(chats_.sync(a, SyncRequest{{{"nope", 0}}, std::nullopt})).error().code,
            Errc::invalid_input);
}

}  // namespace
}  // namespace chatd::chat
