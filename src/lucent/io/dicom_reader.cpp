// DICOM headers and pixel decoding (DCMTK for parsing and JPEG/JPEG-LS/RLE/deflate, OpenJPEG
// for JPEG 2000). Volume assembly and folder scans live in dicom_series.cpp.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

#include "lucent/core/log.h"
#include "lucent/io/internal/dicom_internal.h"
#include "lucent/io/internal/jpeg2000.h"

namespace lucent::io::internal {
namespace fs = std::filesystem;

namespace {

void register_codecs_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK's own logger would print parser warnings to stderr; Lucent reports errors itself.
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

bool is_j2k_uid(const std::string& uid) {
  return uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91" ||
         uid == "1.2.840.10008.1.2.4.92" || uid == "1.2.840.10008.1.2.4.93";
}

// Names for transfer syntaxes DCMTK 3.6.7 does not know.
std::string transfer_syntax_name(const std::string& uid) {
  static const std::pair<const char*, const char*> kExtra[] = {
      {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)"},
      {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)"},
      {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression"},
      {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless"},
      {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"},
      {"1.2.840.10008.1.2.4.112", "JPEG XL"},
      {"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression"},
  };
  for (const auto& [u, n] : kExtra)
    if (uid == u) return n;
  DcmXfer x(uid.c_str());
  if (x.getXfer() != EXS_Unknown) return x.getXferName();
  return "unknown transfer syntax";
}

std::string get_string(DcmItem* item, const DcmTagKey& tag) {
  OFString v;
  if (item && item->findAndGetOFStringArray(tag, v).good()) {
    std::string s(v.c_str());
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    return s;
  }
  return {};
}

int get_us(DcmItem* item, const DcmTagKey& tag, int fallback) {
  Uint16 v = 0;
  if (item && item->findAndGetUint16(tag, v).good()) return v;
  Sint16 s = 0;
  if (item && item->findAndGetSint16(tag, s).good()) return s;
  return fallback;
}

bool get_double(DcmItem* item, const DcmTagKey& tag, unsigned long pos, double& out) {
  Float64 v = 0;
  if (!item || item->findAndGetFloat64(tag, v, pos).bad()) return false;
  if (!std::isfinite(v)) return false;
  out = v;
  return true;
}

long long parse_int(const std::string& s, long long fallback) {
  long long v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  while (b < e && *b == '+') ++b;
  auto r = std::from_chars(b, e, v);
  if (r.ec != std::errc() || b == e) return fallback;
  return v;
}

// Fills `plane` from the attributes of `item` (top level or one functional group item).
void read_plane_attributes(DcmItem* item, FramePlane& plane) {
  if (!item) return;
  Vec3 p;
  if (get_double(item, DCM_ImagePositionPatient, 0, p[0]) && get_double(item, DCM_ImagePositionPatient, 1, p[1]) &&
      get_double(item, DCM_ImagePositionPatient, 2, p[2])) {
    plane.has_position = true;
    plane.position = p;
  }
  std::array<double, 6> o;
  bool ok = true;
  for (int i = 0; i < 6 && ok; ++i) ok = get_double(item, DCM_ImageOrientationPatient, i, o[i]);
  if (ok) {
    Vec3 r{o[0], o[1], o[2]}, c{o[3], o[4], o[5]};
    if (norm(r) > 1e-6 && norm(c) > 1e-6 && norm(cross(r, c)) > 1e-6) {
      plane.has_orientation = true;
      plane.orientation = o;
    }
  }
  double a = 0, b = 0;
  if (get_double(item, DCM_PixelSpacing, 0, a) && get_double(item, DCM_PixelSpacing, 1, b) && a > 0 && b > 0) {
    plane.has_spacing = true;
    plane.spacing_row_mm = a;
    plane.spacing_col_mm = b;
  }
  if (get_double(item, DCM_SliceThickness, 0, a) && a > 0) plane.thickness_mm = a;
  if (get_double(item, DCM_SpacingBetweenSlices, 0, a) && a > 0) plane.spacing_between_mm = a;
  double slope = 1, icpt = 0;
  const bool has_slope = get_double(item, DCM_RescaleSlope, 0, slope);
  const bool has_icpt = get_double(item, DCM_RescaleIntercept, 0, icpt);
  if (has_slope || has_icpt) {
    plane.has_rescale = true;
    plane.slope = (has_slope && slope != 0.0) ? slope : 1.0;
    plane.intercept = has_icpt ? icpt : 0.0;
  }
}

// Attributes of one functional group item: the macros that hold geometry and rescale.
void read_functional_group(DcmItem* group, FramePlane& plane) {
  if (!group) return;
  DcmItem* sub = nullptr;
  if (group->findAndGetSequenceItem(DCM_PlanePositionSequence, sub, 0).good()) read_plane_attributes(sub, plane);
  sub = nullptr;
  if (group->findAndGetSequenceItem(DCM_PlaneOrientationSequence, sub, 0).good()) read_plane_attributes(sub, plane);
  sub = nullptr;
  if (group->findAndGetSequenceItem(DCM_PixelMeasuresSequence, sub, 0).good()) read_plane_attributes(sub, plane);
  sub = nullptr;
  if (group->findAndGetSequenceItem(DCM_PixelValueTransformationSequence, sub, 0).good())
    read_plane_attributes(sub, plane);
}

struct LoadedFile {
  std::unique_ptr<DcmFileFormat> file = std::make_unique<DcmFileFormat>();
  DcmFileFormat& ff() { return *file; }
  std::string ts_uid;
};

Status load_file(const fs::path& path, Uint32 max_read_length, LoadedFile& out) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(ErrorCode::kNotFound, "no such file " + path.string() + "; check the path");
  if (fs::is_directory(path, ec))
    return fail(ErrorCode::kInvalidArgument,
                path.string() + " is a folder, not a DICOM file; use read_dicom_folder for folders");
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot read the size of " + path.string() + ": " + ec.message());
  if (size == 0)
    return fail(ErrorCode::kInvalidData, path.string() + " is empty (0 bytes), not a DICOM file; re-export it");
  OFCondition cond = out.ff().loadFile(OFFilename(path.c_str()), EXS_Unknown, EGL_noChange, max_read_length,
                                     ERM_autoDetect);
  if (cond.bad() && !out.ff().getMetaInfo()->tagExists(DCM_TransferSyntaxUID)) {
    // No File Meta header: DCMTK guesses the encoding; try the two little-endian ones explicitly.
    for (E_TransferSyntax x : {EXS_LittleEndianExplicit, EXS_LittleEndianImplicit}) {
      out.file = std::make_unique<DcmFileFormat>();
      cond = out.ff().loadFile(OFFilename(path.c_str()), x, EGL_noChange, max_read_length, ERM_dataset);
      if (cond.good()) break;
    }
  }
  if (cond.bad())
    return fail(ErrorCode::kInvalidData, path.string() + " is not a readable DICOM file (DCMTK: " +
                                             std::string(cond.text()) +
                                             "); it is truncated, corrupt or not DICOM — re-export or skip it");
  out.ts_uid = get_string(out.ff().getMetaInfo(), DCM_TransferSyntaxUID);
  if (out.ts_uid.empty()) {
    DcmXfer x(out.ff().getDataset()->getOriginalXfer());
    if (x.getXfer() != EXS_Unknown) out.ts_uid = x.getXferID();
  }
  return ok();
}

std::string unsupported_ts_message(const std::string& uid, const fs::path& path) {
  return "unsupported transfer syntax " + transfer_syntax_name(uid) + " (" + uid + ") in file " + path.string() +
         "; convert it first (e.g. `gdcmconv --raw` or `dcmdjpeg`) to an uncompressed transfer syntax";
}

bool dcmtk_knows_uid(const std::string& uid) { return DcmXfer(uid.c_str()).getXfer() != EXS_Unknown; }

}  // namespace

Result<ParsedHeader> read_header(const fs::path& path, bool keep_attributes) {
  register_codecs_once();
  try {
    LoadedFile lf;
    if (auto st = load_file(path, 1024, lf); !st) return std::unexpected(st.error());
    DcmDataset* ds = lf.ff().getDataset();
    DcmMetaInfo* mi = lf.ff().getMetaInfo();
    ParsedHeader h;
    {
      std::error_code ec;
      h.file_size = fs::file_size(path, ec);
      const E_TransferSyntax ox = ds->getOriginalXfer();
      h.encapsulated = (ox != EXS_Unknown && DcmXfer(ox).isEncapsulated()) ||
                       (!lf.ts_uid.empty() && !dcmtk_knows_uid(lf.ts_uid)) ||
                       DcmXfer(ox).getStreamCompression() != ESC_none;
    }
    DicomFileInfo& info = h.info;
    info.path = path;
    info.transfer_syntax_uid = lf.ts_uid;
    info.transfer_syntax_name = lf.ts_uid.empty() ? std::string() : transfer_syntax_name(lf.ts_uid);
    info.sop_class_uid = get_string(ds, DCM_SOPClassUID);
    if (info.sop_class_uid.empty()) info.sop_class_uid = get_string(mi, DCM_MediaStorageSOPClassUID);
    info.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
    info.series_instance_uid = get_string(ds, DCM_SeriesInstanceUID);
    info.study_instance_uid = get_string(ds, DCM_StudyInstanceUID);
    info.modality = get_string(ds, DCM_Modality);
    info.series_description = get_string(ds, DCM_SeriesDescription);
    h.looks_like_dicom = (mi && mi->tagExists(DCM_TransferSyntaxUID)) || !info.sop_class_uid.empty() ||
                         ds->tagExists(DCM_PixelData);
    h.has_pixel_data = ds->tagExists(DCM_PixelData) || ds->tagExists(DCM_FloatPixelData) ||
                       ds->tagExists(DCM_DoubleFloatPixelData);
    info.has_pixel_data = h.has_pixel_data;

    PixelLayout& L = h.layout;
    L.rows = get_us(ds, DCM_Rows, 0);
    L.cols = get_us(ds, DCM_Columns, 0);
    L.spp = get_us(ds, DCM_SamplesPerPixel, 1);
    L.bits_allocated = get_us(ds, DCM_BitsAllocated, 0);
    L.bits_stored = get_us(ds, DCM_BitsStored, L.bits_allocated);
    L.high_bit = get_us(ds, DCM_HighBit, L.bits_stored - 1);
    L.pixel_representation = get_us(ds, DCM_PixelRepresentation, 0);
    L.planar_configuration = get_us(ds, DCM_PlanarConfiguration, 0);
    L.photometric = get_string(ds, DCM_PhotometricInterpretation);
    if (L.photometric.empty()) L.photometric = L.spp == 3 ? "RGB" : "MONOCHROME2";
    const std::string nf = get_string(ds, DCM_NumberOfFrames);
    L.frames = nf.empty() ? 1 : parse_int(nf, -1);
    if (ds->tagExists(DCM_FloatPixelData)) {
      L.kind = SampleKind::kFloat32;
      if (L.bits_allocated == 0) L.bits_allocated = 32;
    } else if (ds->tagExists(DCM_DoubleFloatPixelData)) {
      L.kind = SampleKind::kFloat64;
      if (L.bits_allocated == 0) L.bits_allocated = 64;
    }
    if (L.photometric == "PALETTE COLOR") {
      // Descriptor (US or SS): entries, first mapped value, bits per entry.
      Uint16 v = 0;
      Sint16 sv = 0;
      if (ds->findAndGetUint16(DCM_RedPaletteColorLookupTableDescriptor, v, 2).good()) L.palette_bits = v;
      else if (ds->findAndGetSint16(DCM_RedPaletteColorLookupTableDescriptor, sv, 2).good()) L.palette_bits = sv;
    }
    info.rows = L.rows;
    info.columns = L.cols;
    info.frames = static_cast<int>(std::clamp<int64_t>(L.frames, 0, std::numeric_limits<int>::max()));
    info.samples_per_pixel = L.spp;
    info.bits_allocated = L.bits_allocated;
    info.bits_stored = L.bits_stored;
    info.pixel_representation = L.pixel_representation;
    info.photometric_interpretation = L.photometric;
    info.instance_number = static_cast<int>(parse_int(get_string(ds, DCM_InstanceNumber), 0));

    // Per-frame planes: top level first, then shared and per-frame functional groups.
    FramePlane top;
    read_plane_attributes(ds, top);
    // RT Dose: Dose Grid Scaling converts stored values to Gy (acts as the rescale slope).
    double dose_scaling = 0;
    if (!top.has_rescale && get_double(ds, DCM_DoseGridScaling, 0, dose_scaling) && dose_scaling > 0) {
      top.has_rescale = true;
      top.slope = dose_scaling;
      top.intercept = 0;
    }
    DcmItem* shared = nullptr;
    if (ds->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good()) {
      h.enhanced = true;
      read_functional_group(shared, top);
    }
    DcmSequenceOfItems* per_frame = nullptr;
    if (ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad()) per_frame = nullptr;
    if (per_frame) h.enhanced = true;
    const int64_t nframes = L.frames;
    if (h.has_pixel_data && nframes >= 1 && nframes <= (1 << 24) && static_cast<uint64_t>(nframes) <= h.file_size) {
      h.frames.assign(static_cast<std::size_t>(nframes), top);
      if (per_frame && per_frame->card() > 0) {
        if (static_cast<int64_t>(per_frame->card()) < nframes)
          return fail(ErrorCode::kInvalidData,
                      path.string() + ": (5200,9230) Per-Frame Functional Groups Sequence holds " +
                          std::to_string(per_frame->card()) + " items but (0028,0008) Number of Frames is " +
                          std::to_string(nframes) + "; the file is inconsistent, re-export it");
        if (static_cast<int64_t>(per_frame->card()) > nframes)
          log_warn(path.string() + ": (5200,9230) Per-Frame Functional Groups Sequence holds " +
                   std::to_string(per_frame->card()) + " items for " + std::to_string(nframes) +
                   " frame(s); using the first " + std::to_string(nframes));
        bool all_pos = true;
        for (int64_t f = 0; f < nframes; ++f) {
          read_functional_group(per_frame->getItem(static_cast<unsigned long>(f)), h.frames[f]);
          all_pos = all_pos && h.frames[f].has_position;
        }
        h.per_frame_positions = all_pos;
      }
    }
    // RT Dose and other classic multi-frame files can place frames with Grid Frame Offset Vector.
    if (ds->tagExists(DCM_GridFrameOffsetVector)) {
      DcmElement* el = nullptr;
      if (ds->findAndGetElement(DCM_GridFrameOffsetVector, el).good() && el) {
        const unsigned long vm = el->getVM();
        for (unsigned long i = 0; i < vm && i < (1u << 24); ++i) {
          Float64 v = 0;
          if (el->getFloat64(v, i).good() && std::isfinite(v)) h.grid_frame_offsets.push_back(v);
          else { h.grid_frame_offsets.clear(); break; }
        }
      }
    }
    const FramePlane& first = h.frames.empty() ? top : h.frames.front();
    info.has_position = first.has_position && first.has_orientation;
    info.position_lps = first.position;
    info.orientation = first.orientation;
    info.pixel_spacing_row_mm = first.spacing_row_mm;
    info.pixel_spacing_col_mm = first.spacing_col_mm;
    info.slice_thickness_mm = first.thickness_mm;
    info.spacing_between_slices_mm = first.spacing_between_mm;
    info.rescale_slope = first.slope;
    info.rescale_intercept = first.intercept;

    Metadata& m = h.meta;
    m.format = "DICOM";
    m.patient_id = get_string(ds, DCM_PatientID);
    m.study_instance_uid = info.study_instance_uid;
    m.series_instance_uid = info.series_instance_uid;
    m.sop_class_uid = info.sop_class_uid;
    m.modality = info.modality;
    m.manufacturer = get_string(ds, DCM_Manufacturer);
    m.body_part = get_string(ds, DCM_BodyPartExamined);
    m.sex = get_string(ds, DCM_PatientSex);
    m.age = get_string(ds, DCM_PatientAge);
    m.acquisition_date = get_string(ds, DCM_AcquisitionDate);
    if (m.acquisition_date.empty()) m.acquisition_date = get_string(ds, DCM_AcquisitionDateTime).substr(0, 8);
    if (m.acquisition_date.empty()) m.acquisition_date = get_string(ds, DCM_SeriesDate);
    if (m.acquisition_date.empty()) m.acquisition_date = get_string(ds, DCM_StudyDate);
    m.transfer_syntax_uid = info.transfer_syntax_uid;
    m.photometric_interpretation = L.photometric;
    if (keep_attributes) {
      for (unsigned long i = 0; i < ds->card(); ++i) {
        DcmElement* e = ds->getElement(i);
        if (!e) continue;
        const DcmTag& tag = e->getTag();
        const DcmEVR vr = e->ident();
        if (vr == EVR_SQ || tag.getGroup() == 0x7FE0 || e->isLeaf() == OFFalse) continue;
        const bool binary = vr == EVR_OB || vr == EVR_OW || vr == EVR_OF || vr == EVR_OD || vr == EVR_OL ||
                            vr == EVR_OV || vr == EVR_UN || vr == EVR_ox || vr == EVR_px;
        if (binary && e->getLength() > 1024) continue;
        if (e->getLength() > 65536) continue;
        OFString value;
        if (e->getOFStringArray(value).good()) {
          char key[16];
          std::snprintf(key, sizeof key, "(%04X,%04X)", tag.getGroup(), tag.getElement());
          m.dicom_attributes[key] = value.c_str();
        }
      }
    }
    return h;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, path.string() + ": reading the DICOM header failed (" + e.what() + ")");
  } catch (...) {
    return fail(ErrorCode::kInvalidData, path.string() + ": reading the DICOM header failed (unknown exception)");
  }
}

Status validate_layout(const ParsedHeader& h) {
  const PixelLayout& L = h.layout;
  const std::string p = h.info.path.string();
  auto bad = [&](const std::string& what) {
    return fail(ErrorCode::kInvalidData, p + ": " + what + "; the file is not a valid image, re-export it");
  };
  if (!h.has_pixel_data) {
    if (!h.looks_like_dicom)
      return fail(ErrorCode::kInvalidData, p + " is not a DICOM file (no File Meta header, no SOP Class UID, no "
                                               "Pixel Data); check the path");
    return fail(ErrorCode::kUnsupported,
                p + " has no Pixel Data (7FE0,0010) (SOP Class " +
                    (h.info.sop_class_uid.empty() ? std::string("unknown") : h.info.sop_class_uid) +
                    ", modality " + (h.info.modality.empty() ? std::string("unknown") : h.info.modality) +
                    "): it is not an image (e.g. SR, RT plan, presentation state, DICOMDIR); read an image file");
  }
  if (L.rows <= 0) return bad("(0028,0010) Rows is " + std::to_string(L.rows) + ", expected 1..65535");
  if (L.cols <= 0) return bad("(0028,0011) Columns is " + std::to_string(L.cols) + ", expected 1..65535");
  if (L.frames < 1 || L.frames > (1 << 24) || static_cast<uint64_t>(L.frames) > h.file_size ||
      h.frames.size() != static_cast<std::size_t>(L.frames))
    return bad("(0028,0008) Number of Frames is " + std::to_string(L.frames) + ", expected 1.." +
               std::to_string(std::min<uint64_t>(1u << 24, h.file_size)) + " for a file of " +
               std::to_string(h.file_size) + " bytes");
  if (L.spp != 1 && L.spp != 3)
    return fail(ErrorCode::kUnsupported, p + ": (0028,0002) Samples per Pixel is " + std::to_string(L.spp) +
                                             ", only 1 or 3 are supported");
  if (L.kind == SampleKind::kInteger) {
    if (L.bits_allocated != 1 && L.bits_allocated != 8 && L.bits_allocated != 16 && L.bits_allocated != 32)
      return fail(ErrorCode::kUnsupported, p + ": (0028,0100) Bits Allocated is " + std::to_string(L.bits_allocated) +
                                               ", expected 1, 8, 16 or 32");
    if (L.bits_stored < 1 || L.bits_stored > L.bits_allocated)
      return bad("(0028,0101) Bits Stored is " + std::to_string(L.bits_stored) + ", expected 1.." +
                 std::to_string(L.bits_allocated) + " (Bits Allocated)");
    if (L.high_bit < L.bits_stored - 1 || L.high_bit >= L.bits_allocated)
      return bad("(0028,0102) High Bit is " + std::to_string(L.high_bit) + ", expected " +
                 std::to_string(L.bits_stored - 1) + ".." + std::to_string(L.bits_allocated - 1));
    if (L.bits_allocated == 1 && L.spp != 1)
      return fail(ErrorCode::kUnsupported, p + ": 1-bit pixel data with 3 samples per pixel is not supported");
  } else {
    if (L.spp != 1)
      return fail(ErrorCode::kUnsupported, p + ": float pixel data with " + std::to_string(L.spp) +
                                               " samples per pixel is not supported");
  }
  if (L.pixel_representation != 0 && L.pixel_representation != 1)
    return bad("(0028,0103) Pixel Representation is " + std::to_string(L.pixel_representation) + ", expected 0 or 1");
  static const char* kKnown[] = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422",
                                 "PALETTE COLOR", "YBR_RCT", "YBR_ICT"};
  if (std::find_if(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return L.photometric == k; }) ==
      std::end(kKnown))
    return fail(ErrorCode::kUnsupported, p + ": (0028,0004) Photometric Interpretation " + L.photometric +
                                             " is not supported (supported: MONOCHROME1/2, RGB, YBR_FULL, "
                                             "YBR_FULL_422, PALETTE COLOR, YBR_RCT/ICT in JPEG 2000)");
  const bool mono = L.photometric == "MONOCHROME1" || L.photometric == "MONOCHROME2" || L.photometric == "PALETTE COLOR";
  if (mono && L.spp != 1)
    return bad("(0028,0002) Samples per Pixel is " + std::to_string(L.spp) + " but (0028,0004) Photometric "
               "Interpretation is " + L.photometric + " (expected 1)");
  if (!mono && L.spp != 3)
    return bad("(0028,0002) Samples per Pixel is " + std::to_string(L.spp) + " but (0028,0004) Photometric "
               "Interpretation is " + L.photometric + " (expected 3)");
  if (L.photometric == "PALETTE COLOR" && L.palette_bits != 8 && L.palette_bits != 16)
    return bad("(0028,1101) Red Palette Color Lookup Table Descriptor gives " + std::to_string(L.palette_bits) +
               " bits per entry, expected 8 or 16");
  // Overflow guard: the decoded size must be addressable and below 16 GiB.
  unsigned long long total = 0;
  const unsigned long long bytes = L.bits_allocated <= 8 ? 1 : static_cast<unsigned long long>(L.bits_allocated / 8);
  if (__builtin_mul_overflow(static_cast<unsigned long long>(L.rows), static_cast<unsigned long long>(L.cols), &total) ||
      __builtin_mul_overflow(total, static_cast<unsigned long long>(L.frames), &total) ||
      __builtin_mul_overflow(total, static_cast<unsigned long long>(L.spp), &total) ||
      __builtin_mul_overflow(total, bytes, &total) || total > (16ull << 30))
    return fail(ErrorCode::kResourceExhausted,
                p + ": decoded size (0028,0010) Rows x (0028,0011) Columns x (0028,0008) Number of Frames x "
                    "samples x bytes exceeds 16 GiB; the header is corrupt or the image too large to read at once");
  if (L.bits_allocated == 1) total = (total + 7) / 8;
  if (!h.encapsulated && L.photometric != "YBR_FULL_422" && total > h.file_size)
    return fail(ErrorCode::kInvalidData,
                p + ": (0028,0010) Rows x (0028,0011) Columns x (0028,0008) Number of Frames x samples x bits need " +
                    std::to_string(total) + " bytes of uncompressed pixel data but the file has only " +
                    std::to_string(h.file_size) + " bytes; the file is truncated or its header is wrong");
  if (h.encapsulated && total > h.file_size * 2000ull + (64ull << 20))
    return fail(ErrorCode::kInvalidData,
                p + ": the header declares " + std::to_string(total) + " decoded bytes from a " +
                    std::to_string(h.file_size) + "-byte file (more than 2000:1); the header is corrupt");
  return ok();
}

