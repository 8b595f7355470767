#include "store/store_conformance.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <iterator>
#include <map>
#include <optional>
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

User StoreConformance::make_user(const std::string& name, const std::string& email) {
  auto user = run(store_->create_user(NewUser{name, email, "pic", "hash-of-" + email}));
  EXPECT_TRUE(user.ok()) << (user.ok() ? "" : user.error().message);
  return user.value();
}

Session StoreConformance::make_session(const std::string& user_id, const std::string& refresh_hash,
                                       std::int64_t at) {
  auto session =
      run(store_->create_session(NewSession{user_id, refresh_hash, "10.0.0.1", "agent/1", at}));
  EXPECT_TRUE(session.ok()) << (session.ok() ? "" : session.error().message);
  return session.value();
}

std::vector<std::string> sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> types_of(const std::vector<AuditEvent>& events) {
  std::vector<std::string> types;
  types.reserve(events.size());
  for (const auto& e : events) types.push_back(e.type);
  return types;
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

// An epoch-ms time to start from: sessions, audit events and uses are stamped by the caller.
constexpr std::int64_t kT = 1'700'000'000'000;

std::vector<std::string> ids_of(const std::vector<Session>& sessions) {
  std::vector<std::string> ids;
  ids.reserve(sessions.size());
  for (const auto& s : sessions) ids.push_back(s.id);
  return ids;
}

// "c7" and the like. (Not "c" + std::to_string(i): g++ 12 warns about it, wrongly, -Wrestrict.)
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

// The revocations among reported changes, each one's ids sorted (their order is not specified).
std::vector<SessionsRevoked> revocations(const std::vector<Change>& changes) {
  std::vector<SessionsRevoked> found;
  for (const auto& change : changes) {
    if (const auto* revoked = std::get_if<SessionsRevoked>(&change)) {
      found.push_back(SessionsRevoked{revoked->user_id, sorted(revoked->session_ids)});
    }
  }
  return found;
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

// ---- Accounts ----------------------------------------------------------------------------------

TEST_P(StoreConformance, SessionsAreFoundAndListedMostRecentlyUsedFirst) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto created =
      run(store_->create_session(NewSession{a.id, "r1", "10.0.0.7", "agent/7", kT + 1000}));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE(created->id.empty());
  EXPECT_EQ(created->user_id, a.id);
  EXPECT_EQ(created->created_at, kT + 1000);
  EXPECT_EQ(created->last_used_at, kT + 1000);  // the login is its first use
  EXPECT_EQ(created->ip, "10.0.0.7");
  EXPECT_EQ(created->user_agent, "agent/7");
  EXPECT_FALSE(created->revoked);

  auto found = run(store_->find_session(created->id));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, created->id);
  EXPECT_EQ(found->user_id, a.id);
  EXPECT_EQ(found->created_at, kT + 1000);
  EXPECT_EQ(found->last_used_at, kT + 1000);
  EXPECT_EQ(found->ip, "10.0.0.7");
  EXPECT_EQ(found->user_agent, "agent/7");
  EXPECT_FALSE(found->revoked);
  EXPECT_EQ(run(store_->find_session("000000000000000000000000")).error().code, Errc::not_found);

  auto newest = make_session(a.id, "r2", kT + 3000);
  auto middle = make_session(a.id, "r3", kT + 2000);
  auto of_b = make_session(b.id, "r4", kT + 9000);
  EXPECT_EQ(std::set<std::string>({created->id, newest.id, middle.id, of_b.id}).size(), 4U);
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()),
            (std::vector<std::string>{newest.id, middle.id, created->id}));
  EXPECT_EQ(ids_of(run(store_->list_sessions(b.id)).value()), std::vector<std::string>{of_b.id});
  EXPECT_TRUE(run(store_->list_sessions("000000000000000000000000")).value().empty());

  // A revoked session is found, marked, and no longer listed.
  ASSERT_TRUE(run(store_->revoke_session(a.id, middle.id)).ok());
  EXPECT_TRUE(run(store_->find_session(middle.id))->revoked);
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()),
            (std::vector<std::string>{newest.id, created->id}));
}

