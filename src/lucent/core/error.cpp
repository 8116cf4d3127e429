#include "lucent/core/error.h"

#include <array>

namespace lucent {
namespace {

constexpr std::array kTable = {
#define X(name, str, exit_code, http, dicom, doc) \
  ErrorCodeInfo{ErrorCode::k##name, str, exit_code, http, static_cast<std::uint16_t>(dicom), doc},
#include "lucent/core/error_codes.def"
#undef X
};

}  // namespace

const ErrorCodeInfo& error_code_info(ErrorCode code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kTable.size() ? kTable[i] : kTable.back();
}

std::pair<const ErrorCodeInfo*, std::size_t> error_code_table() { return {kTable.data(), kTable.size()}; }

Error Error::with_context(std::string_view context) const {
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Error(code_, std::move(msg));
}

std::string Error::to_string() const {
  std::string s(error_code_info(code_).name);
  s += ": ";
  s += message_;
  return s;
}

}  // namespace lucent