OutputPlan plan_output(const std::vector<const ParsedHeader*>& headers) {
  OutputPlan plan;
  if (headers.empty()) return plan;
  const PixelLayout& L = headers.front()->layout;
  if (L.kind != SampleKind::kInteger) {
    plan.dtype = at::kFloat;
    return plan;
  }
  if (L.photometric == "PALETTE COLOR") {
    plan.channels = 3;
    plan.dtype = L.palette_bits <= 8 ? at::kByte : at::kInt;
    return plan;
  }
  if (L.spp == 3) {
    plan.channels = 3;
    plan.dtype = L.bits_stored <= 8 ? at::kByte : (L.bits_stored <= 31 || L.pixel_representation ? at::kInt : at::kLong);
    return plan;
  }
  if (L.bits_allocated == 1) {
    plan.dtype = at::kByte;
    return plan;
  }
  // Monochrome: integer output iff every slope is 1 and every intercept an integer.
  const double smin = L.pixel_representation ? -std::ldexp(1.0, L.bits_stored - 1) : 0.0;
  const double smax = L.pixel_representation ? std::ldexp(1.0, L.bits_stored - 1) - 1 : std::ldexp(1.0, L.bits_stored) - 1;
  bool integral = true;
  bool any_rescale = false;
  double lo = smin, hi = smax;
  double imin = std::numeric_limits<double>::infinity(), imax = -imin;
  for (const ParsedHeader* h : headers) {
    for (const FramePlane& f : h->frames) {
      if (f.has_rescale && (f.slope != 1.0 || f.intercept != 0.0)) any_rescale = true;
      if (f.slope != 1.0 || f.intercept != std::floor(f.intercept)) integral = false;
      imin = std::min(imin, f.intercept);
      imax = std::max(imax, f.intercept);
    }
  }
  if (!std::isfinite(imin)) imin = imax = 0;
  if (!integral) {
    plan.dtype = at::kFloat;
    return plan;
  }
  lo += imin;
  hi += imax;
  if (!any_rescale && L.bits_stored <= 8 && !L.pixel_representation) plan.dtype = at::kByte;
  else if (lo >= -32768 && hi <= 32767) plan.dtype = at::kShort;
  else if (lo >= -2147483648.0 && hi <= 2147483647.0) plan.dtype = at::kShort, plan.fallback = at::kInt;
  else plan.dtype = at::kShort, plan.fallback = at::kLong;
  return plan;
}