TEST_P(StoreConformance, RotatingARefreshTokenSpendsItAndReuseRevokesTheSession) {
  auto a = make_user("A", "a@x.io");
  auto session = make_session(a.id, "r1", kT);
  auto other = make_session(a.id, "q1", kT);
  changes_.take();

  auto rotated =
      run(store_->rotate_refresh(RefreshRotation{"r1", "r2", "10.0.0.2", "agent/2", kT + 1000}));
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_EQ(rotated->outcome, RefreshOutcome::rotated);
  EXPECT_EQ(rotated->session.id, session.id);
  EXPECT_EQ(rotated->session.user_id, a.id);
  EXPECT_EQ(rotated->session.created_at, kT);
  EXPECT_EQ(rotated->session.last_used_at, kT + 1000);
  EXPECT_EQ(rotated->session.ip, "10.0.0.2");
  EXPECT_EQ(rotated->session.user_agent, "agent/2");
  EXPECT_FALSE(rotated->session.revoked);
  auto stored = run(store_->find_session(session.id)).value();
  EXPECT_EQ(stored.last_used_at, kT + 1000);
  EXPECT_EQ(stored.ip, "10.0.0.2");
  EXPECT_EQ(stored.user_agent, "agent/2");

  // The new token rules now; a token no session ever had is unknown.
  auto again = run(store_->rotate_refresh(RefreshRotation{"r2", "r3", "ip", "ua", kT + 2000}));
  EXPECT_EQ(again->outcome, RefreshOutcome::rotated);
  EXPECT_EQ(again->session.id, session.id);
  EXPECT_EQ(
      run(store_->rotate_refresh(RefreshRotation{"never", "x", "ip", "ua", kT + 2000}))->outcome,
      RefreshOutcome::unknown);
  EXPECT_TRUE(changes_.take().empty());  // rotations revoke nothing

  // A spent token comes back: someone holds a copy. Its session ends, and only that one.
  auto reused = run(store_->rotate_refresh(RefreshRotation{"r1", "r9", "ip", "ua", kT + 3000}));
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->outcome, RefreshOutcome::reused);
  EXPECT_EQ(reused->session.id, session.id);
  EXPECT_EQ(reused->session.user_id, a.id);
  EXPECT_TRUE(reused->session.revoked);
  EXPECT_TRUE(run(store_->find_session(session.id))->revoked);
  auto revoked = revocations(changes_.take());
  ASSERT_EQ(revoked.size(), 1U);
  EXPECT_EQ(revoked[0].user_id, a.id);
  EXPECT_EQ(revoked[0].session_ids, std::vector<std::string>{session.id});

  // Every hash of a revoked session is unknown: spent, current and the one presented last.
  for (const char* hash : {"r1", "r2", "r3"}) {
    EXPECT_EQ(
        run(store_->rotate_refresh(RefreshRotation{hash, "r10", "ip", "ua", kT + 4000}))->outcome,
        RefreshOutcome::unknown)
        << hash;
  }
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()), std::vector<std::string>{other.id});
  EXPECT_EQ(
      run(store_->rotate_refresh(RefreshRotation{"q1", "q2", "ip", "ua", kT + 5000}))->outcome,
      RefreshOutcome::rotated);
}

TEST_P(StoreConformance, ConcurrentRotationsOfOneTokenRotateItOnce) {
  auto a = make_user("A", "a@x.io");
  auto session = make_session(a.id, "c0", kT);
  changes_.take();
  constexpr int kTries = 20;
  std::map<RefreshOutcome, int> outcomes;
  int failures = 0;
  for (int i = 0; i < kTries; ++i) {
    RefreshRotation rotation{"c0", numbered("c1-", i), "ip", "ua", kT + 1};
    asio::co_spawn(
        io_,
        [](Store& store, RefreshRotation r, std::map<RefreshOutcome, int>& counts,
           int& failed) -> asio::awaitable<void> {
          auto result = co_await store.rotate_refresh(std::move(r));
          if (result.ok()) {
            ++counts[result->outcome];
          } else {
            ++failed;
          }
        }(*store_, std::move(rotation), outcomes, failures),
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(failures, 0);
  // Each call is atomic: the first rotates, the second finds the token spent and revokes the
  // session, the others find a revoked session's token.
  EXPECT_EQ(outcomes[RefreshOutcome::rotated], 1);
  EXPECT_EQ(outcomes[RefreshOutcome::reused], 1);
  EXPECT_EQ(outcomes[RefreshOutcome::unknown], kTries - 2);
  EXPECT_TRUE(run(store_->find_session(session.id))->revoked);
  auto revoked = revocations(changes_.take());
  ASSERT_EQ(revoked.size(), 1U);
  EXPECT_EQ(revoked[0].session_ids, std::vector<std::string>{session.id});
}

TEST_P(StoreConformance, RevokingASessionEndsItOnce) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto mine = make_session(a.id, "ra", kT);
  auto theirs = make_session(b.id, "rb", kT);
  changes_.take();

  EXPECT_EQ(run(store_->revoke_session(a.id, theirs.id)).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->revoke_session(a.id, "000000000000000000000000")).error().code,
            Errc::not_found);
  EXPECT_FALSE(run(store_->find_session(theirs.id))->revoked);
  EXPECT_TRUE(changes_.take().empty());

  ASSERT_TRUE(run(store_->revoke_session(a.id, mine.id)).ok());
  EXPECT_TRUE(run(store_->find_session(mine.id))->revoked);
  EXPECT_TRUE(run(store_->list_sessions(a.id))->empty());
  auto revoked = revocations(changes_.take());
  ASSERT_EQ(revoked.size(), 1U);
  EXPECT_EQ(revoked[0].user_id, a.id);
  EXPECT_EQ(revoked[0].session_ids, std::vector<std::string>{mine.id});

  // Again: nothing changes, nothing is reported.
  EXPECT_TRUE(run(store_->revoke_session(a.id, mine.id)).ok());
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_EQ(run(store_->rotate_refresh(RefreshRotation{"ra", "ra2", "ip", "ua", kT + 1}))->outcome,
            RefreshOutcome::unknown);
}

