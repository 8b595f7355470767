#include "socketio/packet.h"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

namespace chatd::socketio {

namespace json = boost::json;

bool is_reserved_event(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kReserved = {
      "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};
  for (auto reserved : kReserved) {
    if (name == reserved) return true;
  }
  return false;
}

std::string encode(const Packet& packet) {
  std::string text(1, static_cast<char>('0' + static_cast<int>(packet.type)));
  if (packet.type == PacketType::binary_event || packet.type == PacketType::binary_ack) {
    text += std::to_string(packet.attachments);
    text += '-';
  }
  if (packet.nsp != "/") {
    text += packet.nsp;
    text += ',';
  }
  if (packet.ack_id) text += std::to_string(*packet.ack_id);
  if (packet.data) text += json::serialize(*packet.data);
  return text;
}

namespace {

bool valid_payload(const Packet& packet) {
  switch (packet.type) {
    case PacketType::connect:
      return !packet.data || packet.data->is_object();
    case PacketType::disconnect:
      return !packet.data;
    case PacketType::ack:
    case PacketType::binary_ack:
      return packet.data && packet.data->is_array();
    case PacketType::event:
    case PacketType::binary_event: {
      if (!packet.data || !packet.data->is_array() || packet.data->as_array().empty()) {
        return false;
      }
      const auto& name = packet.data->as_array().front();
      return name.is_number() || (name.is_string() && !is_reserved_event(name.as_string()));
    }
    case PacketType::connect_error:
      return false;  // only servers send it
  }
  return false;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// JSON numbers too large for a double parse as infinity, which has no JSON spelling (Boost.JSON
// would write "Infinity"). JavaScript turns them into null on the way back out; so do we.
void replace_non_finite(json::value& value) {
  if (value.is_double()) {
    if (!std::isfinite(value.get_double())) value = nullptr;
  } else if (value.is_array()) {
    for (auto& item : value.get_array()) replace_non_finite(item);
  } else if (value.is_object()) {
    for (auto& item : value.get_object()) replace_non_finite(item.value());
  }
}

}  // namespace

std::optional<Packet> decode(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '6') return std::nullopt;
  Packet packet;
  packet.type = static_cast<PacketType>(text.front() - '0');
  text.remove_prefix(1);

  if (packet.type == PacketType::binary_event || packet.type == PacketType::binary_ack) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos || dash == 0) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + dash, packet.attachments);
    if (ec != std::errc() || end != text.data() + dash) return std::nullopt;
    if (packet.attachments == 0 || packet.attachments > kMaxAttachments) return std::nullopt;
    text.remove_prefix(dash + 1);
  }
  if (!text.empty() && text.front() == '/') {
    const auto comma = text.find(',');
    packet.nsp = std::string(text.substr(0, comma));
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
  }
  std::size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits > 0) {
    std::uint64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, id);
    if (ec != std::errc()) return std::nullopt;
    packet.ack_id = id;
    text.remove_prefix(digits);
  }
  if (!text.empty()) {
    json::error_code ec;
    auto value = json::parse(text, ec);
    if (ec) return std::nullopt;
    replace_non_finite(value);
    packet.data = std::move(value);
  }
  if (!valid_payload(packet)) return std::nullopt;
  return packet;
}

}  // namespace chatd::socketio
