// Reading and writing images in every format Lucent supports, behind one entry point.
//
//   auto img = lucent::io::read_image("ct_series/");          // DICOM folder → 3-D volume
//   auto st  = lucent::io::write_image(*img, "ct.nii.gz");     // format by extension, atomic
//
// Formats: DICOM (file, multi-frame, series from a folder; DCMTK + OpenJPEG), NIfTI (.nii,
// .nii.gz; NIfTI-1 only — NIfTI-2 is kUnsupported with ITK 5.2), NRRD (.nrrd, .nhdr), MetaImage
// (.mha, .mhd), PNG, JPEG, TIFF, BMP (ITK ImageIO), GIF (giflib: first frame, palette applied),
// MedMNIST .npz (one image of one split). Readers return LPS geometry whatever the file's
// convention. Writers: NIfTI, NRRD, MHA, PNG and TIFF (2-D), always atomic; .mhd is refused
// (two files cannot be renamed atomically).
//
// Errors: kNotFound (missing path), kInvalidData (corrupt/truncated/not an image),
// kUnsupported (valid file, unsupported feature — e.g. transfer syntax), kInconsistentSeries
// (a folder's slices do not form a regular volume under the chosen policy), kInvalidArgument
// (bad options, e.g. unknown series UID or unwritable extension), kIoError.
// Messages name the file (and the series UID / tag where relevant) and the next step.
// Thread-safety: free functions, safe to call concurrently on different paths.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/image.h"

namespace lucent::io {

enum class Format { kUnknown, kDicom, kDicomFolder, kNifti, kNrrd, kMetaImage, kPng, kJpeg, kTiff, kBmp, kGif, kNpz };
[[nodiscard]] std::string_view format_name(Format f);

// How a DICOM series with irregular slices is handled. Neither policy guesses silently.
//  kStrict: missing slices, duplicate positions, non-uniform spacing, mixed orientations,
//           gantry tilt and variable slice thickness are errors (kInconsistentSeries).
//  kRepair: documented repairs, each logged as a warning and recorded in Image::meta.notes:
//           duplicates with identical pixels are dropped; missing slices (gaps that are
//           whole multiples of the regular spacing) are filled by linear interpolation;
//           gantry tilt is corrected by resampling each slice onto an orthogonal grid;
//           variable slice thickness is accepted. Mixed orientations are always an error.
enum class SeriesPolicy { kStrict, kRepair };

struct ReadOptions {
  SeriesPolicy policy = SeriesPolicy::kStrict;
  std::string series_uid;               // pick one series from a folder with several
  bool keep_dicom_attributes = false;   // fill Metadata::dicom_attributes
  std::string npz_split = "test";       // MedMNIST split: train | val | test
  int64_t npz_index = 0;                // which image of the split
};

struct WriteOptions {
  bool overwrite = true;                // false → kAlreadyExists when the target exists
  bool compress = true;                 // for formats that support it (NRRD, MHA)
};

// Detects the format from content (DICM preamble, NIfTI/NRRD magic, zip) and extension.
[[nodiscard]] Result<Format> detect_format(const std::filesystem::path& path);

[[nodiscard]] Result<Image> read_image(const std::filesystem::path& path, const ReadOptions& options = {});

// Format chosen by the target's extension; kInvalidArgument for an unknown or read-only one.
[[nodiscard]] Status write_image(const Image& image, const std::filesystem::path& path,
                                 const WriteOptions& options = {});

}  // namespace lucent::io
