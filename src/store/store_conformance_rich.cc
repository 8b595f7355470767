// The conformance suite's rich-message part (store.h, MessageChange and SyncQuery): edits,
// deletions, reactions and replies, each checked in the writing transaction, and sync's
// changes by rev.
#include <algorithm>
#include <variant>

#include "store/store_conformance.h"

namespace chatd::store::conformance {

void RichMessages::SetUp() {
  StoreConformance::SetUp();
  a_ = make_user("Ann", "ann@x.io");
  b_ = make_user("Ben", "ben@x.io");
  c_ = make_user("Cat", "cat@x.io");
  group_ = run(store_->create_group("g", a_.id, {b_.id, c_.id})).value();
  direct_ = run(store_->find_or_create_direct_chat(a_.id, b_.id)).value();
}

Message RichMessages::send(const Chat& chat, const User& from, std::string content,
                           std::optional<std::string> reply_to, std::optional<std::string> key) {
  NewMessage m{chat.id, from.id, std::move(content), std::move(key), "", std::move(reply_to)};
  return run(store_->append_message(std::move(m))).value().message;
}

namespace {

std::vector<MessageChanged> message_changes(const std::vector<Change>& changes) {
  std::vector<MessageChanged> found;
  for (const auto& change : changes) {
    if (const auto* changed = std::get_if<MessageChanged>(&change)) found.push_back(*changed);
  }
  return found;
}

std::vector<std::int64_t> seqs(const std::vector<Message>& messages) {
  std::vector<std::int64_t> found;
  for (const auto& m : messages) found.push_back(m.seq);
  return found;
}

MessageChange edit(const Message& m, const std::string& user_id, std::string content) {
  MessageChange change{m.chat_id, m.id, user_id, MessageChangeKind::edit, ChangeRight::sender};
  change.content = std::move(content);
  return change;
}

MessageChange removal(const Message& m, const std::string& user_id) {
  return MessageChange{m.chat_id, m.id, user_id, MessageChangeKind::remove,
                       ChangeRight::sender_or_group_admin};
}

MessageChange reaction(const Message& m, const std::string& user_id, std::string emoji,
                       bool on = true) {
  MessageChange change{m.chat_id, m.id, user_id,
                       on ? MessageChangeKind::react : MessageChangeKind::unreact,
                       ChangeRight::member};
  change.emoji = std::move(emoji);
  change.max_emojis = 3;
  return change;
}

}  // namespace

TEST_P(RichMessages, OnlyTheSenderEditsAndEachEditIsAChangeOfTheChat) {
  auto m = send(group_, b_, "helo");
  changes_.take();
  EXPECT_EQ(run(store_->change_message(edit(m, a_.id, "x"))).error().code, Errc::forbidden);

  auto edited = run(store_->change_message(edit(m, b_.id, "hello")));
  ASSERT_TRUE(edited.ok());
  EXPECT_TRUE(edited->changed);
  EXPECT_EQ(edited->message.content, "hello");
  EXPECT_TRUE(edited->message.edited_at.has_value());
  EXPECT_EQ(edited->message.rev, 1);
  EXPECT_EQ(run(store_->find_chat(group_.id))->last_rev, 1);

  auto reported = message_changes(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].kind, MessageChangeKind::edit);
  EXPECT_EQ(reported[0].message.content, "hello");
  EXPECT_EQ(reported[0].sender.id, b_.id);
  EXPECT_EQ(sorted(reported[0].member_ids), sorted({a_.id, b_.id, c_.id}));

  // The same content again changes nothing and reports nothing.
  auto again = run(store_->change_message(edit(m, b_.id, "hello")));
  EXPECT_FALSE(again->changed);
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_EQ(run(store_->find_message(group_.id, m.id))->content, "hello");
}

TEST_P(RichMessages, RefusesUnknownMessagesAndNonMembers) {
  auto m = send(group_, b_, "hi");
  auto other = make_user("Out", "out@x.io");
  EXPECT_EQ(run(store_->change_message(reaction(m, other.id, "👍"))).error().code, Errc::not_member);
  auto elsewhere = m;
  elsewhere.chat_id = direct_.id;  // a message id of another chat is unknown here
  EXPECT_EQ(run(store_->change_message(reaction(elsewhere, a_.id, "👍"))).error().code,
            Errc::not_found);
  EXPECT_EQ(run(store_->locate_message(m.id)).value(), group_.id);
  auto unknown = m;
  unknown.id = "000000000000000000000000";
  EXPECT_EQ(run(store_->locate_message(unknown.id)).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->change_message(edit(unknown, b_.id, "x"))).error().code, Errc::not_found);
  unknown.chat_id = "000000000000000000000000";
  EXPECT_EQ(run(store_->change_message(edit(unknown, b_.id, "x"))).error().code, Errc::not_found);
}