namespace {

// Writes one planar (C, Y, X) double frame into slab `slab` of `out` (C, Z, Y, X); returns
// true when an integer value had to be clamped.
template <typename T>
bool write_frame(const std::vector<double>& v, int channels, int64_t plane, at::Tensor& out, int64_t slab) {
  T* base = out.data_ptr<T>();
  const int64_t z = out.size(1);
  bool clamped = false;
  for (int c = 0; c < channels; ++c) {
    T* dst = base + (static_cast<int64_t>(c) * z + slab) * plane;
    const double* src = v.data() + c * plane;
    if constexpr (std::is_floating_point_v<T>) {
      for (int64_t i = 0; i < plane; ++i) dst[i] = static_cast<T>(src[i]);
    } else {
      constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
      for (int64_t i = 0; i < plane; ++i) {
        double x = std::nearbyint(src[i]);
        if (x < lo || x > hi) {
          clamped = true;
          x = x < lo ? lo : hi;
        }
        dst[i] = static_cast<T>(x);
      }
    }
  }
  return clamped;
}

bool write_any(const std::vector<double>& v, int channels, int64_t plane, at::Tensor& out, int64_t slab) {
  switch (out.scalar_type()) {
    case at::kByte: return write_frame<uint8_t>(v, channels, plane, out, slab);
    case at::kShort: return write_frame<int16_t>(v, channels, plane, out, slab);
    case at::kInt: return write_frame<int32_t>(v, channels, plane, out, slab);
    case at::kLong: return write_frame<int64_t>(v, channels, plane, out, slab);
    case at::kDouble: return write_frame<double>(v, channels, plane, out, slab);
    default: return write_frame<float>(v, channels, plane, out, slab);
  }
}

inline uint32_t read_le(const uint8_t* p, int bytes) {
  switch (bytes) {
    case 1: return p[0];
    case 2: return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
    default:
      return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
             (static_cast<uint32_t>(p[3]) << 24);
  }
}

struct StoredCodec {
  int shift = 0;
  uint32_t mask = 0;
  bool is_signed = false;
  int bits = 0;
  double apply(uint32_t raw) const {
    uint32_t v = (raw >> shift) & mask;
    if (is_signed && bits < 32 && (v >> (bits - 1)) & 1u) return static_cast<double>(static_cast<int64_t>(v) - (int64_t{1} << bits));
    if (is_signed && bits == 32) return static_cast<double>(static_cast<int32_t>(v));
    return static_cast<double>(v);
  }
};

StoredCodec make_codec(const PixelLayout& L) {
  StoredCodec c;
  c.bits = L.bits_stored;
  c.shift = L.high_bit + 1 - L.bits_stored;
  c.mask = L.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << L.bits_stored) - 1u);
  c.is_signed = L.pixel_representation == 1;
  return c;
}

