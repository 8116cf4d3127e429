// ITK ImageIO adapter: NIfTI, NRRD, MetaImage, PNG, JPEG, TIFF, BMP.
//
// Uses the ImageIO objects directly (no templated reader/writer pipeline): one code path for
// every pixel type, and fast to compile. The ImageIO factories are registered explicitly, once
// (the project does not use ITK's generated factory-register manager).
//
// Reading, pixel types → tensor dtypes (LibTorch 1.13 has no uint16/uint32/uint64):
//   uint8 → uint8, int8 → int8, int16 → int16, uint16 → int32, int32 → int32,
//   uint32 → int64, int64 → int64, uint64 → int64 (kUnsupported when a value exceeds 2^63-1),
//   float → float32, double → float64 (kept: no silent loss of precision).
// Components become channels: the tensor is (C, Z, Y, X) or (C, Y, X); ITK's interleaved
// buffer is permuted to channels first. NIfTI scl_slope/scl_inter are applied by ITK itself
// (it reports float pixels when the scaling is not the identity), so values are physical.
// Dimensions: 2 and 3 are read as such (a 3-D file with one slice stays 3-D); higher
// dimensions whose extra sizes are all 1 are read as 3-D; anything else is kUnsupported.
// Geometry: ITK already gives LPS (its NIfTI reader converts RAS); a 2-D image gets z = 0,
// spacing_z = 1 and the normal (0, 0, 1) as its third direction column.
//
// Writing: NIfTI/NRRD/MetaImage are always written 3-D (a 2-D image as one slice) so that its
// position in the patient survives; PNG/TIFF hold 2-D images only (a 3-D image with one slice
// is written as that slice). Tensor dtypes → file component types:
//   uint8 → uint8, bool → uint8 (0/1), int8 → int8, int16 → int16, int32 → int32,
//   int64 → int32 when every value fits (kInvalidArgument otherwise), float16/bfloat16/float32
//   → float32, float64 → float64.
//   PNG takes uint8/bool as 8-bit and other integer tensors with values in 0..65535 as 16-bit;
//   float tensors and negative values are refused (normalise to uint8 first, or write .tif/.nii.gz).
//   TIFF takes uint8/bool, int16 and float (float64 is stored as float32); other integers as
//   uint16 (values 0..65535) or int16 (values -32768..32767), refused otherwise.
// Channels: 1 → scalar; 3 and 4 of uint8 (or any type in PNG/TIFF) → RGB / RGBA; otherwise a
// vector pixel.
//
// Errors: a file routed here by its content or extension that no ITK reader accepts is
// kInvalidData (a damaged header, e.g. a NIfTI with a wrong sizeof_hdr), as is any ITK
// exception while reading; kUnsupported is for valid files Lucent does not handle (4-D, odd
// pixel types). Some readers accept truncated files silently (the NIfTI library zero-fills
// missing voxels, MetaIO only warns, libjpeg fills with grey): NIfTI, MetaImage and JPEG files
// are checked for completeness here first. Write errors name the destination, not the
// temporary sibling write_image passes in.
#include "lucent/io/internal/itk_io.h"

#include <ATen/ATen.h>
#include <itkBMPImageIOFactory.h>
#include <itkImageIOBase.h>
#include <itkImageIOFactory.h>
#include <itkJPEGImageIOFactory.h>
#include <itkMacro.h>
#include <itkObject.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>
#include <itkPNGImageIOFactory.h>
#include <itkTIFFImageIOFactory.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lucent/core/atomic_file.h"

