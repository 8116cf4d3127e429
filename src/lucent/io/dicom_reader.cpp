// PLACEHOLDER — to be replaced by the DICOM implementation.
#include "lucent/io/dicom.h"

namespace lucent::io {
Result<DicomFileInfo> scan_dicom_file(const std::filesystem::path& p) { return fail(ErrorCode::kUnsupported, "DICOM not built yet: " + p.string()); }
Result<DicomFolderScan> scan_dicom_folder(const std::filesystem::path& p) { return fail(ErrorCode::kUnsupported, "DICOM not built yet: " + p.string()); }
Result<Image> read_dicom_file(const std::filesystem::path& p, const ReadOptions&) { return fail(ErrorCode::kUnsupported, "DICOM not built yet: " + p.string()); }
Result<Image> read_dicom_series(const std::vector<std::filesystem::path>&, const ReadOptions&) { return fail(ErrorCode::kUnsupported, "DICOM not built yet"); }
Result<Image> read_dicom_folder(const std::filesystem::path& p, const ReadOptions&) { return fail(ErrorCode::kUnsupported, "DICOM not built yet: " + p.string()); }
}  // namespace lucent::io
