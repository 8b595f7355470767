#include "store/store_conformance.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <iterator>
#include <set>
#include <utility>
#include <variant>

#include "util/run_blocking.h"

namespace chatd::store::conformance {

namespace asio = boost::asio;

void RecordedChanges::on_commit(Commit commit) {
  std::lock_guard lock(mutex_);
  std::move(commit.changes.begin(), commit.changes.end(), std::back_inserter(changes_));
}

std::vector<Change> RecordedChanges::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(changes_, {});
}

void StoreConformance::SetUp() {
  backend_ = GetParam()();
  store_ = backend_->open();
  store_->set_change_listener(&changes_);
}

void StoreConformance::reopen() {
  store_.reset();
  store_ = backend_->open();
  store_->set_change_listener(&changes_);
}

template <class T>
T StoreConformance::run(asio::awaitable<T> task) {
  return run_blocking(io_, std::move(task));
}

User StoreConformance::make_user(const std::string& name, const std::string& email) {
  auto user = run(store_->create_user(NewUser{name, email, "pic", "hash-of-" + email}));
  EXPECT_TRUE(user.ok()) << (user.ok() ? "" : user.error().message);
  return user.value();
}

namespace {

std::vector<std::int64_t> seqs_of(const std::vector<Message>& messages) {
  std::vector<std::int64_t> seqs;
  seqs.reserve(messages.size());
  for (const auto& m : messages) seqs.push_back(m.seq);
  return seqs;
}

std::vector<std::string> names_of(const std::vector<User>& users) {
  std::vector<std::string> names;
  names.reserve(users.size());
  for (const auto& u : users) names.push_back(u.name);
  return names;
}

const Member* member_of(const Chat& chat, const std::string& user_id) {
  for (const auto& m : chat.members) {
    if (m.user_id == user_id) return &m;
  }
  return nullptr;
}

}  // namespace

// ---- Users -------------------------------------------------------------------------------------

TEST_P(StoreConformance, CreatesAndFindsUsers) {
  auto alice = make_user("Alice", "Alice@Example.com");
  EXPECT_EQ(alice.email, "Alice@Example.com");
  EXPECT_FALSE(alice.id.empty());
  EXPECT_GT(alice.created_at, 0);

  auto found = run(store_->find_user(alice.id));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->name, "Alice");

  auto credentials = run(store_->find_credentials("alice@example.COM"));
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->user.id, alice.id);
  EXPECT_EQ(credentials->password_hash, "hash-of-Alice@Example.com");

  EXPECT_EQ(run(store_->find_user("000000000000000000000000")).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->find_credentials("nobody@example.com")).error().code, Errc::not_found);
}

TEST_P(StoreConformance, EmailsAreUniqueCaseInsensitively) {
  make_user("Alice", "alice@example.com");
  auto again = run(store_->create_user(NewUser{"Other", "ALICE@example.com", "pic", "h"}));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
}

TEST_P(StoreConformance, FindsManyUsers) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  // Duplicates, an unknown id and ids that need quoting in any encoding are no errors.
  auto users = run(store_->find_users(
      {a.id, b.id, a.id, "000000000000000000000000", "\"],\\", "' OR 1=1 --", ""}));
  ASSERT_TRUE(users.ok());
  auto names = names_of(*users);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"A", "B"}));
}

