#include "auth/token.h"

#include <jwt.h>
#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "auth/key_file.h"

namespace chatd::auth {

namespace {

using JwtPtr = std::unique_ptr<jwt_t, decltype(&jwt_free)>;

Error token_failed() {
  return make_error(Errc::unauthorized, "Not authorized, token failed");
}

std::int64_t unix_now_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// True when the token's header names HS256. Checked before libjwt sees the token, so no other
// algorithm's code path (and no "none") is ever reached with attacker-chosen input.
bool header_is_hs256(std::string_view token) {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const auto encoded = token.substr(0, dot);
  std::string decoded(encoded.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                        encoded.data(), encoded.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return false;
  }
  decoded.resize(length);
  boost::system::error_code ec;
  const auto header = boost::json::parse(decoded, ec);
  if (ec || !header.is_object()) return false;
  const auto* alg = header.as_object().if_contains("alg");
  return alg && alg->is_string() && alg->as_string() == "HS256";
}

}  // namespace

TokenIssuer::TokenIssuer(std::string secret, std::chrono::seconds lifetime)
    : secret_(std::move(secret)), lifetime_(lifetime) {
  if (secret_.empty()) throw std::invalid_argument("the JWT secret must not be empty");
}

std::string TokenIssuer::issue(const TokenClaims& claims) const {
  return issue_at(claims, unix_now_s());
}

std::string TokenIssuer::issue_at(const TokenClaims& claims, std::int64_t issued_at_s) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::bad_alloc();
  JwtPtr jwt(raw, &jwt_free);
  if (jwt_add_grant(jwt.get(), "id", claims.user_id.c_str()) != 0 ||
      jwt_add_grant(jwt.get(), "sid", claims.session_id.c_str()) != 0 ||
      jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(issued_at_s)) != 0 ||
      jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(issued_at_s + lifetime_.count())) !=
          0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
                  static_cast<int>(secret_.size())) != 0) {
    throw std::runtime_error("jwt: cannot build a token");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (!encoded) throw std::runtime_error("jwt: cannot encode a token");
  std::string token(encoded);
  free(encoded);
  return token;
}

Result<TokenClaims> TokenIssuer::verify(std::string_view token) const {
  return verify_at(token, unix_now_s());
}

Result<TokenClaims> TokenIssuer::verify_at(std::string_view token, std::int64_t now_s) const {
  if (token.empty() || token.size() > 4096 || !header_is_hs256(token)) return token_failed();
  const std::string copy(token);
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, copy.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0) {
    return token_failed();
  }
  JwtPtr jwt(raw, &jwt_free);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return token_failed();
  errno = 0;
  const long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno != 0 || exp <= now_s) return token_failed();
  const char* id = jwt_get_grant(jwt.get(), "id");
  if (!id || *id == '\0') return token_failed();
  const char* sid = jwt_get_grant(jwt.get(), "sid");
  return TokenClaims{id, sid ? sid : ""};
}

std::string load_or_create_secret(const std::filesystem::path& data_dir) {
  return load_or_create_key_file(data_dir / "jwt_secret");
}

}  // namespace chatd::auth