// Native (uncompressed, host little-endian) bytes of all frames.
struct NativeSource {
  const uint8_t* bytes = nullptr;
  std::size_t length = 0;
  bool subsampled_422 = false;
};

std::size_t native_frame_bytes(const PixelLayout& L, bool sub422) {
  const std::size_t px = static_cast<std::size_t>(L.rows) * L.cols;
  if (L.bits_allocated == 1) return 0;  // bit-addressed
  const std::size_t b = static_cast<std::size_t>(L.bits_allocated / 8);
  if (sub422) return px * 2 * b;
  return px * L.spp * b;
}

Status check_native_length(const PixelLayout& L, const NativeSource& src, const std::string& path) {
  unsigned long long need = 0;
  if (L.bits_allocated == 1) {
    need = (static_cast<unsigned long long>(L.rows) * L.cols * L.spp * L.frames + 7) / 8;
  } else {
    need = static_cast<unsigned long long>(native_frame_bytes(L, src.subsampled_422)) * L.frames;
  }
  if (src.length < need)
    return fail(ErrorCode::kInvalidData,
                path + ": (7FE0,0010) Pixel Data holds " + std::to_string(src.length) + " bytes, expected " +
                    std::to_string(need) + " for " + std::to_string(L.frames) + " frame(s) of " +
                    std::to_string(L.rows) + " x " + std::to_string(L.cols) + " x " + std::to_string(L.spp) +
                    " samples at " + std::to_string(L.bits_allocated) +
                    " bits; the file is truncated or its header is wrong — re-export it");
  return ok();
}

void extract_native(const PixelLayout& L, const NativeSource& src, int64_t frame, std::vector<double>& v) {
  const int64_t plane = static_cast<int64_t>(L.rows) * L.cols;
  if (L.bits_allocated == 1) {
    const uint64_t off = static_cast<uint64_t>(frame) * plane;
    for (int64_t i = 0; i < plane; ++i) {
      const uint64_t bit = off + i;
      v[i] = (src.bytes[bit >> 3] >> (bit & 7)) & 1u;
    }
    return;
  }
  const int b = L.bits_allocated / 8;
  const StoredCodec codec = make_codec(L);
  const uint8_t* base = src.bytes + native_frame_bytes(L, src.subsampled_422) * frame;
  if (src.subsampled_422) {
    // Y1 Y2 Cb Cr per pair of pixels along a row.
    for (int y = 0; y < L.rows; ++y) {
      for (int x = 0; x < L.cols; x += 2) {
        const uint8_t* q = base + (static_cast<std::size_t>(y) * L.cols + x) * 2 * b;
        const double y1 = codec.apply(read_le(q, b)), y2 = codec.apply(read_le(q + b, b));
        const double cb = codec.apply(read_le(q + 2 * b, b)), cr = codec.apply(read_le(q + 3 * b, b));
        const int64_t i = static_cast<int64_t>(y) * L.cols + x;
        v[i] = y1;
        v[plane + i] = cb;
        v[2 * plane + i] = cr;
        if (x + 1 < L.cols) {
          v[i + 1] = y2;
          v[plane + i + 1] = cb;
          v[2 * plane + i + 1] = cr;
        }
      }
    }
    return;
  }
  if (L.spp == 1) {
    if (b == 2 && codec.shift == 0 && !codec.is_signed) {
      for (int64_t i = 0; i < plane; ++i) v[i] = static_cast<double>(read_le(base + 2 * i, 2) & codec.mask);
      return;
    }
    for (int64_t i = 0; i < plane; ++i) v[i] = codec.apply(read_le(base + b * i, b));
    return;
  }
  for (int c = 0; c < L.spp; ++c) {
    for (int64_t i = 0; i < plane; ++i) {
      const std::size_t idx = L.planar_configuration == 1 ? static_cast<std::size_t>(c * plane + i)
                                                          : static_cast<std::size_t>(i * L.spp + c);
      v[c * plane + i] = codec.apply(read_le(base + idx * b, b));
    }
  }
}


