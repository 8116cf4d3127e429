// PLACEHOLDER — to be replaced by the npz implementation.
#include "lucent/io/npz.h"

namespace lucent::io {
Result<std::map<std::string, at::Tensor>> read_npz(const std::filesystem::path& p) { return fail(ErrorCode::kUnsupported, "npz not built yet: " + p.string()); }
Result<at::Tensor> parse_npy(std::string_view, const std::string& n) { return fail(ErrorCode::kUnsupported, "npy not built yet: " + n); }
Result<MedMnistSplit> read_medmnist(const std::filesystem::path& p, const std::string&) { return fail(ErrorCode::kUnsupported, "npz not built yet: " + p.string()); }
}  // namespace lucent::io