namespace lucent::io::internal {
namespace fs = std::filesystem;

namespace {

using IOComponent = itk::IOComponentEnum;
using IOPixel = itk::IOPixelEnum;

void register_itk_factories() {
  static std::once_flag once;
  std::call_once(once, [] {
    // ITK prints warnings straight to stderr (e.g. "Analyze file ... deprecated"); Lucent reports
    // through its own errors and logs instead.
    itk::Object::GlobalWarningDisplayOff();
    itk::NiftiImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::MetaImageIOFactory::RegisterOneFactory();
    itk::PNGImageIOFactory::RegisterOneFactory();
    itk::JPEGImageIOFactory::RegisterOneFactory();
    itk::TIFFImageIOFactory::RegisterOneFactory();
    itk::BMPImageIOFactory::RegisterOneFactory();
  });
}

constexpr std::string_view kReadableExtensions =
    ".nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd, .png, .jpg, .jpeg, .tif, .tiff, .bmp";

// ITK descriptions carry the source file and line of the throw and often trailing newlines;
// keep the human part.
std::string trim_itk_description(const char* description) {
  std::string s = description ? description : "";
  // "ITK ERROR: NrrdImageIO(0x55d…): Read: …" → "Read: …"
  if (s.rfind("ITK ERROR: ", 0) == 0) {
    const auto close = s.find("): ");
    s = close != std::string::npos ? s.substr(close + 3) : s.substr(11);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.erase(s.begin());
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > 400) s = s.substr(0, 400) + "...";
  return s;
}

std::string format_from_io(const itk::ImageIOBase& io, Format fallback) {
  const std::string name = io.GetNameOfClass();
  if (name == "NiftiImageIO") return "NIfTI";
  if (name == "NrrdImageIO") return "NRRD";
  if (name == "MetaImageIO") return "MetaImage";
  if (name == "PNGImageIO") return "PNG";
  if (name == "JPEGImageIO") return "JPEG";
  if (name == "TIFFImageIO") return "TIFF";
  if (name == "BMPImageIO") return "BMP";
  return std::string(format_name(fallback));
}

std::string join_sizes(const std::vector<uint64_t>& sizes, const char* sep = "×") {
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(sizes[i]);
  }
  return s;
}

// The dtype ITK's raw buffer is read into (same width as the file's component) and the dtype
// it ends up as.
struct ReadTypes {
  at::ScalarType raw;
  at::ScalarType final_type;
};

Result<ReadTypes> read_types(IOComponent c, const fs::path& path) {
  switch (c) {
    case IOComponent::UCHAR: return ReadTypes{at::kByte, at::kByte};
    case IOComponent::CHAR: return ReadTypes{at::kChar, at::kChar};
    case IOComponent::SHORT: return ReadTypes{at::kShort, at::kShort};
    case IOComponent::USHORT: return ReadTypes{at::kShort, at::kInt};
    case IOComponent::INT: return ReadTypes{at::kInt, at::kInt};
    case IOComponent::UINT: return ReadTypes{at::kInt, at::kLong};
    case IOComponent::LONG:
    case IOComponent::LONGLONG:
    case IOComponent::ULONG:
    case IOComponent::ULONGLONG:
      static_assert(sizeof(long) == 8 && sizeof(long long) == 8, "LP64 assumed");
      return ReadTypes{at::kLong, at::kLong};
    case IOComponent::FLOAT: return ReadTypes{at::kFloat, at::kFloat};
    case IOComponent::DOUBLE: return ReadTypes{at::kDouble, at::kDouble};
    default: break;
  }
  return fail(ErrorCode::kUnsupported, "cannot read " + path.string() + ": pixel component type " +
                                           itk::ImageIOBase::GetComponentTypeAsString(c) +
                                           " is not supported (expected an integer or float type)");
}

// NIfTI-1 header checks the NIfTI library skips: it accepts a wrong sizeof_hdr when dim[0] looks
// plausible, and it zero-fills voxels missing from a truncated file without an error. A file
// that fails here would otherwise be read as plausible-looking wrong data.
Status check_nifti_file(const fs::path& path) {
  auto invalid = [&](const std::string& why) {
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": " + why);
  };
  // gzopen reads plain and gzip-compressed files alike.
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return fail(ErrorCode::kIoError, "cannot open " + path.string());
  unsigned char h[352] = {};
  const int got = gzread(gz, h, sizeof h);
  gzclose(gz);
  if (got < 348) return invalid("the NIfTI header is truncated (" + std::to_string(std::max(got, 0)) + " of 348 bytes)");

  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, h, 4);
  if (sizeof_hdr == 540 || sizeof_hdr == static_cast<int32_t>(__builtin_bswap32(540)))
    return fail(ErrorCode::kUnsupported,
                "cannot read " + path.string() +
                    ": it is NIfTI-2 (540-byte header), which the ITK 5.2 NIfTI reader does not support; "
                    "convert it to NIfTI-1 (e.g. nibabel.Nifti1Image(img.dataobj, img.affine).to_filename(...))");
  const bool swapped = sizeof_hdr == static_cast<int32_t>(__builtin_bswap32(348));
  if (sizeof_hdr != 348 && !swapped)
    return invalid("NIfTI header field sizeof_hdr is " + std::to_string(sizeof_hdr) +
                   ", expected 348 (NIfTI-1); the header is corrupt");
  // NIfTI-1 field offsets.
  constexpr size_t kDim = 40, kBitpix = 72, kPixdim = 76, kVoxOffset = 108, kQformCode = 252, kSformCode = 254,
                   kQuatern = 256, kSrow = 280, kMagic = 344;
  auto i16 = [&](size_t off) {
    uint16_t v;
    std::memcpy(&v, h + off, 2);
    if (swapped) v = __builtin_bswap16(v);
    return static_cast<int16_t>(v);
  };
  auto f32 = [&](size_t off) {
    uint32_t bits;
    std::memcpy(&bits, h + off, 4);
    if (swapped) bits = __builtin_bswap32(bits);
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  };

  const int ndim = i16(kDim);
  if (ndim < 1 || ndim > 7) return invalid("NIfTI dim[0] is " + std::to_string(ndim) + ", expected 1..7; the header is corrupt");
  uint64_t voxels = 1;
  for (int d = 1; d <= ndim; ++d) {
    const int n = i16(kDim + 2 * static_cast<size_t>(d));
    if (n < 1) return invalid("NIfTI dim[" + std::to_string(d) + "] is " + std::to_string(n) + "; the header is corrupt");
    if (__builtin_mul_overflow(voxels, static_cast<uint64_t>(n), &voxels))
      return invalid("NIfTI dimensions overflow; the header is corrupt");
  }
  // ITK's orientation code runs an SVD that never returns on NaN/Inf (netlib srotg loops), so
  // the fields it builds the direction matrix from must be finite and of sane magnitude.
  auto check_finite = [&](size_t off, int count, const char* field) -> Status {
    for (int i = 0; i < count; ++i) {
      const float v = f32(off + 4 * static_cast<size_t>(i));
      if (!std::isfinite(v) || std::abs(v) > 1e9)
        return invalid(std::string("NIfTI ") + field + "[" + std::to_string(i) + "] is " + std::to_string(v) +
                       "; the header is corrupt");
    }
    return ok();
  };
  if (auto st = check_finite(kPixdim, 1 + ndim, "pixdim"); !st) return st;
  if (i16(kQformCode) > 0) {
    if (auto st = check_finite(kQuatern, 6, "quatern_b/c/d,qoffset_x/y/z"); !st) return st;
  }
  if (i16(kSformCode) > 0) {
    if (auto st = check_finite(kSrow, 12, "srow_x/y/z"); !st) return st;
  }
  const int bitpix = i16(kBitpix);
  if (bitpix <= 0 || bitpix % 8 != 0) return ok();  // unusual types: left to ITK
  if (std::memcmp(h + kMagic, "n+1", 3) != 0) return ok();  // .hdr/.img pair: data in another file
  uint64_t vox_offset = 352;
  const float v = f32(kVoxOffset);
  if (std::isfinite(v) && v > 1e15f)
    return invalid("NIfTI vox_offset is " + std::to_string(v) + "; the header is corrupt");
  if (std::isfinite(v) && v > 352.0f) vox_offset = static_cast<uint64_t>(v);
  uint64_t needed = 0;
  if (__builtin_mul_overflow(voxels, static_cast<uint64_t>(bitpix / 8), &needed) ||
      __builtin_add_overflow(needed, vox_offset, &needed))
    return invalid("NIfTI dimensions overflow; the header is corrupt");

  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot stat " + path.string() + ": " + ec.message());
  const bool is_gzip = file_size >= 18 && [&] {
    std::ifstream in(path, std::ios::binary);
    unsigned char m[2] = {};
    in.read(reinterpret_cast<char*>(m), 2);
    return m[0] == 0x1f && m[1] == 0x8b;
  }();
  if (!is_gzip) {
    if (file_size < needed)
      return invalid("the file is truncated: its header needs " + std::to_string(needed) + " bytes, the file has " +
                     std::to_string(file_size));
    return ok();
  }
  // Fast path: the gzip trailer's ISIZE (uncompressed size mod 2^32) of a complete single-member
  // file. Otherwise decompress the whole stream to find out.
  {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(file_size - 4));
    unsigned char t[4] = {};
    in.read(reinterpret_cast<char*>(t), 4);
    const uint32_t isize = static_cast<uint32_t>(t[0]) | (static_cast<uint32_t>(t[1]) << 8) |
                           (static_cast<uint32_t>(t[2]) << 16) | (static_cast<uint32_t>(t[3]) << 24);
    // zlib cannot expand more than ~1032:1, so a header declaring more than that is checked the slow way
    // (which never allocates by the header's word).
    if (in && isize == static_cast<uint32_t>(needed) && needed / 1032 <= file_size) return ok();
  }
  gz = gzopen(path.c_str(), "rb");
  if (!gz) return fail(ErrorCode::kIoError, "cannot open " + path.string());
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  int n;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) total += static_cast<uint64_t>(n);
  int errnum = Z_OK;
  const std::string zmsg = gzerror(gz, &errnum);
  gzclose(gz);
  if (n < 0 || errnum != Z_OK)
    return invalid("the gzip stream is truncated or corrupt (" + zmsg + ") after " + std::to_string(total) +
                   " of " + std::to_string(needed) + " bytes");
  if (total < needed)
    return invalid("the file is truncated: its header needs " + std::to_string(needed) +
                   " uncompressed bytes, the stream holds " + std::to_string(total));
  return ok();
}

