// Result<T>: the return type of every recoverable operation in pathsteer, and
// Error, the one shape of every failure: the kernel's, a policy file's, an API
// request's.
//
// Contract: a function returns either a value or an Error, never both, and
// never throws for a recoverable failure. Exceptions are reserved for fatal
// start-up problems in main() and stay inside library edges (cpprestsdk,
// nlohmann::json are caught where they are called). An Error
// carries its kind, errno (0 if none), what we were doing (context), the
// kernel's own message when netlink extended acks or the verifier gave one, and
// for validations every finding with its position (details).
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace pathsteer {

// The API maps each kind to its HTTP status (api/server.h).
enum class ErrorKind {
  kInvalidPolicy,  // the operator's input is wrong; fix the file or the request (422)
  kMalformed,      // a request is not of the expected shape or types (400)
  kConflict,       // a request collides with what exists, e.g. a second intent (409)
  kNotFound,       // a request names something that does not exist (404)
  kUnrealizable,   // the input is valid but reality disagrees (no such interface, ...)
  kSystem,         // a syscall or the kernel refused
  kBug,            // an invariant of ours broke
};

// One finding of a validation, with where it is (file and 1-based line and
// column; line 0: unknown). The policy parser gives one per error.
struct Diagnostic {
  std::string file{};
  int line = 0;
  int column = 0;
  std::string message{};          // names the offending key or value
  std::string to_string() const;  // "file:line:col: message" ("file: message" if line is 0)
  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

struct Error {
  ErrorKind kind = ErrorKind::kSystem;
  int err_no = 0;
  std::string context;                   // what we were doing, naming the object
  std::string kernel_message;            // extack / verifier text, if any
  std::vector<Diagnostic> details = {};  // validations: every finding, in order

  std::string to_string() const;
};

Error system_error(std::string context, int err_no, std::string kernel_message = {});
Error policy_error(std::string context);
// A validation's findings (at least one); context is the first, "(and N more)".
Error invalid_input(std::vector<Diagnostic> details);
Error malformed_error(std::string context);
Error conflict_error(std::string context);
Error not_found_error(std::string context);
Error unrealizable_error(std::string context);
Error bug_error(std::string context);

struct Void {};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Void) {}                                // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<Void, Error> v_;
};

inline Result<void> ok() {
  return Void{};
}

}  // namespace pathsteer
