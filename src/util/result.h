#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace chatd {

// The error kinds every layer reports. They map one-to-one onto the wire codes of API.md
// (`invalid_input`, `not_member`, ...) and onto HTTP statuses in api/; nothing below api/ knows
// about statuses.
enum class Errc {
  invalid_input,
  unauthorized,
  otp_required,  // the password was right; the account's second factor is needed too (401)
  otp_invalid,   // the second factor was wrong or already used (401)
  forbidden,
  not_member,
  not_found,
  conflict,
  too_large,
  rate_limited,
  unavailable,  // the server cannot take this now (busy, or a part it needs is down): retry
  internal,
};

// The wire name of an error kind, e.g. "not_member".
const char* errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;
  // rate_limited: seconds until a retry can succeed (the wire's Retry-After), 0 otherwise.
  std::int64_t retry_after_s = 0;
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

// Value-or-error for hot paths: untrusted input and expected failures travel as values,
// exceptions are kept for start-up and broken invariants.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }
  Error&& take_error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace chatd
