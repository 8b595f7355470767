#include "chat/attachments.h"

#include <gtest/gtest.h>

#include <string>

#include "auth/url_signer.h"
#include "chat/attachment_links.h"
#include "util/clock.h"
#include "util/text.h"

namespace chatd::chat {
namespace {

TEST(CleanFileName, KeepsOnlyTheLastPathComponentWithoutControlCharacters) {
  EXPECT_EQ(clean_file_name("report.pdf"), "report.pdf");
  EXPECT_EQ(clean_file_name("../../etc/passwd"), "passwd");
  EXPECT_EQ(clean_file_name("C:\\Users\\ann\\photo.jpg"), "photo.jpg");
  EXPECT_EQ(clean_file_name("a\r\nb\x7f\tc.txt"), "abc.txt");
  EXPECT_EQ(clean_file_name("résumé (final).pdf"), "résumé (final).pdf");
  for (const auto* nothing : {"", "dir/", "..", ".", "\x01\x02"}) {
    EXPECT_EQ(clean_file_name(nothing), "file") << nothing;
  }
  EXPECT_EQ(clean_file_name("bad \xff\xfe utf-8"), "file");
}

TEST(CleanFileName, ALongNameIsCutToValidUtf8) {
  std::string long_name;
  for (int i = 0; i < 200; ++i) long_name += "é";  // 2 bytes each
  const auto clean = clean_file_name(long_name + "x");
  EXPECT_LE(clean.size(), 255U);
  EXPECT_GE(clean.size(), 254U);
  EXPECT_TRUE(text::is_valid_utf8(clean));
}

std::string query_value(const std::string& url, const std::string& name) {
  const auto at = url.find(name + "=");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 1;
  return url.substr(start, url.find('&', start) - start);
}

TEST(AttachmentLinks, SignAPartOfOneAttachmentUntilTheyExpire) {
  const AttachmentLinks links("secret", std::chrono::seconds(3600));
  store::Attachment a;
  a.id = "6b170224fe86b0c1b36a5022";
  a.thumbnail = store::AttachmentThumbnail{std::string(64, 'a'), "image/jpeg", 320, 240};
  const auto view = links.view(a);
  EXPECT_TRUE(view.url.starts_with("/api/attachment/6b170224fe86b0c1b36a5022?exp="));
  ASSERT_TRUE(view.thumbnail_url);
  EXPECT_TRUE(
      view.thumbnail_url->starts_with("/api/attachment/6b170224fe86b0c1b36a5022/thumbnail?exp="));
  const auto exp = query_value(view.url, "exp");
  const auto sig = query_value(view.url, "sig");
  EXPECT_TRUE(links.verify(a.id, AttachmentPart::content, exp, sig));
  EXPECT_FALSE(links.verify(a.id, AttachmentPart::thumbnail, exp, sig));
  EXPECT_FALSE(links.verify("6b170224fe86b0c1b36a5023", AttachmentPart::content, exp, sig));
  EXPECT_FALSE(links.verify(a.id, AttachmentPart::content, exp + "0", sig));
  EXPECT_FALSE(links.verify(a.id, AttachmentPart::content, "1", sig));
  EXPECT_FALSE(links.verify(a.id, AttachmentPart::content, "", sig));
  EXPECT_FALSE(links.verify(a.id, AttachmentPart::content, exp, ""));
  const AttachmentLinks other("another secret", std::chrono::seconds(3600));
  EXPECT_FALSE(other.verify(a.id, AttachmentPart::content, exp, sig));
  EXPECT_EQ(links.view(a).url, view.url);  // the same link within a period: caches keep working
}

TEST(AttachmentLinks, AnExpiredLinkIsRefusedEvenWithItsSignature) {
  const AttachmentLinks links("secret", std::chrono::seconds(3600));
  const std::string id = "6b170224fe86b0c1b36a5022";
  const auth::UrlSigner signer("secret");  // what the links sign: the path and its expiry
  auto signed_until = [&](std::int64_t at) {
    const auto exp = std::to_string(at);
    return std::pair{exp, signer.sign("/api/attachment/" + id + "?exp=" + exp)};
  };
  const auto now_s = clock::now_ms() / 1000;
  const auto [soon, soon_sig] = signed_until(now_s + 10);
  EXPECT_TRUE(links.verify(id, AttachmentPart::content, soon, soon_sig));
  const auto [past, past_sig] = signed_until(now_s - 10);
  EXPECT_FALSE(links.verify(id, AttachmentPart::content, past, past_sig));

  store::Attachment a;
  a.id = id;
  const auto exp = std::stoll(query_value(links.view(a).url, "exp"));
  EXPECT_GE(exp - now_s, 3600 - 1);
  EXPECT_LE(exp - now_s, 2 * 3600);
  EXPECT_FALSE(links.view(a).thumbnail_url);
}

}  // namespace
}  // namespace chatd::chat