TEST_P(StoreConformance, SearchMatchesNameOrEmailSubstringExcludingCaller) {
  auto caller = make_user("Carol", "carol@x.io");
  make_user("bob smith", "bob@x.io");
  make_user("Alice", "alice@smith.org");
  make_user("Dave", "dave@x.io");
  make_user("100% real_name", "pct@x.io");

  auto smiths = run(store_->search_users(UserSearch{"SMITH", caller.id, 50, 0}));
  ASSERT_TRUE(smiths.ok());
  EXPECT_EQ(names_of(*smiths), (std::vector<std::string>{"Alice", "bob smith"}));

  auto everyone = run(store_->search_users(UserSearch{"", caller.id, 50, 0}));
  EXPECT_EQ(names_of(*everyone),
            (std::vector<std::string>{"100% real_name", "Alice", "bob smith", "Dave"}));

  // '%' and '_' are literal, not wildcards.
  EXPECT_EQ(run(store_->search_users(UserSearch{"%", caller.id, 50, 0}))->size(), 1U);
  EXPECT_EQ(run(store_->search_users(UserSearch{"d_v", caller.id, 50, 0}))->size(), 0U);
  EXPECT_EQ(run(store_->search_users(UserSearch{"l_n", caller.id, 50, 0}))->size(), 1U);

  auto page = run(store_->search_users(UserSearch{"", caller.id, 2, 1}));
  EXPECT_EQ(names_of(*page), (std::vector<std::string>{"Alice", "bob smith"}));

  auto self = run(store_->search_users(UserSearch{"carol", caller.id, 50, 0}));
  EXPECT_TRUE(self->empty());
}

// ---- Chats -------------------------------------------------------------------------------------

TEST_P(StoreConformance, DirectChatIsUniquePerPair) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto first = run(store_->find_or_create_direct_chat(a.id, b.id));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->is_group);
  EXPECT_EQ(first->members.size(), 2U);
  auto second = run(store_->find_or_create_direct_chat(b.id, a.id));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->id, second->id);

  EXPECT_EQ(run(store_->find_or_create_direct_chat(a.id, "000000000000000000000000")).error().code,
            Errc::not_found);
}

TEST_P(StoreConformance, ConcurrentDirectChatCreationMakesOneChat) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          auto chat = co_await store_->find_or_create_direct_chat(a.id, b.id);
          if (chat.ok()) ids.insert(chat->id);
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(ids.size(), 1U);
  EXPECT_EQ(run(store_->list_chats(a.id))->size(), 1U);
}

TEST_P(StoreConformance, GroupHasOwnerAndMembersInJoiningOrder) {
  auto owner = make_user("O", "o@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto group = run(store_->create_group("Team", owner.id, {b.id, c.id, b.id, owner.id}));
  ASSERT_TRUE(group.ok());
  EXPECT_TRUE(group->is_group);
  EXPECT_EQ(group->name, "Team");
  ASSERT_EQ(group->members.size(), 3U);
  EXPECT_EQ(group->members[0].user_id, owner.id);
  EXPECT_EQ(group->members[0].role, Role::owner);
  EXPECT_EQ(group->members[1].user_id, b.id);
  EXPECT_EQ(group->members[1].role, Role::member);

  auto unknown = run(store_->create_group("X", owner.id, {b.id, "000000000000000000000000"}));
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST_P(StoreConformance, ChatListIsOrderedByLastChange) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto direct = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();

  auto list = run(store_->list_chats(a.id)).value();
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0].id, group.id);

  ASSERT_TRUE(run(store_->append_message(NewMessage{direct.id, b.id, "hi", std::nullopt})).ok());
  list = run(store_->list_chats(a.id)).value();
  EXPECT_EQ(list[0].id, direct.id);
  ASSERT_TRUE(list[0].latest_message.has_value());
  EXPECT_EQ(list[0].latest_message->content, "hi");

  ASSERT_TRUE(run(store_->rename_chat(group.id, "G2")).ok());
  list = run(store_->list_chats(a.id)).value();
  EXPECT_EQ(list[0].id, group.id);
  EXPECT_EQ(list[0].name, "G2");
  EXPECT_FALSE(list[0].latest_message.has_value());

  EXPECT_EQ(run(store_->list_chats(c.id))->size(), 1U);
}

