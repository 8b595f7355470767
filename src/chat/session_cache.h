#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.h"

namespace chatd::chat {

// What this node knows of the sessions that access tokens name, so that checking a token costs no
// store round trip (issue 11: "checking it must not add a store round trip to every request").
//
// The store is the truth; the cache only ever lags it by the time a revocation takes to reach
// this node's change feed (on_commit of this node's or, in a cluster, another node's commit),
// where revoke() marks the sessions revoked before anything else hears of the commit. A session
// missing from the cache is read from the store and remembered, unless a revocation was applied
// while it was being read (`epoch`): that read may predate the revocation, so it is used for the
// one request only. Forgetting entries is therefore always safe (the store answers again), which
// is how memory stays bounded.
//
// Thread-safe: network threads look sessions up, the change feed revokes. Sharded so that threads
// rarely wait on one another.
class SessionCache {
 public:
  struct Entry {
    store::User user;
    bool revoked = false;
  };

  // At most this many sessions per shard; a full shard is emptied (the store answers again).
  static constexpr std::size_t kMaxPerShard = 16'384;
  // How often a session's use is written to the store at most (lastUsedAt's precision).
  static constexpr std::int64_t kUseIntervalMs = 60'000;

  std::optional<Entry> find(const std::string& session_id);
  // Stamps a revocation or a user change moves; read it before reading a session from the store.
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // Remembers a session read from the store when `epoch_before_read` is still current.
  void remember(const std::string& session_id, Entry entry, std::uint64_t epoch_before_read);
  // Marks sessions revoked (inserting them if unknown), at once for every later find().
  void revoke(const std::vector<std::string>& session_ids);
  // Gives the sessions of the user the user as changed (a profile update, an erasure).
  void update_user(const store::User& user);
  // revoke() for every SessionsRevoked change of a commit, update_user() for every UserChanged.
  void apply(const store::Commit& commit);

  // Notes an authenticated request of a session at `now_ms`; uses are written in batches.
  void note_use(const std::string& session_id, std::int64_t now_ms);
  // The uses noted since the last call, at most one per session per kUseIntervalMs.
  std::vector<store::SessionUse> take_uses();

 private:
  struct Slot {
    Entry entry;
    std::int64_t last_use_noted = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Slot> sessions;
  };
  static constexpr std::size_t kShards = 16;

  Shard& shard_of(const std::string& session_id);

  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> epoch_{0};
  std::mutex uses_mutex_;
  std::vector<store::SessionUse> uses_;
};

// Passes a store's commits on to `next` after applying them to `cache`: where the
// commits reach the Sequencer only later (a cluster's feed orders them by log position), a logout
// still answers only once its node refuses the session.
class RevocationTap final : public store::ChangeListener {
 public:
  RevocationTap(SessionCache& cache, store::ChangeListener& next) : cache_(cache), next_(next) {}
  void on_commit(store::Commit commit) override;

 private:
  SessionCache& cache_;
  store::ChangeListener& next_;
};

}  // namespace chatd::chat
