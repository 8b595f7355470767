#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <string>
#include <vector>

#include "cluster/redis.h"
#include "util/rate_limit.h"

// Rate limits that all nodes share: the same GCRA as util::LocalRateLimiter, each decision one Lua
// script in Redis (keys.h: `chatd:rate:<key>`), timed by Redis's clock so that nodes whose clocks
// disagree still share one budget. Each key expires when its bucket is full again, so Redis holds
// only the keys in use.
//
// Redis down (or answering with an error): each node decides with its own LocalRateLimiter, on the
// same keys and rules. A Redis outage thus neither refuses everyone nor lets everything through:
// every limit still holds per node (N nodes allow up to N times the budget until Redis is back).
namespace chatd::cluster {

class RedisRateLimiter final : public util::RateLimiter {
 public:
  // `loop`: the single-threaded executor `redis` lives on (the cluster's loop).
  RedisRateLimiter(asio::any_io_executor loop, RedisConnection& redis,
                   std::size_t max_local_keys = util::LocalRateLimiter::kDefaultMaxKeys);

  // Callable from any thread; resumes on the caller's executor.
  asio::awaitable<util::RateDecision> acquire(std::string key, util::RateRule rule,
                                              double cost = 1) override;
  // Deletes the key in Redis and forgets it locally.
  asio::awaitable<void> reset(std::string key) override;

  // The fallback, for tests.
  util::LocalRateLimiter& local() { return local_; }

 private:
  // On `loop_`: Redis's decision, or the local one when Redis cannot answer.
  asio::awaitable<util::RateDecision> decide(std::string key, util::RateRule rule, double cost);
  asio::awaitable<Result<RedisReply>> run_script(std::string key, std::vector<std::string> args);

  asio::any_io_executor loop_;
  RedisConnection& redis_;
  util::LocalRateLimiter local_;
  std::string script_sha_;  // of the script once Redis has it; touched on `loop_` only
};

}  // namespace chatd::cluster