TEST_P(StoreConformance, AddMemberIsIdempotentAndBounded) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto d = make_user("D", "d@x.io");
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();
  ASSERT_TRUE(run(store_->append_message(NewMessage{group.id, a.id, "one", std::nullopt})).ok());
  ASSERT_TRUE(run(store_->append_message(NewMessage{group.id, a.id, "two", std::nullopt})).ok());

  auto added = run(store_->add_member(group.id, d.id, 10));
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->members.size(), 4U);
  const Member* joined = member_of(*added, d.id);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(joined->delivered_seq, 2);  // history stays readable, old messages do not wait on them
  EXPECT_EQ(joined->read_seq, 2);

  auto again = run(store_->add_member(group.id, d.id, 10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->members.size(), 4U);

  auto e = make_user("E", "e@x.io");
  EXPECT_EQ(run(store_->add_member(group.id, e.id, 4)).error().code, Errc::invalid_input);
  EXPECT_EQ(run(store_->add_member(group.id, "000000000000000000000000", 10)).error().code,
            Errc::not_found);
  EXPECT_EQ(run(store_->add_member("000000000000000000000000", e.id, 10)).error().code,
            Errc::not_found);
}

TEST_P(StoreConformance, LastAdminLeavingPromotesLongestStandingMember) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();

  auto noop = run(store_->remove_member(group.id, make_user("Z", "z@x.io").id));
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(noop->members.size(), 3U);
  EXPECT_EQ(run(store_->remove_member(group.id, "000000000000000000000000")).error().code,
            Errc::not_found);

  auto left = run(store_->remove_member(group.id, a.id));
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->members.size(), 2U);
  EXPECT_EQ(left->members[0].user_id, b.id);
  EXPECT_EQ(left->members[0].role, Role::admin);
  EXPECT_EQ(left->members[1].role, Role::member);
  EXPECT_TRUE(run(store_->list_chats(a.id))->empty());
}

TEST_P(StoreConformance, RolesCanBeGrantedButTheLastAdminStays) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();

  EXPECT_EQ(run(store_->set_role(group.id, a.id, Role::member)).error().code, Errc::conflict);
  auto granted = run(store_->set_role(group.id, b.id, Role::admin));
  ASSERT_TRUE(granted.ok());
  EXPECT_EQ(member_of(*granted, b.id)->role, Role::admin);
  auto demoted = run(store_->set_role(group.id, a.id, Role::member));
  ASSERT_TRUE(demoted.ok());
  EXPECT_EQ(member_of(*demoted, a.id)->role, Role::member);
  EXPECT_EQ(run(store_->set_role(group.id, make_user("Z", "z@x.io").id, Role::admin)).error().code,
            Errc::not_member);
}

// ---- Messages ----------------------------------------------------------------------------------

TEST_P(StoreConformance, SeqIsGaplessPerChat) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto ab = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto ac = run(store_->find_or_create_direct_chat(a.id, c.id)).value();
  for (int i = 1; i <= 5; ++i) {
    auto m = run(store_->append_message(NewMessage{ab.id, a.id, "m", std::nullopt}));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->message.seq, i);
    EXPECT_TRUE(m->created);
  }
  auto other = run(store_->append_message(NewMessage{ac.id, c.id, "x", std::nullopt}));
  EXPECT_EQ(other->message.seq, 1);
  EXPECT_EQ(run(store_->find_chat(ab.id))->last_seq, 5);
}

TEST_P(StoreConformance, ConcurrentAppendsGetDistinctConsecutiveSeqs) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  std::vector<std::int64_t> seqs;
  constexpr int kSends = 300;
  for (int i = 0; i < kSends; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> asio::awaitable<void> {
          // Built outside the co_await: g++ 12 mishandles non-trivial temporaries inside one.
          NewMessage message{chat.id, i % 2 ? a.id : b.id, std::to_string(i), std::nullopt};
          auto m = co_await store_->append_message(std::move(message));
          if (m.ok()) seqs.push_back(m->message.seq);
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  std::sort(seqs.begin(), seqs.end());
  ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kSends));
  for (int i = 0; i < kSends; ++i) EXPECT_EQ(seqs[static_cast<std::size_t>(i)], i + 1);
  // The change feed reports them in commit order, which is seq order, whatever order the writers
  // were resumed in.
  std::vector<std::int64_t> reported;
  for (auto& change : changes_.take()) {
    if (auto* appended = std::get_if<MessageAppended>(&change)) {
      reported.push_back(appended->message.seq);
    }
  }
  ASSERT_EQ(reported.size(), static_cast<std::size_t>(kSends));
  for (int i = 0; i < kSends; ++i) EXPECT_EQ(reported[static_cast<std::size_t>(i)], i + 1);
}

