// Token verification on arbitrary bytes: must never crash, and must never accept anything but a
// token this issuer signed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "auth/token.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const chatd::auth::TokenIssuer issuer("fuzz secret", std::chrono::hours(1));
  static const std::string genuine =
      issuer.issue_at({"0123456789abcdef01234567", "session-1"}, 1'800'000'000);
  const std::string token(reinterpret_cast<const char*>(data), size);
  const auto verified = issuer.verify_at(token, 1'800'000'010);
  if (verified.ok() && token != genuine) std::abort();
  return 0;
}
