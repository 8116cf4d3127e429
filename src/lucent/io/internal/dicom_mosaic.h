// Siemens mosaic detection and unpacking (private to io); see dicom_mosaic.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lucent/core/error.h"
#include "lucent/core/image.h"

namespace lucent::io::internal {

struct MosaicInfo {
  int images = 0;                 // (0019,100A) NumberOfImagesInMosaic
  double slice_spacing_mm = 0.0;  // (0018,0088), else (0018,0050); 0 = unknown
};

// nullopt when the file is not a Siemens mosaic.
[[nodiscard]] Result<std::optional<MosaicInfo>> detect_mosaic(const std::filesystem::path& path);
// A 2-D tiled image (C, rows, cols) → volume (C, images, rows/m, cols/m) with its geometry.
[[nodiscard]] Result<Image> unpack_mosaic(Image tiled, const MosaicInfo& info, const std::string& path);

}  // namespace lucent::io::internal
