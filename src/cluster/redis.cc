#include "cluster/redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <charconv>

namespace chatd::cluster {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2'000};

Error unavailable(std::string message) {
  return make_error(Errc::unavailable, std::move(message));
}

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

RedisReply convert(const redisReply& raw) {
  RedisReply reply;
  switch (raw.type) {
    case REDIS_REPLY_INTEGER:
      reply.type = RedisReply::Type::integer;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      reply.type = raw.type == REDIS_REPLY_STRING   ? RedisReply::Type::string
                   : raw.type == REDIS_REPLY_STATUS ? RedisReply::Type::status
                                                    : RedisReply::Type::error;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = RedisReply::Type::array;
      reply.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i)
        reply.elements.push_back(convert(*raw.element[i]));
      break;
    default:
      break;  // nil
  }
  return reply;
}

// hiredis keeps this as a command's private data until it calls back (with the reply, or with
// none when the connection goes): the handler itself may be gone by then (timed out).
struct ReplyToken {
  RedisConnection* connection;
  std::uint64_t id;
};

}  // namespace

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme() != "redis" || parsed->host().empty()) {
    return make_error(Errc::invalid_input, "expected redis://[:password@]host[:port][/database]");
  }
  RedisEndpoint endpoint;
  endpoint.host = parsed->host();
  if (parsed->has_port()) {
    auto port = parse_int(parsed->port());
    if (!port || *port < 1 || *port > 65535) return make_error(Errc::invalid_input, "bad port");
    endpoint.port = *port;
  }
  if (parsed->has_password()) endpoint.password = parsed->password();
  std::string_view path = parsed->encoded_path();
  if (!path.empty() && path != "/") {
    auto database = parse_int(path.substr(1));
    if (!database || *database < 0) return make_error(Errc::invalid_input, "bad database number");
    endpoint.database = *database;
  }
  return endpoint;
}

// What waits on a context's socket: hiredis asks for read or write interest through its hooks,
// and is called back when the socket is ready.
struct RedisConnection::Watch {
  Watch(const asio::any_io_executor& executor, int fd) : descriptor(executor, fd) {}
  asio::posix::stream_descriptor descriptor;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
};

RedisConnection::RedisConnection(asio::any_io_executor executor, RedisEndpoint endpoint,
                                 std::string name)
    : executor_(std::move(executor)),
      endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      reconnect_timer_(executor_),
      reply_timer_(executor_) {}

RedisConnection::~RedisConnection() {
  stopped_ = true;
  pending_.clear();
  channels_.clear();
  if (context_) redisAsyncFree(context_);  // calls back what is pending: nobody listens now
}

void RedisConnection::start(std::function<void()> on_up, std::function<void()> on_down) {
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  stopped_ = false;
  connect();
}

void RedisConnection::stop() {
  stopped_ = true;
  reconnect_timer_.cancel();
  reply_timer_.cancel();
  if (context_) redisAsyncDisconnect(context_);  // pending replies fail; the context goes
}

void RedisConnection::connect() {
  if (stopped_) return;
  context_ = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
  if (!context_ || context_->err) {
    spdlog::warn("redis {}: cannot connect to {}:{}: {}", name_, endpoint_.host, endpoint_.port,
                 context_ ? context_->errstr : "out of memory");
    if (context_) redisAsyncFree(context_);
    context_ = nullptr;
    schedule_reconnect();
    return;
  }
  ++generation_;
  watch_ = std::make_unique<Watch>(executor_, context_->c.fd);
  context_->data = this;
  context_->ev.data = this;
  context_->ev.addRead = [](void* self) {
    auto& c = *static_cast<RedisConnection*>(self);
    c.watch_->want_read = true;
    c.arm(true);
  };
  context_->ev.delRead = [](void* self) {
    static_cast<RedisConnection*>(self)->watch_->want_read = false;
  };
  context_->ev.addWrite = [](void* self) {
    auto& c = *static_cast<RedisConnection*>(self);
    c.watch_->want_write = true;
    c.arm(false);
  };
  context_->ev.delWrite = [](void* self) {
    static_cast<RedisConnection*>(self)->watch_->want_write = false;
  };
  // The context is being freed (hiredis closes the socket itself).
  context_->ev.cleanup = [](void* self) {
    auto& c = *static_cast<RedisConnection*>(self);
    if (c.watch_) {
      boost::system::error_code ignored;
      c.watch_->descriptor.cancel(ignored);
      c.watch_->descriptor.release();
      c.watch_.reset();
    }
    c.context_ = nullptr;
    ++c.generation_;
  };
  redisAsyncSetDisconnectCallback(context_, &RedisConnection::handle_disconnect);
  redisAsyncSetConnectCallback(context_, &RedisConnection::handle_connect);  // waits for writable
}

