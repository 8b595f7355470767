#include "chat/attachment_links.h"

#include <algorithm>
#include <charconv>

#include "util/clock.h"

namespace chatd::chat {

namespace {

std::string_view part_path(AttachmentPart part) {
  return part == AttachmentPart::thumbnail ? "/thumbnail" : "";
}

std::optional<std::int64_t> parse_seconds(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

AttachmentLinks::AttachmentLinks(std::string_view secret, std::chrono::seconds lifetime)
    : signer_(secret), lifetime_s_(std::max<std::int64_t>(lifetime.count(), 1)) {}

std::string AttachmentLinks::link(std::string_view attachment_id, AttachmentPart part,
                                  std::int64_t expires) const {
  const auto path = "/api/attachment/" + std::string(attachment_id) + std::string(part_path(part));
  const auto signature = signer_.sign(path + "?exp=" + std::to_string(expires));
  return path + "?exp=" + std::to_string(expires) + "&sig=" + signature;
}

AttachmentView AttachmentLinks::view(store::Attachment attachment) const {
  const auto now_s = clock::now_ms() / 1000;
  const auto expires = (now_s / lifetime_s_ + 2) * lifetime_s_;
  AttachmentView view{std::move(attachment), {}, {}};
  view.url = link(view.attachment.id, AttachmentPart::content, expires);
  if (view.attachment.thumbnail) {
    view.thumbnail_url = link(view.attachment.id, AttachmentPart::thumbnail, expires);
  }
  return view;
}

bool AttachmentLinks::verify(std::string_view attachment_id, AttachmentPart part,
                             std::string_view expires, std::string_view signature) const {
  const auto at = parse_seconds(expires);
  if (!at || *at < clock::now_ms() / 1000) return false;
  const auto path = "/api/attachment/" + std::string(attachment_id) + std::string(part_path(part));
  return signer_.verify(path + "?exp=" + std::string(expires), signature);
}

std::vector<AttachmentView> attachment_views(const AttachmentLinks* links,
                                             const std::vector<store::Attachment>& attachments) {
  std::vector<AttachmentView> views;
  if (links == nullptr) return views;
  views.reserve(attachments.size());
  for (const auto& attachment : attachments) views.push_back(links->view(attachment));
  return views;
}

}  // namespace chatd::chat
