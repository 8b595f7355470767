#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace chatd::net {

// Which browser origins may call. No cookies are used (tokens travel in headers), so by default
// every origin may call and the Origin is reflected; production lists its origins.
class CorsPolicy {
 public:
  CorsPolicy() = default;
  // An empty list, or one containing "*", allows every origin.
  explicit CorsPolicy(std::vector<std::string> allowed_origins);

  bool allows(std::string_view origin) const;

  // Adds the CORS headers a response to `request` needs (nothing for a disallowed origin).
  void decorate(const HttpRequest& request, HttpResponse& response) const;

  // The answer to a preflight (OPTIONS with Access-Control-Request-Method).
  HttpResponse preflight(const HttpRequest& request) const;

 private:
  bool any_ = true;
  std::vector<std::string> origins_;
};

}  // namespace chatd::net