TEST_P(StoreConformance, RevokingSessionsKeepsOnlyTheOneAsked) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto s1 = make_session(a.id, "r1", kT + 1);
  auto s2 = make_session(a.id, "r2", kT + 2);
  auto s3 = make_session(a.id, "r3", kT + 3);
  auto of_b = make_session(b.id, "rb", kT + 4);
  changes_.take();

  auto revoked = run(store_->revoke_sessions(a.id, s2.id));
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(sorted(*revoked), sorted({s1.id, s3.id}));
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()), std::vector<std::string>{s2.id});
  EXPECT_EQ(ids_of(run(store_->list_sessions(b.id)).value()), std::vector<std::string>{of_b.id});
  auto reported = revocations(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].user_id, a.id);
  EXPECT_EQ(reported[0].session_ids, sorted({s1.id, s3.id}));

  revoked = run(store_->revoke_sessions(a.id, std::nullopt));
  EXPECT_EQ(*revoked, std::vector<std::string>{s2.id});
  EXPECT_TRUE(run(store_->list_sessions(a.id))->empty());
  reported = revocations(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].session_ids, std::vector<std::string>{s2.id});

  // Nothing left to revoke: nothing reported.
  EXPECT_TRUE(run(store_->revoke_sessions(a.id, std::nullopt))->empty());
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_FALSE(run(store_->find_session(of_b.id))->revoked);
}

TEST_P(StoreConformance, TouchingSessionsMovesTheirLastUseForwardOnly) {
  auto a = make_user("A", "a@x.io");
  auto s1 = make_session(a.id, "r1", kT);
  auto s2 = make_session(a.id, "r2", kT + 100);
  ASSERT_TRUE(run(store_->touch_sessions({SessionUse{s1.id, kT + 5000}, SessionUse{s2.id, kT + 50},
                                          SessionUse{"000000000000000000000000", kT + 9000}}))
                  .ok());
  EXPECT_EQ(run(store_->find_session(s1.id))->last_used_at, kT + 5000);
  EXPECT_EQ(run(store_->find_session(s2.id))->last_used_at, kT + 100);  // never back
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()),
            (std::vector<std::string>{s1.id, s2.id}));

  ASSERT_TRUE(run(store_->touch_sessions({SessionUse{s1.id, kT + 3000}})).ok());
  EXPECT_EQ(run(store_->find_session(s1.id))->last_used_at, kT + 5000);

  // Several uses of one session in one call: the latest counts, whatever their order.
  ASSERT_TRUE(
      run(store_->touch_sessions({SessionUse{s2.id, kT + 7000}, SessionUse{s2.id, kT + 6000}}))
          .ok());
  EXPECT_EQ(run(store_->find_session(s2.id))->last_used_at, kT + 7000);
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()),
            (std::vector<std::string>{s2.id, s1.id}));
  EXPECT_TRUE(run(store_->touch_sessions({})).ok());
}