TEST_P(RichMessages, TheSenderOrAGroupAdminDeletesLeavingATombstone) {
  auto m = send(group_, b_, "oops", std::nullopt, "key-1");
  run(store_->change_message(reaction(m, c_.id, "👍")));
  EXPECT_EQ(run(store_->change_message(removal(m, c_.id))).error().code, Errc::forbidden);
  changes_.take();

  auto removed = run(store_->change_message(removal(m, a_.id)));  // a owns the group
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->changed);
  EXPECT_TRUE(removed->message.deleted);
  EXPECT_EQ(removed->message.content, "");
  EXPECT_TRUE(removed->message.reactions.empty());
  auto reported = message_changes(changes_.take());
  ASSERT_EQ(reported.size(), 1U);
  EXPECT_EQ(reported[0].kind, MessageChangeKind::remove);

  EXPECT_FALSE(run(store_->change_message(removal(m, b_.id)))->changed);
  EXPECT_EQ(run(store_->change_message(edit(m, b_.id, "x"))).error().code, Errc::conflict);
  EXPECT_EQ(run(store_->change_message(reaction(m, c_.id, "❤"))).error().code, Errc::conflict);
  // A retried send finds the tombstone and writes nothing.
  NewMessage retry{group_.id, b_.id, "oops", "key-1", ""};
  auto found = run(store_->append_message(std::move(retry)));
  EXPECT_FALSE(found->created);
  EXPECT_TRUE(found->message.deleted);

  // In a 1:1 chat only the sender deletes.
  auto direct = send(direct_, b_, "mine");
  EXPECT_EQ(run(store_->change_message(removal(direct, a_.id))).error().code, Errc::forbidden);
  EXPECT_TRUE(run(store_->change_message(removal(direct, b_.id)))->changed);
}

TEST_P(RichMessages, ErasingTheSenderTakesTheKeyTheirDeletedMessagesKept) {
  auto m = send(group_, b_, "gone", std::nullopt, "key-2");
  ASSERT_TRUE(run(store_->change_message(removal(m, b_.id)))->changed);
  EXPECT_EQ(run(store_->find_message(group_.id, m.id))->client_msg_id, "key-2");
  ASSERT_TRUE(run(store_->erase_user(UserErasure{b_.id, "Deleted user", "p"})).ok());
  EXPECT_FALSE(run(store_->find_message(group_.id, m.id))->client_msg_id.has_value());
}

TEST_P(RichMessages, ReactionsGroupByEmojiInTheOrderUsed) {
  auto m = send(group_, a_, "vote");
  changes_.take();
  EXPECT_TRUE(run(store_->change_message(reaction(m, b_.id, "👍")))->changed);
  EXPECT_TRUE(run(store_->change_message(reaction(m, c_.id, "❤")))->changed);
  EXPECT_TRUE(run(store_->change_message(reaction(m, c_.id, "👍")))->changed);
  EXPECT_FALSE(run(store_->change_message(reaction(m, c_.id, "👍")))->changed);
  auto stored = run(store_->find_message(group_.id, m.id)).value();
  ASSERT_EQ(stored.reactions.size(), 2U);
  EXPECT_EQ(stored.reactions[0].emoji, "👍");
  EXPECT_EQ(stored.reactions[0].user_ids, (std::vector<std::string>{b_.id, c_.id}));
  EXPECT_EQ(stored.reactions[1].emoji, "❤");
  EXPECT_EQ(stored.rev, 3);

  auto reported = message_changes(changes_.take());
  ASSERT_EQ(reported.size(), 3U);
  EXPECT_EQ(reported[1].kind, MessageChangeKind::react);
  EXPECT_EQ(reported[1].user_id, c_.id);
  EXPECT_EQ(reported[1].emoji, "❤");

  // At most max_emojis different emojis; an existing one can still be added to.
  EXPECT_TRUE(run(store_->change_message(reaction(m, a_.id, "🎉")))->changed);
  EXPECT_EQ(run(store_->change_message(reaction(m, a_.id, "🚀"))).error().code, Errc::invalid_input);
  EXPECT_TRUE(run(store_->change_message(reaction(m, a_.id, "👍")))->changed);

  EXPECT_TRUE(run(store_->change_message(reaction(m, b_.id, "👍", false)))->changed);
  EXPECT_FALSE(run(store_->change_message(reaction(m, b_.id, "👍", false)))->changed);
  // Ben's was the first 👍: with it gone, ❤ is the oldest.
  stored = run(store_->find_message(group_.id, m.id)).value();
  ASSERT_EQ(stored.reactions.size(), 3U);
  EXPECT_EQ(stored.reactions[0].emoji, "❤");
  EXPECT_EQ(stored.reactions[1].emoji, "👍");
  EXPECT_EQ(stored.reactions[1].user_ids, (std::vector<std::string>{c_.id, a_.id}));
  auto page = run(store_->list_messages(HistoryQuery{group_.id, std::nullopt, std::nullopt, 10}));
  EXPECT_EQ(page->back().reactions.size(), 3U);
}

