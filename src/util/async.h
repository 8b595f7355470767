#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>
#include <utility>

namespace chatd {

namespace asio = boost::asio;

// Runs `fn` on another thread and resumes the awaiting coroutine on its own executor with the
// result. `submit` hands a `void()` callable to whatever owns that thread (a thread pool, the
// store's writer queue, ...). This is how blocking work (argon2, SQLite, file reads) stays off
// network threads: the network thread only ever sees the completion, posted back to it.
//
// g++ 12 mishandles temporaries with non-trivial destructors inside a co_await expression (they can
// be destroyed twice): build such arguments as named variables first, as the callers here do.
template <class Submit, class Fn>
asio::awaitable<std::invoke_result_t<Fn>> run_elsewhere(Submit submit, Fn fn) {
  using R = std::invoke_result_t<Fn>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      [](auto handler, Submit submit, Fn fn) {
        auto executor = asio::get_associated_executor(handler);
        // The work guard keeps the caller's event loop alive while the job is away.
        using Handler = decltype(handler);
        struct State {
          Handler completion;
          asio::executor_work_guard<decltype(executor)> guard;
          Fn fn;
        };
        auto state = std::make_shared<State>(
            State{std::move(handler), asio::make_work_guard(executor), std::move(fn)});
        submit([state]() mutable {
          auto result = std::make_shared<R>(state->fn());
          auto ex = state->guard.get_executor();
          asio::post(ex, [state, result]() mutable {
            std::move(state->completion)(std::move(*result));
            state->guard.reset();
          });
        });
      },
      asio::use_awaitable, std::move(submit), std::move(fn));
}

}  // namespace chatd
