#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <stdexcept>

#include "cluster/keys.h"
#include "util/async.h"
#include "util/json.h"

namespace chatd::chat {
// Typing and presence travel between nodes as JSON objects keyed by these members.
BOOST_DESCRIBE_STRUCT(TypingEvent, (), (chat_id, member_ids, user_id, typing, changed))
BOOST_DESCRIBE_STRUCT(PresenceEvent, (), (contact_ids, user_id, online, last_seen))
}  // namespace chatd::chat

namespace chatd::cluster {

namespace {

constexpr std::chrono::seconds kRefreshInterval{2};
constexpr std::chrono::seconds kSettleWait{3};

// "<node id>\n<event as JSON>": the node id lets a node skip what it published itself.
template <class Event>
std::string encode_event(std::string_view node_id, const Event& event) {
  std::string message(node_id);
  message += '\n';
  message += boost::json::serialize(boost::json::value_from(event));
  return message;
}

template <class Event>
std::optional<Event> decode_event(std::string_view node_id, std::string_view message) {
  const auto newline = message.find('\n');
  if (newline == std::string_view::npos || message.substr(0, newline) == node_id) {
    return std::nullopt;
  }
  auto parsed = json::parse(message.substr(newline + 1));
  if (!parsed) return std::nullopt;
  auto event = boost::json::try_value_to<Event>(*parsed);
  if (!event) return std::nullopt;
  return std::move(*event);
}

}  // namespace

// Passes committed events through (every node's sequencer makes its own from the commit feed) and
// hands typing and presence to the local sink and to the other nodes.
class ClusterNode::Relay final : public chat::EventSink {
 public:
  Relay(ClusterNode& node, chat::EventSink& local) : node_(node), local_(local) {}

  void on_committed(const std::vector<chat::CommittedEvent>& events) override {
    local_.on_committed(events);
  }
  void on_typing(const chat::TypingEvent& event) override {
    local_.on_typing(event);
    publish(keys::kTyping, encode_event(node_.options_.node_id, event));
  }
  void on_presence(const chat::PresenceEvent& event) override {
    local_.on_presence(event);
    publish(keys::kPresence, encode_event(node_.options_.node_id, event));
  }
  std::size_t backlog() const override { return local_.backlog(); }

  chat::EventSink& local() { return local_; }

 private:
  // From any network thread: hiredis lives on the cluster loop. What is not published (Redis
  // down) is lost: typing and presence are moments, not history.
  void publish(std::string_view channel, std::string message) {
    asio::post(node_.loop_.executor(), [this, channel, message = std::move(message)]() mutable {
      if (!node_.commands_.up()) return;
      node_.commands_.send({"PUBLISH", std::string(channel), std::move(message)},
                           [](const Result<RedisReply>&) {});
    });
  }

