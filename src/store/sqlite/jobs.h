#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>

#include "store/sqlite/connection.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/workers.h"

// How SqliteStore's calls become jobs for its reader and writer threads, and how their results get
// back to the awaiting coroutine. Shared by the files that implement SqliteStore's calls.
namespace chatd::store::sqlite {

namespace detail {

// Holds the coroutine's completion handler and keeps its event loop alive until the result is
// posted back to it.
template <class T, class Handler>
class Completion {
 public:
  explicit Completion(Handler handler)
      : handler_(std::move(handler)),
        guard_(asio::make_work_guard(asio::get_associated_executor(handler_))) {}

  void complete(Result<T> result) {
    auto executor = guard_.get_executor();
    asio::post(executor,
               [handler = std::move(handler_), guard = std::move(guard_),
                result = std::move(result)]() mutable { std::move(handler)(std::move(result)); });
  }

 private:
  Handler handler_;
  asio::executor_work_guard<asio::associated_executor_t<Handler>> guard_;
};

inline Error internal_error() {
  return make_error(Errc::internal, "Internal server error");
}

// SQL failures end here: logged in full, reported as a bare internal error.
template <class T, class Fn, class... Args>
Result<T> run_guarded(Fn& fn, Args&... args) {
  try {
    return fn(args...);
  } catch (const std::exception& e) {
    spdlog::error("store: {}", e.what());
    return internal_error();
  }
}

template <class T, class Fn, class Handler>
class ReadJobImpl final : public ReadJob {
 public:
  ReadJobImpl(Fn fn, Handler handler) : fn_(std::move(fn)), completion_(std::move(handler)) {}
  void run(Connection& connection) override {
    completion_.complete(run_guarded<T>(fn_, connection));
  }
  void abandon() override { completion_.complete(internal_error()); }

 private:
  Fn fn_;
  Completion<T, Handler> completion_;
};

template <class T, class Fn, class Handler>
class WriteJobImpl final : public WriteJob {
 public:
  WriteJobImpl(Fn fn, Handler handler, WriteMode mode)
      : fn_(std::move(fn)), completion_(std::move(handler)), mode_(mode) {}
  // A write that clients must hear of takes the batch's changes as a second argument.
  bool execute(Connection& connection, std::vector<Change>& changes) override {
    if constexpr (std::is_invocable_v<Fn&, Connection&, std::vector<Change>&>) {
      result_.emplace(run_guarded<T>(fn_, connection, changes));
    } else {
      result_.emplace(run_guarded<T>(fn_, connection));
    }
    return result_->ok();
  }
  void finish(bool committed) override {
    if (!result_ || !committed) result_.emplace(internal_error());
    completion_.complete(std::move(*result_));
  }
  bool outside_transaction() const override { return mode_ == WriteMode::alone; }

 private:
  Fn fn_;
  Completion<T, Handler> completion_;
  std::optional<Result<T>> result_;
  WriteMode mode_;
};

}  // namespace detail

template <class T, class Fn>
asio::awaitable<Result<T>> SqliteStore::read(Fn fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<T>)>(
      [this](auto handler, Fn fn) {
        using Job = detail::ReadJobImpl<T, Fn, decltype(handler)>;
        readers_->submit(std::make_unique<Job>(std::move(fn), std::move(handler)));
      },
      asio::use_awaitable, std::move(fn));
}

template <class T, class Fn>
asio::awaitable<Result<T>> SqliteStore::write(Fn fn, WriteMode mode) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<T>)>(
      [this, mode](auto handler, Fn fn) {
        using Job = detail::WriteJobImpl<T, Fn, decltype(handler)>;
        writer_->submit(std::make_unique<Job>(std::move(fn), std::move(handler), mode));
      },
      asio::use_awaitable, std::move(fn));
}

}  // namespace chatd::store::sqlite