// libjpeg only warns about a truncated file ("Premature end of JPEG file") and ITK fills the
// rest with grey. A complete JPEG has an end-of-image marker after its last start-of-scan (an
// EXIF thumbnail's markers come before the main image's scans; entropy-coded data never
// contains FF D9 because 0xFF is stuffed).
Status check_jpeg_complete(const fs::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  const std::string& b = *bytes;
  const auto sos = b.rfind(std::string("\xFF\xDA", 2));
  if (sos == std::string::npos)
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": the JPEG has no image scan (corrupt or truncated)");
  if (b.find(std::string("\xFF\xD9", 2), sos) == std::string::npos)
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() +
                                             ": the JPEG ends without its end-of-image marker (truncated)");
  return ok();
}

// MetaIO prints "data not read completely" and returns success for a short file. Checks that
// the data the header declares are present (uncompressed: DimSize × channels × element size;
// compressed: CompressedDataSize). Headers it does not understand are left to ITK.
Status check_metaimage_complete(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIoError, "cannot open " + path.string());
  std::string line, data_file;
  std::vector<uint64_t> dims;
  uint64_t channels = 1, element_size = 0, compressed_size = 0, header_size = 0;
  bool compressed = false, header_size_auto = false;
  auto trim = [](std::string v) {
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
    return v;
  };
  int lines = 0;
  while (data_file.empty() && std::getline(in, line) && ++lines < 200) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    std::istringstream vs(value);
    if (key == "DimSize") {
      uint64_t d;
      while (vs >> d) dims.push_back(d);
    } else if (key == "ElementNumberOfChannels") {
      vs >> channels;
    } else if (key == "CompressedData") {
      compressed = value == "True" || value == "true";
    } else if (key == "CompressedDataSize") {
      vs >> compressed_size;
    } else if (key == "HeaderSize") {
      long long h = 0;
      vs >> h;
      if (h < 0) header_size_auto = true;
      else header_size = static_cast<uint64_t>(h);
    } else if (key == "ElementType") {
      static const std::pair<const char*, uint64_t> kSizes[] = {
          {"MET_CHAR", 1}, {"MET_UCHAR", 1}, {"MET_SHORT", 2}, {"MET_USHORT", 2}, {"MET_INT", 4},
          {"MET_UINT", 4}, {"MET_FLOAT", 4}, {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8}, {"MET_DOUBLE", 8}};
      for (const auto& [name, size] : kSizes)
        if (value == name) element_size = size;
    } else if (key == "ElementDataFile") {
      data_file = value;
    }
  }
  if (data_file.empty() || dims.empty() || element_size == 0 || header_size_auto) return ok();
  uint64_t needed = channels * element_size;
  for (const uint64_t d : dims)
    if (__builtin_mul_overflow(needed, d, &needed)) return ok();
  if (compressed) needed = compressed_size;
  if (needed == 0) return ok();

  std::error_code ec;
  uint64_t available = 0;
  fs::path data_path = path;
  if (data_file == "LOCAL") {
    const auto pos = in.tellg();
    if (pos < 0) return ok();
    available = fs::file_size(path, ec) - static_cast<uint64_t>(pos);
  } else {
    if (data_file.find('%') != std::string::npos || data_file.rfind("LIST", 0) == 0) return ok();
    data_path = path.parent_path() / data_file;
    const uint64_t size = fs::file_size(data_path, ec);
    if (ec) return fail(ErrorCode::kNotFound, "cannot read " + path.string() + ": its data file " + data_path.string() +
                                                  " is missing");
    available = size >= header_size ? size - header_size : 0;
  }
  if (ec) return ok();
  if (available < needed)
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": the image data are truncated (" +
                                             std::to_string(available) + " of " + std::to_string(needed) + " " +
                                             (compressed ? "compressed " : "") + "bytes present in " +
                                             data_path.string() + ")");
  return ok();
}