// Fast path for the common case: one native little-endian grey sample per pixel (8/16/32 bits),
// MONOCHROME1/2, straight into the typed output slab. Returns true when a value was clamped.
template <typename R, typename Out>
bool fast_mono_typed(const uint8_t* base, const StoredCodec& c, bool mono1, int64_t inv_k, double slope, double icpt,
                     int64_t plane, Out* dst) {
  const bool int_path = !std::is_floating_point_v<Out> && slope == 1.0 && icpt == std::floor(icpt);
  const int64_t iicpt = int_path ? static_cast<int64_t>(icpt) : 0;
  bool clamped = false;
  for (int64_t i = 0; i < plane; ++i) {
    R r;
    std::memcpy(&r, base + i * sizeof(R), sizeof(R));
    uint32_t u = (static_cast<uint32_t>(r) >> c.shift) & c.mask;
    int64_t v = static_cast<int64_t>(u);
    if (c.is_signed && ((u >> (c.bits - 1)) & 1u)) v -= (int64_t{1} << c.bits);
    if (mono1) v = inv_k - v;
    if constexpr (std::is_floating_point_v<Out>) {
      dst[i] = static_cast<Out>(static_cast<double>(v) * slope + icpt);
    } else {
      int64_t o;
      if (int_path) {
        o = v + iicpt;
      } else {
        o = static_cast<int64_t>(std::nearbyint(static_cast<double>(v) * slope + icpt));
      }
      constexpr int64_t lo = static_cast<int64_t>(std::numeric_limits<Out>::lowest());
      constexpr int64_t hi = static_cast<int64_t>(std::numeric_limits<Out>::max());
      if (o < lo || o > hi) {
        clamped = true;
        o = o < lo ? lo : hi;
      }
      dst[i] = static_cast<Out>(o);
    }
  }
  return clamped;
}

template <typename Out>
bool fast_mono(const uint8_t* base, int bytes, const StoredCodec& c, bool mono1, int64_t inv_k, double slope,
               double icpt, int64_t plane, Out* dst) {
  switch (bytes) {
    case 1: return fast_mono_typed<uint8_t, Out>(base, c, mono1, inv_k, slope, icpt, plane, dst);
    case 2: return fast_mono_typed<uint16_t, Out>(base, c, mono1, inv_k, slope, icpt, plane, dst);
    default: return fast_mono_typed<uint32_t, Out>(base, c, mono1, inv_k, slope, icpt, plane, dst);
  }
}

bool fast_mono_any(const uint8_t* base, int bytes, const StoredCodec& c, bool mono1, int64_t inv_k, double slope,
                   double icpt, int64_t plane, at::Tensor& out, int64_t slab) {
  const int64_t off = slab * plane;  // channel 0
  switch (out.scalar_type()) {
    case at::kByte: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<uint8_t>() + off);
    case at::kShort: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<int16_t>() + off);
    case at::kInt: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<int32_t>() + off);
    case at::kLong: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<int64_t>() + off);
    case at::kDouble: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<double>() + off);
    default: return fast_mono(base, bytes, c, mono1, inv_k, slope, icpt, plane, out.data_ptr<float>() + off);
  }
}

void ybr_to_rgb(std::vector<double>& v, int64_t plane, int bits) {
  const double half = std::ldexp(1.0, bits - 1);
  const double maxv = std::ldexp(1.0, bits) - 1;
  for (int64_t i = 0; i < plane; ++i) {
    const double y = v[i], cb = v[plane + i] - half, cr = v[2 * plane + i] - half;
    const double r = y + 1.402 * cr;
    const double g = y - 0.344136 * cb - 0.714136 * cr;
    const double bl = y + 1.772 * cb;
    v[i] = std::clamp(r, 0.0, maxv);
    v[plane + i] = std::clamp(g, 0.0, maxv);
    v[2 * plane + i] = std::clamp(bl, 0.0, maxv);
  }
}

struct Palette {
  std::array<std::vector<uint16_t>, 3> lut;
  int64_t first = 0;
};

// Expands a segmented palette LUT (PS3.3 C.7.9.2): discrete (0), linear (1) and indirect (2)
// segments of 16-bit words in w[begin, end). Bounded: at most 65536 entries, 4 levels of indirection.
Status expand_segmented_lut(const Uint16* w, Uint32 n, Uint32 begin, Uint32 end, std::vector<uint16_t>& lut, int depth,
                            const std::string& path) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::kInvalidData, path + ": segmented palette LUT is corrupt (" + why + "); re-export it");
  };
  if (depth > 4) return bad("indirection nested too deeply");
  Uint32 i = begin;
  while (i + 1 < end) {
    const Uint16 op = w[i], len = w[i + 1];
    i += 2;
    if (lut.size() + len > 65536) return bad("more than 65536 entries");
    if (op == 0) {
      if (i + len > end) return bad("discrete segment runs past the data");
      lut.insert(lut.end(), w + i, w + i + len);
      i += len;
    } else if (op == 1) {
      if (lut.empty()) return bad("linear segment without a previous value");
      if (i >= end) return bad("linear segment without an end value");
      const double y0 = lut.back(), y1 = w[i++];
      for (Uint32 k = 1; k <= len; ++k) lut.push_back(static_cast<uint16_t>(std::lround(y0 + (y1 - y0) * k / len)));
    } else if (op == 2) {
      if (i + 1 >= end) return bad("indirect segment without an offset");
      const uint64_t byte_offset = static_cast<uint64_t>(w[i]) | (static_cast<uint64_t>(w[i + 1]) << 16);
      i += 2;
      const uint64_t start = byte_offset / 2;
      // `len` segments starting at `start`: expand them one by one.
      Uint32 pos = static_cast<Uint32>(std::min<uint64_t>(start, n));
      for (Uint32 sgm = 0; sgm < len; ++sgm) {
        if (pos + 1 >= n) return bad("indirect segment points past the data");
        const Uint16 sop = w[pos], slen = w[pos + 1];
        const Uint32 size = sop == 0 ? 2u + slen : sop == 1 ? 3u : 4u;
        if (sop == 2) return bad("indirect segment refers to another indirect segment");
        if (pos + size > n) return bad("segment runs past the data");
        if (auto st = expand_segmented_lut(w, n, pos, pos + size, lut, depth + 1, path); !st) return st;
        pos += size;
      }
    } else {
      return bad("unknown segment opcode " + std::to_string(op));
    }
  }
  return ok();
}