void RedisConnection::arm(bool read) {
  auto& armed = read ? watch_->read_armed : watch_->write_armed;
  if (armed) return;
  armed = true;
  watch_->descriptor.async_wait(
      read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write,
      [this, read, generation = generation_](const boost::system::error_code& ec) {
        if (ec || generation != generation_) return;
        on_ready_to(read, generation);
      });
}

void RedisConnection::on_ready_to(bool read, std::uint64_t generation) {
  (read ? watch_->read_armed : watch_->write_armed) = false;
  if (!(read ? watch_->want_read : watch_->want_write)) return;
  if (read) {
    redisAsyncHandleRead(context_);
  } else {
    redisAsyncHandleWrite(context_);
  }
  if (generation != generation_) return;  // the context went while handling
  if (read ? watch_->want_read : watch_->want_write) arm(read);
}

void RedisConnection::handle_connect(const redisAsyncContext* context, int status) {
  static_cast<RedisConnection*>(context->data)->on_connected(status == REDIS_OK);
}

void RedisConnection::handle_disconnect(const redisAsyncContext* context, int /*status*/) {
  static_cast<RedisConnection*>(context->data)->on_lost();
}

void RedisConnection::on_connected(bool ok) {
  if (!ok) {
    // hiredis frees the context right after this (without calling handle_disconnect).
    spdlog::warn("redis {}: cannot connect to {}:{}: {}", name_, endpoint_.host, endpoint_.port,
                 context_ && context_->errstr ? context_->errstr : "refused");
    on_lost();
    return;
  }
  authenticate_then_ready();
}

// AUTH and SELECT go first; replies come in order, so the connection is usable once the last of
// them answered well.
void RedisConnection::authenticate_then_ready() {
  std::vector<std::vector<std::string>> setup;
  if (!endpoint_.password.empty()) setup.push_back({"AUTH", endpoint_.password});
  if (endpoint_.database != 0) setup.push_back({"SELECT", std::to_string(endpoint_.database)});
  if (setup.empty()) {
    become_up();
    return;
  }
  auto remaining = std::make_shared<std::size_t>(setup.size());
  const auto generation = generation_;
  for (auto& args : setup) {
    auto handler = [this, remaining, generation](Result<RedisReply> reply) {
      if (generation != generation_) return;
      if (!reply || reply->type == RedisReply::Type::error) {
        spdlog::error("redis {}: setup refused: {}", name_,
                      reply ? reply->text : reply.error().message);
        drop_connection();
        return;
      }
      if (--*remaining == 0) become_up();
    };
    issue(args, std::move(handler));
  }
}

// A subscriber is up once Redis confirmed every subscription: a message published after on_up
// reaches it.
void RedisConnection::become_up() {
  unconfirmed_ = channels_.size();
  for (const auto& [channel, handler] : channels_) {
    const char* argv[] = {"SUBSCRIBE", channel.c_str()};
    const std::size_t lengths[] = {9, channel.size()};
    redisAsyncCommandArgv(context_, &RedisConnection::handle_message, this, 2, argv, lengths);
  }
  if (unconfirmed_ == 0) finish_up();
}

void RedisConnection::finish_up() {
  up_ = true;
  backoff_ = std::chrono::milliseconds{0};
  spdlog::info("redis {}: connected to {}:{}", name_, endpoint_.host, endpoint_.port);
  if (on_up_) on_up_();
}

