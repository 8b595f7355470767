#pragma once

#include <boost/asio/awaitable.hpp>

#include "chat/accounts.h"
#include "chat/attachments.h"
#include "net/http.h"
#include "net/router.h"

namespace chatd::api {

// The attachment routes (API.md, "Rich messages"): POST /api/attachment (the body streamed to the
// domain as it arrives, raw or multipart/form-data), and GET or HEAD /api/attachment/:id and
// /api/attachment/:id/thumbnail (by Bearer token, or by a signed link) with ETag and one byte
// range.
class AttachmentApi {
 public:
  AttachmentApi(chat::AccountService& accounts, chat::AttachmentService& attachments);

  void register_routes(net::Router& router);

 private:
  using Response = boost::asio::awaitable<net::HttpResponse>;

  Response upload(net::Request& request);
  Response download(net::Request& request, chat::AttachmentPart part);
  // Who is reading: the token's user, or nobody when the link's signature holds (not_found when
  // neither).
  boost::asio::awaitable<Result<std::optional<std::string>>> reader(const net::Request& request,
                                                                    chat::AttachmentPart part);

  chat::AccountService& accounts_;
  chat::AttachmentService& attachments_;
};

}  // namespace chatd::api
