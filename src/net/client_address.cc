#include "net/client_address.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <optional>

namespace chatd::net {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::optional<ip::address> parse_address(std::string_view text) {
  // No scope ids ("fe80::1%eth0"): an interface name means nothing in a list or a header, and
  // would make the parser look interfaces up.
  if (text.empty() || text.find('%') != std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  auto address = ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return address;
}

bool is_port(std::string_view text) {
  return !text.empty() && text.size() <= 5 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One X-Forwarded-For entry, read leniently: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:1234".
std::optional<ip::address> parse_hop(std::string_view entry) {
  if (entry.starts_with('[')) {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = entry.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return std::nullopt;
    auto address = parse_address(entry.substr(1, close - 1));
    if (!address || !address->is_v6()) return std::nullopt;
    return address;
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    // One colon: an IPv4 address with a port (IPv6 has at least two).
    if (!is_port(entry.substr(colon + 1))) return std::nullopt;
    auto address = parse_address(entry.substr(0, colon));
    if (!address || !address->is_v4()) return std::nullopt;
    return address;
  }
  return parse_address(entry);
}

std::optional<unsigned short> parse_prefix(std::string_view text, unsigned short max) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  unsigned short prefix = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), prefix);
  if (ec != std::errc() || end != text.data() + text.size() || prefix > max) return std::nullopt;
  return prefix;
}

}  // namespace

ip::address normalize_address(const ip::address& address) {
  if (!address.is_v6()) return address;
  auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6);
  v6.scope_id(0);
  return v6;
}

Result<CidrSet> CidrSet::parse(std::string_view list) {
  CidrSet set;
  if (trim(list).empty()) return set;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = std::min(list.find(',', start), list.size());
    const auto item = trim(list.substr(start, comma - start));
    start = comma + 1;
    auto bad = [item] {
      return make_error(Errc::invalid_input, "not an address or network (address/prefix): \"" +
                                                 std::string(item) + "\"");
    };
    if (item.empty()) return make_error(Errc::invalid_input, "empty item in an address list");

    const auto slash = item.find('/');
    const auto address = parse_address(item.substr(0, slash));
    if (!address) return bad();
    std::optional<unsigned short> prefix;
    if (slash != std::string_view::npos) {
      prefix = parse_prefix(item.substr(slash + 1), address->is_v4() ? 32 : 128);
      if (!prefix) return bad();
    }
    if (address->is_v6() && address->to_v6().is_v4_mapped() && (!prefix || *prefix >= 96)) {
      const auto v4 = ip::make_address_v4(ip::v4_mapped, address->to_v6());
      const unsigned short v4_prefix = prefix ? *prefix - 96 : 32;
      set.v4_.push_back(ip::network_v4(v4, v4_prefix).canonical());
    } else if (address->is_v4()) {
      set.v4_.push_back(ip::network_v4(address->to_v4(), prefix.value_or(32)).canonical());
    } else {
      set.v6_.push_back(ip::network_v6(address->to_v6(), prefix.value_or(128)).canonical());
    }
  }
  return set;
}

bool CidrSet::contains(const ip::address& address) const {
  const auto normal = normalize_address(address);
  if (normal.is_v4()) {
    const auto v4 = normal.to_v4();
    return std::any_of(v4_.begin(), v4_.end(), [&v4](const ip::network_v4& network) {
      return ip::network_v4(v4, network.prefix_length()).canonical() == network;
    });
  }
  const auto v6 = normal.to_v6();
  return std::any_of(v6_.begin(), v6_.end(), [&v6](const ip::network_v6& network) {
    return ip::network_v6(v6, network.prefix_length()).canonical() == network;
  });
}

std::string CidrSet::to_string() const {
  std::string out;
  auto append = [&out](const std::string& network) {
    if (!out.empty()) out += ',';
    out += network;
  };
  for (const auto& network : v4_) append(network.to_string());
  for (const auto& network : v6_) append(network.to_string());
  return out;
}

std::string forwarded_for(const HttpRequest& request) {
  std::string chain;
  for (const auto& field : request) {
    if (!boost::beast::iequals(field.name_string(), "X-Forwarded-For")) continue;
    const auto value = trim(field.value());
    if (value.empty()) continue;
    if (!chain.empty()) chain += ", ";
    chain += value;
  }
  return chain;
}

ip::address client_address(const ip::address& peer, std::string_view x_forwarded_for,
                           const CidrSet& trusted_proxies) {
  auto client = normalize_address(peer);
  if (!trusted_proxies.contains(client)) return client;
  // From the right: each entry was appended by the hop to its right, believed while that hop is
  // trusted. Empty entries (",," or an empty header joined in) are skipped.
  auto rest = x_forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const auto entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (entry.empty()) continue;
    const auto hop = parse_hop(entry);
    if (!hop) return client;
    client = normalize_address(*hop);
    if (!trusted_proxies.contains(client)) return client;
  }
  return client;
}

}  // namespace chatd::net
