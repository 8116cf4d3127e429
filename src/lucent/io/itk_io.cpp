// PLACEHOLDER — to be replaced by the ITK implementation.
#include "lucent/io/internal/itk_io.h"

namespace lucent::io::internal {
Result<Image> read_with_itk(const std::filesystem::path& p, Format) { return fail(ErrorCode::kUnsupported, "ITK not built yet: " + p.string()); }
Status write_with_itk(const Image&, const std::filesystem::path& p, Format, const WriteOptions&) { return fail(ErrorCode::kUnsupported, "ITK not built yet: " + p.string()); }
}  // namespace lucent::io::internal