Result<Palette> read_palette(DcmDataset* ds, const PixelLayout& L, const std::string& path) {
  static const DcmTagKey kDesc[3] = {DCM_RedPaletteColorLookupTableDescriptor,
                                     DCM_GreenPaletteColorLookupTableDescriptor,
                                     DCM_BluePaletteColorLookupTableDescriptor};
  static const DcmTagKey kData[3] = {DCM_RedPaletteColorLookupTableData, DCM_GreenPaletteColorLookupTableData,
                                     DCM_BluePaletteColorLookupTableData};
  static const DcmTagKey kSeg[3] = {DCM_SegmentedRedPaletteColorLookupTableData,
                                    DCM_SegmentedGreenPaletteColorLookupTableData,
                                    DCM_SegmentedBluePaletteColorLookupTableData};
  Palette pal;
  for (int c = 0; c < 3; ++c) {
    Uint16 d0 = 0, d1 = 0, d2 = 0;
    if (ds->findAndGetUint16(kDesc[c], d0, 0).bad() || ds->findAndGetUint16(kDesc[c], d2, 2).bad())
      return fail(ErrorCode::kInvalidData, path + ": PALETTE COLOR image without a complete " +
                                               std::string(DcmTag(kDesc[c]).getTagName()) + " " +
                                               kDesc[c].toString().c_str() + "; re-export it");
    Sint16 s1 = 0;
    if (ds->findAndGetUint16(kDesc[c], d1, 1).good()) pal.first = d1;
    else if (ds->findAndGetSint16(kDesc[c], s1, 1).good()) pal.first = s1;
    if (L.pixel_representation == 1 && pal.first > 32767) pal.first -= 65536;
    const std::size_t entries = d0 == 0 ? 65536 : d0;
    DcmElement* el = nullptr;
    if (ds->findAndGetElement(kData[c], el).bad() || !el) {
      DcmElement* seg = nullptr;
      if (ds->findAndGetElement(kSeg[c], seg).good() && seg) {
        Uint16* w = nullptr;
        const Uint32 n = seg->getLength() / 2;
        if (seg->getUint16Array(w).bad() || !w || n == 0)
          return fail(ErrorCode::kInvalidData, path + ": cannot read segmented palette LUT " +
                                                   std::string(kSeg[c].toString().c_str()));
        std::vector<uint16_t> lut;
        if (auto st = expand_segmented_lut(w, n, 0, n, lut, 0, path); !st) return std::unexpected(st.error());
        if (lut.size() < entries)
          return fail(ErrorCode::kInvalidData, path + ": segmented palette LUT " + std::string(kSeg[c].toString().c_str()) +
                                                   " expands to " + std::to_string(lut.size()) + " entries, expected " +
                                                   std::to_string(entries) + " (descriptor); re-export it");
        lut.resize(entries);
        if (d2 == 8)
          for (auto& x : lut) x = x > 255 ? (x >> 8) : x;
        pal.lut[c] = std::move(lut);
        continue;
      }
      return fail(ErrorCode::kInvalidData, path + ": PALETTE COLOR image without " +
                                               std::string(kData[c].toString().c_str()) + " lookup table data");
    }
    const Uint32 len = el->getLength();
    pal.lut[c].resize(entries);
    if (d2 == 8 && len == entries) {
      // 8-bit entries packed two per OW word (little-endian byte order on this host).
      Uint8* b = nullptr;
      Uint16* w = nullptr;
      if (el->getUint8Array(b).bad() || !b) {
        if (el->getUint16Array(w).bad() || !w)
          return fail(ErrorCode::kInvalidData, path + ": cannot read palette LUT data " +
                                                   std::string(kData[c].toString().c_str()));
        b = reinterpret_cast<Uint8*>(w);
      }
      for (std::size_t i = 0; i < entries; ++i) pal.lut[c][i] = b[i];
    } else {
      Uint16* w = nullptr;
      if (el->getUint16Array(w).bad() || !w || len / 2 < entries)
        return fail(ErrorCode::kInvalidData, path + ": palette LUT " + std::string(kData[c].toString().c_str()) +
                                                 " holds " + std::to_string(len / 2) + " entries, expected " +
                                                 std::to_string(entries) + " (descriptor); re-export it");
      for (std::size_t i = 0; i < entries; ++i) pal.lut[c][i] = (d2 == 8 && w[i] > 255) ? (w[i] >> 8) : w[i];
    }
  }
  return pal;
}

void apply_palette(const Palette& pal, std::vector<double>& v, int64_t plane) {
  for (int64_t i = 0; i < plane; ++i) {
    int64_t idx = static_cast<int64_t>(v[i]) - pal.first;
    for (int c = 0; c < 3; ++c) {
      const auto& lut = pal.lut[c];
      const int64_t j = std::clamp<int64_t>(idx, 0, static_cast<int64_t>(lut.size()) - 1);
      v[c * plane + i] = lut[j];
    }
  }
}

// Splits encapsulated fragments (items 1..n of the pixel sequence) into frames.
Result<std::vector<std::vector<std::pair<const uint8_t*, std::size_t>>>> split_frames(DcmPixelSequence* seq,
                                                                                     int64_t frames,
                                                                                     const std::string& path) {
  using Frag = std::pair<const uint8_t*, std::size_t>;
  const unsigned long card = seq->card();
  if (card < 2)
    return fail(ErrorCode::kInvalidData, path + ": encapsulated (7FE0,0010) Pixel Data has no fragments; the file is "
                                                "truncated or corrupt");
  std::vector<Frag> frags;
  std::vector<uint64_t> starts;
  uint64_t pos = 0;
  for (unsigned long i = 1; i < card; ++i) {
    DcmPixelItem* item = nullptr;
    if (seq->getItem(item, i).bad() || !item)
      return fail(ErrorCode::kInvalidData, path + ": cannot read pixel data fragment " + std::to_string(i));
    Uint8* data = nullptr;
    const Uint32 len = item->getLength();
    if (len > 0 && (item->getUint8Array(data).bad() || !data))
      return fail(ErrorCode::kInvalidData, path + ": cannot read pixel data fragment " + std::to_string(i) +
                                               " (" + std::to_string(len) + " bytes); the file is truncated");
    frags.emplace_back(data, len);
    starts.push_back(pos);
    pos += 8ull + len;
  }
  std::vector<std::vector<Frag>> out;
  if (frames == 1) {
    out.emplace_back(frags);
    return out;
  }
  if (static_cast<int64_t>(frags.size()) == frames) {
    for (auto& f : frags) out.push_back({f});
    return out;
  }
  // Basic Offset Table (item 0).
  DcmPixelItem* bot = nullptr;
  std::vector<uint32_t> offsets;
  if (seq->getItem(bot, 0).good() && bot && bot->getLength() >= 4) {
    Uint8* d = nullptr;
    if (bot->getUint8Array(d).good() && d) {
      for (Uint32 i = 0; i + 4 <= bot->getLength(); i += 4) offsets.push_back(read_le(d + i, 4));
    }
  }
  if (static_cast<int64_t>(offsets.size()) == frames && std::is_sorted(offsets.begin(), offsets.end())) {
    out.resize(static_cast<std::size_t>(frames));
    for (std::size_t i = 0; i < frags.size(); ++i) {
      const auto it = std::upper_bound(offsets.begin(), offsets.end(), static_cast<uint32_t>(std::min<uint64_t>(starts[i], 0xFFFFFFFFu)));
      if (it == offsets.begin()) continue;
      out[static_cast<std::size_t>(it - offsets.begin() - 1)].push_back(frags[i]);
    }
  } else {
    // No usable offset table: a frame starts at each fragment that opens a codestream.
    for (const auto& f : frags) {
      const bool starts_frame = f.second >= 4 && ((f.first[0] == 0xFF && f.first[1] == 0x4F && f.first[2] == 0xFF &&
                                                   f.first[3] == 0x51) ||
                                                  (f.second >= 12 && f.first[4] == 0x6A && f.first[5] == 0x50));
      if (starts_frame || out.empty()) out.emplace_back();
      out.back().push_back(f);
    }
  }
  if (static_cast<int64_t>(out.size()) != frames ||
      std::any_of(out.begin(), out.end(), [](const auto& v) { return v.empty(); }))
    return fail(ErrorCode::kInvalidData,
                path + ": (0028,0008) Number of Frames is " + std::to_string(frames) + " but the " +
                    std::to_string(frags.size()) + " pixel data fragment(s) form " + std::to_string(out.size()) +
                    " frame(s); the file is truncated or its offset table is wrong");
  return out;
}


constexpr const char* kRleUid = "1.2.840.10008.1.2.5";
constexpr const char* kDeflateFrameUid = "1.2.840.10008.1.2.8.1";

