// The conformance suite's privacy part (store.h, "Privacy"): profiles, export pages, erasure,
// retention, the server admins' user list, account housekeeping.
#include <algorithm>
#include <variant>

#include "store/store_conformance.h"
#include "util/clock.h"

namespace chatd::store::conformance {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::vector<MessagesErased> erasures(const std::vector<Change>& changes) {
  std::vector<MessagesErased> found;
  for (const auto& change : changes) {
    if (const auto* erased = std::get_if<MessagesErased>(&change)) found.push_back(*erased);
  }
  return found;
}

template <class T>
int count_of(const std::vector<Change>& changes) {
  return static_cast<int>(std::count_if(changes.begin(), changes.end(), [](const Change& c) {
    return std::holds_alternative<T>(c);
  }));
}

std::vector<std::int64_t> erased_seqs(const MessagesErased& erased) {
  std::vector<std::int64_t> seqs;
  for (const auto& m : erased.messages) seqs.push_back(m.seq);
  return seqs;
}

}  // namespace

TEST_P(StoreConformance, ProfilesAreUpdatedAndReported) {
  auto a = make_user("A", "a@x.io");
  changes_.take();
  auto updated = run(store_->update_profile(ProfileUpdate{a.id, "Alice", std::nullopt}));
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->name, "Alice");
  EXPECT_EQ(updated->pic, "pic");
  EXPECT_EQ(updated->email, "a@x.io");
  updated = run(store_->update_profile(ProfileUpdate{a.id, std::nullopt, "pic2"}));
  EXPECT_EQ(updated->name, "Alice");
  EXPECT_EQ(updated->pic, "pic2");
  EXPECT_EQ(run(store_->find_user(a.id))->name, "Alice");
  auto reported = changes_.take();
  ASSERT_EQ(reported.size(), 2U);
  EXPECT_EQ(std::get<UserChanged>(reported[1]).user.pic, "pic2");
  EXPECT_EQ(run(store_->update_profile(ProfileUpdate{"nobody", "N", std::nullopt})).error().code,
            Errc::not_found);
}

TEST_P(StoreConformance, SentMessagesArePagedAcrossChats) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto ab = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(run(store_->append_message(NewMessage{ab.id, a.id, "ab", std::nullopt})).ok());
    ASSERT_TRUE(run(store_->append_message(NewMessage{group.id, a.id, "g", std::nullopt})).ok());
    ASSERT_TRUE(run(store_->append_message(NewMessage{group.id, b.id, "b", std::nullopt})).ok());
  }
  // A member who left keeps what they sent.
  ASSERT_TRUE(run(store_->remove_member(group.id, a.id)).ok());
  std::vector<Message> all;
  SentMessagesQuery query{a.id, "", 0, 2};
  for (;;) {
    auto page = run(store_->list_sent_messages(query)).value();
    if (page.empty()) break;
    EXPECT_LE(page.size(), 2U);
    query.after_chat_id = page.back().chat_id;
    query.after_seq = page.back().seq;
    all.insert(all.end(), page.begin(), page.end());
  }
  ASSERT_EQ(all.size(), 6U);
  for (const auto& m : all) EXPECT_EQ(m.sender_id, a.id);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](const Message& x, const Message& y) {
    return std::pair(x.chat_id, x.seq) < std::pair(y.chat_id, y.seq);
  }));
}

