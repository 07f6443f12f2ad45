#include "common/result.h"

#include <cstring>

namespace pathsteer {

std::string Error::to_string() const {
  std::string s = context;
  if (err_no != 0) {
    s += ": ";
    s += std::strerror(err_no);
  }
  if (!kernel_message.empty()) {
    s += " (kernel: " + kernel_message + ")";
  }
  return s;
}

Error system_error(std::string context, int err_no, std::string kernel_message) {
  return Error{.kind = ErrorKind::kSystem,
               .err_no = err_no,
               .context = std::move(context),
               .kernel_message = std::move(kernel_message)};
}

Error policy_error(std::string context) {
  return Error{.kind = ErrorKind::kInvalidPolicy, .context = std::move(context)};
}

Error unrealizable_error(std::string context) {
  return Error{.kind = ErrorKind::kUnrealizable, .context = std::move(context)};
}

Error bug_error(std::string context) {
  return Error{.kind = ErrorKind::kBug, .context = std::move(context)};
}

}  // namespace pathsteer