Result<Image> read_impl(const fs::path& path, Format format) {
  register_itk_factories();
  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::CommonEnums::IOFileMode::ReadMode);
  if (!io) {
    if (format == Format::kNifti) {
      if (auto st = check_nifti_file(path); !st) return std::unexpected(st.error());
    }
    // The file was routed here by its content or extension; when no reader accepts it, the
    // header is damaged (e.g. a NIfTI whose sizeof_hdr is wrong) rather than of an unknown kind.
    switch (format) {
      case Format::kNifti:
      case Format::kNrrd:
      case Format::kMetaImage:
      case Format::kPng:
      case Format::kJpeg:
      case Format::kTiff:
      case Format::kBmp:
        return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": it looks like " +
                                                 std::string(format_name(format)) +
                                                 " (by content or extension) but the " + std::string(format_name(format)) +
                                                 " reader rejects its header; the file is corrupt or truncated");
      default: break;
    }
    return fail(ErrorCode::kUnsupported, "cannot read " + path.string() +
                                             ": no image reader recognises this file; supported: " +
                                             std::string(kReadableExtensions) + " (and DICOM, .npz)");
  }
  // Completeness checks for the readers that accept a truncated file silently.
  const std::string_view io_name = io->GetNameOfClass();
  if (io_name == "NiftiImageIO") {
    if (auto st = check_nifti_file(path); !st) return std::unexpected(st.error());
  } else if (io_name == "MetaImageIO") {
    if (auto st = check_metaimage_complete(path); !st) return std::unexpected(st.error());
  } else if (io_name == "JPEGImageIO") {
    if (auto st = check_jpeg_complete(path); !st) return std::unexpected(st.error());
  }
  io->SetFileName(path.string());
  io->ReadImageInformation();

  const unsigned ndim = io->GetNumberOfDimensions();
  std::vector<uint64_t> sizes(ndim);
  for (unsigned d = 0; d < ndim; ++d) sizes[d] = io->GetDimensions(d);
  const std::string file_format = format_from_io(*io, format);
  if (ndim < 2)
    return fail(ErrorCode::kUnsupported, "cannot read " + path.string() + ": " + file_format + " image has " +
                                             std::to_string(ndim) + " dimension(s) (" + join_sizes(sizes) +
                                             "); Lucent reads 2-D and 3-D images");
  if (ndim > 3) {
    for (unsigned d = 3; d < ndim; ++d)
      if (sizes[d] != 1)
        return fail(ErrorCode::kUnsupported,
                    "cannot read " + path.string() + ": " + file_format + " image is " + std::to_string(ndim) +
                        "-D (size " + join_sizes(sizes) +
                        "); Lucent reads 2-D and 3-D images — split the volumes (e.g. fslsplit) and read one");
  }
  const int spatial_dims = ndim == 2 ? 2 : 3;
  const unsigned ncomp = io->GetNumberOfComponents();
  if (ncomp < 1)
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": image declares 0 components per pixel");
  const IOComponent comp = io->GetComponentType();
  auto types = read_types(comp, path);
  if (!types) return std::unexpected(types.error());

  const size_t comp_size = io->GetComponentSize();
  if (comp_size != at::elementSize(types->raw))
    return fail(ErrorCode::kUnsupported, "cannot read " + path.string() + ": component type " +
                                             itk::ImageIOBase::GetComponentTypeAsString(comp) + " has " +
                                             std::to_string(comp_size) + " bytes, which Lucent cannot map");

  // Tensor shape in memory order, slowest first: (Z, Y, X, C) or (Y, X, C).
  std::vector<int64_t> shape;
  uint64_t count = ncomp;
  for (int d = spatial_dims - 1; d >= 0; --d) {
    if (sizes[d] == 0 || sizes[d] > (uint64_t{1} << 31))
      return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": implausible image size " +
                                               join_sizes(sizes));
    shape.push_back(static_cast<int64_t>(sizes[d]));
    if (__builtin_mul_overflow(count, sizes[d], &count))
      return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": implausible image size " +
                                               join_sizes(sizes));
  }
  shape.push_back(static_cast<int64_t>(ncomp));
  uint64_t buffer_bytes = 0;
  if (__builtin_mul_overflow(count, comp_size, &buffer_bytes) ||
      buffer_bytes != static_cast<uint64_t>(io->GetImageSizeInBytes()))
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": header size " + join_sizes(sizes) +
                                             " does not match the pixel buffer size");

  itk::ImageIORegion region(ndim);
  for (unsigned d = 0; d < ndim; ++d) {
    region.SetIndex(d, 0);
    region.SetSize(d, sizes[d]);
  }
  io->SetIORegion(region);

  at::Tensor raw = at::empty(shape, at::TensorOptions().dtype(types->raw));
  io->Read(raw.data_ptr());

  at::Tensor data = raw;
  switch (comp) {
    case IOComponent::USHORT: data = raw.to(at::kInt).bitwise_and(0xFFFF); break;
    case IOComponent::UINT:
    case IOComponent::ULONG:
    case IOComponent::ULONGLONG:
      if (comp_size == 4) {
        data = raw.to(at::kLong).bitwise_and(int64_t{0xFFFFFFFF});
      } else if (raw.numel() > 0 && raw.lt(0).any().item<bool>()) {
        return fail(ErrorCode::kUnsupported, "cannot read " + path.string() +
                                                 ": uint64 pixel values above 2^63-1 do not fit int64");
      }
      break;
    default: break;
  }
  // (…, C) → (C, …)
  std::vector<int64_t> perm;
  perm.push_back(spatial_dims);
  for (int d = 0; d < spatial_dims; ++d) perm.push_back(d);
  data = data.permute(perm).contiguous();

  Image img;
  img.data = std::move(data);
  Geometry& g = img.geometry;
  g.spatial_dims = spatial_dims;
  const unsigned gd = std::min(ndim, 3u);
  for (unsigned c = 0; c < gd; ++c) {
    g.origin_lps[c] = io->GetOrigin(c);
    g.spacing_mm[c] = io->GetSpacing(c);
    const std::vector<double> col = io->GetDirection(c);
    Vec3 v{0, 0, 0};
    for (unsigned r = 0; r < gd && r < col.size(); ++r) v[r] = col[r];
    g.set_direction_column(static_cast<int>(c), v);
  }
  if (spatial_dims == 2) {
    g.origin_lps[2] = 0.0;
    g.spacing_mm[2] = 1.0;
    Vec3 normal = cross(g.direction_column(0), g.direction_column(1));
    if (norm(normal) < 1e-9) normal = {0, 0, 1};
    g.set_direction_column(2, normalized(normal));
  }
  for (int c = 0; c < 3; ++c)
    if (!(g.spacing_mm[c] > 0.0) || !std::isfinite(g.spacing_mm[c]))
      return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": spacing along axis " +
                                               std::to_string(c) + " is " + std::to_string(g.spacing_mm[c]) +
                                               " (must be positive)");
  img.meta.format = file_format;
  return img;
}

