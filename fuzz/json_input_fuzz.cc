// The strict reading of request bodies and query values: arbitrary bytes as a body and as query
// values must give a value or a clean error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chatd::api;
  chatd::net::Request request;
  request.message.body().assign(reinterpret_cast<const char*>(data), size);
  request.query.emplace_back("limit", request.message.body());
  (void)input::query_integer(request, "limit");
  auto body = input::body_object(request);
  if (!body) return 0;
  (void)input::required_string(*body, "email");
  (void)input::optional_string(*body, "pic");
  (void)input::id_or_object(*body, "chatId");
  (void)input::id_list(*body, "users");
  (void)input::required_bool(*body, "admin");
  return 0;
}
