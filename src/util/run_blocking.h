#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace chatd {

// Runs a coroutine to completion on `io` from a thread that is not running `io` (start-up code and
// tests), and returns its result or rethrows its exception.
template <class T>
T run_blocking(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  constexpr bool kVoid = std::is_void_v<T>;
  std::optional<std::conditional_t<kVoid, bool, T>> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        if constexpr (kVoid) {
          co_await std::move(task);
          result.emplace(true);
        } else {
          result.emplace(co_await std::move(task));
        }
      },
      [&](const std::exception_ptr& e) { failure = e; });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  if constexpr (!kVoid) return std::move(*result);
}

}  // namespace chatd