TEST_P(StoreConformance, ChangingThePasswordRevokesTheOtherSessions) {
  auto a = make_user("A", "a@x.io");
  auto s1 = make_session(a.id, "r1", kT + 1);
  auto s2 = make_session(a.id, "r2", kT + 2);
  auto s3 = make_session(a.id, "r3", kT + 3);
  changes_.take();

  auto revoked = run(store_->change_password(a.id, "new-hash", s2.id));
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_EQ(sorted(*revoked), sorted({s1.id, s3.id}));
  EXPECT_EQ(run(store_->find_credentials("a@x.io"))->password_hash, "new-hash");
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()), std::vector<std::string>{s2.id});
  auto reported = revocations(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].user_id, a.id);
  EXPECT_EQ(reported[0].session_ids, sorted({s1.id, s3.id}));

  revoked = run(store_->change_password(a.id, "newer-hash", std::nullopt));
  EXPECT_EQ(*revoked, std::vector<std::string>{s2.id});
  EXPECT_EQ(run(store_->find_credentials("a@x.io"))->password_hash, "newer-hash");
  EXPECT_TRUE(run(store_->list_sessions(a.id))->empty());
  EXPECT_EQ(revocations(changes_.take()).size(), 1U);

  revoked = run(store_->change_password(a.id, "newest-hash", std::nullopt));
  EXPECT_TRUE(revoked->empty());
  EXPECT_EQ(run(store_->find_credentials("a@x.io"))->password_hash, "newest-hash");
  EXPECT_TRUE(changes_.take().empty());
}

TEST_P(StoreConformance, DisablingAUserRevokesEverySessionAndEveryReadShowsIt) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  EXPECT_FALSE(a.disabled);
  EXPECT_FALSE(run(store_->find_user(a.id))->disabled);
  auto s1 = make_session(a.id, "r1", kT + 1);
  auto s2 = make_session(a.id, "r2", kT + 2);
  auto of_b = make_session(b.id, "rb", kT + 3);
  auto chat = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  changes_.take();

  auto revoked = run(store_->set_disabled(a.id, true));
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_EQ(sorted(*revoked), sorted({s1.id, s2.id}));
  auto reported = revocations(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].user_id, a.id);
  EXPECT_EQ(reported[0].session_ids, sorted({s1.id, s2.id}));
  EXPECT_TRUE(run(store_->list_sessions(a.id))->empty());
  EXPECT_EQ(ids_of(run(store_->list_sessions(b.id)).value()), std::vector<std::string>{of_b.id});

  EXPECT_TRUE(run(store_->find_user(a.id))->disabled);
  EXPECT_TRUE(run(store_->find_credentials("A@x.io"))->user.disabled);
  const auto users = run(store_->find_users({a.id, b.id})).value();
  ASSERT_EQ(users.size(), 2U);
  for (const auto& user : users) {
    EXPECT_EQ(user.disabled, user.id == a.id) << user.name;
  }
  auto found = run(store_->search_users(UserSearch{"a@x", b.id, 50, 0})).value();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_TRUE(found[0].disabled);
  // The users the change feed carries are read as stored too.
  ASSERT_TRUE(run(store_->append_message(NewMessage{chat.id, a.id, "m", std::nullopt})).ok());
  auto appended = changes_.take();
  ASSERT_EQ(appended.size(), 1U);
  EXPECT_TRUE(std::get<MessageAppended>(appended[0]).sender.disabled);

  // A disabled user has no session: none can be made (the stricter reading of User::disabled).
  EXPECT_FALSE(run(store_->create_session(NewSession{a.id, "r3", "ip", "ua", kT + 4})).ok());
  EXPECT_TRUE(run(store_->list_sessions(a.id))->empty());

  // Nothing left to revoke: nothing reported.
  EXPECT_TRUE(run(store_->set_disabled(a.id, true))->empty());
  EXPECT_TRUE(changes_.take().empty());

  EXPECT_TRUE(run(store_->set_disabled(a.id, false))->empty());
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_FALSE(run(store_->find_user(a.id))->disabled);
  EXPECT_FALSE(run(store_->find_credentials("a@x.io"))->user.disabled);
  make_session(a.id, "r4", kT + 5);
  EXPECT_EQ(run(store_->list_sessions(a.id))->size(), 1U);
}

