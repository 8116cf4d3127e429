// The io entry points that need the imaging stack (DCMTK, ITK, giflib), for a build configured
// with -DLUCENT_TORCH_ONLY=ON: each refuses with kUnsupported and says how to get the full
// reader. Only MedMNIST .npz (npz.cpp, zlib) is read in that configuration — it is meant for
// machines that have LibTorch but not Debian's imaging packages (the GPU benchmark machine).
#include "lucent/io/dicom.h"
#include "lucent/io/image_io.h"
#include "lucent/io/internal/gif.h"
#include "lucent/io/internal/itk_io.h"

namespace lucent::io {
namespace {

Error not_built(const std::filesystem::path& path, std::string_view what) {
  return Error{ErrorCode::kUnsupported,
               std::string(what) + " " + path.string() +
                   ": this Lucent was built with LUCENT_TORCH_ONLY=ON (no DCMTK/ITK/giflib) and reads only "
                   "MedMNIST .npz; rebuild without it after scripts/setup.sh installs the imaging libraries"};
}

}  // namespace

Result<DicomFileInfo> scan_dicom_file(const std::filesystem::path& path) {
  return std::unexpected(not_built(path, "cannot read DICOM"));
}
Result<DicomFolderScan> scan_dicom_folder(const std::filesystem::path& folder) {
  return std::unexpected(not_built(folder, "cannot scan DICOM folder"));
}
Result<Image> read_dicom_file(const std::filesystem::path& path, const ReadOptions&) {
  return std::unexpected(not_built(path, "cannot read DICOM"));
}
Result<Image> read_dicom_series(const std::vector<std::filesystem::path>& files, const ReadOptions&) {
  return std::unexpected(not_built(files.empty() ? std::filesystem::path("(empty series)") : files.front(),
                                   "cannot read DICOM series"));
}
Result<Image> read_dicom_folder(const std::filesystem::path& folder, const ReadOptions&) {
  return std::unexpected(not_built(folder, "cannot read DICOM folder"));
}

namespace internal {
Result<Image> read_gif(const std::filesystem::path& path) { return std::unexpected(not_built(path, "cannot read GIF")); }
Result<Image> read_with_itk(const std::filesystem::path& path, Format format) {
  return std::unexpected(not_built(path, "cannot read " + std::string(format_name(format))));
}
Status write_with_itk(const Image&, const std::filesystem::path& path, Format format, const WriteOptions&) {
  return std::unexpected(not_built(path, "cannot write " + std::string(format_name(format))));
}
}  // namespace internal

}  // namespace lucent::io
