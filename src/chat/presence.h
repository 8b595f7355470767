#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

// Who is connected right now, per user and kind of client. Shared by every network thread.
namespace chatd::chat {

// Classic clients speak the MERN events (`setup`, `message recieved`); native clients the native
// protocol (`message:new`, receipts). Classic clients never report delivery, so the server does it
// for them when it writes a message to one (API.md).
enum class ClientKind { native, classic };

class Presence {
 public:
  // A transition of a user between online and offline. `generation` orders transitions of one
  // user: only the latest may still be announced (see announce_if_latest).
  struct Transition {
    bool online = false;
    std::uint64_t generation = 0;
  };

  // Counts a client in; returns the transition when it is the user's first (they came online).
  std::optional<Transition> connect(const std::string& user_id, ClientKind kind);
  // Counts a client out; returns the transition when it was the user's last (they went offline).
  std::optional<Transition> disconnect(const std::string& user_id, ClientKind kind);
  // Runs `announce` (under the lock, so announcements of one user keep their order) only if no
  // later transition of the user happened meanwhile. `announce` must not block.
  void announce_if_latest(const std::string& user_id, std::uint64_t generation,
                          const std::function<void()>& announce);

  bool online(const std::string& user_id) const;
  // Those of `user_ids` who have a classic client connected, `except` left out.
  std::vector<std::string> with_classic_clients(const std::vector<std::string>& user_ids,
                                                const std::string& except) const;

 private:
  struct Clients {
    int native = 0;
    int classic = 0;
    std::uint64_t generation = 0;
  };

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Clients> users_;
  std::unordered_map<std::string, std::uint64_t> offline_generations_;
  std::uint64_t next_generation_ = 0;
};

}  // namespace chatd::chat
