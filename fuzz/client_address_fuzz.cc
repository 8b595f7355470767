// Address lists and X-Forwarded-For chains on arbitrary bytes ("<list>\n<chain>"): must never
// crash; a list that parses prints as one that parses back to the same set; the client is always
// a normalized address, and the peer itself when the peer is not trusted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/client_address.h"

namespace ip = boost::asio::ip;

namespace {

bool normalized(const ip::address& address) {
  return address.is_v4() || (!address.to_v6().is_v4_mapped() && address.to_v6().scope_id() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const auto list = input.substr(0, newline);
  const auto chain =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  auto parsed = chatd::net::CidrSet::parse(list);
  if (parsed) {
    const auto again = chatd::net::CidrSet::parse(parsed->to_string());
    if (!again || !(*again == *parsed)) std::abort();
  } else if (parsed.error().code != chatd::Errc::invalid_input || parsed.error().message.empty()) {
    std::abort();
  }

  static const auto everyone = *chatd::net::CidrSet::parse("0.0.0.0/0, ::/0");
  const auto& trusted = parsed ? *parsed : everyone;
  for (const auto* peer_text : {"10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1"}) {
    const auto peer = ip::make_address(peer_text);
    const auto client = chatd::net::client_address(peer, chain, trusted);
    if (!normalized(client)) std::abort();
    if (!trusted.contains(peer) && client != chatd::net::normalize_address(peer)) std::abort();
  }
  return 0;
}
