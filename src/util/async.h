#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

// Bridges between coroutines and code that completes elsewhere (another thread, a later event).
//
// g++ 12 mishandles temporaries with non-trivial destructors inside a co_await expression (they can
// be destroyed twice; seen here under ASan): build such arguments as named variables first and
// std::move them in, as every caller in this project does.
namespace chatd {

namespace asio = boost::asio;

// A copyable one-shot callback that resumes an Asio completion handler on the handler's own
// executor (never inline on the calling thread), keeping that executor's event loop alive until it
// has been called. Calling it a second time does nothing.
template <class T, class Handler>
std::function<void(T)> completion_callback(Handler handler) {
  auto executor = asio::get_associated_executor(handler);
  struct State {
    Handler handler;
    asio::executor_work_guard<decltype(executor)> guard;
    bool called = false;
  };
  auto state = std::make_shared<State>(State{std::move(handler), asio::make_work_guard(executor)});
  return [state](T value) {
    if (std::exchange(state->called, true)) return;
    auto ex = state->guard.get_executor();
    asio::post(ex, [state, value = std::move(value)]() mutable {
      std::move(state->handler)(std::move(value));
      state->guard.reset();
    });
  };
}

// Suspends the coroutine until `start` (called at once with a completion callback) or whoever it
// hands the callback to calls it with the result.
template <class T, class Start>
asio::awaitable<T> async_callback(Start start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      [](auto handler, Start start) { start(completion_callback<T>(std::move(handler))); },
      asio::use_awaitable, std::move(start));
}

// Runs `fn` on another thread and resumes the coroutine on its own executor with the result.
// `submit` hands a `void()` callable to whatever owns that thread (a thread pool, an executor).
// This is how blocking work (argon2, file reads) stays off network threads, and how a connection
// reaches state owned by another thread.
template <class Submit, class Fn>
asio::awaitable<std::invoke_result_t<Fn>> run_elsewhere(Submit submit, Fn fn) {
  using R = std::invoke_result_t<Fn>;
  auto work = std::make_shared<Fn>(std::move(fn));
  return async_callback<R>([submit = std::move(submit), work](std::function<void(R)> done) {
    submit([work, done = std::move(done)] { done((*work)()); });
  });
}

// Runs `fn` on `executor` (the owner of some state) and resumes the caller with the result.
template <class Fn>
asio::awaitable<std::invoke_result_t<Fn>> run_on(asio::any_io_executor executor, Fn fn) {
  return run_elsewhere([executor](auto job) { asio::post(executor, std::move(job)); },
                       std::move(fn));
}

// A co_spawn completion handler for background coroutines: logs the exception one ended with
// (`task` names it in the log), so that a failure is seen and never ends the server.
inline auto log_if_failed(const char* task) {
  return [task](const std::exception_ptr& failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::error("{} failed: {}", task, e.what());
    }
  };
}

}  // namespace chatd