// ---------------------------------------------------------------------------------------------
// Writing

// write_image hands us its temporary sibling "<dir>/.<stem>.tmp-<pid>-<n><ext>" (see
// core/atomic_file.h); messages name the file the user asked for.
fs::path user_facing_path(const fs::path& tmp) {
  const std::string name = tmp.filename().string();
  const auto mark = name.rfind(".tmp-");
  if (name.size() < 2 || name[0] != '.' || mark == std::string::npos || mark < 1) return tmp;
  size_t i = mark + 5, digits = 0;
  for (int group = 0; group < 2; ++group) {
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i, ++digits;
    if (group == 0) {
      if (i >= name.size() || name[i] != '-') return tmp;
      ++i;
    }
  }
  if (digits < 2) return tmp;
  return tmp.parent_path() / (name.substr(1, mark - 1) + name.substr(i));
}

bool is_2d_only(Format f) { return f == Format::kPng || f == Format::kTiff || f == Format::kJpeg || f == Format::kBmp; }

std::string dims_text(const at::Tensor& t, int spatial_dims) {
  std::string s;
  for (int64_t d = t.dim() - spatial_dims; d < t.dim(); ++d) {
    if (!s.empty()) s += "×";
    s += std::to_string(t.size(d));
  }
  return s;
}