TEST_P(StoreConformance, ServerAdminsAreNamedByEmailCaseInsensitively) {
  auto alice = make_user("Alice", "Alice@Example.com");
  EXPECT_FALSE(alice.is_admin);
  auto granted = run(store_->set_server_admin("alice@EXAMPLE.com", true));
  ASSERT_TRUE(granted.ok()) << granted.error().message;
  EXPECT_EQ(granted->id, alice.id);
  EXPECT_EQ(granted->email, "Alice@Example.com");
  EXPECT_TRUE(granted->is_admin);
  EXPECT_TRUE(run(store_->find_user(alice.id))->is_admin);
  EXPECT_TRUE(run(store_->find_credentials("alice@example.com"))->user.is_admin);

  auto taken = run(store_->set_server_admin("ALICE@example.com", false));
  ASSERT_TRUE(taken.ok());
  EXPECT_FALSE(taken->is_admin);
  EXPECT_FALSE(run(store_->find_user(alice.id))->is_admin);

  EXPECT_EQ(run(store_->set_server_admin("nobody@example.com", true)).error().code,
            Errc::not_found);
}

TEST_P(StoreConformance, AuditEventsAreListedNewestFirstInPages) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  const std::vector<NewAuditEvent> events{
      {a.id, "login", kT + 1, "10.0.0.1", "agent/1"},
      {b.id, "login_failed", kT + 2, "10.0.0.2", "agent/2"},
      {a.id, "logout", kT + 3, "10.0.0.1", "agent/1"},
      {a.id, "password_changed", kT + 4, "10.0.0.1", "agent/1"},
      {b.id, "login", kT + 5, "10.0.0.5", "agent/5"},
  };
  for (const auto& event : events) ASSERT_TRUE(run(store_->record_audit(event)).ok());

  auto all = run(store_->list_audit(AuditQuery{"", std::nullopt, 50})).value();
  EXPECT_EQ(types_of(all), (std::vector<std::string>{"login", "password_changed", "logout",
                                                     "login_failed", "login"}));
  ASSERT_EQ(all.size(), 5U);
  EXPECT_EQ(all[0].user_id, b.id);
  EXPECT_EQ(all[0].at, kT + 5);
  EXPECT_EQ(all[0].ip, "10.0.0.5");
  EXPECT_EQ(all[0].user_agent, "agent/5");
  std::set<std::string> ids;
  for (const auto& event : all) {
    EXPECT_FALSE(event.id.empty());
    ids.insert(event.id);
  }
  EXPECT_EQ(ids.size(), 5U);

  auto mine = run(store_->list_audit(AuditQuery{a.id, std::nullopt, 50})).value();
  EXPECT_EQ(types_of(mine), (std::vector<std::string>{"password_changed", "logout", "login"}));
  for (const auto& event : mine) EXPECT_EQ(event.user_id, a.id);

  // Pages of everyone's events: each starts after the last one of the page before.
  std::vector<std::string> paged;
  std::optional<std::string> before;
  for (int page = 0; page < 4; ++page) {
    auto events_page = run(store_->list_audit(AuditQuery{"", before, 2})).value();
    EXPECT_LE(events_page.size(), 2U);
    if (events_page.empty()) break;
    for (const auto& event : events_page) paged.push_back(event.id);
    before = events_page.back().id;
  }
  std::vector<std::string> all_ids;
  all_ids.reserve(all.size());
  for (const auto& event : all) all_ids.push_back(event.id);
  EXPECT_EQ(paged, all_ids);

  // A user's pages, also after another user's event.
  EXPECT_EQ(types_of(run(store_->list_audit(AuditQuery{a.id, std::nullopt, 1})).value()),
            std::vector<std::string>{"password_changed"});
  EXPECT_EQ(types_of(run(store_->list_audit(AuditQuery{a.id, mine[0].id, 1})).value()),
            std::vector<std::string>{"logout"});
  EXPECT_EQ(types_of(run(store_->list_audit(AuditQuery{a.id, mine[1].id, 5})).value()),
            std::vector<std::string>{"login"});
  EXPECT_TRUE(run(store_->list_audit(AuditQuery{a.id, mine[2].id, 5}))->empty());
  EXPECT_EQ(types_of(run(store_->list_audit(AuditQuery{a.id, all[1].id, 5})).value()),
            (std::vector<std::string>{"logout", "login"}));
  EXPECT_EQ(run(store_->list_audit(AuditQuery{a.id, all[0].id, 5}))->size(), 3U);
  EXPECT_TRUE(
      run(store_->list_audit(AuditQuery{"000000000000000000000000", std::nullopt, 50}))->empty());
}

