#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

// Who is typing in which chat, and how often each user may say so. Typing is never stored: it is
// announced, and ends by itself when not refreshed.
namespace chatd::chat {

struct TypingStarted {
  bool changed = false;          // the user was not typing in the chat: announce it
  std::uint64_t generation = 0;  // identifies this report for expire()
};

// The typing state: this node's (TypingTracker), or every node's (cluster/redis_typing.h). Each
// user may report typing `burst` times in a row, then `per_second` times a second.
class TypingState {
 public:
  virtual ~TypingState() = default;
  // Takes one report from the user's allowance; false when it is used up (rate limited).
  virtual boost::asio::awaitable<bool> allow(std::string user_id) = 0;
  virtual boost::asio::awaitable<TypingStarted> start(std::string chat_id, std::string user_id) = 0;
  // True when the user was typing in the chat (announce that they stopped).
  virtual boost::asio::awaitable<bool> stop(std::string chat_id, std::string user_id) = 0;
  // Ends the typing that report `generation` started, unless a later report refreshed or ended it;
  // true when it ended it (announce that they stopped).
  virtual boost::asio::awaitable<bool> expire(std::string chat_id, std::string user_id,
                                              std::uint64_t generation) = 0;
};

// One node's typing state, shared by its network threads.
class TypingTracker final : public TypingState {
 public:
  using Clock = std::chrono::steady_clock;

  TypingTracker(int burst, double per_second);

  boost::asio::awaitable<bool> allow(std::string user_id) override;
  boost::asio::awaitable<TypingStarted> start(std::string chat_id, std::string user_id) override;
  boost::asio::awaitable<bool> stop(std::string chat_id, std::string user_id) override;
  boost::asio::awaitable<bool> expire(std::string chat_id, std::string user_id,
                                      std::uint64_t generation) override;

  // allow() at a given time.
  bool allow_at(const std::string& user_id, Clock::time_point now);

 private:
  struct Allowance {
    double tokens = 0;
    Clock::time_point refilled;
  };

  static constexpr std::size_t kPruneAbove = 10'000;

  void forget_full_allowances(Clock::time_point now);
  static std::string key(const std::string& chat_id, const std::string& user_id) {
    return chat_id + '/' + user_id;
  }

  const double burst_;
  const double per_second_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> typing_;  // chat/user -> latest report
  std::unordered_map<std::string, Allowance> allowances_;
  std::uint64_t next_generation_ = 0;
};

}  // namespace chatd::chat