struct WritePlan {
  at::Tensor buffer;     // contiguous, interleaved (…, C), in the file's component type
  IOComponent component;
};

Result<WritePlan> plan_components(const at::Tensor& channels_last, Format format, const fs::path& path) {
  const at::ScalarType st = channels_last.scalar_type();
  const bool is_float = at::isFloatingType(st);
  if (at::isComplexType(st))
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": complex images are not supported");
  auto range = [&]() -> std::pair<int64_t, int64_t> {
    if (channels_last.numel() == 0) return {0, 0};
    return {channels_last.min().item<int64_t>(), channels_last.max().item<int64_t>()};
  };

  if (format == Format::kPng || format == Format::kJpeg || format == Format::kBmp) {
    const std::string fmt(format_name(format));
    if (st == at::kByte || st == at::kBool) return WritePlan{channels_last.to(at::kByte), IOComponent::UCHAR};
    if (is_float)
      return fail(ErrorCode::kInvalidArgument,
                  "cannot write " + path.string() + ": " + fmt + " holds 8- or 16-bit unsigned integers, got " +
                      std::string(c10::toString(st)) +
                      "; normalise the image to 0..255 and convert it to uint8 first, or write .tif or .nii.gz");
    const auto [lo, hi] = range();
    if (lo < 0 || hi > 65535)
      return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": " + fmt +
                                                   " holds values 0..65535, the image spans " + std::to_string(lo) +
                                                   ".." + std::to_string(hi) + "; rescale it or write .nii.gz");
    if (format != Format::kPng && hi > 255)
      return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": " + fmt +
                                                   " holds 8-bit values, the image reaches " + std::to_string(hi));
    if (format != Format::kPng) return WritePlan{channels_last.to(at::kByte), IOComponent::UCHAR};
    return WritePlan{channels_last.to(at::kInt).to(at::kShort), IOComponent::USHORT};
  }
  if (format == Format::kTiff) {
    if (st == at::kByte || st == at::kBool) return WritePlan{channels_last.to(at::kByte), IOComponent::UCHAR};
    if (st == at::kShort) return WritePlan{channels_last, IOComponent::SHORT};
    if (is_float) return WritePlan{channels_last.to(at::kFloat), IOComponent::FLOAT};
    const auto [lo, hi] = range();
    if (lo >= 0 && hi <= 65535) return WritePlan{channels_last.to(at::kInt).to(at::kShort), IOComponent::USHORT};
    if (lo >= -32768 && hi <= 32767) return WritePlan{channels_last.to(at::kShort), IOComponent::SHORT};
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() +
                                                 ": TIFF holds 16-bit integers, the image spans " +
                                                 std::to_string(lo) + ".." + std::to_string(hi) +
                                                 "; convert it to float or write .nii.gz");
  }
  // NIfTI, NRRD, MetaImage.
  switch (st) {
    case at::kByte: return WritePlan{channels_last, IOComponent::UCHAR};
    case at::kBool: return WritePlan{channels_last.to(at::kByte), IOComponent::UCHAR};
    case at::kChar: return WritePlan{channels_last, IOComponent::CHAR};
    case at::kShort: return WritePlan{channels_last, IOComponent::SHORT};
    case at::kInt: return WritePlan{channels_last, IOComponent::INT};
    case at::kFloat: return WritePlan{channels_last, IOComponent::FLOAT};
    case at::kDouble: return WritePlan{channels_last, IOComponent::DOUBLE};
    case at::kHalf:
    case at::kBFloat16: return WritePlan{channels_last.to(at::kFloat), IOComponent::FLOAT};
    case at::kLong: {
      const auto [lo, hi] = range();
      if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max())
        return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() +
                                                     ": int64 values span " + std::to_string(lo) + ".." +
                                                     std::to_string(hi) + ", beyond int32; convert to float64");
      return WritePlan{channels_last.to(at::kInt), IOComponent::INT};
    }
    default: break;
  }
  return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": tensor dtype " +
                                               std::string(c10::toString(st)) + " is not supported");
}

