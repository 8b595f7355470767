// The conformance suite's attachment part (store.h, "Attachments"): who may read an upload, the
// links from messages (checked in the writing transaction, read back in order, gone with a
// tombstone), search by file name, and the collector's passes and queue.
#include <algorithm>
#include <variant>

#include "store/search_text.h"
#include "store/store_conformance.h"
#include "util/clock.h"
#include "util/object_id.h"

namespace chatd::store::conformance {

namespace {

std::string blob(char digit) {
  return std::string(64, digit);
}

Attachment upload_of(const User& uploader, std::string name, std::string sha256,
                     std::int64_t created_at = clock::now_ms()) {
  Attachment a;
  a.id = new_object_id();
  a.uploader_id = uploader.id;
  a.name = std::move(name);
  a.size = 1234;
  a.mime = "application/pdf";
  a.sha256 = std::move(sha256);
  a.created_at = created_at;
  return a;
}

std::vector<std::string> ids_of(const std::vector<Attachment>& attachments) {
  std::vector<std::string> ids;
  for (const auto& a : attachments) ids.push_back(a.id);
  return ids;
}

}  // namespace

Attachment Attachments::upload(const User& uploader, std::string name, char digit,
                               std::int64_t created_at) {
  auto a = upload_of(uploader, std::move(name), blob(digit), created_at);
  EXPECT_TRUE(run(store_->create_attachment(a)).ok());
  return a;
}

Result<AppendedMessage> Attachments::send_with(const Chat& chat, const User& from,
                                               std::vector<std::string> attachments) {
  NewMessage m{chat.id, from.id, "", std::nullopt, "", std::nullopt, std::move(attachments)};
  return run(store_->append_message(std::move(m)));
}

std::vector<std::string> Attachments::collect(std::int64_t uploaded_before) {
  return sorted(run(store_->collect_attachments({uploaded_before, 100})).value());
}

TEST_P(Attachments, AnUploadIsReadableByItsUploaderAndTheMembersOfAChatThatCarriesIt) {
  auto image = upload_of(a_, "photo.jpg", blob('1'));
  image.mime = "image/jpeg";
  image.width = 4000;
  image.height = 3000;
  image.thumbnail = AttachmentThumbnail{blob('2'), "image/jpeg", 320, 240};
  ASSERT_TRUE(run(store_->create_attachment(image)).ok());

  const auto mine = run(store_->find_attachment(image.id, a_.id)).value();
  EXPECT_EQ(mine.name, "photo.jpg");
  EXPECT_EQ(mine.size, 1234U);
  EXPECT_EQ(mine.width, 4000);
  ASSERT_TRUE(mine.thumbnail);
  EXPECT_EQ(mine.thumbnail->sha256, blob('2'));
  EXPECT_EQ(mine.thumbnail->height, 240);
  EXPECT_EQ(run(store_->find_attachment(image.id, b_.id)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->find_attachment(image.id, std::nullopt)).ok());  // a signed link
  EXPECT_EQ(run(store_->find_attachment("nope", a_.id)).error().code, Errc::not_found);

  ASSERT_TRUE(send_with(direct_, a_, {image.id}).ok());
  EXPECT_TRUE(run(store_->find_attachment(image.id, b_.id)).ok());
  EXPECT_EQ(run(store_->find_attachment(image.id, c_.id)).error().code, Errc::not_found);
}

TEST_P(Attachments, AMessageCarriesItsAttachmentsInOrderEverywhereItIsRead) {
  const auto first = upload(a_, "b-second-name.pdf", '1');
  const auto second = upload(a_, "a-first-name.pdf", '2');
  changes_.take();
  auto sent = send_with(group_, a_, {first.id, second.id});
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(ids_of(sent->message.attachments), (std::vector{first.id, second.id}));
  const auto reported = changes_.take();
  ASSERT_EQ(reported.size(), 1U);
  const auto& appended = std::get<MessageAppended>(reported[0]);
  EXPECT_EQ(ids_of(appended.message.attachments), (std::vector{first.id, second.id}));
  EXPECT_EQ(appended.message.attachments[0].name, "b-second-name.pdf");

  const auto page = run(store_->list_messages({group_.id, std::nullopt, std::nullopt, 50})).value();
  ASSERT_EQ(page.size(), 1U);
  EXPECT_EQ(ids_of(page[0].attachments), (std::vector{first.id, second.id}));
  const auto found = run(store_->find_message(group_.id, sent->message.id)).value();
  EXPECT_EQ(ids_of(found.attachments), (std::vector{first.id, second.id}));
  const auto plain = send(group_, b_, "no files");
  EXPECT_TRUE(plain.attachments.empty());
}

TEST_P(Attachments, OnlyTheSendersOwnDistinctUploadsCanBeAttachedAndNothingIsWrittenElse) {
  const auto mine = upload(a_, "mine.pdf", '1');
  const auto theirs = upload(b_, "theirs.pdf", '2');
  std::vector<std::string> eleven;
  for (int i = 0; i < kMaxMessageAttachments + 1; ++i) {
    eleven.push_back(upload(a_, "f" + std::to_string(i), '3').id);
  }
  changes_.take();
  for (const auto& list : std::vector<std::vector<std::string>>{
           {theirs.id}, {mine.id, mine.id}, {"no-such-upload"}, eleven}) {
    auto refused = send_with(group_, a_, list);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, Errc::invalid_input);
  }
  EXPECT_TRUE(changes_.take().empty());
  EXPECT_EQ(run(store_->find_chat(group_.id)).value().last_seq, 0);
  eleven.pop_back();
  EXPECT_TRUE(send_with(group_, a_, eleven).ok());
}

