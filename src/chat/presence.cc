#include "chat/presence.h"

namespace chatd::chat {

std::optional<Presence::Transition> Presence::connect(const std::string& user_id, ClientKind kind) {
  std::lock_guard lock(mutex_);
  auto& clients = users_[user_id];
  const bool was_offline = clients.native + clients.classic == 0;
  (kind == ClientKind::native ? clients.native : clients.classic)++;
  if (!was_offline) return std::nullopt;
  clients.generation = ++next_generation_;
  offline_generations_.erase(user_id);
  return Transition{true, clients.generation};
}

std::optional<Presence::Transition> Presence::disconnect(const std::string& user_id,
                                                         ClientKind kind) {
  std::lock_guard lock(mutex_);
  auto it = users_.find(user_id);
  if (it == users_.end()) return std::nullopt;
  auto& count = kind == ClientKind::native ? it->second.native : it->second.classic;
  if (count == 0) return std::nullopt;
  --count;
  if (it->second.native + it->second.classic > 0) return std::nullopt;
  users_.erase(it);
  // Kept until the offline announcement is made or superseded, so announce_if_latest can tell.
  const auto generation = ++next_generation_;
  offline_generations_[user_id] = generation;
  return Transition{false, generation};
}

void Presence::announce_if_latest(const std::string& user_id, std::uint64_t generation,
                                  const std::function<void()>& announce) {
  std::lock_guard lock(mutex_);
  if (auto online = users_.find(user_id); online != users_.end()) {
    if (online->second.generation == generation) announce();
    return;
  }
  auto offline = offline_generations_.find(user_id);
  if (offline == offline_generations_.end() || offline->second != generation) return;
  announce();
  offline_generations_.erase(offline);
}

bool Presence::online(const std::string& user_id) const {
  std::lock_guard lock(mutex_);
  return users_.count(user_id) > 0;
}

std::vector<std::string> Presence::with_classic_clients(const std::vector<std::string>& user_ids,
                                                        const std::string& except) const {
  std::vector<std::string> found;
  std::lock_guard lock(mutex_);
  for (const auto& id : user_ids) {
    if (id == except) continue;
    auto it = users_.find(id);
    if (it != users_.end() && it->second.classic > 0) found.push_back(id);
  }
  return found;
}

}  // namespace chatd::chat