TEST_P(StoreConformance, TwoFactorIsSetUpEnabledUsedAndDisabled) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  EXPECT_EQ(run(store_->find_two_factor(a.id)).error().code, Errc::not_found);
  EXPECT_FALSE(run(store_->find_credentials("a@x.io"))->two_factor);
  EXPECT_EQ(run(store_->enable_two_factor(a.id, {"h1"}, 5)).error().code, Errc::not_found);

  // Pending until a code proves it; a new pending secret replaces the old one.
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed-1")).ok());
  auto pending = run(store_->find_two_factor(a.id));
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->sealed_secret, "sealed-1");
  EXPECT_FALSE(pending->enabled);
  EXPECT_TRUE(pending->recovery_hashes.empty());
  EXPECT_FALSE(run(store_->find_credentials("a@x.io"))->two_factor);
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed-2")).ok());
  EXPECT_EQ(run(store_->find_two_factor(a.id))->sealed_secret, "sealed-2");

  ASSERT_TRUE(run(store_->enable_two_factor(a.id, {"h1", "h2", "h3"}, 100)).ok());
  auto enabled = run(store_->find_two_factor(a.id)).value();
  EXPECT_EQ(enabled.sealed_secret, "sealed-2");
  EXPECT_TRUE(enabled.enabled);
  EXPECT_EQ(enabled.last_step, 100);
  EXPECT_EQ(sorted(enabled.recovery_hashes), (std::vector<std::string>{"h1", "h2", "h3"}));
  EXPECT_TRUE(run(store_->find_credentials("a@x.io"))->two_factor);
  EXPECT_FALSE(run(store_->find_credentials("b@x.io"))->two_factor);

  EXPECT_EQ(run(store_->enable_two_factor(a.id, {"x"}, 200)).error().code, Errc::conflict);
  EXPECT_EQ(run(store_->set_pending_two_factor(a.id, "sealed-3")).error().code, Errc::conflict);
  enabled = run(store_->find_two_factor(a.id)).value();
  EXPECT_EQ(enabled.sealed_secret, "sealed-2");
  EXPECT_TRUE(enabled.enabled);
  EXPECT_EQ(enabled.last_step, 100);
  EXPECT_EQ(enabled.recovery_hashes.size(), 3U);

  // Steps: the enabling one counts as used; each newer one is accepted once, never an older one.
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 100)));
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 99)));
  EXPECT_TRUE(*run(store_->consume_totp_step(a.id, 101)));
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 101)));
  EXPECT_TRUE(*run(store_->consume_totp_step(a.id, 103)));
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 102)));
  EXPECT_EQ(run(store_->find_two_factor(a.id))->last_step, 103);

  // Recovery codes: each once, and only the user's own.
  EXPECT_TRUE(*run(store_->consume_recovery_code(a.id, "h2")));
  EXPECT_FALSE(*run(store_->consume_recovery_code(a.id, "h2")));
  EXPECT_FALSE(*run(store_->consume_recovery_code(a.id, "nope")));
  EXPECT_FALSE(*run(store_->consume_recovery_code(b.id, "h1")));
  EXPECT_EQ(sorted(run(store_->find_two_factor(a.id))->recovery_hashes),
            (std::vector<std::string>{"h1", "h3"}));
  EXPECT_EQ(run(store_->find_two_factor(b.id)).error().code, Errc::not_found);

  // Disabling forgets everything; disabling without 2FA does nothing.
  ASSERT_TRUE(run(store_->disable_two_factor(a.id)).ok());
  EXPECT_EQ(run(store_->find_two_factor(a.id)).error().code, Errc::not_found);
  EXPECT_FALSE(run(store_->find_credentials("a@x.io"))->two_factor);
  EXPECT_FALSE(*run(store_->consume_recovery_code(a.id, "h1")));
  EXPECT_TRUE(run(store_->disable_two_factor(a.id)).ok());
  EXPECT_TRUE(run(store_->disable_two_factor(b.id)).ok());
  EXPECT_EQ(run(store_->enable_two_factor(a.id, {"h9"}, 300)).error().code, Errc::not_found);

  // And it can be set up again.
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed-4")).ok());
  ASSERT_TRUE(run(store_->enable_two_factor(a.id, {"k1"}, 200)).ok());
  auto again = run(store_->find_two_factor(a.id)).value();
  EXPECT_EQ(again.sealed_secret, "sealed-4");
  EXPECT_TRUE(again.enabled);
  EXPECT_EQ(again.recovery_hashes, std::vector<std::string>{"k1"});
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 200)));
  EXPECT_TRUE(*run(store_->consume_totp_step(a.id, 201)));
  EXPECT_TRUE(run(store_->find_credentials("a@x.io"))->two_factor);
}