TEST_P(Attachments, ATombstoneCarriesNothingAndTheMembersLoseAccess) {
  const auto file = upload(a_, "report.pdf", '1');
  auto sent = send_with(direct_, a_, {file.id}).value().message;
  MessageChange removal{direct_.id, sent.id, a_.id, MessageChangeKind::remove,
                        ChangeRight::sender_or_group_admin};
  const auto removed = run(store_->change_message(removal)).value();
  EXPECT_TRUE(removed.message.attachments.empty());
  EXPECT_EQ(run(store_->find_attachment(file.id, b_.id)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->find_attachment(file.id, a_.id)).ok());
  const auto page =
      run(store_->list_messages({direct_.id, std::nullopt, std::nullopt, 50})).value();
  ASSERT_EQ(page.size(), 1U);
  EXPECT_TRUE(page[0].attachments.empty());
}

TEST_P(Attachments, SearchFindsAMessageByTheNamesOfItsAttachments) {
  const auto file = upload(a_, "quarterly-zanzibar.pdf", '1');
  auto sent = send_with(group_, a_, {file.id}).value().message;
  const MessageSearch search{b_.id, std::nullopt, parse_search("zanzibar"), 20, std::nullopt};
  const auto hits = run(store_->search_messages(search)).value();
  ASSERT_EQ(hits.size(), 1U);
  EXPECT_EQ(hits[0].message.id, sent.id);
  EXPECT_EQ(ids_of(hits[0].message.attachments), std::vector{file.id});
  MessageChange edit{group_.id, sent.id, a_.id, MessageChangeKind::edit, ChangeRight::sender};
  edit.content = "now with words";
  ASSERT_TRUE(run(store_->change_message(edit)).ok());
  EXPECT_EQ(run(store_->search_messages(search)).value().size(), 1U);  // the name stays indexed
  MessageChange removal{group_.id, sent.id, a_.id, MessageChangeKind::remove,
                        ChangeRight::sender_or_group_admin};
  ASSERT_TRUE(run(store_->change_message(removal)).ok());
  EXPECT_TRUE(run(store_->search_messages(search)).value().empty());
}

TEST_P(Attachments, TheCollectorDeletesOldUnsentUploadsAndQueuesBlobsNoRowRefersTo) {
  const auto old = clock::now_ms() - 10'000;
  const auto unsent = upload(a_, "unsent.pdf", '1', old);
  const auto shared_a = upload(a_, "same-bytes.pdf", '2', old);
  const auto shared_b = upload(b_, "same-bytes-again.pdf", '2');  // new: kept
  const auto sent = upload(a_, "sent.pdf", '3', old);
  const auto fresh = upload(a_, "fresh.pdf", '4');
  ASSERT_TRUE(send_with(group_, a_, {sent.id}).ok());

  EXPECT_EQ(collect(old + 1), std::vector{blob('1')});  // blob 2 is still shared_b's
  EXPECT_EQ(run(store_->find_attachment(unsent.id, a_.id)).error().code, Errc::not_found);
  EXPECT_EQ(run(store_->find_attachment(shared_a.id, a_.id)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->find_attachment(shared_b.id, b_.id)).ok());
  EXPECT_TRUE(run(store_->find_attachment(sent.id, a_.id)).ok());
  EXPECT_TRUE(run(store_->find_attachment(fresh.id, a_.id)).ok());
  EXPECT_FALSE(run(store_->blob_in_use(blob('1'))).value());
  EXPECT_TRUE(run(store_->blob_in_use(blob('2'))).value());

  EXPECT_EQ(collect(old + 1), std::vector{blob('1')});  // queued until forgotten
  ASSERT_TRUE(run(store_->forget_blobs({blob('1')})).ok());
  EXPECT_TRUE(collect(old + 1).empty());
}

TEST_P(Attachments, AnErasedUsersUploadsAreCollectedWhateverTheirAge) {
  const auto file = upload(a_, "mine.pdf", '1');
  ASSERT_TRUE(send_with(group_, a_, {file.id}).ok());
  ASSERT_TRUE(run(store_->erase_user(UserErasure{a_.id, "Deleted user", "default.png"})).ok());
  while (run(store_->erase_sent_messages(a_.id, 100)).value() > 0) {
  }
  EXPECT_EQ(collect(0), std::vector{blob('1')});
  EXPECT_EQ(run(store_->find_attachment(file.id, std::nullopt)).error().code, Errc::not_found);
  EXPECT_TRUE(run(store_->list_uploads({a_.id, 0, "", 10})).value().empty());
}

TEST_P(Attachments, UploadsArePagedOldestFirst) {
  const auto now = clock::now_ms();
  const auto first = upload(a_, "1.pdf", '1', now - 3);
  const auto second = upload(a_, "2.pdf", '2', now - 2);
  const auto third = upload(a_, "3.pdf", '3', now - 1);
  upload(b_, "other.pdf", '4');
  const auto page = run(store_->list_uploads({a_.id, 0, "", 2})).value();
  EXPECT_EQ(ids_of(page), (std::vector{first.id, second.id}));
  const auto rest =
      run(store_->list_uploads({a_.id, page.back().created_at, page.back().id, 2})).value();
  EXPECT_EQ(ids_of(rest), std::vector{third.id});
}

}  // namespace chatd::store::conformance