// Decodes one RLE Lossless frame (PS3.5 Annex G) into native little-endian bytes with planar
// configuration 1 (1-bit data: the packed bits of the frame).
Status rle_decode_frame(const uint8_t* d, std::size_t n, const PixelLayout& L, std::vector<uint8_t>& out,
                        const std::string& what) {
  if (n < 64) return fail(ErrorCode::kInvalidData, what + ": RLE frame shorter than its 64-byte header (" +
                                                   std::to_string(n) + " bytes); the file is truncated");
  const uint32_t nseg = read_le(d, 4);
  const int B = L.bits_allocated == 1 ? 1 : L.bits_allocated / 8;
  const uint32_t expected = static_cast<uint32_t>(L.spp * B);
  if (nseg != expected)
    return fail(ErrorCode::kInvalidData, what + ": RLE header declares " + std::to_string(nseg) +
                                             " segment(s), expected " + std::to_string(expected) +
                                             " for (0028,0002) Samples per Pixel x (0028,0100) Bits Allocated / 8");
  const std::size_t plane = static_cast<std::size_t>(L.rows) * L.cols;
  const std::size_t seg_len = L.bits_allocated == 1 ? (plane + 7) / 8 : plane;
  out.assign(L.bits_allocated == 1 ? seg_len : plane * L.spp * B, 0);
  std::vector<uint8_t> tmp(seg_len);
  for (uint32_t s = 0; s < nseg; ++s) {
    const std::size_t start = read_le(d + 4 + 4 * s, 4);
    const std::size_t end = s + 1 < nseg ? read_le(d + 8 + 4 * s, 4) : n;
    if (start < 64 || start > end || end > n)
      return fail(ErrorCode::kInvalidData, what + ": RLE segment " + std::to_string(s + 1) + " offset " +
                                               std::to_string(start) + ".." + std::to_string(end) +
                                               " lies outside the " + std::to_string(n) + "-byte frame; corrupt data");
    std::size_t o = 0, i = start;
    while (o < seg_len && i < end) {
      const int8_t h = static_cast<int8_t>(d[i++]);
      if (h >= 0) {
        const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(h) + 1, std::min(end - i, seg_len - o));
        std::memcpy(tmp.data() + o, d + i, k);
        o += k;
        i += static_cast<std::size_t>(h) + 1;
      } else if (h != -128) {
        if (i >= end) break;
        const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(1 - h), seg_len - o);
        std::memset(tmp.data() + o, d[i++], k);
        o += k;
      }
    }
    if (o < seg_len)
      return fail(ErrorCode::kInvalidData, what + ": RLE segment " + std::to_string(s + 1) + " decodes to " +
                                               std::to_string(o) + " bytes, expected " + std::to_string(seg_len) +
                                               "; the frame is truncated or corrupt");
    if (L.bits_allocated == 1) {
      out = tmp;
      continue;
    }
    const std::size_t c = s / B;
    const std::size_t bi = static_cast<std::size_t>(B - 1 - static_cast<int>(s % B));  // segments are MSB first
    uint8_t* dst = out.data() + c * plane * B + bi;
    for (std::size_t p = 0; p < plane; ++p) dst[p * B] = tmp[p];
  }
  return ok();
}

// Inflates one Deflated Image Frame Compression frame (raw deflate, zlib or gzip wrapped).
Status inflate_frame(const uint8_t* d, std::size_t n, std::size_t expected, std::vector<uint8_t>& out,
                     const std::string& what) {
  out.assign(expected, 0);
  for (int window : {-15, 15 + 32}) {
    z_stream z{};
    if (inflateInit2(&z, window) != Z_OK) return fail(ErrorCode::kInternal, what + ": zlib init failed");
    z.next_in = const_cast<Bytef*>(d);
    z.avail_in = static_cast<uInt>(std::min<std::size_t>(n, 0xFFFFFFFFu));
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(expected);
    const int rc = inflate(&z, Z_FINISH);
    const std::size_t got = expected - z.avail_out;
    inflateEnd(&z);
    if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR || rc == Z_OK) && got == expected) return ok();
    if (window != -15)
      return fail(ErrorCode::kInvalidData, what + ": deflated frame inflates to " + std::to_string(got) +
                                               " bytes, expected " + std::to_string(expected) +
                                               "; the frame is truncated or corrupt");
  }
  return ok();
}
}  // namespace

