#include "cluster/redis_presence.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cluster/keys.h"

// As everywhere: every co_await takes named variables (GCC 12 miscompiles temporaries there).
namespace chatd::cluster {

namespace {

// KEYS[1]: the user's presence hash (keys.h), KEYS[2]: the node's user set; ARGV[1]: the node,
// ARGV[2]: the user. Each script ends with whether another living node holds the user.
const std::string kOthersAlive = R"(
local function others_alive()
  for _, node in ipairs(redis.call('HKEYS', KEYS[1])) do
    if node ~= ARGV[1] and redis.call('EXISTS', 'chatd:alive:' .. node) == 1 then return 1 end
  end
  return 0
end
)";
const std::string kJoin = kOthersAlive + R"(
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[2])
return others_alive()
)";
const std::string kLeave = kOthersAlive + R"(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return others_alive()
)";
// KEYS: presence hashes; ARGV[1]: this node. One 0/1 per key: held by another living node.
const std::string kOnlineElsewhere = R"(
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = 0
  for _, node in ipairs(redis.call('HKEYS', key)) do
    if node ~= ARGV[1] and redis.call('EXISTS', 'chatd:alive:' .. node) == 1 then
      found[i] = 1
      break
    end
  end
end
return found
)";

}  // namespace

RedisPresence::RedisPresence(asio::any_io_executor loop, RedisConnection& redis,
                             std::string node_id, UserLost user_lost)
    : loop_(std::move(loop)),
      redis_(redis),
      node_id_(std::move(node_id)),
      user_lost_(std::move(user_lost)) {}

asio::awaitable<bool> RedisPresence::joined(std::string user_id) {
  auto task = change(kJoin, node_id_, std::move(user_id));
  co_return co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
}

asio::awaitable<bool> RedisPresence::left(std::string user_id) {
  auto task = change(kLeave, node_id_, std::move(user_id));
  co_return co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
}

asio::awaitable<std::set<std::string>> RedisPresence::online_elsewhere(
    std::vector<std::string> user_ids) {
  auto task = [](RedisConnection& redis, std::string node_id,
                 std::vector<std::string> user_ids) -> asio::awaitable<std::set<std::string>> {
    std::set<std::string> found;
    if (user_ids.empty()) co_return found;
    std::vector<std::string> args{"EVAL", kOnlineElsewhere, std::to_string(user_ids.size())};
    for (const auto& id : user_ids) args.push_back(keys::presence(id));
    args.push_back(std::move(node_id));
    auto reply = co_await redis.command(std::move(args));
    if (!reply || reply->type != RedisReply::Type::array) co_return found;
    for (std::size_t i = 0; i < reply->elements.size() && i < user_ids.size(); ++i) {
      if (reply->elements[i].integer == 1) found.insert(user_ids[i]);
    }
    co_return found;
  }(redis_, node_id_, std::move(user_ids));
  co_return co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
}

// True when another living node holds the user after the change. Redis down: false (this node
// answers for itself).
asio::awaitable<bool> RedisPresence::change(const std::string& script, std::string node_id,
                                            std::string user_id) {
  std::vector<std::string> args{
      "EVAL", script, "2", keys::presence(user_id), keys::node_users(node_id), node_id, user_id};
  auto reply = co_await redis_.command(std::move(args));
  if (!reply || reply->type != RedisReply::Type::integer) {
    spdlog::warn("cluster: presence of {} not shared: {}", user_id,
                 reply ? reply->text : reply.error().message);
    co_return false;
  }
  co_return reply->integer == 1;
}

asio::awaitable<bool> RedisPresence::alive(const std::string& node_id) {
  std::vector<std::string> args{"EXISTS", keys::alive(node_id)};
  auto reply = co_await redis_.command(std::move(args));
  // Unknown (Redis down) counts as alive: nobody is reaped on a guess.
  co_return !reply || reply->integer == 1;
}

asio::awaitable<void> RedisPresence::heartbeat(const std::vector<std::string>& nodes) {
  std::vector<std::string> refresh{"SET", keys::alive(node_id_), "1", "PX",
                                   std::to_string(std::chrono::milliseconds(kAliveTtl).count())};
  auto refreshed = co_await redis_.command(std::move(refresh));
  if (!refreshed) co_return;
  for (const auto& node : nodes) {
    if (node == node_id_) continue;
    const bool living = co_await alive(node);
    if (!living) co_await reap(node);
  }
}

// One node reaps a dead one (a claim with a TTL, in case the reaper dies too). Its users whom no
// other node holds are lost: the domain announces them offline.
asio::awaitable<void> RedisPresence::reap(std::string node_id) {
  std::vector<std::string> claim{"SET", keys::reaping(node_id), node_id_, "NX", "PX", "30000"};
  auto claimed = co_await redis_.command(std::move(claim));
  if (!claimed || claimed->type != RedisReply::Type::status) co_return;  // someone else reaps
  std::vector<std::string> members{"SMEMBERS", keys::node_users(node_id)};
  auto users = co_await redis_.command(std::move(members));
  if (users && users->type == RedisReply::Type::array) {
    if (!users->elements.empty()) {
      spdlog::info("cluster: node {} is gone; {} of its users reaped", node_id,
                   users->elements.size());
    }
    for (auto& user : users->elements) {
      auto user_id = user.text;
      const bool elsewhere = co_await change(kLeave, node_id, std::move(user_id));
      if (!elsewhere) user_lost_(user.text);
    }
  }
  std::vector<std::string> forget{"DEL", keys::node_users(node_id), keys::reaping(node_id)};
  co_await redis_.command(std::move(forget));
  if (node_id == node_id_) co_return;
  std::vector<std::string> unregister{"HDEL", std::string(keys::kNodes), node_id};
  co_await redis_.command(std::move(unregister));
}

}  // namespace chatd::cluster