void RedisConnection::on_lost() {
  const bool was_up = std::exchange(up_, false);
  if (was_up)
    spdlog::warn("redis {}: connection to {}:{} lost", name_, endpoint_.host, endpoint_.port);
  if (on_down_ && !stopped_) on_down_();
  schedule_reconnect();
}

void RedisConnection::schedule_reconnect() {
  if (stopped_) return;
  backoff_ = std::clamp(backoff_ * 2, kFirstBackoff, kMaxBackoff);
  reconnect_timer_.expires_after(backoff_);
  reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !context_) connect();
  });
}

void RedisConnection::drop_connection() {
  if (context_) redisAsyncDisconnect(context_);
}

void RedisConnection::send(const std::vector<std::string>& args, ReplyHandler handler) {
  if (!up_ || !context_) {
    asio::post(executor_,
               [handler = std::move(handler)] { handler(unavailable("Redis is not connected")); });
    return;
  }
  issue(args, std::move(handler));
}

void RedisConnection::issue(const std::vector<std::string>& args, ReplyHandler handler) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  const auto id = next_pending_++;
  pending_.emplace(id,
                   Pending{std::move(handler), std::chrono::steady_clock::now() + kReplyTimeout});
  redisAsyncCommandArgv(context_, &RedisConnection::handle_reply, new ReplyToken{this, id},
                        static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (pending_.size() == 1) expire_replies();
}

// Replies come in order: if the oldest is overdue, Redis stalls, and the connection is dropped
// (every pending handler then learns `unavailable`).
void RedisConnection::expire_replies() {
  if (pending_.empty()) return;
  reply_timer_.expires_at(pending_.begin()->second.deadline);
  reply_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || pending_.empty()) return;
    if (pending_.begin()->second.deadline <= std::chrono::steady_clock::now()) {
      spdlog::warn("redis {}: no reply within {} ms, reconnecting", name_, kReplyTimeout.count());
      drop_connection();
      return;
    }
    expire_replies();
  });
}

void RedisConnection::handle_reply(redisAsyncContext* /*context*/, void* reply, void* token) {
  std::unique_ptr<ReplyToken> owned(static_cast<ReplyToken*>(token));
  auto& self = *owned->connection;
  auto pending = self.pending_.find(owned->id);
  if (pending == self.pending_.end()) return;
  auto handler = std::move(pending->second.handler);
  self.pending_.erase(pending);
  if (!reply) {
    handler(unavailable("Redis connection lost"));
    return;
  }
  handler(convert(*static_cast<redisReply*>(reply)));
}

asio::awaitable<Result<RedisReply>> RedisConnection::command(std::vector<std::string> args) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<RedisReply>)>(
      [this](auto handler, const std::vector<std::string>& args) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        send(args, [shared](Result<RedisReply> reply) { (*shared)(std::move(reply)); });
      },
      asio::use_awaitable, std::move(args));
}

void RedisConnection::subscribe(std::string channel, MessageHandler on_message) {
  channels_.insert_or_assign(std::move(channel), std::move(on_message));
}

// Pushes on a subscribed connection: ["message", channel, payload], and the confirmations
// ["subscribe", channel, count], the last of which makes the connection up.
void RedisConnection::handle_message(redisAsyncContext* /*context*/, void* raw, void* self) {
  const auto* reply = static_cast<const redisReply*>(raw);
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
  const auto& kind = *reply->element[0];
  if (kind.type != REDIS_REPLY_STRING) return;
  const std::string_view type(kind.str, kind.len);
  auto& connection = *static_cast<RedisConnection*>(self);
  if (type == "subscribe" && connection.unconfirmed_ > 0) {
    if (--connection.unconfirmed_ == 0) connection.finish_up();
    return;
  }
  if (type != "message") return;
  const auto& channel = *reply->element[1];
  const auto& payload = *reply->element[2];
  auto handler = connection.channels_.find(std::string(channel.str, channel.len));
  if (handler == connection.channels_.end()) return;
  handler->second(std::string_view(payload.str, payload.len));
}

}  // namespace chatd::cluster