Status write_impl(const Image& image, const fs::path& path, Format format, const WriteOptions& options) {
  register_itk_factories();
  const at::Tensor& t = image.data;
  const int sd = image.geometry.spatial_dims;
  if (sd != 2 && sd != 3)
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": geometry.spatial_dims is " +
                                                 std::to_string(sd) + " (expected 2 or 3)");
  if (!t.defined() || t.dim() != sd + 1)
    return fail(ErrorCode::kInvalidArgument,
                "cannot write " + path.string() + ": expected a channels-first tensor with " + std::to_string(sd + 1) +
                    " dimensions for a " + std::to_string(sd) + "-D image, got " +
                    (t.defined() ? std::to_string(t.dim()) : std::string("none")));
  const int64_t channels = t.size(0);
  const Geometry& g = image.geometry;
  // NaN/Inf or a degenerate frame would be written as a file no reader trusts (ITK's NIfTI
  // orientation code does not even return on NaN).
  for (int i = 0; i < 3; ++i)
    if (!std::isfinite(g.origin_lps[i]) || !std::isfinite(g.spacing_mm[i]) || !(g.spacing_mm[i] > 0.0))
      return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": geometry has origin (" +
                                                   std::to_string(g.origin_lps[0]) + ", " +
                                                   std::to_string(g.origin_lps[1]) + ", " +
                                                   std::to_string(g.origin_lps[2]) + ") and spacing (" +
                                                   std::to_string(g.spacing_mm[0]) + ", " +
                                                   std::to_string(g.spacing_mm[1]) + ", " +
                                                   std::to_string(g.spacing_mm[2]) +
                                                   "); origin must be finite and spacing positive");
  for (const double v : g.direction)
    if (!std::isfinite(v))
      return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": geometry direction is not finite");
  if (std::abs(dot(cross(g.direction_column(0), g.direction_column(1)), g.direction_column(2))) < 1e-6)
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() +
                                                 ": geometry direction columns are degenerate (not a 3-D frame)");

  // Tensor (C, Z, Y, X) view; a 2-D image is (C, 1, Y, X).
  at::Tensor czyx = sd == 2 ? t.unsqueeze(1) : t;
  const int64_t nz = czyx.size(1), ny = czyx.size(2), nx = czyx.size(3);
  unsigned file_dims = 3;
  if (is_2d_only(format)) {
    if (nz != 1)
      return fail(ErrorCode::kInvalidArgument,
                  "cannot write " + path.string() + ": " + std::string(format_name(format)) +
                      " holds 2-D images; got " + dims_text(t, sd) + " (Z×Y×X); pick a slice or write .nii.gz");
    file_dims = 2;
    if (format == Format::kPng && (channels < 1 || channels > 4))
      return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": PNG holds 1 to 4 channels, got " +
                                                   std::to_string(channels));
  }
  if (channels < 1)
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() + ": the image has no channels");

  // Interleaved buffer (Z, Y, X, C).
  at::Tensor interleaved = czyx.permute({1, 2, 3, 0}).contiguous().cpu();
  auto plan = plan_components(interleaved, format, path);
  if (!plan) return std::unexpected(plan.error());
  at::Tensor buffer = plan->buffer.contiguous();

  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::CommonEnums::IOFileMode::WriteMode);
  if (!io)
    return fail(ErrorCode::kInvalidArgument, "cannot write " + path.string() +
                                                 ": no ITK writer for this extension; use .nii.gz, .nrrd, .mha, .png or .tif");
  io->SetNumberOfDimensions(file_dims);
  const int64_t sizes[3] = {nx, ny, nz};
  for (unsigned d = 0; d < file_dims; ++d) {
    io->SetDimensions(d, static_cast<itk::SizeValueType>(sizes[d]));
    io->SetSpacing(d, g.spacing_mm[d]);
    io->SetOrigin(d, g.origin_lps[d]);
    std::vector<double> col(file_dims);
    for (unsigned r = 0; r < file_dims; ++r) col[r] = g.direction_at(static_cast<int>(r), static_cast<int>(d));
    io->SetDirection(d, col);
  }
  io->SetComponentType(plan->component);
  io->SetNumberOfComponents(static_cast<unsigned>(channels));
  const bool colour_ok = plan->component == IOComponent::UCHAR || is_2d_only(format);
  if (channels == 1)
    io->SetPixelType(IOPixel::SCALAR);
  else if (channels == 3 && colour_ok)
    io->SetPixelType(IOPixel::RGB);
  else if (channels == 4 && colour_ok)
    io->SetPixelType(IOPixel::RGBA);
  else
    io->SetPixelType(IOPixel::VECTOR);
  io->SetUseCompression(options.compress);
  io->SetFileName(path.string());

  itk::ImageIORegion region(file_dims);
  for (unsigned d = 0; d < file_dims; ++d) {
    region.SetIndex(d, 0);
    region.SetSize(d, static_cast<itk::SizeValueType>(sizes[d]));
  }
  io->SetIORegion(region);
  io->WriteImageInformation();
  io->Write(buffer.data_ptr());
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(ErrorCode::kIoError, "ITK reported success but wrote no file at " + path.string());
  return ok();
}

}  // namespace

