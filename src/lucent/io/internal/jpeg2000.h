// JPEG 2000 (J2K codestream or JP2 file) decoding from memory with OpenJPEG, for the DICOM
// transfer syntaxes 1.2.840.10008.1.2.4.90/.91/.92/.93, which Debian's DCMTK cannot decode.
//
// Internal to lucent::io. Thread-safe: every call owns its codec and stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::io::internal {

// One decoded frame: `components` planes of width*height samples each (planar, row-major),
// values as the codestream stores them (sign already applied when `is_signed`); the inverse
// multi-component transform (RCT/ICT) is applied by OpenJPEG when the codestream asks for it.
struct J2kFrame {
  int width = 0;
  int height = 0;
  int components = 0;
  int precision = 0;
  bool is_signed = false;
  std::vector<int32_t> samples;  // components * height * width
};

// Decodes one frame. `expected_*` are the DICOM Rows/Columns/Samples per Pixel; a codestream
// that declares other dimensions is refused before any large allocation. `what` names the
// file and frame in error messages. Errors: kInvalidData (corrupt, truncated, mismatching
// dimensions), kUnsupported (subsampled components).
[[nodiscard]] Result<J2kFrame> decode_j2k(const uint8_t* data, std::size_t size, int expected_rows,
                                          int expected_cols, int expected_components,
                                          const std::string& what);

}  // namespace lucent::io::internal
