#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/result.h"

struct redisAsyncContext;

// A Redis connection for the cluster layer: hiredis's asynchronous API driven by an Asio event
// loop (hiredis ships adapters for libevent and libuv, not Asio). hiredis is not thread-safe: a
// connection lives on one single-threaded executor, and every call is made there.
namespace chatd::cluster {

namespace asio = boost::asio;

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH after connecting when set
  int database = 0;      // SELECT after connecting when not 0
};

// redis://[[user]:password@]host[:port][/database]; `invalid_input` for anything else.
Result<RedisEndpoint> parse_redis_url(std::string_view url);

struct RedisReply {
  enum class Type { nil, integer, string, array, status, error };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string text;  // of a string, status or error
  std::vector<RedisReply> elements;
};

class RedisConnection {
 public:
  using ReplyHandler = std::function<void(Result<RedisReply>)>;
  using MessageHandler = std::function<void(std::string_view message)>;

  RedisConnection(asio::any_io_executor executor, RedisEndpoint endpoint, std::string name);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  // Frees the connection; pending replies are dropped without their handlers being run.
  ~RedisConnection();

  // Connects, and after every loss reconnects (with a growing pause) until stop(). `on_up` runs
  // once each connection is usable (authenticated, database selected, channels subscribed);
  // `on_down` once per connection lost or attempt failed.
  void start(std::function<void()> on_up, std::function<void()> on_down);
  void stop();
  bool up() const { return up_; }

  // Sends a command. The handler gets the reply (a Redis error is a reply of type error), or
  // `unavailable` when not connected, when the connection is lost first, or when no reply came
  // within the timeout (the connection is then dropped: a Redis that stalls is treated as down).
  void send(const std::vector<std::string>& args, ReplyHandler handler);
  asio::awaitable<Result<RedisReply>> command(std::vector<std::string> args);

  // Turns this connection into a subscriber (it then takes no other command): each message
  // published on `channel` goes to `on_message`. Subscribed again after every reconnect.
  void subscribe(std::string channel, MessageHandler on_message);

  static constexpr std::chrono::milliseconds kReplyTimeout{2'000};

 private:
  struct Pending {
    ReplyHandler handler;
    std::chrono::steady_clock::time_point deadline;
  };
  struct Watch;

  void connect();
  void on_connected(bool ok);
  void on_lost();
  void authenticate_then_ready();
  void become_up();
  void finish_up();
  void schedule_reconnect();
  // Sends without checking that the connection is up (the setup commands come before).
  void issue(const std::vector<std::string>& args, ReplyHandler handler);
  void arm(bool read);
  void on_ready_to(bool read, std::uint64_t generation);
  void expire_replies();
  void drop_connection();

  static void handle_connect(const redisAsyncContext* context, int status);
  static void handle_disconnect(const redisAsyncContext* context, int status);
  static void handle_reply(redisAsyncContext* context, void* reply, void* pending);
  static void handle_message(redisAsyncContext* context, void* reply, void* self);

  asio::any_io_executor executor_;
  const RedisEndpoint endpoint_;
  const std::string name_;
  std::function<void()> on_up_;
  std::function<void()> on_down_;
  std::unordered_map<std::string, MessageHandler> channels_;

  redisAsyncContext* context_ = nullptr;
  std::unique_ptr<Watch> watch_;
  std::uint64_t generation_ = 0;  // moves with each context: late wake-ups of an old one are void
  bool up_ = false;
  std::size_t unconfirmed_ = 0;  // subscriptions sent and not yet confirmed
  bool stopped_ = true;
  std::chrono::milliseconds backoff_{0};
  asio::steady_timer reconnect_timer_;
  asio::steady_timer reply_timer_;
  std::uint64_t next_pending_ = 0;
  std::map<std::uint64_t, Pending> pending_;  // by id: the oldest first
};

}  // namespace chatd::cluster
