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

void Router::add_streamed(http::verb method, std::string_view pattern, Handler handler) {
  routes_.push_back(Route{method, split_path(pattern), std::move(handler), true});
}

void Router::add_upgrade(std::string_view pattern, UpgradeHandler handler) {
  upgrades_.push_back(UpgradeRoute{split_path(pattern), std::move(handler)});
}

namespace {

// Matches a path against a pattern's segments, collecting the `:name` captures.
bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
             std::vector<std::pair<std::string, std::string>>& params) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& want = pattern[i];
    if (!want.empty() && want.front() == ':') {
      if (segments[i].empty()) return false;
      params.emplace_back(want.substr(1), segments[i]);
    } else if (!text::iequals(want, segments[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

Router::Match Router::match(http::verb method, const std::vector<std::string>& segments) const {
  for (const auto& route : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    if (route.method == method && matches(route.segments, segments, params)) {
      return Match{&route.handler, std::move(params), route.streamed_body};
    }
  }
  return Match{};
}

const UpgradeHandler* Router::match_upgrade(const std::vector<std::string>& segments) const {
  for (const auto& route : upgrades_) {
    std::vector<std::pair<std::string, std::string>> params;
    if (matches(route.segments, segments, params)) return &route.handler;
  }
  return nullptr;
}

}  // namespace chatd::net
