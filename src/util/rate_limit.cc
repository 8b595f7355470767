#include "util/rate_limit.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace chatd::util {

namespace {

using Clock = LocalRateLimiter::Clock;
using TimePoint = LocalRateLimiter::TimePoint;

// A budget is never longer than this (about 3 years): keeps time arithmetic far from overflow
// whatever the rule.
constexpr double kMaxSpanNs = 1e17;
// A shard is swept after this many calls at least (more when it holds more keys).
constexpr std::size_t kSweepEvery = 1024;

Clock::duration span(double nanoseconds) {
  return Clock::duration(static_cast<Clock::rep>(std::llround(std::min(nanoseconds, kMaxSpanNs))));
}

// A shard's key with its hash, computed once per call (for the shard and the bucket alike).
struct StoredKey {
  std::uint64_t hash;
  std::string key;
};
struct KeyView {
  std::uint64_t hash;
  std::string_view key;
};
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(const StoredKey& k) const noexcept { return k.hash; }
  std::size_t operator()(const KeyView& k) const noexcept { return k.hash; }
};
struct KeyEqual {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return a.hash == b.hash && std::string_view(a.key) == std::string_view(b.key);
  }
};

}  // namespace

struct alignas(64) LocalRateLimiter::Shard {
  std::mutex mutex;
  // Key -> the time its bucket is full again (GCRA's theoretical arrival time).
  std::unordered_map<StoredKey, TimePoint, KeyHash, KeyEqual> full_at;
  std::size_t calls_since_sweep = 0;
  // No key of the shard is full before this time, so a sweep before it would find nothing. It may
  // be early (a key's time moved later since), never late.
  TimePoint first_full = TimePoint::max();

  void sweep(TimePoint now) {
    calls_since_sweep = 0;
    first_full = TimePoint::max();
    for (auto it = full_at.begin(); it != full_at.end();) {
      if (it->second <= now) {
        it = full_at.erase(it);
      } else {
        first_full = std::min(first_full, it->second);
        ++it;
      }
    }
  }
};

LocalRateLimiter::LocalRateLimiter(std::size_t max_keys)
    : max_per_shard_(std::max<std::size_t>(1, max_keys / kShards)),
      shards_(std::make_unique<Shard[]>(kShards)) {
  static_assert(sizeof hash_key_ == crypto_shorthash_KEYBYTES);
  if (sodium_init() < 0) std::abort();
  crypto_shorthash_keygen(hash_key_.data());
}

LocalRateLimiter::~LocalRateLimiter() = default;

LocalRateLimiter::Shard& LocalRateLimiter::shard_of(std::string_view key, std::uint64_t& hash) {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   hash_key_.data());
  std::memcpy(&hash, out, sizeof hash);
  // The top bits pick the shard; the map's buckets use the hash modulo a prime.
  return shards_[hash >> 60];
}

RateDecision LocalRateLimiter::try_acquire(std::string_view key, RateRule rule, double cost,
                                           TimePoint now) {
  static_assert(kShards == 16, "shard_of takes the top 4 bits of the hash");
  if (!(rule.per_second > 0) || !(cost > 0)) return {};
  const double burst = std::max(1.0, rule.burst);
  const double interval_ns = 1e9 / rule.per_second;
  const auto increment = span(cost * interval_ns);
  const auto limit = span(burst * interval_ns);

  std::uint64_t hash = 0;
  Shard& shard = shard_of(key, hash);
  const KeyView view{hash, key};
  std::lock_guard lock(shard.mutex);
  ++shard.calls_since_sweep;
  if (shard.calls_since_sweep >= std::max(kSweepEvery, shard.full_at.size()) &&
      now >= shard.first_full) {
    shard.sweep(now);
  }

  auto it = shard.full_at.find(view);
  const TimePoint full_at = it == shard.full_at.end() ? now : std::max(it->second, now);
  if (cost > burst) {
    // Never fits: the closest thing to an answer is when the bucket is as full as it gets.
    return {false, std::chrono::ceil<std::chrono::milliseconds>(full_at - now)};
  }
  const TimePoint next_full_at = full_at + increment;
  const TimePoint allowed_at = next_full_at - limit;
  if (allowed_at > now) {
    return {false, std::chrono::ceil<std::chrono::milliseconds>(allowed_at - now)};
  }
  if (it != shard.full_at.end()) {
    it->second = next_full_at;
    return {};
  }
  if (shard.full_at.size() >= max_per_shard_) {
    // At the cap, sweep at most once per 1/16 of the cap's calls, so a flood of new keys costs
    // amortized O(1) per call too.
    if (now >= shard.first_full &&
        shard.calls_since_sweep >= std::max<std::size_t>(64, max_per_shard_ / 16)) {
      shard.sweep(now);
    }
    if (shard.full_at.size() >= max_per_shard_) return {};  // allowed, unrecorded (see the header)
  }
  shard.full_at.emplace(StoredKey{hash, std::string(key)}, next_full_at);
  shard.first_full = std::min(shard.first_full, next_full_at);
  return {};
}

void LocalRateLimiter::forget(std::string_view key) {
  std::uint64_t hash = 0;
  Shard& shard = shard_of(key, hash);
  const KeyView view{hash, key};
  std::lock_guard lock(shard.mutex);
  if (auto it = shard.full_at.find(view); it != shard.full_at.end()) shard.full_at.erase(it);
}

std::size_t LocalRateLimiter::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].full_at.size();
  }
  return total;
}

boost::asio::awaitable<RateDecision> LocalRateLimiter::acquire(std::string key, RateRule rule,
                                                               double cost) {
  co_return try_acquire(key, rule, cost);
}

boost::asio::awaitable<void> LocalRateLimiter::reset(std::string key) {
  forget(key);
  co_return;
}

Error rate_limited(const RateDecision& decision, std::string message) {
  Error error = make_error(Errc::rate_limited, std::move(message));
  error.retry_after_s = std::max<std::int64_t>(1, (decision.retry_after.count() + 999) / 1000);
  return error;
}

Result<RateRule> parse_rate_rule(std::string_view text) {
  const auto bad = [&] {
    return make_error(Errc::invalid_input,
                      "a rate must be COUNT/PERIOD (e.g. 20/min, 10/10min) "
                      "or off, not \"" +
                          std::string(text) + "\"");
  };
  if (text == "off") return RateRule{0, 1};
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  double count = 0;
  const auto* first = text.data();
  auto [count_end, count_ec] = std::from_chars(first, first + slash, count);
  if (count_ec != std::errc{} || count_end != first + slash || !(count >= 1)) return bad();
  auto period = text.substr(slash + 1);
  double amount = 1;
  auto [amount_end, amount_ec] =
      std::from_chars(period.data(), period.data() + period.size(), amount);
  if (amount_ec == std::errc{}) {
    period.remove_prefix(static_cast<std::size_t>(amount_end - period.data()));
  }
  double unit = 0;
  if (period == "s") unit = 1;
  if (period == "min") unit = 60;
  if (period == "h") unit = 3600;
  if (period == "d") unit = 86400;
  if (unit == 0 || !(amount > 0)) return bad();
  return RateRule{count / (amount * unit), count};
}

std::string format_rate_rule(const RateRule& rule) {
  if (!(rule.per_second > 0)) return "off";
  return fmt::format("{:g}/{:g}s", rule.burst, rule.burst / rule.per_second);
}

}  // namespace chatd::util