TEST_P(StoreConformance, ErasingAUserLeavesTombstonesAndAPlaceholder) {
  auto a = make_user("Anna Secret", "anna@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto ab = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto group = run(store_->create_group("G", a.id, {b.id, c.id})).value();
  ASSERT_TRUE(run(store_->append_message(NewMessage{ab.id, a.id, "secret 1", "cm-1"})).ok());
  ASSERT_TRUE(run(store_->append_message(NewMessage{ab.id, b.id, "reply", std::nullopt})).ok());
  ASSERT_TRUE(run(store_->append_message(NewMessage{group.id, a.id, "secret 2", "cm-2"})).ok());
  auto s1 = make_session(a.id, "r1", 1);
  ASSERT_TRUE(run(store_->record_audit(NewAuditEvent{a.id, "login", 1, "10.0.0.9", "ua"})).ok());
  ASSERT_TRUE(run(store_->set_pending_two_factor(a.id, "sealed")).ok());
  ASSERT_TRUE(run(store_->set_server_admin("anna@x.io", true)).ok());
  changes_.take();

  ASSERT_TRUE(run(store_->erase_user(UserErasure{a.id, "Deleted user", "default.png"})).ok());
  auto reported = changes_.take();
  EXPECT_EQ(count_of<SessionsRevoked>(reported), 1);
  EXPECT_EQ(count_of<UserChanged>(reported), 1);
  ASSERT_EQ(count_of<GroupChanged>(reported), 1);
  for (const auto& change : reported) {
    if (const auto* g = std::get_if<GroupChanged>(&change)) {
      EXPECT_EQ(g->chat.id, group.id);
      EXPECT_EQ(g->removed_user_ids, std::vector<std::string>{a.id});
      ASSERT_EQ(g->chat.members.size(), 2U);
      EXPECT_TRUE(is_admin_role(g->chat.members[0].role));  // the role passed on
    }
  }

  auto erased = run(store_->find_user(a.id)).value();
  EXPECT_TRUE(erased.erased);
  EXPECT_EQ(erased.name, "Deleted user");
  EXPECT_EQ(erased.pic, "default.png");
  EXPECT_EQ(erased.email, "");
  EXPECT_FALSE(erased.is_admin);
  EXPECT_FALSE(run(store_->find_credentials("anna@x.io")).ok());
  EXPECT_TRUE(run(store_->search_users(UserSearch{"", b.id, 50, 0}))->size() == 1U);
  EXPECT_EQ(run(store_->find_session(s1.id)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->list_audit(AuditQuery{a.id, std::nullopt, 50}))->empty());
  EXPECT_EQ(run(store_->find_two_factor(a.id)).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->find_or_create_direct_chat(c.id, a.id)).error().code, Errc::not_found);
  // The email can register again, as a new user.
  auto again = run(store_->create_user(NewUser{"Anna", "ANNA@x.io", "pic", "h"}));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id, a.id);

  // The messages become tombstones a batch at a time.
  EXPECT_EQ(run(store_->find_unfinished_erasures(10)).value(), std::vector<std::string>{a.id});
  EXPECT_EQ(run(store_->erase_sent_messages(a.id, 1)).value(), 1);
  EXPECT_EQ(run(store_->erase_sent_messages(a.id, 10)).value(), 1);
  EXPECT_EQ(run(store_->erase_sent_messages(a.id, 10)).value(), 0);
  EXPECT_TRUE(run(store_->find_unfinished_erasures(10))->empty());
  auto tombstones = erasures(changes_.take());
  ASSERT_EQ(tombstones.size(), 2U);
  for (const auto& t : tombstones) {
    ASSERT_EQ(t.messages.size(), 1U);
    if (t.chat_id == ab.id) {
      EXPECT_EQ(t.messages[0].seq, 1);
      EXPECT_EQ(sorted(t.member_ids), sorted({a.id, b.id}));
    } else {
      EXPECT_EQ(t.chat_id, group.id);
      EXPECT_EQ(sorted(t.member_ids), sorted({b.id, c.id}));
    }
  }
  auto history = run(store_->list_messages(HistoryQuery{ab.id, std::nullopt, std::nullopt, 50}));
  ASSERT_EQ(history->size(), 2U);
  EXPECT_TRUE((*history)[0].deleted);
  EXPECT_EQ((*history)[0].content, "");
  EXPECT_EQ((*history)[0].client_msg_id, std::nullopt);
  EXPECT_EQ((*history)[0].seq, 1);
  EXPECT_FALSE((*history)[1].deleted);
  EXPECT_EQ((*history)[1].content, "reply");
  EXPECT_TRUE(run(store_->list_sent_messages(SentMessagesQuery{a.id, "", 0, 50}))->empty());
  // The chat stays in B's list with the placeholder as its other member.
  auto chats = run(store_->list_chats(b.id)).value();
  EXPECT_EQ(chats.size(), 2U);
  // Erasing again changes nothing.
  ASSERT_TRUE(run(store_->erase_user(UserErasure{a.id, "Deleted user", "default.png"})).ok());
  EXPECT_TRUE(changes_.take().empty());
  // A socket that closes after the erasure leaves no last-seen time behind.
  ASSERT_TRUE(run(store_->record_last_seen(a.id, 123)).ok());
  EXPECT_EQ(run(store_->find_last_seen({a.id}))->at(0).at, std::nullopt);
  // Nor can the placeholder be renamed, or join anything.
  EXPECT_EQ(run(store_->update_profile(ProfileUpdate{a.id, "Back", std::nullopt})).error().code,
            Errc::not_found);
  EXPECT_EQ(run(store_->create_group("G2", b.id, {a.id, c.id})).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->add_member(group.id, a.id, 10)).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->erase_user(UserErasure{"nobody", "D", "p"})).error().code, Errc::not_found);
}

