#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace chatd::auth {

// Time-based one-time passwords as authenticator apps make them (RFC 6238 over RFC 4226 HOTP):
// HMAC-SHA-1, 6 digits, 30-second steps counted from the Unix epoch.

inline constexpr std::int64_t kTotpStepSeconds = 30;
inline constexpr int kTotpDigits = 6;

// RFC 4648 base32 (A-Z, 2-7), upper case, without '=' padding: how secrets are shown to users.
std::string base32_encode(std::string_view bytes);

// Reads base32 as people type it: either case, spaces and '=' anywhere ignored. nullopt on any
// other character or on a length that no whole number of bytes encodes to.
std::optional<std::string> base32_decode(std::string_view text);

// A new secret: 20 random bytes (160 bits, RFC 4226's recommended length), base32 (32 chars).
std::string generate_totp_secret();

// RFC 4226 HOTP: `digits` (1-9) decimal digits, zero-padded, of the dynamic truncation of
// HMAC-SHA-1(secret, counter).
std::string hotp_code(std::string_view secret_bytes, std::uint64_t counter,
                      int digits = kTotpDigits);

// The time step of a moment: floor(unix_seconds / 30).
std::int64_t totp_step(std::int64_t unix_seconds);

// The 6-digit code of a time step.
std::string totp_code(std::string_view secret_bytes, std::int64_t step);

// The step whose code `code` is, among the current step and one either side (clocks drift), or
// nullopt. Spaces in `code` are ignored ("123 456"); anything else that is not 6 digits is
// nullopt, as is an empty secret. Steps up to `used_up_to` are not considered: pass the last step
// that logged in, so a code is accepted once. The caller must still record the returned step
// atomically (a conditional write: only if greater than the stored one), or two requests racing
// with the same code both succeed. Codes are compared in constant time.
std::optional<std::int64_t> verify_totp(
    std::string_view secret_bytes, std::string_view code, std::int64_t unix_seconds,
    std::int64_t used_up_to = std::numeric_limits<std::int64_t>::min());

// The Key Uri Format URL that authenticator apps read from a QR code:
// otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30,
// issuer and account percent-encoded (UTF-8 bytes, ':' included). An empty issuer is left out.
std::string otpauth_url(std::string_view issuer, std::string_view account,
                        std::string_view secret_base32);

}  // namespace chatd::auth
