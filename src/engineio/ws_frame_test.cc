#include "engineio/ws_frame.h"

#include <gtest/gtest.h>

namespace chatd::engineio::ws {
namespace {

TEST(WebSocketFrame, AcceptKeyMatchesRfc6455Example) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketFrame, ParsesAMaskedClientFrame) {
  // RFC 6455 5.7: a masked "Hello".
  const std::string frame("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  FrameHeader header;
  ASSERT_EQ(parse_header(frame, header), Parse::ok);
  EXPECT_TRUE(header.fin);
  EXPECT_EQ(header.opcode, Opcode::text);
  EXPECT_TRUE(header.masked);
  EXPECT_EQ(header.length, 5U);
  EXPECT_EQ(header.size, 6U);
  EXPECT_EQ(parse_header(frame.substr(0, 4), header), Parse::need_more);
}

TEST(WebSocketFrame, WritesServerHeadersOfEverySize) {
  std::uint8_t out[10];
  EXPECT_EQ(write_header(Opcode::text, 5, out), 2U);
  EXPECT_EQ(out[0], 0x81);
  EXPECT_EQ(out[1], 5);
  EXPECT_EQ(write_header(Opcode::binary, 256, out), 4U);
  EXPECT_EQ(out[1], 126);
  EXPECT_EQ(out[2], 1);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(write_header(Opcode::binary, 70000, out), 10U);
  EXPECT_EQ(out[1], 127);
  FrameHeader header;
  ASSERT_EQ(parse_header(std::string_view(reinterpret_cast<char*>(out), 10), header), Parse::ok);
  EXPECT_EQ(header.length, 70000U);
}

TEST(WebSocketFrame, RefusesWhatRfc6455Forbids) {
  FrameHeader header;
  EXPECT_EQ(parse_header(std::string("\xc1\x80", 2), header), Parse::invalid);  // RSV1
  EXPECT_EQ(parse_header(std::string("\x83\x80", 2), header), Parse::invalid);  // opcode 3
  EXPECT_EQ(parse_header(std::string("\x09\x80", 2), header), Parse::invalid);  // fragmented ping
  EXPECT_EQ(parse_header(std::string("\x89\xfe\x00\x7e", 4), header), Parse::invalid);  // ping>125
  EXPECT_EQ(parse_header(std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10), header),
            Parse::invalid);  // 64-bit length with the top bit set
}

}  // namespace
}  // namespace chatd::engineio::ws