Status decode_into(const fs::path& path, const ParsedHeader& header, const std::vector<FrameTarget>& targets,
                   at::Tensor& out, std::atomic<bool>* overflow) {
  register_codecs_once();
  const std::string p = path.string();
  try {
    LoadedFile lf;
    if (auto st = load_file(path, DCM_MaxReadLength, lf); !st) return st;
    DcmDataset* ds = lf.ff().getDataset();
    PixelLayout L = header.layout;
    if (L.rows != get_us(ds, DCM_Rows, 0) || L.cols != get_us(ds, DCM_Columns, 0))
      return fail(ErrorCode::kInvalidData, p + ": file changed between header scan and pixel read; read it again");
    const int64_t plane = static_cast<int64_t>(L.rows) * L.cols;
    const int out_channels = static_cast<int>(out.size(0));
    for (const auto& t : targets)
      if (t.frame < 0 || t.frame >= L.frames || t.slab < 0 || t.slab >= out.size(1))
        return fail(ErrorCode::kInternal, p + ": frame/slab index out of range in the decode plan");
    // Scratch plane for the general paths, sized only there: the fast monochrome path decodes
    // straight into `out`, and zeroing 6 MiB per 512x512 file cost more than decoding it.
    std::vector<double> v;
    const auto scratch_size = static_cast<std::size_t>(plane) * 3;
    std::string photometric = L.photometric;

    auto finish = [&](std::vector<double>& buf, const FrameTarget& t, const std::optional<Palette>& pal) -> Status {
      int channels = L.spp;
      if (photometric == "MONOCHROME1") {
        const StoredCodec c = make_codec(L);
        const double smin = c.is_signed ? -std::ldexp(1.0, c.bits - 1) : 0.0;
        const double smax = c.is_signed ? std::ldexp(1.0, c.bits - 1) - 1 : std::ldexp(1.0, c.bits) - 1;
        for (int64_t i = 0; i < plane; ++i) buf[i] = smin + smax - buf[i];
      } else if (photometric == "YBR_FULL" || photometric == "YBR_FULL_422") {
        ybr_to_rgb(buf, plane, L.bits_stored);
      } else if (photometric == "PALETTE COLOR" && pal) {
        apply_palette(*pal, buf, plane);
        channels = 3;
      }
      if (channels != out_channels)
        return fail(ErrorCode::kInconsistentSeries, p + ": decodes to " + std::to_string(channels) +
                                                        " channel(s) but the volume has " + std::to_string(out_channels));
      if (channels == 1 && L.bits_allocated != 1 && (t.slope != 1.0 || t.intercept != 0.0))
        for (int64_t i = 0; i < plane; ++i) buf[i] = buf[i] * t.slope + t.intercept;
      if (write_any(buf, channels, plane, out, t.slab) && overflow) overflow->store(true);
      return ok();
    };

    std::optional<Palette> palette;
    if (L.photometric == "PALETTE COLOR") {
      auto pal = read_palette(ds, L, p);
      if (!pal) return std::unexpected(pal.error());
      palette = std::move(*pal);
    }

    // Float / double float pixel data (parametric maps).
    if (L.kind != SampleKind::kInteger) {
      DcmElement* el = nullptr;
      const DcmTagKey tag = L.kind == SampleKind::kFloat32 ? DCM_FloatPixelData : DCM_DoubleFloatPixelData;
      if (ds->findAndGetElement(tag, el).bad() || !el)
        return fail(ErrorCode::kInvalidData, p + ": float pixel data element missing");
      const std::size_t esize = L.kind == SampleKind::kFloat32 ? 4 : 8;
      const unsigned long long need = static_cast<unsigned long long>(plane) * L.frames * esize;
      if (el->getLength() < need)
        return fail(ErrorCode::kInvalidData, p + ": " + std::string(tag.toString().c_str()) + " holds " +
                                                 std::to_string(el->getLength()) + " bytes, expected " +
                                                 std::to_string(need) + " for " + std::to_string(L.frames) +
                                                 " frame(s) of " + std::to_string(L.rows) + " x " +
                                                 std::to_string(L.cols) + "; the file is truncated");
      v.resize(scratch_size);
      Float32* f32 = nullptr;
      Float64* f64 = nullptr;
      if (L.kind == SampleKind::kFloat32 ? (el->getFloat32Array(f32).bad() || !f32)
                                         : (el->getFloat64Array(f64).bad() || !f64))
        return fail(ErrorCode::kInvalidData, p + ": cannot read float pixel data; the file is truncated");
      for (const auto& t : targets) {
        for (int64_t i = 0; i < plane; ++i)
          v[i] = f32 ? static_cast<double>(f32[t.frame * plane + i]) : f64[t.frame * plane + i];
        if (auto st = finish(v, t, palette); !st) return st;
      }
      return ok();
    }

    DcmElement* pixel_element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, pixel_element).bad() || !pixel_element)
      return fail(ErrorCode::kInvalidData, p + ": (7FE0,0010) Pixel Data is missing");
    auto* pixel_data = dynamic_cast<DcmPixelData*>(pixel_element);
    const E_TransferSyntax orig = ds->getOriginalXfer();
    const DcmXfer orig_xfer(orig);
    const std::string& ts = lf.ts_uid;
    const bool known = !ts.empty() && dcmtk_knows_uid(ts);
    const bool encapsulated = pixel_data && orig != EXS_Unknown && orig_xfer.isEncapsulated();

    const bool own_codec = is_j2k_uid(ts) || ts == kRleUid || ts == kDeflateFrameUid;
    if (!ts.empty() && !known && !own_codec) return fail(ErrorCode::kUnsupported, unsupported_ts_message(ts, path));
    if (own_codec && pixel_data) {
      E_TransferSyntax rep = EXS_Unknown;
      const DcmRepresentationParameter* rep_param = nullptr;
      pixel_data->getOriginalRepresentationKey(rep, rep_param);
      DcmPixelSequence* seq = nullptr;
      if (pixel_data->getEncapsulatedRepresentation(rep, rep_param, seq).bad() || !seq)
        return fail(ErrorCode::kInvalidData, p + ": transfer syntax " + transfer_syntax_name(ts) +
                                                 " requires encapsulated (7FE0,0010) Pixel Data, found native data; "
                                                 "the file is corrupt");
      auto frames = split_frames(seq, L.frames, p);
      if (!frames) return std::unexpected(frames.error());
      if (is_j2k_uid(ts) && (photometric == "YBR_RCT" || photometric == "YBR_ICT")) photometric = "RGB";
      v.resize(scratch_size);
      std::vector<uint8_t> joined, native;
      PixelLayout FL = L;
      FL.frames = 1;
      if (ts == kRleUid) FL.planar_configuration = 1;
      const bool sub422 = ts == kDeflateFrameUid && photometric == "YBR_FULL_422";
      for (const auto& t : targets) {
        const auto& fr = (*frames)[static_cast<std::size_t>(t.frame)];
        const uint8_t* data = fr.front().first;
        std::size_t size = fr.front().second;
        if (fr.size() > 1) {
          joined.clear();
          for (const auto& [d, n] : fr) joined.insert(joined.end(), d, d + n);
          data = joined.data();
          size = joined.size();
        }
        const std::string what = p + " frame " + std::to_string(t.frame + 1);
        if (is_j2k_uid(ts)) {
          auto j = decode_j2k(data, size, L.rows, L.cols, L.spp, what);
          if (!j) return std::unexpected(j.error());
          const StoredCodec codec = make_codec(L);
          for (int c = 0; c < L.spp; ++c)
            for (int64_t i = 0; i < plane; ++i) {
              const int32_t s = j->samples[static_cast<std::size_t>(c * plane + i)];
              v[c * plane + i] = L.bits_allocated == 1 ? (s & 1) : codec.apply(static_cast<uint32_t>(s) << codec.shift);
            }
        } else {
          if (ts == kRleUid) {
            if (auto st = rle_decode_frame(data, size, L, native, what); !st) return st;
          } else {
            const std::size_t expected = L.bits_allocated == 1 ? (static_cast<std::size_t>(plane) + 7) / 8
                                                               : native_frame_bytes(L, sub422);
            if (auto st = inflate_frame(data, size, expected, native, what); !st) return st;
          }
          NativeSource fs_src{native.data(), native.size(), sub422};
          if (auto st = check_native_length(FL, fs_src, what); !st) return st;
          extract_native(FL, fs_src, 0, v);
        }
        if (auto st = finish(v, t, palette); !st) return st;
      }
      return ok();
    }

    NativeSource src;
    if (encapsulated) {
      if (!DcmCodecList::canChangeCoding(orig, EXS_LittleEndianExplicit))
        return fail(ErrorCode::kUnsupported, unsupported_ts_message(ts, path));
      // Each frame needs at least one fragment: refuse impossible frame counts before the codec allocates.
      DcmPixelSequence* seq = nullptr;
      if (pixel_data->getEncapsulatedRepresentation(orig, nullptr, seq).good() && seq &&
          static_cast<int64_t>(seq->card()) - 1 < L.frames)
        return fail(ErrorCode::kInvalidData, p + ": (0028,0008) Number of Frames is " + std::to_string(L.frames) +
                                                 " but the encapsulated pixel data holds only " +
                                                 std::to_string(seq->card() > 0 ? seq->card() - 1 : 0) +
                                                 " fragment(s); the file is truncated or its header is wrong");
      OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
      if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
        return fail(ErrorCode::kInvalidData, p + ": decoding " + transfer_syntax_name(ts) + " pixel data failed (DCMTK: " +
                                                 std::string(c.text()) + "); the compressed data is corrupt or truncated");
      // The codec may have converted YCbCr to RGB and changed the planar configuration.
      photometric = get_string(ds, DCM_PhotometricInterpretation);
      if (photometric.empty()) photometric = L.photometric;
      L.planar_configuration = get_us(ds, DCM_PlanarConfiguration, 0);
      if (ds->findAndGetElement(DCM_PixelData, pixel_element).bad() || !pixel_element)
        return fail(ErrorCode::kInvalidData, p + ": decoded pixel data missing");
    } else if (photometric == "YBR_FULL_422") {
      src.subsampled_422 = true;
      if (L.cols % 2 != 0)
        return fail(ErrorCode::kInvalidData, p + ": YBR_FULL_422 needs an even (0028,0011) Columns, found " +
                                                 std::to_string(L.cols));
    }
    if (photometric == "YBR_RCT" || photometric == "YBR_ICT")
      return fail(ErrorCode::kInvalidData, p + ": Photometric Interpretation " + photometric +
                                               " is only valid with JPEG 2000, found transfer syntax " + ts);
    const Uint32 length = pixel_element->getLength();
    if (length == DCM_UndefinedLength)
      return fail(ErrorCode::kInvalidData, p + ": native (7FE0,0010) Pixel Data has undefined length; corrupt file");
    if (L.bits_allocated <= 8) {
      Uint8* b = nullptr;
      if (length > 0 && (pixel_element->getUint8Array(b).bad() || !b))
        return fail(ErrorCode::kInvalidData, p + ": cannot read (7FE0,0010) Pixel Data; the file is truncated");
      src.bytes = b;
    } else {
      Uint16* w = nullptr;
      if (length > 0 && (pixel_element->getUint16Array(w).bad() || !w))
        return fail(ErrorCode::kInvalidData, p + ": cannot read (7FE0,0010) Pixel Data; the file is truncated");
      src.bytes = reinterpret_cast<const uint8_t*>(w);
      // 32-bit samples in big endian OW arrive as swapped 16-bit words: restore the word order.
      if (w && L.bits_allocated == 32 && !encapsulated && orig_xfer.isBigEndian()) {
        for (Uint32 i = 0; i + 1 < length / 2; i += 2) std::swap(w[i], w[i + 1]);
      }
    }
    src.length = length;
    if (auto st = check_native_length(L, src, p); !st) return st;
    const bool fast = L.spp == 1 && L.bits_allocated >= 8 && out_channels == 1 && !src.subsampled_422 &&
                      (photometric == "MONOCHROME1" || photometric == "MONOCHROME2");
    if (fast) {
      const StoredCodec c = make_codec(L);
      const int64_t smin = c.is_signed ? -(int64_t{1} << (c.bits - 1)) : 0;
      const int64_t smax = c.is_signed ? (int64_t{1} << (c.bits - 1)) - 1 : (int64_t{1} << c.bits) - 1;
      const std::size_t fb = native_frame_bytes(L, false);
      for (const auto& t : targets) {
        if (fast_mono_any(src.bytes + fb * t.frame, L.bits_allocated / 8, c, photometric == "MONOCHROME1", smin + smax,
                          t.slope, t.intercept, plane, out, t.slab) &&
            overflow)
          overflow->store(true);
      }
      return ok();
    }
    v.resize(scratch_size);
    for (const auto& t : targets) {
      extract_native(L, src, t.frame, v);
      if (auto st = finish(v, t, palette); !st) return st;
    }
    return ok();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, p + ": decoding the pixel data failed (" + e.what() + ")");
  } catch (...) {
    return fail(ErrorCode::kInvalidData, p + ": decoding the pixel data failed (unknown exception)");
  }
}

}  // namespace lucent::io::internal
