#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "util/result.h"

// Merges the delivered/read reports of one member of one chat while a write of that member's
// cursors is in flight, so that a burst of reports costs a few writes and a few receipt events,
// not one of each per report. Shared by every network thread.
namespace chatd::chat {

class ReceiptQueue {
 public:
  using Waiter = std::function<void(Result<store::Member>)>;

  struct Round {
    std::int64_t delivered_seq = 0;
    std::int64_t read_seq = 0;
    std::vector<Waiter> waiters;  // to complete with the outcome of this round's write
  };

  // Adds a report. Returns true when no write of this member's cursors is in flight: the caller
  // must then run the rounds (take, write, finish_round) until finish_round says done.
  bool join(const std::string& chat_id, const std::string& user_id, std::int64_t delivered_seq,
            std::int64_t read_seq, Waiter waiter);
  // Everything reported since the last round, merged.
  Round take(const std::string& chat_id, const std::string& user_id);
  // True when nothing arrived during the round's write (the member has no write in flight now);
  // false when another round is due.
  bool finish_round(const std::string& chat_id, const std::string& user_id);

 private:
  static std::string key(const std::string& chat_id, const std::string& user_id) {
    return chat_id + '/' + user_id;
  }

  std::mutex mutex_;
  std::unordered_map<std::string, Round> pending_;  // present while a write is in flight
};

}  // namespace chatd::chat
