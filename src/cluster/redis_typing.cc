#include "cluster/redis_typing.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cluster/keys.h"

// As everywhere: every co_await takes named variables (GCC 12 miscompiles temporaries there).
namespace chatd::cluster {

namespace {

// KEYS[1]: the user's allowance; ARGV: burst, per second. 1 when a token was taken. Redis's clock
// is every node's clock here.
const std::string kAllow = R"(
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
)";
// KEYS[1]: the chat/user typing key, KEYS[2]: the generation counter; ARGV[1]: its TTL in ms.
// The new generation, negated when the user was typing already (no change to announce).
const std::string kStart = R"(
local generation = redis.call('INCR', KEYS[2])
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], generation, 'PX', ARGV[1])
if previous then return -generation end
return generation
)";
// KEYS[1]: the typing key. 1 when it existed.
const std::string kStop = "return redis.call('DEL', KEYS[1])";
// KEYS[1]: the typing key; ARGV[1]: the generation whose expiry this is.
const std::string kExpire = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)";

}  // namespace

RedisTyping::RedisTyping(asio::any_io_executor loop, RedisConnection& redis, int burst,
                         double per_second, std::chrono::milliseconds expiry)
    : loop_(std::move(loop)),
      redis_(redis),
      burst_(std::max(1, burst)),
      per_second_(per_second),
      expiry_(expiry) {}

asio::awaitable<bool> RedisTyping::allow(std::string user_id) {
  std::vector<std::string> keys{keys::typing_allowance(user_id)};
  std::vector<std::string> args{std::to_string(burst_), std::to_string(per_second_)};
  co_return co_await eval(kAllow, std::move(keys), std::move(args), 1) == 1;
}

asio::awaitable<chat::TypingStarted> RedisTyping::start(std::string chat_id, std::string user_id) {
  // The key outlives the expiry timer a little: if the timer's node dies, it still ends.
  const auto ttl = expiry_ + std::chrono::seconds(1);
  std::vector<std::string> keys{keys::typing(chat_id, user_id),
                                std::string(keys::kTypingGeneration)};
  std::vector<std::string> args{std::to_string(ttl.count())};
  const auto generation = co_await eval(kStart, std::move(keys), std::move(args), 0);
  if (generation == 0) co_return chat::TypingStarted{true, 0};
  co_return chat::TypingStarted{generation > 0, static_cast<std::uint64_t>(std::abs(generation))};
}

asio::awaitable<bool> RedisTyping::stop(std::string chat_id, std::string user_id) {
  std::vector<std::string> keys{keys::typing(chat_id, user_id)};
  std::vector<std::string> no_args;
  co_return co_await eval(kStop, std::move(keys), std::move(no_args), 1) == 1;
}

asio::awaitable<bool> RedisTyping::expire(std::string chat_id, std::string user_id,
                                          std::uint64_t generation) {
  std::vector<std::string> keys{keys::typing(chat_id, user_id)};
  std::vector<std::string> args{std::to_string(generation)};
  // Generation 0: the start was not recorded (Redis was down); end it as the node saw it.
  const std::int64_t fallback = 1;
  co_return co_await eval(kExpire, std::move(keys), std::move(args), fallback) == 1;
}

asio::awaitable<std::int64_t> RedisTyping::eval(const std::string& script,
                                                std::vector<std::string> keys,
                                                std::vector<std::string> args,
                                                std::int64_t fallback) {
  auto task = [](RedisConnection& redis, const std::string& script, std::vector<std::string> keys,
                 std::vector<std::string> args,
                 std::int64_t fallback) -> asio::awaitable<std::int64_t> {
    std::vector<std::string> command{"EVAL", script, std::to_string(keys.size())};
    for (auto& k : keys) command.push_back(std::move(k));
    for (auto& a : args) command.push_back(std::move(a));
    auto reply = co_await redis.command(std::move(command));
    if (!reply || reply->type != RedisReply::Type::integer) {
      spdlog::debug("cluster: typing state not shared: {}",
                    reply ? reply->text : reply.error().message);
      co_return fallback;
    }
    co_return reply->integer;
  }(redis_, script, std::move(keys), std::move(args), fallback);
  co_return co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
}

}  // namespace chatd::cluster
