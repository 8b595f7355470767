// The Engine.IO payload decoder on arbitrary bytes: a clean refusal or packets that encode back
// to an equivalent payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engineio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::engineio;
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto packets = decode_payload(input);
  if (!packets) return 0;
  std::string again;
  for (const auto& packet : *packets) append_to_payload(again, packet);
  auto round_trip = decode_payload(again);
  if (!round_trip || *round_trip != *packets) std::abort();
  (void)decode_frame(input, false);
  return 0;
}