TEST_P(StoreConformance, ClientMsgIdMakesRetriesIdempotent) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto ab = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto ac = run(store_->find_or_create_direct_chat(a.id, c.id)).value();

  auto first = run(store_->append_message(NewMessage{ab.id, a.id, "hello", "k1"})).value();
  EXPECT_TRUE(first.created);
  auto retry = run(store_->append_message(NewMessage{ab.id, a.id, "changed", "k1"})).value();
  EXPECT_FALSE(retry.created);
  EXPECT_EQ(retry.message.id, first.message.id);
  EXPECT_EQ(retry.message.content, "hello");
  EXPECT_EQ(retry.message.seq, 1);

  EXPECT_EQ(run(store_->append_message(NewMessage{ac.id, a.id, "x", "k1"})).error().code,
            Errc::conflict);
  auto others = run(store_->append_message(NewMessage{ab.id, b.id, "mine", "k1"})).value();
  EXPECT_TRUE(others.created);
  EXPECT_EQ(others.message.seq, 2);
}

TEST_P(StoreConformance, ConcurrentRetriesStoreOneMessage) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  std::set<std::string> ids;
  int created = 0;
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          NewMessage message{chat.id, a.id, "once", "same"};
          auto m = co_await store_->append_message(std::move(message));
          if (m.ok()) {
            ids.insert(m->message.id);
            created += m->created ? 1 : 0;
          }
        },
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(ids.size(), 1U);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(run(store_->find_chat(chat.id))->last_seq, 1);
}

TEST_P(StoreConformance, OnlyMembersAppend) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto outsider = make_user("O", "o@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  EXPECT_EQ(
      run(store_->append_message(NewMessage{chat.id, outsider.id, "x", std::nullopt})).error().code,
      Errc::not_member);
  EXPECT_EQ(
      run(store_->append_message(NewMessage{"000000000000000000000000", a.id, "x", std::nullopt}))
          .error()
          .code,
      Errc::not_found);
  EXPECT_EQ(run(store_->find_chat(chat.id))->last_seq, 0);
  EXPECT_TRUE(changes_.take().empty());  // refused writes report nothing
}

TEST_P(StoreConformance, HistoryPagesAreAscending) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "m", std::nullopt})).ok());
  }
  auto newest = run(store_->list_messages(HistoryQuery{chat.id, std::nullopt, std::nullopt, 3}));
  EXPECT_EQ(seqs_of(*newest), (std::vector<std::int64_t>{8, 9, 10}));
  auto before = run(store_->list_messages(HistoryQuery{chat.id, 8, std::nullopt, 3}));
  EXPECT_EQ(seqs_of(*before), (std::vector<std::int64_t>{5, 6, 7}));
  auto after = run(store_->list_messages(HistoryQuery{chat.id, std::nullopt, 2, 3}));
  EXPECT_EQ(seqs_of(*after), (std::vector<std::int64_t>{3, 4, 5}));
  auto tail = run(store_->list_messages(HistoryQuery{chat.id, std::nullopt, 9, 3}));
  EXPECT_EQ(seqs_of(*tail), (std::vector<std::int64_t>{10}));

  auto one = newest->front();
  auto found = run(store_->find_message(chat.id, one.id));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->seq, 8);
  EXPECT_EQ(run(store_->find_message("000000000000000000000000", one.id)).error().code,
            Errc::not_found);
}

