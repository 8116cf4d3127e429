// ITK ImageIO adapter (private to io): NIfTI, NRRD, MetaImage, PNG, JPEG, TIFF, BMP.
// Converts ITK's LPS geometry (ITK reads NIfTI's RAS into LPS already) to lucent::Geometry;
// multi-component pixels become channels. ITK exceptions are caught here.
#pragma once

#include <filesystem>

#include "lucent/core/error.h"
#include "lucent/core/image.h"
#include "lucent/io/image_io.h"

namespace lucent::io::internal {

[[nodiscard]] Result<Image> read_with_itk(const std::filesystem::path& path, Format format);
// Writes to exactly `path` (the caller handles atomicity); format from the extension.
[[nodiscard]] Status write_with_itk(const Image& image, const std::filesystem::path& path, Format format,
                                    const WriteOptions& options);

}  // namespace lucent::io::internal
