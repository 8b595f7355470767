#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/url_signer.h"
#include "store/store.h"

// The signed, expiring links that let a browser fetch an attachment without a token (API.md,
// "Rich messages": `url` and `thumbnailUrl` in message shapes, for <img src>).
namespace chatd::chat {

// Which bytes of an attachment a link or a download names.
enum class AttachmentPart { content, thumbnail };

// An attachment with the signed links that read it without a token (thumbnail_url: images).
struct AttachmentView {
  store::Attachment attachment;
  std::string url;
  std::optional<std::string> thumbnail_url;
};

// Signs and checks the links of attachments: "/api/attachment/<id>[/thumbnail]?exp=<s>&sig=<mac>".
// exp is rounded up to a whole lifetime, so the links of one attachment repeat for a while (a
// browser's cache keeps working) and stay valid for at least one lifetime.
class AttachmentLinks {
 public:
  AttachmentLinks(std::string_view secret, std::chrono::seconds lifetime);

  AttachmentView view(store::Attachment attachment) const;
  // Whether `signature` signs this part of the attachment until `expires` (unix seconds), which
  // has not passed.
  bool verify(std::string_view attachment_id, AttachmentPart part, std::string_view expires,
              std::string_view signature) const;

 private:
  std::string link(std::string_view attachment_id, AttachmentPart part, std::int64_t expires) const;

  auth::UrlSigner signer_;
  std::int64_t lifetime_s_;
};

// A message's attachments with their links (none when `links` is null: nothing to sign with).
std::vector<AttachmentView> attachment_views(const AttachmentLinks* links,
                                             const std::vector<store::Attachment>& attachments);

}  // namespace chatd::chat
