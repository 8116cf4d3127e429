// Shared pieces of the DICOM reader (dicom_reader.cpp: headers and pixel decoding;
// dicom_series.cpp: folder scans and volume assembly). Internal to lucent::io; no DCMTK types.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/geometry.h"
#include "lucent/core/image.h"
#include "lucent/io/dicom.h"

namespace lucent::io::internal {

enum class SampleKind { kInteger, kFloat32, kFloat64 };

// The pixel module of one file (Image Pixel module + which pixel data element is present).
struct PixelLayout {
  int rows = 0;
  int cols = 0;
  int spp = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  int high_bit = 0;
  int pixel_representation = 0;
  int planar_configuration = 0;
  int64_t frames = 1;
  std::string photometric;  // as stored
  SampleKind kind = SampleKind::kInteger;
  int palette_bits = 0;     // bits per palette LUT entry (PALETTE COLOR only)
};

// Geometry and value transform of one frame (from the top level or functional groups).
struct FramePlane {
  bool has_position = false;
  Vec3 position{0, 0, 0};
  bool has_orientation = false;
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  bool has_spacing = false;
  double spacing_row_mm = 1.0;  // Pixel Spacing[0]: between rows
  double spacing_col_mm = 1.0;  // Pixel Spacing[1]: between columns
  double thickness_mm = 0.0;
  double spacing_between_mm = 0.0;
  bool has_rescale = false;
  double slope = 1.0;
  double intercept = 0.0;
};

struct ParsedHeader {
  DicomFileInfo info;
  PixelLayout layout;
  bool looks_like_dicom = false;      // meta header or SOP Class present
  uint64_t file_size = 0;
  bool encapsulated = false;          // compressed pixel data or deflated stream
  bool has_pixel_data = false;
  bool enhanced = false;              // per-frame functional groups present
  bool per_frame_positions = false;   // each frame has its own Plane Position
  std::vector<FramePlane> frames;     // one per frame (size == layout.frames when has_pixel_data)
  std::vector<double> grid_frame_offsets;  // RT Dose (3004,000C), empty if absent
  Metadata meta;
};

// Reads the header only (pixel data is skipped, not loaded). Errors: kNotFound, kInvalidData.
[[nodiscard]] Result<ParsedHeader> read_header(const std::filesystem::path& path, bool keep_attributes);

// How stored values become output values; decided once per output volume from the headers.
struct OutputPlan {
  int channels = 1;
  at::ScalarType dtype = at::kFloat;
  // When the header range does not fit int16 but the data usually do (e.g. unsigned 16-bit CT
  // with intercept -1024), decode optimistically into int16 and redo it as `fallback` only if
  // a value overflows. kUndefined = no fallback.
  at::ScalarType fallback = at::ScalarType::Undefined;
};
[[nodiscard]] OutputPlan plan_output(const std::vector<const ParsedHeader*>& headers);

// Decodes frames `frames[i]` of `path` into slab `slabs[i]` of `out` (C, Z, Y, X), applying
// the photometric conversion and the per-frame rescale `planes[i]`. Loads the file once.
struct FrameTarget {
  int64_t frame = 0;
  int64_t slab = 0;
  double slope = 1.0;
  double intercept = 0.0;
};
// `overflow` (optional) is set when an integer output value had to be clamped.
[[nodiscard]] Status decode_into(const std::filesystem::path& path, const ParsedHeader& header,
                                 const std::vector<FrameTarget>& targets, at::Tensor& out,
                                 std::atomic<bool>* overflow = nullptr);

// Checks the pixel module for impossible values; message names the file and tag.
[[nodiscard]] Status validate_layout(const ParsedHeader& header);

}  // namespace lucent::io::internal
