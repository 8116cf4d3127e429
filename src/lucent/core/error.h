// Errors and results used by every fallible Lucent function.
//
// `Result<T>` is `std::expected<T, Error>`; `Status` is `Result<void>`. An `Error` carries a
// code from the single table in error_codes.def (which also fixes the CLI exit code, HTTP status
// and DICOM status of each code) and a message that names the thing, says expected vs found and
// the next step. Context is prepended while propagating, never replacing the cause:
//
//   auto img = read_image(path);
//   if (!img) return std::unexpected(img.error().with_context("reading case " + id));
//
// Exceptions from LibTorch, ITK and DCMTK are caught in the adapters that call them and turned
// into an Error; none crosses a Lucent API. Thread-safety: values; no shared state.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace lucent {

enum class ErrorCode : int {
#define X(name, str, exit_code, http, dicom, doc) k##name,
#include "lucent/core/error_codes.def"
#undef X
};

// Properties of one row of the error table.
struct ErrorCodeInfo {
  ErrorCode code;
  std::string_view name;
  int cli_exit_code;
  int http_status;
  std::uint16_t dicom_status;
  std::string_view description;
};

[[nodiscard]] const ErrorCodeInfo& error_code_info(ErrorCode code);
// All rows, in table order (for documentation and tests).
[[nodiscard]] std::pair<const ErrorCodeInfo*, std::size_t> error_code_table();

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] ErrorCode code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  [[nodiscard]] int cli_exit_code() const { return error_code_info(code_).cli_exit_code; }
  [[nodiscard]] int http_status() const { return error_code_info(code_).http_status; }
  [[nodiscard]] std::uint16_t dicom_status() const { return error_code_info(code_).dicom_status; }

  // Returns a copy whose message reads "<context>: <original message>"; the code is kept.
  [[nodiscard]] Error with_context(std::string_view context) const;
  // "invalid_data: <message>"
  [[nodiscard]] std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = Result<void>;

// Shorthands for building failures: `return fail(ErrorCode::kNotFound, "no file " + p);`
[[nodiscard]] inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
[[nodiscard]] inline Status ok() { return {}; }

// Adds context to the error of a failed result, leaves a success untouched.
template <typename T>
[[nodiscard]] Result<T> with_context(Result<T> r, std::string_view context) {
  if (!r) return std::unexpected(r.error().with_context(context));
  return r;
}

}  // namespace lucent
