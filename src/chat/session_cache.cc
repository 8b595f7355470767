#include "chat/session_cache.h"

#include <functional>

namespace chatd::chat {

SessionCache::Shard& SessionCache::shard_of(const std::string& session_id) {
  return shards_[std::hash<std::string>{}(session_id) % kShards];
}

std::optional<SessionCache::Entry> SessionCache::find(const std::string& session_id) {
  auto& shard = shard_of(session_id);
  std::lock_guard lock(shard.mutex);
  auto it = shard.sessions.find(session_id);
  if (it == shard.sessions.end()) return std::nullopt;
  return it->second.entry;
}

void SessionCache::remember(const std::string& session_id, Entry entry,
                            std::uint64_t epoch_before_read) {
  auto& shard = shard_of(session_id);
  std::lock_guard lock(shard.mutex);
  // Compared under the shard's lock: revoke() moves the epoch under it too.
  if (!entry.revoked && epoch_.load(std::memory_order_acquire) != epoch_before_read) return;
  if (shard.sessions.size() >= kMaxPerShard) shard.sessions.clear();
  shard.sessions.try_emplace(session_id, Slot{std::move(entry), 0});
}

void SessionCache::revoke(const std::vector<std::string>& session_ids) {
  for (const auto& id : session_ids) {
    auto& shard = shard_of(id);
    std::lock_guard lock(shard.mutex);
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    auto it = shard.sessions.find(id);
    if (it != shard.sessions.end()) {
      it->second.entry.revoked = true;
      continue;
    }
    if (shard.sessions.size() >= kMaxPerShard) shard.sessions.clear();
    shard.sessions.emplace(id, Slot{Entry{{}, true}, 0});
  }
}

void SessionCache::update_user(const store::User& user) {
  // A store read racing this change may hold the user as they were: it is not cached (remember).
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  // Every shard: the cache is keyed by session, and profile changes are rare.
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [id, slot] : shard.sessions) {
      if (slot.entry.user.id == user.id) slot.entry.user = user;
    }
  }
}

void SessionCache::apply(const store::Commit& commit) {
  for (const auto& change : commit.changes) {
    if (const auto* revoked = std::get_if<store::SessionsRevoked>(&change)) {
      revoke(revoked->session_ids);
    } else if (const auto* changed = std::get_if<store::UserChanged>(&change)) {
      update_user(changed->user);
    }
  }
}

void RevocationTap::on_commit(store::Commit commit) {
  cache_.apply(commit);
  next_.on_commit(std::move(commit));
}

void SessionCache::note_use(const std::string& session_id, std::int64_t now_ms) {
  {
    auto& shard = shard_of(session_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.sessions.find(session_id);
    if (it == shard.sessions.end()) return;
    auto& last = it->second.last_use_noted;
    if (now_ms - last < kUseIntervalMs) return;
    last = now_ms;
  }
  std::lock_guard lock(uses_mutex_);
  uses_.push_back(store::SessionUse{session_id, now_ms});
}

std::vector<store::SessionUse> SessionCache::take_uses() {
  std::lock_guard lock(uses_mutex_);
  return std::exchange(uses_, {});
}

}  // namespace chatd::chat
