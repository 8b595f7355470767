#include "util/result.h"

namespace chatd {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_input:
      return "invalid_input";
    case Errc::unauthorized:
      return "unauthorized";
    case Errc::otp_required:
      return "otp_required";
    case Errc::otp_invalid:
      return "otp_invalid";
    case Errc::forbidden:
      return "forbidden";
    case Errc::not_member:
      return "not_member";
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::too_large:
      return "too_large";
    case Errc::rate_limited:
      return "rate_limited";
    case Errc::unavailable:
      return "unavailable";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace chatd