TEST_P(StoreConformance, CursorsOnlyMoveForwardAndAreClamped) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "m", std::nullopt})).ok());
  }
  const auto chat_now = run(store_->find_chat(chat.id)).value();
  EXPECT_EQ(member_of(chat_now, a.id)->read_seq, 5);  // the sender has seen their own messages

  auto u = run(store_->advance_cursors(chat.id, b.id, 2, 0)).value();
  EXPECT_TRUE(u.changed);
  EXPECT_EQ(u.member.delivered_seq, 2);
  EXPECT_EQ(u.member.read_seq, 0);
  u = run(store_->advance_cursors(chat.id, b.id, 1, 3)).value();  // read implies delivered
  EXPECT_EQ(u.member.delivered_seq, 3);
  EXPECT_EQ(u.member.read_seq, 3);
  u = run(store_->advance_cursors(chat.id, b.id, 99, 0)).value();  // clamped to the last seq
  EXPECT_TRUE(u.changed);
  EXPECT_EQ(u.member.delivered_seq, 5);
  EXPECT_EQ(u.member.read_seq, 3);
  u = run(store_->advance_cursors(chat.id, b.id, 4, 2)).value();  // never backwards
  EXPECT_FALSE(u.changed);
  EXPECT_EQ(u.member.delivered_seq, 5);
  EXPECT_EQ(u.member.read_seq, 3);
  EXPECT_EQ(run(store_->advance_cursors("000000000000000000000000", b.id, 1, 1)).error().code,
            Errc::not_found);
  EXPECT_EQ(run(store_->advance_cursors(chat.id, make_user("O", "o@x.io").id, 1, 1)).error().code,
            Errc::not_member);
}

TEST_P(StoreConformance, ContactsAreTheUsersSharingAChat) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto d = make_user("D", "d@x.io");
  auto lonely = make_user("L", "l@x.io");
  ASSERT_TRUE(run(store_->find_or_create_direct_chat(a.id, b.id)).ok());
  ASSERT_TRUE(run(store_->create_group("g", a.id, {b.id, c.id})).ok());
  ASSERT_TRUE(run(store_->find_or_create_direct_chat(c.id, d.id)).ok());
  auto contacts = run(store_->find_contacts(a.id)).value();
  std::sort(contacts.begin(), contacts.end());
  std::vector<std::string> expected{b.id, c.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(contacts, expected);  // each once, never the user, never D (a contact of a contact)
  EXPECT_TRUE(run(store_->find_contacts(lonely.id)).value().empty());
}

TEST_P(StoreConformance, LastSeenIsKeptPerUser) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  ASSERT_TRUE(run(store_->record_last_seen(a.id, 1234)).ok());
  EXPECT_EQ(run(store_->record_last_seen("000000000000000000000000", 1)).error().code,
            Errc::not_found);
  auto seen = run(store_->find_last_seen({a.id, b.id, "000000000000000000000000"})).value();
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& s : seen) {
    if (s.user_id == a.id) {
      EXPECT_EQ(s.at, 1234);
    } else {
      EXPECT_EQ(s.user_id, b.id);
      EXPECT_FALSE(s.at.has_value());  // never connected
    }
  }
}

TEST_P(StoreConformance, DataSurvivesReopening) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "kept", "k"})).ok());
  reopen();
  EXPECT_EQ(run(store_->find_user(a.id))->name, "A");
  auto history = run(store_->list_messages(HistoryQuery{chat.id, std::nullopt, std::nullopt, 50}));
  ASSERT_EQ(history->size(), 1U);
  EXPECT_EQ(history->front().content, "kept");
  auto next = run(store_->append_message(NewMessage{chat.id, b.id, "more", std::nullopt}));
  EXPECT_EQ(next->message.seq, 2);
  // The chat list order survives too: the newest change is first.
  auto group = run(store_->create_group("G", a.id, {b.id, make_user("C", "c@x.io").id})).value();
  reopen();
  ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "up", std::nullopt})).ok());
  auto list = run(store_->list_chats(a.id)).value();
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0].id, chat.id);
  EXPECT_EQ(list[1].id, group.id);
}

