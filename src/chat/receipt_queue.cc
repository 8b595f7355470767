#include "chat/receipt_queue.h"

#include <algorithm>

namespace chatd::chat {

bool ReceiptQueue::join(const std::string& chat_id, const std::string& user_id,
                        std::int64_t delivered_seq, std::int64_t read_seq, Waiter waiter) {
  std::lock_guard lock(mutex_);
  auto [it, first] = pending_.try_emplace(key(chat_id, user_id));
  auto& round = it->second;
  round.delivered_seq = std::max(round.delivered_seq, delivered_seq);
  round.read_seq = std::max(round.read_seq, read_seq);
  round.waiters.push_back(std::move(waiter));
  return first;
}

ReceiptQueue::Round ReceiptQueue::take(const std::string& chat_id, const std::string& user_id) {
  std::lock_guard lock(mutex_);
  return std::exchange(pending_[key(chat_id, user_id)], Round{});
}

bool ReceiptQueue::finish_round(const std::string& chat_id, const std::string& user_id) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(key(chat_id, user_id));
  if (it == pending_.end()) return true;
  if (!it->second.waiters.empty()) return false;
  pending_.erase(it);
  return true;
}

}  // namespace chatd::chat
