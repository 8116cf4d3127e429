// DICOM reading: single files, classic and enhanced multi-frame files, and series assembled
// from a folder (DCMTK for parsing and JPEG/JPEG-LS/RLE/deflate, OpenJPEG for JPEG 2000).
//
//   auto series = lucent::io::scan_dicom_folder("study/");          // headers only
//   auto vol = lucent::io::read_dicom_series(series->front().files, {});
//
// Pixel values are physical: Rescale Slope/Intercept (or the enhanced Pixel Value
// Transformation) applied, MONOCHROME1 inverted so that higher = brighter, palette colour and
// YBR converted to RGB channels, planar configuration handled. Series slices are ordered by
// position along the slice normal (never by file name or Instance Number).
// Geometry is LPS as DICOM defines it. Errors as in image_io.h; an unsupported transfer
// syntax reads "unsupported transfer syntax <name> (<uid>) in file <path>".
// Thread-safety: free functions; safe concurrently. Slices of a series are decoded straight
// into one output tensor, in parallel over files with at::parallel_for (LibTorch's intra-op
// thread count, see core/threads.h); headers are read twice (scan, decode), pixels once.
//
// Transfer syntaxes: implicit/explicit little endian, explicit big endian, deflated explicit
// little endian, JPEG baseline/extended/lossless (DCMTK), JPEG-LS (DCMTK), RLE Lossless and
// Deflated Image Frame Compression (Lucent, so 1-bit frames work), JPEG 2000 .90/.91/.92/.93
// (OpenJPEG; fragments joined per frame via the Basic Offset Table or codestream markers).
//
// Errors, beyond image_io.h: kInvalidData for files that are not DICOM, truncated, or whose
// header contradicts the pixel data (tag, expected vs found); kUnsupported for valid files
// without pixel data (SR, RT plan, DICOMDIR, KO, PR: "has no Pixel Data (7FE0,0010)") or
// with an unsupported transfer syntax / pixel format; kResourceExhausted for headers that
// declare more than 16 GiB of pixels.
//
// Decisions worth knowing:
//  - Output dtype: uint8 for 8-bit data without rescale, 8-bit colour and 1-bit (SEG) data;
//    when slope is 1 and the intercept an integer: int16 if the rescaled values fit (from the
//    Bits Stored range, or — when that range is wider, e.g. unsigned 16-bit CT with intercept
//    -1024 — from the decoded values: decoded as int16 first and decoded again as int32 only
//    if a value overflows), else int32 (int64 for full-range 32-bit data); float32 for any
//    other rescale and for Float/Double Float Pixel Data. 16-bit palette LUTs give int32 RGB.
//  - Limits against corrupt headers: uncompressed pixel data must fit in the file; compressed
//    data may expand at most 2000x (+64 MiB); Number of Frames at most the file size; repair
//    fills at most as many missing slices as there are real ones.
//  - Enhanced multi-frame files whose frames repeat the same positions (several stacks:
//    temporal positions, echoes, magnitude + phase/B0 maps, SEG segments) are NOT mixed: when
//    every position holds the same number R of frames, the volume is built from the first
//    frame (lowest frame number) at each position and a warning says "P positions x R frames";
//    uneven repeats are kInconsistentSeries.
//  - Classic multi-frame files without per-frame positions (ultrasound cine, secondary
//    capture) become a frame stack along k with spacing 1 mm and a logged warning; RT Dose
//    frames are placed by Grid Frame Offset Vector (3004,000C).
//  - A series of several multi-frame files is combined only when all its frames carry
//    distinct positions; files that repeat the same positions (e.g. one volume per time
//    point, as Siemens XA enhanced fMRI) are kInconsistentSeries: read them one at a time.
//  - Missing Image Position/Orientation on a single file: identity direction, origin 0,
//    logged as a warning. A series needs positions to be ordered (kInconsistentSeries).
//  - Series tolerances: orientation cosines 1e-4; duplicate positions closer than 0.01 mm;
//    spacing within max(1e-3 x spacing, 1e-3 mm); gantry tilt when the slice progression
//    leaves the normal by more than 1e-4 rad; thickness differs by more than 1e-3 relative.
//  - Unsupported: HTJ2K and other transfer syntaxes without a codec, subsampled JPEG 2000
//    components, YBR_PARTIAL_*, Samples per Pixel other than 1 or 3. Segmented palette LUTs
//    are expanded (discrete, linear and indirect segments).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/geometry.h"
#include "lucent/core/image.h"
#include "lucent/io/image_io.h"

namespace lucent::io {

// Header-level facts about one DICOM file (pixel data not decoded).
struct DicomFileInfo {
  std::filesystem::path path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::string modality;
  std::string series_description;
  std::string transfer_syntax_uid;
  std::string transfer_syntax_name;
  bool has_pixel_data = false;
  int rows = 0;
  int columns = 0;
  int frames = 1;
  int samples_per_pixel = 1;
  int bits_allocated = 0;
  int instance_number = 0;
  bool has_position = false;            // Image Position/Orientation (Patient) present
  Vec3 position_lps{0, 0, 0};
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  double pixel_spacing_row_mm = 1.0;    // between rows (first value of Pixel Spacing)
  double pixel_spacing_col_mm = 1.0;    // between columns
  double slice_thickness_mm = 0.0;
  // Added with the implementation (pixel module and value transform of the first frame).
  int bits_stored = 0;
  int pixel_representation = 0;
  std::string photometric_interpretation;
  double spacing_between_slices_mm = 0.0;  // (0018,0088), 0 when absent
  double rescale_slope = 1.0;
  double rescale_intercept = 0.0;
};

struct DicomSeriesSummary {
  std::string series_instance_uid;
  std::string modality;
  std::string description;
  std::vector<DicomFileInfo> files;     // image-bearing files only, unordered
};

// Reads the header of one file. kInvalidData if it is not DICOM or is truncated in the header.
[[nodiscard]] Result<DicomFileInfo> scan_dicom_file(const std::filesystem::path& path);

// Scans a folder (recursively) and groups image files by Series Instance UID. Files that are
// not DICOM, or DICOM without pixel data (SR, RT plan, DICOMDIR), are listed in `skipped`
// with the reason.
struct DicomFolderScan {
  std::vector<DicomSeriesSummary> series;
  std::vector<std::pair<std::filesystem::path, std::string>> skipped;
};
[[nodiscard]] Result<DicomFolderScan> scan_dicom_folder(const std::filesystem::path& folder);

// One file: a 2-D image (1 frame), a 3-D volume (multi-frame with per-frame positions, e.g.
// enhanced CT/MR), or a frame stack (multi-frame without spatial positions, e.g. ultrasound
// cine: frames along k, Metadata records it).
[[nodiscard]] Result<Image> read_dicom_file(const std::filesystem::path& path, const ReadOptions& options = {});

// A series from its files (any order). One file → read_dicom_file.
[[nodiscard]] Result<Image> read_dicom_series(const std::vector<std::filesystem::path>& files,
                                              const ReadOptions& options = {});

// A folder: picks the series (options.series_uid, or the only one; several → kInvalidArgument
// listing the UIDs), then read_dicom_series.
[[nodiscard]] Result<Image> read_dicom_folder(const std::filesystem::path& folder, const ReadOptions& options = {});

}  // namespace lucent::io
