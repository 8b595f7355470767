#include "engineio/packet.h"

#include <sodium.h>

namespace chatd::engineio {

namespace {

std::optional<Packet> decode_text(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const char type = text.front();
  if (type < '0' || type > '6') return std::nullopt;
  return Packet{static_cast<PacketType>(type - '0'), std::string(text.substr(1)), false};
}

std::optional<Packet> decode_base64(std::string_view encoded) {
  std::string bytes(encoded.size() / 4 * 3 + 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(),
                        encoded.data(), encoded.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != encoded.data() + encoded.size()) {
    return std::nullopt;
  }
  bytes.resize(length);
  return Packet{PacketType::message, std::move(bytes), true};
}

}  // namespace

std::string encode_text(const Packet& packet) {
  std::string frame;
  frame.reserve(packet.data.size() + 1);
  frame += static_cast<char>('0' + static_cast<int>(packet.type));
  frame += packet.data;
  return frame;
}

void append_to_payload(std::string& payload, const Packet& packet) {
  if (!payload.empty()) payload += kRecordSeparator;
  if (packet.binary) {
    payload += 'b';
    const auto start = payload.size();
    const auto encoded =
        sodium_base64_encoded_len(packet.data.size(), sodium_base64_VARIANT_ORIGINAL);
    payload.resize(start + encoded);  // includes the terminating NUL, dropped below
    sodium_bin2base64(payload.data() + start, encoded,
                      reinterpret_cast<const unsigned char*>(packet.data.data()),
                      packet.data.size(), sodium_base64_VARIANT_ORIGINAL);
    payload.pop_back();
    return;
  }
  payload += static_cast<char>('0' + static_cast<int>(packet.type));
  payload += packet.data;
}

Frame Frame::text(PacketType type, std::string_view data) {
  return Frame{std::make_shared<const std::string>(encode_text(Packet{type, std::string(data)})),
               false};
}

Frame Frame::binary_message(std::string bytes) {
  return Frame{std::make_shared<const std::string>(std::move(bytes)), true};
}

void append_to_payload(std::string& payload, const Frame& frame) {
  if (frame.binary) {
    append_to_payload(payload, Packet{PacketType::message, *frame.bytes, true});
    return;
  }
  if (!payload.empty()) payload += kRecordSeparator;
  payload += *frame.bytes;  // already "<type><data>"
}

std::optional<Packet> decode_frame(std::string_view frame, bool binary) {
  if (binary) return Packet{PacketType::message, std::string(frame), true};
  return decode_text(frame);
}

std::optional<std::vector<Packet>> decode_payload(std::string_view payload) {
  std::vector<Packet> packets;
  for (;;) {
    const auto end = payload.find(kRecordSeparator);
    const auto part = payload.substr(0, end);
    auto packet =
        !part.empty() && part.front() == 'b' ? decode_base64(part.substr(1)) : decode_text(part);
    if (!packet) return std::nullopt;
    packets.push_back(std::move(*packet));
    if (end == std::string_view::npos) break;
    payload.remove_prefix(end + 1);
  }
  return packets;
}

}  // namespace chatd::engineio