  ClusterNode& node_;
  chat::EventSink& local_;
};

ClusterNode::ClusterNode(ClusterOptions options, store::Store& store, store::ChangeLog& log,
                         chat::ChatService& chats, chat::EventSink& sockets,
                         CommitFeed::HistoryLost history_lost)
    : options_(std::move(options)),
      chats_(chats),
      commands_(loop_.executor(), options_.redis, "commands"),
      subscriber_(loop_.executor(), options_.redis, "subscriber"),
      feed_(std::make_unique<CommitFeed>(loop_.executor(), log, commands_, options_.node_id,
                                         chats.committed_changes(), std::move(history_lost),
                                         options_.feed)),
      relay_(std::make_unique<Relay>(*this, sockets)),
      presence_(loop_.executor(), commands_, options_.node_id,
                [this](std::string user_id) {
                  asio::co_spawn(loop_.executor(), chats_.user_lost(std::move(user_id)),
                                 log_if_failed("cluster: presence"));
                }),
      typing_(loop_.executor(), commands_, options_.limits.typing_burst,
              options_.limits.typing_per_second,
              std::chrono::milliseconds(options_.limits.typing_expiry_ms)),
      rate_limits_(loop_.executor(), commands_),
      revocations_(chats.sessions(), *feed_) {
  store.set_change_listener(&revocations_);
  chats.set_events(*relay_);
  chats.set_presence_directory(presence_);
  chats.set_typing_state(typing_);
  chats.set_rate_limiter(rate_limits_);
}

ClusterNode::~ClusterNode() {
  stop();
  loop_.stop();  // before the connections go: nothing of theirs may run after
}

void ClusterNode::start() {
  auto started = asio::co_spawn(loop_.executor(), start_on_loop(), asio::use_future);
  auto status = started.get();
  if (!status) throw std::runtime_error("cluster: " + status.error().message);
  if (settled_.get_future().wait_for(kSettleWait) != std::future_status::ready) {
    spdlog::warn(
        "cluster: Redis not reachable yet; serving, presence and fan-out follow when it is");
  }
}

asio::awaitable<Status> ClusterNode::start_on_loop() {
  auto status = co_await feed_->start();
  if (!status) co_return status;
  subscriber_.subscribe(std::string(keys::kCommits),
                        [this](std::string_view message) { feed_->on_published(message); });
  subscriber_.subscribe(std::string(keys::kTyping),
                        [this](std::string_view message) { on_typing_published(message); });
  subscriber_.subscribe(std::string(keys::kPresence),
                        [this](std::string_view message) { on_presence_published(message); });
  subscriber_.subscribe(std::string(keys::kNodesJoined),
                        [this](std::string_view message) { on_node_joined(message); });
  subscriber_.start([this] { feed_->on_subscribed(); }, [] {});
  commands_.start([this] { on_redis_up(); }, [this] { redis_up_ = false; });
  asio::co_spawn(loop_.executor(), refresh_periodically(), log_if_failed("cluster: registry"));
  co_return Status{};
}

void ClusterNode::on_redis_up() {
  if (std::exchange(was_up_, true)) {
    redis_up_ = true;
    asio::co_spawn(loop_.executor(), refresh(), log_if_failed("cluster: registry"));
    return;
  }
  asio::co_spawn(loop_.executor(), first_time_up(), log_if_failed("cluster: start"));
}

// A previous run under this node id may have been killed with users counted online here. Ready
// (/readyz) only once registered: the load balancer must not send a client here before the other
// nodes can find this node's sessions.
asio::awaitable<void> ClusterNode::first_time_up() {
  auto self = options_.node_id;
  co_await presence_.reap(std::move(self));
  co_await refresh();
  std::vector<std::string> announce{"PUBLISH", std::string(keys::kNodesJoined),
                                    options_.node_id + " " + options_.advertise_address};
  co_await commands_.command(std::move(announce));
  redis_up_ = true;
  settled_.set_value();
}

void ClusterNode::stop() {
  if (stopped_.exchange(true)) return;
  asio::post(loop_.executor(), [this] {
    feed_->stop();
    commands_.stop();
    subscriber_.stop();
  });
}

// "<node id> <host:port>": a node that registered tells the others at once, so that a request for
// one of its first sessions is not refused while their registry waits for its next refresh.
void ClusterNode::on_node_joined(std::string_view message) {
  const auto space = message.find(' ');
  if (space == std::string_view::npos) return;
  std::lock_guard lock(nodes_mutex_);
  nodes_.insert_or_assign(std::string(message.substr(0, space)),
                          std::string(message.substr(space + 1)));
}

void ClusterNode::on_typing_published(std::string_view message) {
  auto event = decode_event<chat::TypingEvent>(options_.node_id, message);
  if (event) relay_->local().on_typing(*event);
}

void ClusterNode::on_presence_published(std::string_view message) {
  auto event = decode_event<chat::PresenceEvent>(options_.node_id, message);
  if (event) relay_->local().on_presence(*event);
}

asio::awaitable<void> ClusterNode::refresh_periodically() {
  asio::steady_timer timer(loop_.executor());
  while (!stopped_) {
    timer.expires_after(kRefreshInterval);
    co_await timer.async_wait(asio::use_awaitable);
    if (commands_.up() && !stopped_) co_await refresh();
  }
}

// Writes this node's address and liveness, reads everyone's addresses, and reaps nodes that died:
// a node that joins is reachable for forwarding, and one that died is offline, within seconds.
// As everywhere: every co_await takes named variables (GCC 12 miscompiles temporaries there).
asio::awaitable<void> ClusterNode::refresh() {
  std::vector<std::string> write{"HSET", std::string(keys::kNodes), options_.node_id,
                                 options_.advertise_address};
  auto written = co_await commands_.command(std::move(write));
  if (!written) {
    spdlog::warn("cluster: node registry not refreshed: {}", written.error().message);
    co_return;
  }

  std::vector<std::string> read{"HGETALL", std::string(keys::kNodes)};
  auto all = co_await commands_.command(std::move(read));
  if (!all || all->type != RedisReply::Type::array) co_return;
  std::map<std::string, std::string, std::less<>> nodes;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i + 1 < all->elements.size(); i += 2) {
    ids.push_back(all->elements[i].text);
    nodes.emplace(std::move(all->elements[i].text), std::move(all->elements[i + 1].text));
  }
  {
    std::lock_guard lock(nodes_mutex_);
    nodes_.swap(nodes);
  }
  co_await presence_.heartbeat(ids);
}

std::optional<std::string> ClusterNode::locate(std::string_view node_id) const {
  std::lock_guard lock(nodes_mutex_);
  auto found = nodes_.find(node_id);
  if (found == nodes_.end()) return std::nullopt;
  return found->second;
}

}  // namespace chatd::cluster
