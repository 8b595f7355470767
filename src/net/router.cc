#include "net/router.h"

#include "util/text.h"

namespace chatd::net {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty()) {
    const auto slash = path.find('/');
    segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

void Router::add(http::verb method, std::string_view pattern, Handler handler) {
  routes_.push_back(Route{method, split_path(pattern), std::move(handler)});
}

Router::Match Router::match(http::verb method, const std::vector<std::string>& segments) const {
  for (const auto& route : routes_) {
    if (route.method != method || route.segments.size() != segments.size()) continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool matches = true;
    for (std::size_t i = 0; i < segments.size() && matches; ++i) {
      const auto& want = route.segments[i];
      if (!want.empty() && want.front() == ':') {
        if (segments[i].empty())
          matches = false;
        else
          params.emplace_back(want.substr(1), segments[i]);
      } else {
        matches = text::iequals(want, segments[i]);
      }
    }
    if (matches) return Match{&route.handler, std::move(params)};
  }
  return Match{};
}

}  // namespace chatd::net
