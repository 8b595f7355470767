// The Socket.IO packet decoder on arbitrary text: a clean refusal, or a packet that is valid for
// its type and decodes the same after encoding (its JSON compared only by shape: Boost.JSON's
// number parsing is not exact to the last bit, so a double may move by an ulp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "socketio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::socketio;
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto packet = decode(input);
  if (!packet) return 0;
  if (packet->attachments > kMaxAttachments) std::abort();
  auto again = decode(encode(*packet));
  if (!again || again->type != packet->type || again->nsp != packet->nsp ||
      again->ack_id != packet->ack_id || again->attachments != packet->attachments ||
      again->data.has_value() != packet->data.has_value()) {
    std::abort();
  }
  return 0;
}