TEST_P(StoreConformance, ConcurrentUsesOfOneCodeAcceptItOnce) {
  auto a = make_user("A", "a@x.io");
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed")).ok());
  ASSERT_TRUE(run(store_->enable_two_factor(a.id, {"h1", "h2"}, 10)).ok());
  constexpr int kTries = 20;
  int steps_accepted = 0;
  int codes_accepted = 0;
  int failures = 0;
  for (int i = 0; i < kTries; ++i) {
    asio::co_spawn(
        io_,
        [](Store& store, std::string user, int& steps, int& codes,
           int& failed) -> asio::awaitable<void> {
          auto step = co_await store.consume_totp_step(user, 11);
          auto code = co_await store.consume_recovery_code(user, "h1");
          if (!step.ok() || !code.ok()) {
            ++failed;
            co_return;
          }
          steps += *step ? 1 : 0;
          codes += *code ? 1 : 0;
        }(*store_, a.id, steps_accepted, codes_accepted, failures),
        asio::detached);
  }
  io_.restart();
  io_.run();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(steps_accepted, 1);
  EXPECT_EQ(codes_accepted, 1);
  auto state = run(store_->find_two_factor(a.id)).value();
  EXPECT_EQ(state.last_step, 11);
  EXPECT_EQ(state.recovery_hashes, std::vector<std::string>{"h2"});
}

TEST_P(StoreConformance, AccountsSurviveReopening) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto kept = make_session(a.id, "r1", kT);
  ASSERT_EQ(run(store_->rotate_refresh(RefreshRotation{"r1", "r2", "10.0.0.2", "agent/2", kT + 1}))
                ->outcome,
            RefreshOutcome::rotated);
  auto ended = make_session(a.id, "q1", kT + 2);
  ASSERT_TRUE(run(store_->revoke_session(a.id, ended.id)).ok());
  ASSERT_TRUE(run(store_->record_audit(NewAuditEvent{a.id, "login", kT, "ip", "ua"})).ok());
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed")).ok());
  ASSERT_TRUE(run(store_->enable_two_factor(a.id, {"h1"}, 50)).ok());
  ASSERT_TRUE(run(store_->set_server_admin("a@x.io", true)).ok());
  ASSERT_TRUE(run(store_->set_disabled(b.id, true)).ok());
  reopen();

  auto session = run(store_->find_session(kept.id)).value();
  EXPECT_EQ(session.ip, "10.0.0.2");
  EXPECT_EQ(session.last_used_at, kT + 1);
  EXPECT_FALSE(session.revoked);
  EXPECT_TRUE(run(store_->find_session(ended.id))->revoked);
  EXPECT_EQ(ids_of(run(store_->list_sessions(a.id)).value()), std::vector<std::string>{kept.id});
  EXPECT_EQ(run(store_->rotate_refresh(RefreshRotation{"r2", "r3", "ip", "ua", kT + 3}))->outcome,
            RefreshOutcome::rotated);
  EXPECT_EQ(run(store_->rotate_refresh(RefreshRotation{"r1", "r4", "ip", "ua", kT + 4}))->outcome,
            RefreshOutcome::reused);

  auto audit = run(store_->list_audit(AuditQuery{a.id, std::nullopt, 50})).value();
  ASSERT_EQ(audit.size(), 1U);
  EXPECT_EQ(audit[0].type, "login");

  auto two_factor = run(store_->find_two_factor(a.id)).value();
  EXPECT_TRUE(two_factor.enabled);
  EXPECT_EQ(two_factor.last_step, 50);
  EXPECT_EQ(two_factor.recovery_hashes, std::vector<std::string>{"h1"});
  EXPECT_FALSE(*run(store_->consume_totp_step(a.id, 50)));
  EXPECT_TRUE(*run(store_->consume_totp_step(a.id, 51)));

  auto credentials = run(store_->find_credentials("a@x.io")).value();
  EXPECT_TRUE(credentials.two_factor);
  EXPECT_TRUE(credentials.user.is_admin);
  EXPECT_TRUE(run(store_->find_user(b.id))->disabled);
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
