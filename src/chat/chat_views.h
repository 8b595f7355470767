#pragma once

#include <boost/asio/awaitable.hpp>
#include <vector>

#include "chat/views.h"
#include "store/store.h"
#include "util/result.h"

// Joins stored chats with the users they name (members, the group's admin, the latest message's
// sender), as the REST shapes and `chat:updated` need them. Shared by ChatService and Sequencer.
namespace chatd::chat {

boost::asio::awaitable<Result<ChatView>> load_view(store::Store& store, store::Chat chat);
// One user lookup for all of them.
boost::asio::awaitable<Result<std::vector<ChatView>>> load_views(store::Store& store,
                                                                 std::vector<store::Chat> chats);

}  // namespace chatd::chat