TEST_P(RichMessages, RepliesQuoteAMessageOfTheSameChatAsItIsNow) {
  const std::string long_text(250, 'x');
  auto original = send(group_, a_, long_text);
  auto reply = send(group_, b_, "yes", original.id);
  ASSERT_TRUE(reply.reply_to.has_value());
  EXPECT_EQ(reply.reply_to->id, original.id);
  EXPECT_EQ(reply.reply_to->seq, original.seq);
  EXPECT_EQ(reply.reply_to->sender_id, a_.id);
  EXPECT_EQ(reply.reply_to->sender_name, "Ann");
  EXPECT_EQ(reply.reply_to->content, std::string(200, 'x'));

  auto other = send(direct_, a_, "elsewhere");
  NewMessage wrong{group_.id, b_.id, "no", std::nullopt, "", other.id};
  EXPECT_EQ(run(store_->append_message(std::move(wrong))).error().code, Errc::invalid_input);
  EXPECT_EQ(run(store_->find_chat(group_.id))->last_seq, 2);  // nothing written

  run(store_->change_message(edit(original, a_.id, "short")));
  EXPECT_EQ(run(store_->find_message(group_.id, reply.id))->reply_to->content, "short");
  run(store_->change_message(removal(original, a_.id)));
  auto quote = run(store_->find_message(group_.id, reply.id))->reply_to;
  EXPECT_TRUE(quote->deleted);
  EXPECT_EQ(quote->content, "");
}

TEST_P(RichMessages, SyncHandsOutChangesByRevThenMessagesInOneSnapshot) {
  std::vector<Message> sent;
  for (int i = 1; i <= 5; ++i) sent.push_back(send(group_, a_, "m" + std::to_string(i)));
  run(store_->change_message(reaction(sent[2], b_.id, "👍")));  // rev 1: seq 3
  run(store_->change_message(edit(sent[1], a_.id, "two")));    // rev 2: seq 2
  run(store_->change_message(removal(sent[3], a_.id)));        // rev 3: seq 4

  auto page = run(store_->sync_chat(SyncQuery{group_.id, 3, 0, 10})).value();
  EXPECT_EQ(seqs(page.changes), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(page.changes[1].content, "two");
  EXPECT_EQ(seqs(page.messages), (std::vector<std::int64_t>{4, 5}));
  EXPECT_TRUE(page.messages[0].deleted);
  EXPECT_EQ(page.last_seq, 5);
  EXPECT_EQ(page.last_rev, 3);
  EXPECT_TRUE(page.changes_complete);

  // Changes that fill the limit leave the messages for the next call.
  page = run(store_->sync_chat(SyncQuery{group_.id, 3, 0, 1})).value();
  EXPECT_EQ(seqs(page.changes), (std::vector<std::int64_t>{3}));
  EXPECT_FALSE(page.changes_complete);
  EXPECT_TRUE(page.messages.empty());
  page = run(store_->sync_chat(SyncQuery{group_.id, 3, 1, 2})).value();
  EXPECT_EQ(seqs(page.changes), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(seqs(page.messages), (std::vector<std::int64_t>{4}));

  // Without a change cursor: messages only; past the last rev: nothing changed.
  page = run(store_->sync_chat(SyncQuery{group_.id, 3, std::nullopt, 10})).value();
  EXPECT_TRUE(page.changes.empty());
  page = run(store_->sync_chat(SyncQuery{group_.id, 5, 3, 10})).value();
  EXPECT_TRUE(page.changes.empty());
  EXPECT_TRUE(page.messages.empty());
  EXPECT_EQ(run(store_->sync_chat(SyncQuery{"000000000000000000000000", 0, 0, 10})).error().code,
            Errc::not_found);
}

TEST_P(RichMessages, ErasedMessagesAreChangesThatSyncHandsOut) {
  auto m1 = send(group_, b_, "one");
  send(group_, a_, "two");
  run(store_->change_message(reaction(m1, a_.id, "👍")));  // rev 1
  changes_.take();
  ASSERT_EQ(run(store_->erase_sent_messages(b_.id, 10)).value(), 1);
  EXPECT_EQ(run(store_->find_chat(group_.id))->last_rev, 2);
  auto page = run(store_->sync_chat(SyncQuery{group_.id, 2, 1, 10})).value();
  ASSERT_EQ(seqs(page.changes), (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(page.changes[0].deleted);
  EXPECT_TRUE(page.changes[0].reactions.empty());
}

}  // namespace chatd::store::conformance
