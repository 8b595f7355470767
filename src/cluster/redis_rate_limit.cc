#include "cluster/redis_rate_limit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <vector>

#include "cluster/keys.h"

// As everywhere: every co_await takes named variables (GCC 12 miscompiles temporaries there).
namespace chatd::cluster {

namespace {

// KEYS[1]: the key (keys::rate); ARGV[1]: the request's cost, ARGV[2]: the burst, both in
// microseconds of refill. The key holds the time (in microseconds of Redis's clock) its bucket is
// full again, and expires then. Returns {1, 0} when allowed, else {0, microseconds to wait}; a
// cost above the burst never passes, and waits for a full bucket. TIME before a write needs
// effects replication, the default since Redis 5 (Debian 12 ships 7.0).
const std::string kAcquire = R"(
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local increment = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1])) or now
if full_at < now then full_at = now end
if increment > limit then return {0, full_at - now} end
local next_full_at = full_at + increment
local allowed_at = next_full_at - limit
if allowed_at > now then return {0, allowed_at - now} end
redis.call('SET', KEYS[1], string.format('%.0f', next_full_at), 'PX',
           math.max(1, math.ceil((next_full_at - now) / 1000)))
return {1, 0}
)";

// A budget in microseconds, kept below about 3 years (and so exact in Lua's doubles).
std::string microseconds(double us) {
  return std::to_string(std::llround(std::clamp(us, 0.0, 1e14)));
}

}  // namespace

RedisRateLimiter::RedisRateLimiter(asio::any_io_executor loop, RedisConnection& redis,
                                   std::size_t max_local_keys)
    : loop_(std::move(loop)), redis_(redis), local_(max_local_keys) {}

asio::awaitable<util::RateDecision> RedisRateLimiter::acquire(std::string key, util::RateRule rule,
                                                              double cost) {
  if (!(rule.per_second > 0) || !(cost > 0)) co_return util::RateDecision{};
  auto task = decide(std::move(key), rule, cost);
  co_return co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
}

asio::awaitable<void> RedisRateLimiter::reset(std::string key) {
  auto task = [](RedisConnection& redis, std::string key) -> asio::awaitable<void> {
    std::vector<std::string> command{"DEL", keys::rate(key)};
    auto reply = co_await redis.command(std::move(command));
    if (!reply) spdlog::debug("cluster: rate limit {} not reset: {}", key, reply.error().message);
  }(redis_, key);
  co_await asio::co_spawn(loop_, std::move(task), asio::use_awaitable);
  local_.forget(key);
}

asio::awaitable<util::RateDecision> RedisRateLimiter::decide(std::string key, util::RateRule rule,
                                                             double cost) {
  const double interval_us = 1e6 / rule.per_second;
  const double burst = std::max(1.0, rule.burst);
  std::vector<std::string> args{microseconds(cost * interval_us),
                                microseconds(burst * interval_us)};
  auto reply = co_await run_script(keys::rate(key), std::move(args));
  if (reply && reply->type == RedisReply::Type::array && reply->elements.size() == 2 &&
      reply->elements[0].type == RedisReply::Type::integer &&
      reply->elements[1].type == RedisReply::Type::integer) {
    const std::chrono::microseconds wait(reply->elements[1].integer);
    co_return util::RateDecision{reply->elements[0].integer == 1,
                                 std::chrono::ceil<std::chrono::milliseconds>(wait)};
  }
  if (!reply) {
    spdlog::debug("cluster: rate limit decided locally: {}", reply.error().message);
  } else {
    spdlog::warn("cluster: rate limit decided locally, Redis answered: {}", reply->text);
  }
  co_return local_.try_acquire(key, rule, cost);
}

// EVALSHA saves sending the script each time; EVAL after NOSCRIPT (Redis restarted or its script
// cache flushed) caches it again under the same digest.
asio::awaitable<Result<RedisReply>> RedisRateLimiter::run_script(std::string key,
                                                                 std::vector<std::string> args) {
  if (script_sha_.empty()) {
    std::vector<std::string> load{"SCRIPT", "LOAD", kAcquire};
    auto loaded = co_await redis_.command(std::move(load));
    if (!loaded) co_return loaded;
    if (loaded->type == RedisReply::Type::string) script_sha_ = loaded->text;
  }
  if (!script_sha_.empty()) {
    std::vector<std::string> command{"EVALSHA", script_sha_, "1", key};
    command.insert(command.end(), args.begin(), args.end());
    auto reply = co_await redis_.command(std::move(command));
    if (!reply || reply->type != RedisReply::Type::error || !reply->text.starts_with("NOSCRIPT")) {
      co_return reply;
    }
  }
  std::vector<std::string> command{"EVAL", kAcquire, "1", std::move(key)};
  command.insert(command.end(), std::make_move_iterator(args.begin()),
                 std::make_move_iterator(args.end()));
  co_return co_await redis_.command(std::move(command));
}

}  // namespace chatd::cluster
