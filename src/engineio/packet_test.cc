#include "engineio/packet.h"

#include <gtest/gtest.h>

namespace chatd::engineio {
namespace {

TEST(EngineIoPacket, EncodesTextPackets) {
  EXPECT_EQ(encode_text(Packet{PacketType::message, "hello"}), "4hello");
  EXPECT_EQ(encode_text(Packet{PacketType::ping, ""}), "2");
  EXPECT_EQ(encode_text(Packet{PacketType::ping, "probe"}), "2probe");
  EXPECT_EQ(encode_text(Packet{PacketType::open, R"({"sid":"x"})"}), R"(0{"sid":"x"})");
}

TEST(EngineIoPacket, JoinsPayloadsWithTheRecordSeparator) {
  std::string payload;
  append_to_payload(payload, Packet{PacketType::message, "hello"});
  append_to_payload(payload, Packet{PacketType::ping, ""});
  append_to_payload(payload, Packet{PacketType::message, std::string("\x01\x02\x03", 3), true});
  EXPECT_EQ(payload,
            "4hello\x1e"
            "2\x1e"
            "bAQID");
}

TEST(EngineIoPacket, DecodesPayloads) {
  auto packets = decode_payload(
      "4hello\x1e"
      "2\x1e"
      "bAQID\x1e"
      "4");
  ASSERT_TRUE(packets.has_value());
  ASSERT_EQ(packets->size(), 4U);
  EXPECT_EQ((*packets)[0], (Packet{PacketType::message, "hello", false}));
  EXPECT_EQ((*packets)[1], (Packet{PacketType::ping, "", false}));
  EXPECT_EQ((*packets)[2], (Packet{PacketType::message, std::string("\x01\x02\x03", 3), true}));
  EXPECT_EQ((*packets)[3], (Packet{PacketType::message, "", false}));
  // Text may hold anything but the separator, multi-byte UTF-8 included.
  auto utf8 = decode_payload("4caf\xc3\xa9");
  ASSERT_TRUE(utf8.has_value());
  EXPECT_EQ(utf8->front().data, "caf\xc3\xa9");
}

TEST(EngineIoPacket, RefusesInvalidPayloads) {
  EXPECT_FALSE(decode_payload("").has_value());
  EXPECT_FALSE(decode_payload("7x").has_value());
  EXPECT_FALSE(decode_payload("4a\x1e").has_value());  // an empty packet
  EXPECT_FALSE(decode_payload("b!!!").has_value());    // not base64
  EXPECT_FALSE(decode_payload("x").has_value());
}

TEST(EngineIoPacket, DecodesWebSocketFrames) {
  EXPECT_EQ(decode_frame("3probe", false), (Packet{PacketType::pong, "probe", false}));
  EXPECT_EQ(decode_frame(std::string("\x00\xff", 2), true),
            (Packet{PacketType::message, std::string("\x00\xff", 2), true}));
  EXPECT_FALSE(decode_frame("", false).has_value());
  EXPECT_FALSE(decode_frame("9", false).has_value());
}

}  // namespace
}  // namespace chatd::engineio
