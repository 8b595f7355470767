#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

// Rate limits as GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per
// key: the "theoretical arrival time" at which the bucket would be full again). A rule lets
// `burst` requests through at once and refills at `per_second`; a request of cost c takes c tokens.
namespace chatd::util {

struct RateRule {
  double per_second = 0;  // <= 0 (or NaN): unlimited
  double burst = 1;       // below 1 counts as 1
};

// A rule as configuration writes it: "COUNT/PERIOD", e.g. "20/min" (a burst of 20, refilled at 20
// a minute) or "10/10min" (10 at once, then one a minute); PERIOD is a number (1 if absent) and a
// unit: s, min, h or d. "off" is unlimited. `invalid_input` for anything else.
Result<RateRule> parse_rate_rule(std::string_view text);
// The rule written back in that form.
std::string format_rate_rule(const RateRule& rule);

struct RateDecision {
  bool allowed = true;
  // How long until this same request would be allowed (rounded up to the next millisecond, so a
  // retry after it succeeds if nothing else spent the budget meanwhile); 0 when allowed. A cost
  // above the burst is never allowed: retry_after is then the time until the bucket is full.
  std::chrono::milliseconds retry_after{0};
};

// The error of a refused decision: `rate_limited`, with the wait in whole seconds (at least 1) for
// the wire's Retry-After.
Error rate_limited(const RateDecision& decision,
                   std::string message = "Too many requests, try again later");

// Asynchronous because the cluster's implementation asks Redis (cluster/redis_rate_limit.h).
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Takes `cost` from `key`'s budget under `rule`, or refuses and takes nothing. Resumes on the
  // caller's executor. The same key must always be used with the same rule.
  virtual boost::asio::awaitable<RateDecision> acquire(std::string key, RateRule rule,
                                                       double cost = 1) = 0;
  // Gives `key` its full budget again (after a successful login: forgets the failed attempts).
  virtual boost::asio::awaitable<void> reset(std::string key) = 0;
};

// The limiter of one process, for per-socket and per-IP checks on hot paths (try_acquire is
// synchronous) and the fallback of the cluster's limiter.
//
// Concurrency: network threads call it at once, so the keys are spread over kShards maps, each
// under its own mutex, chosen by a keyed hash (SipHash with a random key: callers' keys hold
// client input such as emails and addresses, which must not be able to pile into one shard or one
// hash bucket). Two threads contend only when their keys land in the same shard.
//
// Memory: a key whose bucket is full again holds no information (it is the same as an absent
// key), so a sweep removes such keys; it runs opportunistically in the calling thread, after as
// many calls to a shard as the shard has keys (amortized O(1) per call), and when the shard is at
// its cap. Each shard holds at most max_keys / kShards keys. When a shard is at its cap and no key
// in it is full yet, a NEW key is allowed without being recorded (known keys are still limited):
// the alternatives are refusing every new client (a flood of addresses would lock everyone out)
// or evicting a live key (which allows that key anyway). The cap is a memory bound, sized far
// above the number of clients expected within one refill period.
class LocalRateLimiter final : public RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  static constexpr std::size_t kShards = 16;
  // About 100 bytes each: ~26 MB at the cap.
  static constexpr std::size_t kDefaultMaxKeys = std::size_t{1} << 18;

  explicit LocalRateLimiter(std::size_t max_keys = kDefaultMaxKeys);
  LocalRateLimiter(const LocalRateLimiter&) = delete;
  LocalRateLimiter& operator=(const LocalRateLimiter&) = delete;
  ~LocalRateLimiter() override;

  // Runs try_acquire on the calling thread: no suspension.
  boost::asio::awaitable<RateDecision> acquire(std::string key, RateRule rule,
                                               double cost = 1) override;
  boost::asio::awaitable<void> reset(std::string key) override;

  // Thread-safe. `now` is injectable for tests; a cost <= 0 is allowed and takes nothing.
  RateDecision try_acquire(std::string_view key, RateRule rule, double cost = 1,
                           TimePoint now = Clock::now());
  // Thread-safe: the synchronous reset.
  void forget(std::string_view key);
  // The number of keys held (takes every shard's lock: for tests and metrics).
  std::size_t size() const;

 private:
  struct Shard;

  Shard& shard_of(std::string_view key, std::uint64_t& hash);

  std::array<unsigned char, 16> hash_key_{};  // SipHash key, random per process
  const std::size_t max_per_shard_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace chatd::util