// ---- Change feed -------------------------------------------------------------------------------

TEST_P(StoreConformance, ChangeFeedReportsMessagesWithSenderMembersAndOrigin) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  changes_.take();
  auto sent = run(store_->append_message(NewMessage{chat.id, a.id, "hi", "k", "conn-1"})).value();
  auto retried = run(store_->append_message(NewMessage{chat.id, a.id, "hi", "k", "conn-2"}));
  EXPECT_FALSE(retried->created);
  auto changes = changes_.take();
  ASSERT_EQ(changes.size(), 1U);  // a retry writes nothing and reports nothing
  const auto& appended = std::get<MessageAppended>(changes[0]);
  EXPECT_EQ(appended.message.id, sent.message.id);
  EXPECT_EQ(appended.message.seq, 1);
  EXPECT_EQ(appended.sender.name, "A");
  EXPECT_EQ(appended.member_ids, (std::vector<std::string>{a.id, b.id}));
  EXPECT_EQ(appended.origin, "conn-1");
}

TEST_P(StoreConformance, ChangeFeedReportsCursorsOnlyWhenTheyMove) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "m", std::nullopt})).ok());
  changes_.take();
  ASSERT_TRUE(run(store_->advance_cursors(chat.id, b.id, 1, 0)).ok());
  ASSERT_TRUE(run(store_->advance_cursors(chat.id, b.id, 1, 0)).ok());  // no move
  auto changes = changes_.take();
  ASSERT_EQ(changes.size(), 1U);
  const auto& moved = std::get<CursorsAdvanced>(changes[0]);
  EXPECT_EQ(moved.chat_id, chat.id);
  EXPECT_EQ(moved.member.user_id, b.id);
  EXPECT_EQ(moved.member.delivered_seq, 1);
  EXPECT_EQ(moved.member_ids, (std::vector<std::string>{a.id, b.id}));
}

TEST_P(StoreConformance, ChangeFeedReportsGroupChangesThatChangedSomething) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto d = make_user("D", "d@x.io");
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();
  ASSERT_TRUE(run(store_->rename_chat(group.id, "H")).ok());
  ASSERT_TRUE(run(store_->add_member(group.id, d.id, 10)).ok());
  ASSERT_TRUE(run(store_->add_member(group.id, d.id, 10)).ok());  // already there
  ASSERT_TRUE(run(store_->set_role(group.id, b.id, Role::admin)).ok());
  ASSERT_TRUE(run(store_->set_role(group.id, b.id, Role::admin)).ok());  // already admin
  ASSERT_TRUE(run(store_->remove_member(group.id, c.id)).ok());
  ASSERT_TRUE(run(store_->remove_member(group.id, c.id)).ok());  // already gone
  EXPECT_FALSE(run(store_->add_member(group.id, "000000000000000000000000", 10)).ok());
  auto changes = changes_.take();
  ASSERT_EQ(changes.size(), 5U);
  std::vector<std::string> names;
  for (const auto& change : changes) names.push_back(std::get<GroupChanged>(change).chat.name);
  EXPECT_EQ(names, (std::vector<std::string>{"G", "H", "H", "H", "H"}));
  EXPECT_EQ(std::get<GroupChanged>(changes[2]).chat.members.size(), 4U);
  EXPECT_EQ(std::get<GroupChanged>(changes[3]).chat.members[1].role, Role::admin);
  const auto& removal = std::get<GroupChanged>(changes[4]);
  EXPECT_EQ(removal.removed_user_ids, (std::vector<std::string>{c.id}));
  EXPECT_EQ(removal.chat.members.size(), 3U);
  for (const auto& change : changes) EXPECT_TRUE(std::get<GroupChanged>(change).chat.is_group);
}

}  // namespace chatd::store::conformance