TEST_P(StoreConformance, RetentionErasesOlderMessagesPerChatAndServerWide) {
  auto a = make_user("A", "a@x.io");
  auto b = make_user("B", "b@x.io");
  auto c = make_user("C", "c@x.io");
  auto ab = run(store_->find_or_create_direct_chat(a.id, b.id)).value();
  auto ac = run(store_->find_or_create_direct_chat(a.id, c.id)).value();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(run(store_->append_message(NewMessage{ab.id, a.id, "ab", std::nullopt})).ok());
    ASSERT_TRUE(run(store_->append_message(NewMessage{ac.id, a.id, "ac", std::nullopt})).ok());
  }
  auto set = run(store_->set_retention(ab.id, 2));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->retention_days, 2);
  EXPECT_EQ(run(store_->find_chat(ab.id))->retention_days, 2);
  EXPECT_EQ(run(store_->find_chat(ac.id))->retention_days, std::nullopt);
  changes_.take();
  const auto now = clock::now_ms();

  // Nothing is old enough yet.
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{now, std::nullopt, 10})).value(), 0);
  // Three days later only the chat with retention loses its messages, two at a time.
  const auto later = now + 3 * kDayMs;
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later, std::nullopt, 2})).value(), 2);
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later, std::nullopt, 2})).value(), 1);
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later, std::nullopt, 2})).value(), 0);
  auto reported = erasures(changes_.take());
  std::vector<std::int64_t> seqs;
  for (const auto& r : reported) {
    EXPECT_EQ(r.chat_id, ab.id);
    for (auto seq : erased_seqs(r)) seqs.push_back(seq);
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2, 3}));
  auto ab_history = run(store_->list_messages(HistoryQuery{ab.id, std::nullopt, std::nullopt, 50}));
  ASSERT_EQ(ab_history->size(), 3U);
  for (const auto& m : *ab_history) EXPECT_TRUE(m.deleted);
  auto latest = run(store_->find_chat(ab.id))->latest_message;
  ASSERT_TRUE(latest);
  EXPECT_TRUE(latest->deleted);

  // A server-wide setting reaches every chat; the shorter of the two wins.
  constexpr std::int64_t kHourMs = 3'600'000;
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later, 5, 10})).value(), 0);
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later - kHourMs, 3, 10})).value(), 0);
  EXPECT_EQ(run(store_->erase_expired_messages(RetentionSweep{later + kHourMs, 3, 10})).value(), 3);
  ASSERT_TRUE(run(store_->set_retention(ab.id, std::nullopt)).ok());
  EXPECT_EQ(run(store_->find_chat(ab.id))->retention_days, std::nullopt);
  EXPECT_EQ(run(store_->set_retention("nochat", 1)).error().code, Errc::not_found);
}

// As server admins list users: nobody excluded.
TEST_P(StoreConformance, SearchWithoutACallerFindsEveryUserButTheErased) {
  auto a = make_user("Ann", "ann@x.io");
  auto b = make_user("Bob", "bob@x.io");
  auto c = make_user("Cid", "cid@y.io");
  ASSERT_TRUE(run(store_->set_disabled(b.id, true)).ok());
  ASSERT_TRUE(run(store_->erase_user(UserErasure{c.id, "Deleted user", "p"})).ok());
  auto all = run(store_->search_users(UserSearch{"", "", 50, 0})).value();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].name, "Ann");
  EXPECT_TRUE(all[1].disabled);
  auto found = run(store_->search_users(UserSearch{"BOB@", "", 50, 0})).value();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].id, b.id);
  EXPECT_EQ(run(store_->search_users(UserSearch{"", "", 1, 1}))->at(0).id, b.id);
  EXPECT_TRUE(run(store_->search_users(UserSearch{"deleted", "", 50, 0}))->empty());
  EXPECT_EQ(a.name, "Ann");
}

TEST_P(StoreConformance, PruningDropsOldRevokedSessionsAndOldAuditEvents) {
  auto a = make_user("A", "a@x.io");
  auto old_session = make_session(a.id, "r1", 1);
  auto live = make_session(a.id, "r2", 2);
  ASSERT_TRUE(run(store_->rotate_refresh(RefreshRotation{"r1", "r1b", "ip", "ua", 3})).ok());
  ASSERT_TRUE(run(store_->revoke_session(a.id, old_session.id)).ok());
  ASSERT_TRUE(run(store_->record_audit(NewAuditEvent{a.id, "login", 10, "ip", "ua"})).ok());
  ASSERT_TRUE(run(store_->record_audit(NewAuditEvent{a.id, "logout", 5000, "ip", "ua"})).ok());
  const auto now = clock::now_ms();

  // Nothing is old enough: nothing goes.
  EXPECT_EQ(run(store_->prune_accounts(AccountPruning{0, 0, 100})).value(), 0);
  auto pruned = run(store_->prune_accounts(AccountPruning{now + 1, 100, 100}));
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_GE(*pruned, 2);  // the revoked session (with its spent token) and one audit event
  EXPECT_EQ(run(store_->find_session(old_session.id)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->find_session(live.id)).ok());
  EXPECT_EQ(types_of(run(store_->list_audit(AuditQuery{a.id, std::nullopt, 50})).value()),
            std::vector<std::string>{"logout"});
  // The spent token of a pruned session is simply unknown now.
  EXPECT_EQ(run(store_->rotate_refresh(RefreshRotation{"r1", "x", "ip", "ua", 4}))->outcome,
            RefreshOutcome::unknown);
}

}  // namespace chatd::store::conformance
