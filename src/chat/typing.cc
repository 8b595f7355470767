#include "chat/typing.h"

#include <algorithm>

namespace chatd::chat {

TypingTracker::TypingTracker(int burst, double per_second)
    : burst_(std::max(1, burst)), per_second_(per_second) {}

boost::asio::awaitable<bool> TypingTracker::allow(std::string user_id) {
  co_return allow_at(user_id, Clock::now());
}

bool TypingTracker::allow_at(const std::string& user_id, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (allowances_.size() >= kPruneAbove) forget_full_allowances(now);
  auto [it, fresh] = allowances_.try_emplace(user_id, Allowance{burst_, now});
  auto& allowance = it->second;
  if (!fresh) {
    const std::chrono::duration<double> elapsed = now - allowance.refilled;
    allowance.tokens = std::min(burst_, allowance.tokens + elapsed.count() * per_second_);
    allowance.refilled = now;
  }
  if (allowance.tokens < 1) return false;
  allowance.tokens -= 1;
  return true;
}

// A full allowance is the same as none: dropping it keeps the map as small as the set of users
// who typed lately.
void TypingTracker::forget_full_allowances(Clock::time_point now) {
  const auto refill = std::chrono::duration<double>(burst_ / per_second_);
  std::erase_if(allowances_,
                [&](const auto& entry) { return now - entry.second.refilled >= refill; });
}

boost::asio::awaitable<TypingStarted> TypingTracker::start(std::string chat_id,
                                                           std::string user_id) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = typing_.try_emplace(key(chat_id, user_id), 0);
  it->second = ++next_generation_;
  co_return TypingStarted{fresh, it->second};
}

boost::asio::awaitable<bool> TypingTracker::stop(std::string chat_id, std::string user_id) {
  std::lock_guard lock(mutex_);
  co_return typing_.erase(key(chat_id, user_id)) > 0;
}

boost::asio::awaitable<bool> TypingTracker::expire(std::string chat_id, std::string user_id,
                                                   std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  auto it = typing_.find(key(chat_id, user_id));
  if (it == typing_.end() || it->second != generation) co_return false;
  typing_.erase(it);
  co_return true;
}

}  // namespace chatd::chat
