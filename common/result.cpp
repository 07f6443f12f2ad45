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

std::string Diagnostic::to_string() const {
  if (line <= 0)
    return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
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

Error invalid_input(std::vector<Diagnostic> details) {
  std::string context = details.empty() ? "invalid input" : details.front().to_string();
  if (details.size() > 1)
    context += " (and " + std::to_string(details.size() - 1) + " more)";
  return Error{.kind = ErrorKind::kInvalidPolicy,
               .context = std::move(context),
               .details = std::move(details)};
}

Error malformed_error(std::string context) {
  return Error{.kind = ErrorKind::kMalformed, .context = std::move(context)};
}

Error conflict_error(std::string context) {
  return Error{.kind = ErrorKind::kConflict, .context = std::move(context)};
}

Error not_found_error(std::string context) {
  return Error{.kind = ErrorKind::kNotFound, .context = std::move(context)};
}

Error unrealizable_error(std::string context) {
  return Error{.kind = ErrorKind::kUnrealizable, .context = std::move(context)};
}

Error bug_error(std::string context) {
  return Error{.kind = ErrorKind::kBug, .context = std::move(context)};
}

}  // namespace pathsteer
