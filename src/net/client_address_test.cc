#include "net/client_address.h"

#include <gtest/gtest.h>

namespace chatd::net {
namespace {

using boost::asio::ip::make_address;

CidrSet cidrs(std::string_view list) {
  auto set = CidrSet::parse(list);
  EXPECT_TRUE(set.ok()) << list;
  return set ? *set : CidrSet{};
}

std::string client(std::string_view peer, std::string_view xff, std::string_view trusted) {
  return client_address(make_address(peer), xff, cidrs(trusted)).to_string();
}

TEST(CidrSet, ParsesNetworksAndBareAddresses) {
  const auto set = cidrs(" 10.0.0.0/8 ,::1/128,\t192.168.1.7, 2001:db8::/32 ");
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(set.contains(make_address("10.0.0.1")));
  EXPECT_TRUE(set.contains(make_address("10.255.255.255")));
  EXPECT_FALSE(set.contains(make_address("11.0.0.1")));
  EXPECT_TRUE(set.contains(make_address("192.168.1.7")));
  EXPECT_FALSE(set.contains(make_address("192.168.1.8")));
  EXPECT_TRUE(set.contains(make_address("::1")));
  EXPECT_FALSE(set.contains(make_address("::2")));
  EXPECT_TRUE(set.contains(make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(set.contains(make_address("2001:db9::1")));
  EXPECT_EQ(set.to_string(), "10.0.0.0/8,192.168.1.7/32,::1/128,2001:db8::/32");
}

TEST(CidrSet, ABlankListIsEmptyAndContainsNothing) {
  for (const auto* list : {"", "   ", "\t"}) {
    const auto set = cidrs(list);
    EXPECT_TRUE(set.empty());
    EXPECT_FALSE(set.contains(make_address("127.0.0.1")));
  }
}

TEST(CidrSet, ZeroPrefixesMatchTheirWholeFamily) {
  const auto v4 = cidrs("0.0.0.0/0");
  EXPECT_TRUE(v4.contains(make_address("203.0.113.9")));
  EXPECT_FALSE(v4.contains(make_address("2001:db8::1")));
  const auto v6 = cidrs("::/0");
  EXPECT_TRUE(v6.contains(make_address("2001:db8::1")));
  EXPECT_FALSE(v6.contains(make_address("203.0.113.9")));
}

TEST(CidrSet, HostBitsAreMaskedOff) {
  const auto set = cidrs("10.1.2.3/8,2001:db8::1/32");
  EXPECT_TRUE(set.contains(make_address("10.200.0.1")));
  EXPECT_TRUE(set.contains(make_address("2001:db8:1::1")));
  EXPECT_EQ(set.to_string(), "10.0.0.0/8,2001:db8::/32");
}

TEST(CidrSet, MappedAddressesMatchAsIpv4) {
  const auto set = cidrs("10.0.0.0/8");
  EXPECT_TRUE(set.contains(make_address("::ffff:10.1.2.3")));
  EXPECT_FALSE(set.contains(make_address("::ffff:11.1.2.3")));
  // A mapped network in the list is its IPv4 network.
  const auto mapped = cidrs("::ffff:192.168.0.0/112, ::ffff:1.2.3.4");
  EXPECT_TRUE(mapped.contains(make_address("192.168.44.1")));
  EXPECT_TRUE(mapped.contains(make_address("::ffff:192.168.44.1")));
  EXPECT_TRUE(mapped.contains(make_address("1.2.3.4")));
  EXPECT_EQ(mapped.to_string(), "192.168.0.0/16,1.2.3.4/32");
}

TEST(CidrSet, RefusesBadItemsNamingThem) {
  for (const auto* list :
       {"10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
        "10.0.0", "010.0.0.1", "example.com", "1.2.3.4:80", "[::1]", "fe80::1%eth0", "10.0.0.0/ 8",
        "10.0.0.1 10.0.0.2", "10.0.0.0/0008"}) {
    const auto set = CidrSet::parse(std::string("127.0.0.1, ") + list);
    ASSERT_FALSE(set.ok()) << list;
    EXPECT_EQ(set.error().code, Errc::invalid_input);
    EXPECT_NE(set.error().message.find(list), std::string::npos) << set.error().message;
  }
  for (const auto* list : {"10.0.0.1,", ",10.0.0.1", "10.0.0.1,,10.0.0.2"}) {
    EXPECT_FALSE(CidrSet::parse(list).ok()) << list;
  }
}

TEST(CidrSet, ReadsItsOwnOutputBack) {
  const auto set = cidrs("10.9.8.7/12, ::ffff:1.2.3.4, 2001:db8::/48, 0.0.0.0/0");
  const auto again = CidrSet::parse(set.to_string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, set);
}

TEST(NormalizeAddress, UnmapsIpv4AndDropsScopes) {
  EXPECT_EQ(normalize_address(make_address("::ffff:1.2.3.4")).to_string(), "1.2.3.4");
  EXPECT_TRUE(normalize_address(make_address("::ffff:1.2.3.4")).is_v4());
  EXPECT_EQ(normalize_address(make_address("2001:db8::1")).to_string(), "2001:db8::1");
  auto scoped = make_address("fe80::1").to_v6();
  scoped.scope_id(3);
  EXPECT_EQ(normalize_address(scoped).to_string(), "fe80::1");
}

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItClaims) {
  // Spoofing: a client that is not a proxy sends its own X-Forwarded-For.
  EXPECT_EQ(client("203.0.113.9", "1.1.1.1", "10.0.0.0/8"), "203.0.113.9");
  EXPECT_EQ(client("203.0.113.9", "10.0.0.1", "10.0.0.0/8"), "203.0.113.9");
  EXPECT_EQ(client("203.0.113.9", "1.1.1.1", ""), "203.0.113.9");
  EXPECT_EQ(client("::ffff:203.0.113.9", "1.1.1.1", ""), "203.0.113.9");
}

TEST(ClientAddress, ATrustedProxyIsBelievedOneHop) {
  EXPECT_EQ(client("10.0.0.1", "198.51.100.7", "10.0.0.0/8"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.1", "198.51.100.7:5678", "10.0.0.0/8"), "198.51.100.7");
}

TEST(ClientAddress, AForgedPrefixOfTheChainIsIgnored) {
  // The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended the real address.
  EXPECT_EQ(client("10.0.0.1", "1.1.1.1, 198.51.100.7", "10.0.0.0/8"), "198.51.100.7");
  // The client claims to be a trusted proxy's client: still only as far as proxies vouch.
  EXPECT_EQ(client("10.0.0.1", "10.0.0.5, 198.51.100.7", "10.0.0.0/8"), "198.51.100.7");
}

TEST(ClientAddress, WalksChainsOfTrustedProxies) {
  const auto* trusted = "10.0.0.0/8, 192.168.0.0/16";
  EXPECT_EQ(client("10.0.0.1", "198.51.100.7, 192.168.1.1, 10.0.0.2", trusted), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.1", "203.0.113.1,198.51.100.7,192.168.1.1", trusted), "198.51.100.7");
  // Every hop trusted: the leftmost is the client (a request from inside).
  EXPECT_EQ(client("10.0.0.1", "192.168.7.7, 10.0.0.2", trusted), "192.168.7.7");
  // No header: the trusted peer is all there is.
  EXPECT_EQ(client("10.0.0.1", "", trusted), "10.0.0.1");
  EXPECT_EQ(client("10.0.0.1", " , ", trusted), "10.0.0.1");
}

TEST(ClientAddress, JoinedHeadersAndSpacing) {
  HttpRequest request(http::verb::get, "/", 11);
  request.insert("X-Forwarded-For", "198.51.100.7");
  request.insert("Host", "chat.example.com");
  request.insert("x-forwarded-for", " 192.168.1.1 ,10.0.0.2");
  request.insert("X-Forwarded-For", "");
  const auto chain = forwarded_for(request);
  EXPECT_EQ(chain, "198.51.100.7, 192.168.1.1 ,10.0.0.2");
  EXPECT_EQ(client("10.0.0.1", chain, "10.0.0.0/8,192.168.0.0/16"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.1", "\t198.51.100.7 ,,  10.0.0.2\t", "10.0.0.0/8"), "198.51.100.7");
  EXPECT_EQ(forwarded_for(HttpRequest(http::verb::get, "/", 11)), "");
}

TEST(ClientAddress, ReadsIpv6Entries) {
  const auto* trusted = "10.0.0.0/8, fd00::/8";
  EXPECT_EQ(client("fd00::1", "2001:db8::7", trusted), "2001:db8::7");
  EXPECT_EQ(client("fd00::1", "[2001:db8::7]", trusted), "2001:db8::7");
  EXPECT_EQ(client("fd00::1", "[2001:db8::7]:1234", trusted), "2001:db8::7");
  EXPECT_EQ(client("10.0.0.1", "2001:db8::7, [fd00::2]:80", trusted), "2001:db8::7");
  EXPECT_EQ(client("fd00::1", "198.51.100.7, 10.0.0.3", trusted), "198.51.100.7");
}

TEST(ClientAddress, NormalizesMappedAddresses) {
  // A dual-stack listener reports IPv4 proxies as mapped addresses; IPv4 lists still match.
  EXPECT_EQ(client("::ffff:10.0.0.1", "198.51.100.7", "10.0.0.0/8"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.1", "::ffff:198.51.100.7", "10.0.0.0/8"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.1", "1.1.1.1, [::ffff:10.0.0.9]:80", "10.0.0.0/8"), "1.1.1.1");
  EXPECT_TRUE(client_address(make_address("::ffff:10.0.0.1"), "", cidrs("10.0.0.0/8")).is_v4());
}

TEST(ClientAddress, GarbageStopsTheWalkAtTheLastTrustedHop) {
  const auto* trusted = "10.0.0.0/8";
  EXPECT_EQ(client("10.0.0.1", "198.51.100.7, garbage", trusted), "10.0.0.1");
  EXPECT_EQ(client("10.0.0.1", "198.51.100.7, unknown, 10.0.0.2", trusted), "10.0.0.2");
  for (const auto* entry : {"1.2.3.4:", "1.2.3.4:abc", "1.2.3.4:123456", "[2001:db8::1",
                            "[2001:db8::1]x", "[2001:db8::1]:", "[1.2.3.4]", "2001:db8::1:80:x",
                            "1.2.3", "fe80::1%eth0", "\"1.2.3.4\"", "1.2.3.4 5.6.7.8", "[]"}) {
    EXPECT_EQ(client("10.0.0.1", std::string("198.51.100.7, ") + entry, trusted), "10.0.0.1")
        << entry;
  }
}

}  // namespace
}  // namespace chatd::net
