// Why a request from the API (or the CLI through it) was refused. The API
// maps each fault to its HTTP status; the message names the offending field
// or value.
#pragma once

#include <string>
#include <utility>

namespace pathsteer {

enum class RequestFault {
  kMalformed,  // 400: not JSON, or the wrong shape or types
  kInvalid,    // 422: well-formed but breaks the policy's rules
  kConflict,   // 409: e.g. the class already has an intent
  kNotFound,   // 404
};

struct RequestError {
  RequestFault fault = RequestFault::kMalformed;
  std::string message;
};

inline RequestError malformed(std::string message) {
  return RequestError{RequestFault::kMalformed, std::move(message)};
}
inline RequestError invalid(std::string message) {
  return RequestError{RequestFault::kInvalid, std::move(message)};
}

}  // namespace pathsteer
