#include "lucent/io/image_io.h"

#include <ATen/ATen.h>

#include <array>
#include <cstring>
#include <fstream>

#include "lucent/core/atomic_file.h"
#include "lucent/io/dicom.h"
#include "lucent/io/internal/gif.h"
#include "lucent/io/internal/itk_io.h"
#include "lucent/io/npz.h"

namespace lucent::io {
namespace fs = std::filesystem;

std::string_view format_name(Format f) {
  switch (f) {
    case Format::kDicom: return "DICOM";
    case Format::kDicomFolder: return "DICOM folder";
    case Format::kNifti: return "NIfTI";
    case Format::kNrrd: return "NRRD";
    case Format::kMetaImage: return "MetaImage";
    case Format::kPng: return "PNG";
    case Format::kJpeg: return "JPEG";
    case Format::kTiff: return "TIFF";
    case Format::kBmp: return "BMP";
    case Format::kGif: return "GIF";
    case Format::kNpz: return "NumPy npz";
    case Format::kUnknown: break;
  }
  return "unknown";
}

namespace {

Format format_from_extension(const fs::path& path) {
  const std::string ext = full_extension(path);
  if (ext == ".nii" || ext == ".nii.gz") return Format::kNifti;
  if (ext == ".nrrd" || ext == ".nhdr") return Format::kNrrd;
  if (ext == ".mha" || ext == ".mhd") return Format::kMetaImage;
  if (ext == ".png") return Format::kPng;
  if (ext == ".jpg" || ext == ".jpeg") return Format::kJpeg;
  if (ext == ".tif" || ext == ".tiff") return Format::kTiff;
  if (ext == ".bmp") return Format::kBmp;
  if (ext == ".gif") return Format::kGif;
  if (ext == ".npz") return Format::kNpz;
  if (ext == ".dcm" || ext == ".dicom" || ext == ".ima") return Format::kDicom;
  return Format::kUnknown;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

Result<Format> detect_format(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(ErrorCode::kNotFound, "no such file or folder: " + path.string());
  if (fs::is_directory(path, ec)) return Format::kDicomFolder;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot stat " + path.string() + ": " + ec.message());
  if (size == 0) return fail(ErrorCode::kInvalidData, "file " + path.string() + " is empty (0 bytes)");

  std::string head(std::min<std::uintmax_t>(size, 352), '\0');
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(ErrorCode::kIoError, "cannot open " + path.string());
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
  }
  // Content first: a DICOM Part 10 preamble, the magic numbers of the other formats.
  if (head.size() >= 132 && head.compare(128, 4, "DICM") == 0) return Format::kDicom;
  if (starts_with(head, "\x89PNG")) return Format::kPng;
  if (starts_with(head, "\xFF\xD8\xFF")) return Format::kJpeg;
  if (starts_with(head, "II*\0") || starts_with(head, std::string_view("MM\0*", 4))) return Format::kTiff;
  if (starts_with(head, "BM")) return Format::kBmp;
  if (starts_with(head, "GIF87a") || starts_with(head, "GIF89a")) return Format::kGif;
  if (starts_with(head, "NRRD")) return Format::kNrrd;
  if (starts_with(head, "PK\x03\x04")) return Format::kNpz;
  if (head.size() >= 348 && (head.compare(344, 4, std::string_view("n+1\0", 4)) == 0 ||
                             head.compare(344, 4, std::string_view("ni1\0", 4)) == 0))
    return Format::kNifti;
  const Format by_ext = format_from_extension(path);
  if (by_ext != Format::kUnknown) return by_ext;
  // DICOM without preamble (raw data set) is read by DCMTK as well; let it decide.
  return Format::kDicom;
}

Result<Image> read_image(const fs::path& path, const ReadOptions& options) {
  auto format = detect_format(path);
  if (!format) return std::unexpected(format.error());
  switch (*format) {
    case Format::kDicomFolder: return read_dicom_folder(path, options);
    case Format::kDicom: return read_dicom_file(path, options);
    case Format::kGif: return internal::read_gif(path);
    case Format::kNpz: {
      auto split = read_medmnist(path, options.npz_split);
      if (!split) return std::unexpected(split.error());
      const int64_t n = split->images.size(0);
      if (options.npz_index < 0 || options.npz_index >= n)
        return fail(ErrorCode::kInvalidArgument, "image index " + std::to_string(options.npz_index) +
                                                     " is outside the " + options.npz_split + " split of " +
                                                     path.string() + " (0.." + std::to_string(n - 1) + ")");
      Image img;
      img.data = split->images[options.npz_index].clone();
      img.geometry.spatial_dims = split->spatial_dims;
      img.meta.format = "MedMNIST";
      return img;
    }
    default: return internal::read_with_itk(path, *format);
  }
}

Status write_image(const Image& image, const fs::path& path, const WriteOptions& options) {
  const Format format = format_from_extension(path);
  switch (format) {
    case Format::kNifti:
    case Format::kNrrd:
    case Format::kMetaImage:
    case Format::kPng:
    case Format::kTiff:
      break;
    default:
      return fail(ErrorCode::kInvalidArgument,
                  "cannot write " + path.string() +
                      ": unknown output extension; use .nii, .nii.gz, .nrrd, .mha, .mhd, .png or .tif");
  }
  if (!image.data.defined() || image.data.numel() == 0)
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": the image is empty");
  std::error_code ec;
  if (!options.overwrite && fs::exists(path, ec))
    return fail(ErrorCode::kAlreadyExists, path.string() + " exists; remove it or allow overwriting");
  if (format == Format::kMetaImage && full_extension(path) == ".mhd") {
    // .mhd writes a header plus a separate raw file, and two files cannot be renamed into
    // place atomically: refuse clearly instead of risking a half-written pair.
    return fail(ErrorCode::kInvalidArgument,
                "cannot write " + path.string() + ": .mhd writes two files and cannot be written atomically; use .mha");
  }
  return write_atomically(path, [&](const fs::path& tmp) {
    return internal::write_with_itk(image, tmp, format, options);
  });
}

}  // namespace lucent::io
