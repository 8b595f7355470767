// The conformance suite's search part (store.h, search_messages): what matches, for whom, in which
// order and page by page, and that every write of a message or of a sender's name keeps the index
// in step.
#include <string>
#include <vector>

#include "store/search_text.h"
#include "store/store_conformance.h"

namespace chatd::store::conformance {

namespace {

MessageSearch search_for(const User& user, std::string_view text, int limit = 20) {
  return MessageSearch{user.id, std::nullopt, parse_search(text), limit, std::nullopt};
}

std::vector<std::string> contents(const std::vector<SearchHit>& hits) {
  std::vector<std::string> found;
  for (const auto& hit : hits) found.push_back(hit.message.content);
  return found;
}

}  // namespace

TEST_P(RichMessages, SearchMatchesEveryWordIgnoringCaseAndAccents) {
  send(group_, a_, "Crème brûlée for dessert tonight");
  send(group_, b_, "dessert is cancelled");
  send(group_, c_, "nothing to see");
  using Contents = std::vector<std::string>;
  EXPECT_EQ(contents(run(store_->search_messages(search_for(b_, "CREME dessert"))).value()),
            Contents{"Crème brûlée for dessert tonight"});
  EXPECT_EQ(contents(run(store_->search_messages(search_for(b_, "brulee"))).value()),
            Contents{"Crème brûlée for dessert tonight"});
  EXPECT_EQ(run(store_->search_messages(search_for(b_, "dessert"))).value().size(), 2U);
  EXPECT_EQ(contents(run(store_->search_messages(search_for(b_, "cancel*"))).value()),
            Contents{"dessert is cancelled"});
  EXPECT_TRUE(run(store_->search_messages(search_for(b_, "cancel"))).value().empty());
  EXPECT_EQ(contents(run(store_->search_messages(search_for(b_, "\"dessert tonight\""))).value()),
            Contents{"Crème brûlée for dessert tonight"});
  EXPECT_TRUE(run(store_->search_messages(search_for(b_, "\"tonight dessert\""))).value().empty());
}

TEST_P(RichMessages, SearchSeesOnlyTheCallersChatsOrTheOneAsked) {
  send(group_, a_, "shared secret plan");
  send(direct_, a_, "private secret plan");
  auto other = run(store_->find_or_create_direct_chat(c_.id, a_.id)).value();
  send(other, c_, "another secret plan");

  EXPECT_EQ(run(store_->search_messages(search_for(a_, "secret"))).value().size(), 3U);
  EXPECT_EQ(run(store_->search_messages(search_for(b_, "secret"))).value().size(), 2U);
  const auto cat = run(store_->search_messages(search_for(c_, "secret"))).value();
  EXPECT_EQ(contents(cat).size(), 2U);
  for (const auto& hit : cat) EXPECT_NE(hit.message.chat_id, direct_.id);

  auto in_direct = search_for(a_, "secret");
  in_direct.chat_id = direct_.id;
  const auto direct_hits = run(store_->search_messages(in_direct)).value();
  ASSERT_EQ(direct_hits.size(), 1U);
  EXPECT_EQ(direct_hits[0].message.content, "private secret plan");
  EXPECT_EQ(direct_hits[0].chat_name, direct_.name);

  ASSERT_TRUE(run(store_->remove_member(group_.id, b_.id)).ok());
  EXPECT_EQ(run(store_->search_messages(search_for(b_, "secret"))).value().size(), 1U);
}

TEST_P(RichMessages, SearchFollowsEditsDeletionsAndErasure) {
  auto m = send(group_, b_, "meet at the harbour");
  auto gone = send(group_, c_, "harbour closed");
  MessageChange change{m.chat_id, m.id, b_.id, MessageChangeKind::edit, ChangeRight::sender};
  change.content = "meet at the station";
  ASSERT_TRUE(run(store_->change_message(change)).ok());
  MessageChange removal{gone.chat_id, gone.id, c_.id, MessageChangeKind::remove,
                        ChangeRight::sender_or_group_admin};
  ASSERT_TRUE(run(store_->change_message(removal)).ok());

  EXPECT_TRUE(run(store_->search_messages(search_for(a_, "harbour"))).value().empty());
  const auto station = run(store_->search_messages(search_for(a_, "station"))).value();
  ASSERT_EQ(station.size(), 1U);
  EXPECT_EQ(station[0].message.id, m.id);
  EXPECT_TRUE(station[0].message.edited_at.has_value());

  ASSERT_TRUE(run(store_->erase_user(UserErasure{b_.id, "Deleted user", "pic"})).ok());
  while (run(store_->erase_sent_messages(b_.id, 10)).value() > 0) {
  }
  EXPECT_TRUE(run(store_->search_messages(search_for(a_, "station"))).value().empty());
}

TEST_P(RichMessages, SearchMatchesTheSendersNameAsItIsNow) {
  send(group_, b_, "lunch?");
  send(group_, c_, "lunch!");
  auto by_ben = run(store_->search_messages(search_for(a_, "ben lunch"))).value();
  ASSERT_EQ(by_ben.size(), 1U);
  EXPECT_EQ(by_ben[0].message.sender_id, b_.id);

  ASSERT_TRUE(run(store_->update_profile(ProfileUpdate{b_.id, "Benedikt", std::nullopt})).ok());
  EXPECT_TRUE(run(store_->search_messages(search_for(a_, "ben lunch"))).value().empty());
  EXPECT_EQ(run(store_->search_messages(search_for(a_, "benedikt"))).value().size(), 1U);
}

TEST_P(RichMessages, SearchSnippetsMarkTheHits) {
  send(group_, a_, "the quick brown fox jumps over the lazy dog");
  const auto hits = run(store_->search_messages(search_for(b_, "fox lazy"))).value();
  ASSERT_EQ(hits.size(), 1U);
  const auto html = render_snippet(hits[0].marked_snippet);
  EXPECT_NE(html.find("<mark>fox</mark>"), std::string::npos) << html;
  EXPECT_NE(html.find("<mark>lazy</mark>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<mark>quick"), std::string::npos) << html;
}

TEST_P(RichMessages, SearchMarkersInContentNeverReachTheSnippetAsMarks) {
  send(group_, a_, "plain \x02word\x03 here");
  const auto hits = run(store_->search_messages(search_for(b_, "here"))).value();
  ASSERT_EQ(hits.size(), 1U);
  const auto html = render_snippet(hits[0].marked_snippet);
  EXPECT_EQ(html.find("<mark>word"), std::string::npos) << html;
  EXPECT_NE(html.find("<mark>here</mark>"), std::string::npos) << html;
}

TEST_P(RichMessages, SearchRanksThenPagesWithoutRepeatsOrGaps) {
  for (int i = 0; i < 7; ++i) send(group_, a_, "report " + std::to_string(i));
  send(group_, a_, "report report report weekly");
  auto first = search_for(b_, "report", 3);
  std::vector<std::string> seen;
  std::optional<SearchCursor> after;
  for (int page = 0; page < 10; ++page) {
    auto query = first;
    query.after = after;
    const auto hits = run(store_->search_messages(query)).value();
    if (page == 0) {
      ASSERT_FALSE(hits.empty());
      EXPECT_EQ(hits[0].message.content, "report report report weekly");  // most relevant
    }
    for (const auto& hit : hits) seen.push_back(hit.message.content);
    if (hits.size() < 3) break;
    after = hits.back().cursor;
  }
  ASSERT_EQ(seen.size(), 8U);
  // Equal relevance: newest first.
  for (std::size_t i = 1; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i], "report " + std::to_string(7 - i)) << i;
  }
}

TEST_P(RichMessages, HostileSearchTextIsOnlyText) {
  send(group_, a_, "NEAR OR AND NOT content col");
  for (const char* text :
       {"\"", "\"\"", "NEAR(", "a OR", "-content", "col:content", "*", "^x", "content)", "(content",
        "'", "\\", "a:*", "!content", "&|", "x<->y", "content\"*"}) {
    auto query = parse_search(text);
    if (query.empty()) continue;
    auto hits = run(store_->search_messages(
        MessageSearch{b_.id, std::nullopt, std::move(query), 20, std::nullopt}));
    EXPECT_TRUE(hits.ok()) << text;
  }
  EXPECT_EQ(run(store_->search_messages(search_for(b_, "near or"))).value().size(), 1U);
}

}  // namespace chatd::store::conformance
