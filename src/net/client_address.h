#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"
#include "util/result.h"

// Who the client is, and whether it may call: address allowlists (`--allow-ip`,
// `--admin-allow-ip`) and the proxies whose X-Forwarded-For is believed (`--trusted-proxy`).
namespace chatd::net {

// The address as the allowlists see it: an IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a
// dual-stack socket reports for an IPv4 peer) becomes its IPv4 address; an IPv6 scope id is
// dropped.
boost::asio::ip::address normalize_address(const boost::asio::ip::address& address);

// A set of networks, from "10.0.0.0/8, ::1/128, 192.168.1.7": comma-separated, whitespace around
// items allowed, a bare address meaning /32 or /128. Host bits under the prefix are masked off
// ("10.1.2.3/8" is 10.0.0.0/8), as `ip route` reads them. "::ffff:a.b.c.d/n" with n >= 96 is the
// IPv4 network a.b.c.d/(n-96), since addresses are matched in their IPv4 form. Lookup is a scan:
// these lists are short.
class CidrSet {
 public:
  // The empty set for a blank string; `invalid_input` naming the first bad item otherwise.
  static Result<CidrSet> parse(std::string_view list);

  bool contains(const boost::asio::ip::address& address) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }
  // "10.0.0.0/8,::1/128": canonical, parse() reads it back as the same set (for logs).
  std::string to_string() const;

  friend bool operator==(const CidrSet&, const CidrSet&) = default;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

// Every X-Forwarded-For header of `request`, in order, joined with ", " (one chain).
std::string forwarded_for(const HttpRequest& request);

// The client's address, from the connection's peer and its X-Forwarded-For chain (as
// forwarded_for joins it). The header is believed only as far as trusted proxies vouch for it:
// - the peer is not a trusted proxy: the peer is the client, and the header is ignored (anyone
//   can send one);
// - else the chain is walked from the right (the entry the peer appended), skipping trusted
//   proxies, and the first untrusted entry is the client; an entry that is not an address stops
//   the walk at the last trusted hop (nothing left of garbage is believed); when every entry is
//   trusted, the leftmost is the client.
// Entries may carry ports ("1.2.3.4:5678", "[2001:db8::1]:443") and brackets. The result is
// normalized (normalize_address).
boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::string_view x_forwarded_for,
                                        const CidrSet& trusted_proxies);

}  // namespace chatd::net