Result<Image> read_with_itk(const fs::path& path, Format format) {
  try {
    return read_impl(path, format);
  } catch (const itk::ExceptionObject& e) {
    return fail(ErrorCode::kInvalidData,
                "cannot read " + path.string() + " as an image: " + trim_itk_description(e.GetDescription()) +
                    "; the file may be corrupt or truncated");
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::kResourceExhausted, "cannot read " + path.string() + ": out of memory for its pixel data");
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, "cannot read " + path.string() + ": " + trim_itk_description(e.what()));
  }
}

Status write_with_itk(const Image& image, const fs::path& tmp_path, Format format, const WriteOptions& options) {
  const fs::path path = user_facing_path(tmp_path);
  try {
    auto st = write_impl(image, tmp_path, format, options);
    if (!st && path != tmp_path) {
      // Replace the temporary name in the message by the destination the caller gave.
      std::string msg = st.error().message();
      const std::string from = tmp_path.string(), to = path.string();
      for (size_t at = msg.find(from); at != std::string::npos; at = msg.find(from, at + to.size()))
        msg.replace(at, from.size(), to);
      return fail(st.error().code(), msg);
    }
    return st;
  } catch (const itk::ExceptionObject& e) {
    return fail(ErrorCode::kIoError,
                "cannot write " + path.string() + ": " + trim_itk_description(e.GetDescription()));
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::kResourceExhausted, "cannot write " + path.string() + ": out of memory");
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIoError, "cannot write " + path.string() + ": " + trim_itk_description(e.what()));
  }
}

}  // namespace lucent::io::internal
