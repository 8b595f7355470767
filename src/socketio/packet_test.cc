#include "socketio/packet.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chatd::socketio {
namespace {

namespace json = boost::json;

TEST(SocketIoPacket, EncodesEveryShape) {
  EXPECT_EQ(encode(Packet{PacketType::connect, "/", std::nullopt, json::parse(R"({"sid":"x"})")}),
            R"(0{"sid":"x"})");
  EXPECT_EQ(
      encode(Packet{PacketType::connect, "/admin", std::nullopt, json::parse(R"({"sid":"x"})")}),
      R"(0/admin,{"sid":"x"})");
  EXPECT_EQ(encode(Packet{PacketType::disconnect, "/admin"}), "1/admin,");
  EXPECT_EQ(encode(Packet{PacketType::event, "/", 12, json::parse(R"(["a",1])")}), R"(212["a",1])");
  EXPECT_EQ(encode(Packet{PacketType::binary_ack, "/x", 3,
                          json::parse(R"([{"_placeholder":true,"num":0}])"), 1}),
            R"(61-/x,3[{"_placeholder":true,"num":0}])");
}

TEST(SocketIoPacket, DecodesNamespacesAckIdsAndAttachments) {
  auto p = decode(R"(2/admin,13["x",1])");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->type, PacketType::event);
  EXPECT_EQ(p->nsp, "/admin");
  EXPECT_EQ(p->ack_id, 13U);
  EXPECT_EQ(json::serialize(*p->data), R"(["x",1])");

  p = decode("0/custom");  // a namespace may end the packet without a comma
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->nsp, "/custom");
  EXPECT_FALSE(p->data.has_value());

  p = decode(R"(0{"token":"t"})");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->nsp, "/");

  p = decode(R"(52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->type, PacketType::binary_event);
  EXPECT_EQ(p->attachments, 2U);

  p = decode("37[]");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->ack_id, 7U);
  EXPECT_EQ(decode("1")->type, PacketType::disconnect);
}

TEST(SocketIoPacket, NumbersBeyondDoubleBecomeNullAsInJavaScript) {
  auto p = decode("2[\"n\",1e999,[-1e999]]");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(json::serialize(*p->data), R"(["n",null,[null]])");
  EXPECT_FALSE(decode("2[1e999]").has_value());  // a null event name is no event name
}

TEST(SocketIoPacket, RefusesInvalidPackets) {
  for (const char* bad : {"",
                          "7",
                          "x",
                          "2",
                          R"(2{})",
                          "2[]",
                          R"(2["connect"])",
                          R"(2["disconnecting",1])",
                          R"(51-["a",{"_placeholder":true,"num":1}])",
                          R"(51-["a",{"_placeholder":true,"num":"0"}])",
                          R"(51-["a",[{"_placeholder":true}]])",
                          R"(2[{}])",
                          "0[1]",
                          "0\"s\"",
                          "1{}",
                          R"(3{})",
                          R"(4{"message":"x"})",
                          R"(2["a")",
                          "5-[\"a\"]",
                          "50-[\"a\"]",
                          "511-[\"a\"]",
                          "5x-[\"a\"]",
                          R"(2/a,99999999999999999999["x"])"}) {
    EXPECT_FALSE(decode(bad).has_value()) << bad;
  }
  EXPECT_TRUE(decode(R"(2[42,"numbers are event names too"])").has_value());
}

}  // namespace
}  // namespace chatd::socketio
