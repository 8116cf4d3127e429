// Siemens mosaic: a 2-D MR acquisition (EPI, DWI, fMRI) stored as one image whose tiles are
// the slices. Detected by Manufacturer SIEMENS, "MOSAIC" in (0008,0008) Image Type and the
// private (0019,100A) NumberOfImagesInMosaic; unpacked into a volume with the geometry rule
// dcm2niix uses: the first slice's origin is Image Position (Patient) moved by half the
// difference between the mosaic and tile sizes along the row and column directions; slices
// follow the normal row × column at (0018,0088) Spacing Between Slices (else Slice Thickness).
// Limitation: the slice order is taken as ascending along that normal; the Siemens CSA header
// (which can say descending) is not parsed — a descending mosaic is reported with a note.
#include <ATen/ATen.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <cmath>

#include "lucent/core/log.h"
#include "lucent/io/internal/dicom_mosaic.h"

namespace lucent::io::internal {

Result<std::optional<MosaicInfo>> detect_mosaic(const std::filesystem::path& path) {
  DcmFileFormat ff;
  if (ff.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect,
                          DCM_PixelData)
          .bad())
    return std::optional<MosaicInfo>{};
  DcmDataset* ds = ff.getDataset();
  OFString manufacturer, image_type;
  ds->findAndGetOFString(DCM_Manufacturer, manufacturer);
  ds->findAndGetOFStringArray(DCM_ImageType, image_type);
  if (manufacturer.find("SIEMENS") == OFString_npos && manufacturer.find("Siemens") == OFString_npos)
    return std::optional<MosaicInfo>{};
  if (image_type.find("MOSAIC") == OFString_npos) return std::optional<MosaicInfo>{};
  Uint16 n = 0;
  const DcmTagKey kImagesInMosaic(0x0019, 0x100A);
  if (ds->findAndGetUint16(kImagesInMosaic, n).bad() || n < 2) {
    // Implicit VR files have no private dictionary entry for it: DCMTK keeps it as UN bytes.
    DcmElement* e = nullptr;
    Uint8* bytes = nullptr;
    if (ds->findAndGetElement(kImagesInMosaic, e).good() && e && e->getLength() == 2 &&
        e->getUint8Array(bytes).good() && bytes) {
      const Uint16 le = static_cast<Uint16>(bytes[0] | (bytes[1] << 8));
      const Uint16 be = static_cast<Uint16>((bytes[0] << 8) | bytes[1]);
      n = (le >= 2 && le <= 1024) ? le : be;
    } else {
      OFString s;
      if (ds->findAndGetOFString(kImagesInMosaic, s).good()) n = static_cast<Uint16>(std::atoi(s.c_str()));
    }
  }
  if (n < 2)
    return fail(ErrorCode::kUnsupported, path.string() +
                                             ": Siemens MOSAIC image without (0019,100A) NumberOfImagesInMosaic; "
                                             "the tile layout cannot be known — convert with dcm2niix");
  MosaicInfo info;
  info.images = n;
  Float64 v = 0;
  if (ds->findAndGetFloat64(DCM_SpacingBetweenSlices, v).good() && v > 0) info.slice_spacing_mm = v;
  else if (ds->findAndGetFloat64(DCM_SliceThickness, v).good() && v > 0) info.slice_spacing_mm = v;
  return std::optional<MosaicInfo>(info);
}

Result<Image> unpack_mosaic(Image tiled, const MosaicInfo& info, const std::string& path) {
  const int64_t rows = tiled.data.size(-2), cols = tiled.data.size(-1), ch = tiled.data.size(0);
  const int64_t m = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(info.images))));
  if (m < 2 || rows % m != 0 || cols % m != 0 || m * m < info.images)
    return fail(ErrorCode::kInvalidData, path + ": MOSAIC of " + std::to_string(info.images) + " images does not tile a " +
                                             std::to_string(rows) + "x" + std::to_string(cols) + " image");
  const int64_t r = rows / m, c = cols / m;
  at::Tensor vol = tiled.data.reshape({ch, m, r, m, c}).permute({0, 1, 3, 2, 4}).reshape({ch, m * m, r, c});
  vol = vol.narrow(1, 0, info.images).contiguous();
  Image out = std::move(tiled);
  out.data = vol;
  Geometry& g = out.geometry;
  const Vec3 row = g.direction_column(0), col = g.direction_column(1);
  const double sx = g.spacing_mm[0], sy = g.spacing_mm[1];
  for (int i = 0; i < 3; ++i)
    g.origin_lps[i] += row[i] * sx * static_cast<double>(cols - c) / 2.0 + col[i] * sy * static_cast<double>(rows - r) / 2.0;
  g.set_direction_column(2, normalized(cross(row, col)));
  g.spatial_dims = 3;
  if (info.slice_spacing_mm > 0) g.spacing_mm[2] = info.slice_spacing_mm;
  out.meta.notes.push_back("Siemens mosaic of " + std::to_string(info.images) + " slices unpacked (" +
                           std::to_string(m) + "x" + std::to_string(m) + " tiles); slice order assumed ascending "
                           "along row x column (CSA header not parsed)");
  return out;
}

}  // namespace lucent::io::internal
