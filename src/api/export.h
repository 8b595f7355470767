#pragma once

#include "chat/privacy.h"
#include "net/http.h"

namespace chatd::api {

// The body of GET /api/user/me/export (API.md, "Privacy"): one JSON document
// {user, sessions, chats, receipts, attachments, messages, audit}, written a page of messages or
// audit events at a time, so that its size never sits in memory whole.
net::BodyStream export_body(chat::PrivacyService& privacy, chat::Caller caller,
                            chat::ExportHead head);

}  // namespace chatd::api
