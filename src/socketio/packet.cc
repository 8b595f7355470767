#include "socketio/packet.h"

#include <array>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "util/json.h"

namespace chatd::socketio {

namespace json = boost::json;  // chatd::json::parse is named in full

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

// True when every {"_placeholder":true,...} names an attachment that exists: the reference parser
// throws on any other, and relaying one would break every client that receives it.
bool placeholders_valid(const json::value& value, std::size_t attachments) {
  if (value.is_array()) {
    for (const auto& item : value.get_array()) {
      if (!placeholders_valid(item, attachments)) return false;
    }
    return true;
  }
  if (!value.is_object()) return true;
  const auto& object = value.get_object();
  const auto* marker = object.if_contains("_placeholder");
  if (marker && marker->is_bool() && marker->get_bool()) {
    const auto* num = object.if_contains("num");
    return num && num->is_int64() && num->get_int64() >= 0 &&
           static_cast<std::uint64_t>(num->get_int64()) < attachments;
  }
  for (const auto& item : object) {
    if (!placeholders_valid(item.value(), attachments)) return false;
  }
  return true;
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
    auto value = chatd::json::parse(text);  // exact doubles, as JavaScript reads them
    if (!value) return std::nullopt;
    packet.data = std::move(*value);
  }
  if (!valid_payload(packet)) return std::nullopt;
  if (packet.attachments > 0 && !placeholders_valid(*packet.data, packet.attachments)) {
    return std::nullopt;
  }
  return packet;
}

}  // namespace chatd::socketio
