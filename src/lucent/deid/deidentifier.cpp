#include "lucent/deid/deidentifier.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcvrcs.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <mutex>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/deid/values.h"

namespace lucent::deid {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kWellKnownRoot = "1.2.840.10008.";
// Values up to this size are read with the rest of the file (one pass, no re-open of the input
// to fetch pixel data later); larger ones stay on disk until written (bounded memory per thread).
constexpr Uint32 kEagerReadBytes = 64u << 20;

void register_codecs_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

std::string tag_string(std::uint16_t g, std::uint16_t e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", g, e);
  return buf;
}

// The element's VR as two standard letters (DCMTK's internal "ox", "xs", "px"... are mapped).
std::string vr_name(DcmElement* el) {
  std::string vr = DcmVR(el->getVR()).getValidVRName();
  if (vr == "ox" || vr == "px" || vr == "lt") return "OW";
  if (vr == "xs") return "US";
  if (vr == "up") return "UL";
  return vr;
}

std::string get_string(DcmElement* el) {
  OFString v;
  if (el->getOFStringArray(v, OFTrue).bad()) return {};
  return std::string(v.c_str(), v.size());
}

std::string get_top(DcmItem* item, const DcmTagKey& key) {
  OFString v;
  if (item->findAndGetOFStringArray(key, v, OFFalse).bad()) return {};
  std::string s(v.c_str(), v.size());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

std::string dummy_for(std::string_view vr) {
  if (vr == "DA") return "19000101";
  if (vr == "TM") return "000000";
  if (vr == "DT") return "19000101000000";
  if (vr == "AS") return "000Y";
  if (vr == "AE") return "ANONYMIZED";
  if (vr == "CS") return "ANONYMIZED";
  if (vr == "DS" || vr == "IS" || vr == "US" || vr == "UL" || vr == "SS" || vr == "SL" || vr == "FL" || vr == "FD" ||
      vr == "SV" || vr == "UV")
    return "0";
  if (vr == "UR") return "urn:x-anonymized";
  return "ANONYMIZED";
}

bool is_binary_vr(std::string_view vr) {
  return vr == "OB" || vr == "OW" || vr == "OF" || vr == "OD" || vr == "OL" || vr == "OV" || vr == "UN" || vr == "ox";
}

std::string map_uid_list(const ProjectKey& key, const std::string& value) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t sep = value.find('\\', start);
    std::string one = value.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\0')) one.pop_back();
    if (!one.empty()) out += one.starts_with(kWellKnownRoot) ? one : key.map_uid(one);
    if (sep == std::string::npos) break;
    out += '\\';
    start = sep + 1;
  }
  return out;
}

struct Context {
  const Options& opt;
  const ProjectKey& key;
  std::string sop_class;
  std::string patient_key;  // Patient ID, else Patient's Name
  int date_offset = 0;
  FileReport& report;
};

void record(Context& c, const std::string& path, Action a, const std::string& code) {
  c.report.actions.push_back({path, std::string(action_name(a)), code});
}

// Applies the profile to every element of `item`, recursing into sequences.
void process_item(DcmItem* item, Context& c, const std::string& prefix, bool clean_ctx) {
  // Pass 1: decisions, and the private creators that a retained private element needs.
  std::set<std::uint32_t> needed_creators;
  const unsigned long n = item->card();
  std::vector<Decision> decisions;
  decisions.reserve(n);
  for (unsigned long i = 0; i < n; ++i) {
    DcmElement* el = item->getElement(i);
    const DcmTag& tag = el->getTag();
    const char* creator = tag.getPrivateCreator();
    decisions.push_back(decide(tag.getGTag(), tag.getETag(), vr_name(el), c.opt, c.sop_class,
                               creator ? std::string_view(creator) : std::string_view(), clean_ctx));
    const Decision& d = decisions.back();
    if ((tag.getGTag() & 1) && tag.getETag() > 0x00FF && d.action != Action::kRemove)
      needed_creators.insert((std::uint32_t{tag.getGTag()} << 16) | (tag.getETag() >> 8));
  }
  // Pass 2: apply (back to front so that removal keeps indices valid).
  for (unsigned long k = n; k-- > 0;) {
    DcmElement* el = item->getElement(k);
    const std::uint16_t g = el->getTag().getGTag(), e = el->getTag().getETag();
    Decision d = decisions[k];
    if ((g & 1) && e >= 0x0010 && e <= 0x00FF && needed_creators.contains((std::uint32_t{g} << 16) | e)) {
      d.action = Action::kKeep;
      d.code = "K(private creator of a retained element)";
    }
    const std::string path = prefix + tag_string(g, e);
    const std::string vr = vr_name(el);
    // Every rewrite is checked: a value that cannot be rewritten (e.g. an element whose VR does
    // not hold text) is removed instead, so a failure can never leave the original behind.
    bool rewritten = true;
    auto put = [&](const std::string& v) { rewritten = el->putString(v.c_str()).good(); };
    switch (d.action) {
      case Action::kRemove:
        break;
      case Action::kZero:
        if (vr == "SQ") static_cast<DcmSequenceOfItems*>(el)->clear();
        else rewritten = el->clear().good();
        break;
      case Action::kDummy:
        if (vr == "SQ") break;
        if (is_binary_vr(vr)) {
          Uint8 zeros[2] = {0, 0};
          rewritten = el->putUint8Array(zeros, 2).good();
        } else {
          put(dummy_for(vr));
        }
        break;
      case Action::kUid: {
        const std::string v = get_string(el);
        if (!v.empty()) put(map_uid_list(c.key, v));
        break;
      }
      case Action::kPseudonym:
        put(c.key.pseudonym(c.patient_key));
        break;
      case Action::kShiftDate: {
        const std::string v = get_string(el);
        if (v.empty()) break;
        auto shifted = vr == "DA" ? shift_da(v, c.date_offset) : shift_dt(v, c.date_offset);
        if (shifted) {
          put(*shifted);
        } else {
          rewritten = el->clear().good();
          d.code += "(unparseable date emptied)";
          d.action = Action::kZero;
        }
        break;
      }
      case Action::kClean: {
        const std::string v = get_string(el);
        if (!v.empty()) put(scrub_text(v));
        break;
      }
      case Action::kAgeGroup: {
        const std::string v = get_string(el);
        const std::string g2 = group_age(v);
        if (g2 != v) put(g2);
        break;
      }
      case Action::kRecurse: {
        auto* sq = static_cast<DcmSequenceOfItems*>(el);
        const bool child_clean = clean_ctx || d.code.starts_with("C");
        for (unsigned long i = 0; i < sq->card(); ++i)
          process_item(sq->getItem(i), c, path + "[" + std::to_string(i) + "]/", child_clean);
        break;
      }
      case Action::kKeep:
        break;
    }
    if (!rewritten) {
      d.code += "(value could not be rewritten: removed)";
      d.action = Action::kRemove;
    }
    if (d.action == Action::kRemove) delete item->remove(k);
    if (d.action != Action::kKeep || d.row) record(c, path, d.action, d.code);
  }
}

Status check_uid(DcmDataset* ds, const DcmTagKey& key, const char* name, bool required) {
  OFString v;
  const bool present = ds->findAndGetOFString(key, v).good() && !v.empty();
  if (!present) {
    if (required) return fail(ErrorCode::kInvalidData, std::string(name) + " is missing or empty; the file cannot be identified");
    return ok();
  }
  if (!is_valid_uid(std::string_view(v.c_str(), v.size())))
    return fail(ErrorCode::kInvalidData,
                std::string(name) + " is not a valid UID (expected digits and dots, at most 64 characters, no "
                                    "leading zeros); the file cannot be de-identified safely");
  return ok();
}

Status blank_regions(DcmDataset* ds, const PixelRule& rule, FileReport& rep) {
  Uint16 rows = 0, cols = 0, bits = 0, spp = 1, planar = 0;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, cols);
  ds->findAndGetUint16(DCM_BitsAllocated, bits);
  ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
  ds->findAndGetUint16(DCM_PlanarConfiguration, planar);
  Sint32 frames = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  if (bits != 8 && bits != 16)
    return fail(ErrorCode::kUnsupported, "pixel rule needs 8- or 16-bit pixels; found BitsAllocated " + std::to_string(bits));
  DcmElement* px = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, px).bad() || !px)
    return fail(ErrorCode::kInvalidData, "pixel rule matched but the file has no Pixel Data");
  const std::size_t bytes_per = bits / 8;
  const std::size_t frame_bytes = std::size_t{rows} * cols * spp * bytes_per;
  Uint8* data = nullptr;
  if (px->getUint8Array(data).bad() || !data)
    return fail(ErrorCode::kInvalidData, "cannot access the decoded Pixel Data");
  if (px->getLength() < frame_bytes * static_cast<std::size_t>(frames))
    return fail(ErrorCode::kInvalidData, "Pixel Data shorter than Rows x Columns x Samples x Frames");
  for (Sint32 f = 0; f < frames; ++f) {
    Uint8* frame = data + frame_bytes * static_cast<std::size_t>(f);
    for (const PixelRegion& r : rule.regions) {
      const int x0 = std::min<int>(r.x, cols), x1 = std::min<int>(r.x + r.width, cols);
      const int y0 = std::min<int>(r.y, rows), y1 = std::min<int>(r.y + r.height, rows);
      for (int s = 0; s < spp; ++s)
        for (int y = y0; y < y1; ++y)
          for (int x = x0; x < x1; ++x) {
            std::size_t idx;
            if (planar == 1 && spp > 1) idx = (std::size_t{static_cast<unsigned>(s)} * rows * cols + std::size_t(y) * cols + x) * bytes_per;
            else idx = ((std::size_t(y) * cols + x) * spp + s) * bytes_per;
            std::fill_n(frame + idx, bytes_per, Uint8{0});
          }
    }
  }
  rep.pixel_rule = rule.describe();
  return ok();
}

// Streams the file through a buffer and writes it with checked write(2) calls: DCMTK's own file
// writer does not report errors that only surface when its buffered stream is closed (a full
// disk), and a de-identified file must never be half-written silently.
Status write_dicom(DcmFileFormat& ff, E_TransferSyntax xfer, const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(ErrorCode::kIoError, "cannot create " + path.string() + ": " + std::strerror(errno));
  auto put = [&](const void* data, std::size_t n) -> Status {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        const bool full = errno == ENOSPC || errno == EDQUOT;
        return fail(full ? ErrorCode::kResourceExhausted : ErrorCode::kIoError,
                    "cannot write " + path.string() + ": " + std::strerror(errno) + (full ? " (disk full)" : ""));
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return ok();
  };
  Status result = ok();
  OFCondition cond = ff.validateMetaInfo(xfer, EWM_createNewMeta);
  if (cond.good()) {
    // One buffer per thread, not zero-filled per file.
    static thread_local std::unique_ptr<char[]> buffer(new char[1 << 20]);
    DcmOutputBufferStream out(buffer.get(), 1 << 20);
    ff.transferInit();
    bool first = true;
    do {
      cond = ff.write(out, xfer, EET_ExplicitLength, nullptr, EGL_withoutGL, EPD_noChange, 0, 0, 0, EWM_updateMeta);
      if (cond.good()) out.flush();
      void* chunk = nullptr;
      offile_off_t len = 0;
      out.flushBuffer(chunk, len);
      if (first && len >= 132 && std::memcmp(static_cast<char*>(chunk) + 128, "DICM", 4) == 0) {
        // DCMTK keeps the input's 128-byte preamble, which may hold anything (TIFF headers,
        // identifiers): the output's preamble is always zeros.
        std::memset(chunk, 0, 128);
      }
      if (len > 0) first = false;
      if (len > 0) result = put(chunk, static_cast<std::size_t>(len));
    } while (result && cond == EC_StreamNotifyClient);
    ff.transferEnd();
  }
  if (::close(fd) != 0 && result)
    result = fail(ErrorCode::kIoError, "cannot close " + path.string() + ": " + std::strerror(errno));
  if (!result) return result;
  if (cond.bad()) return fail(ErrorCode::kIoError, "cannot encode " + path.string() + ": " + cond.text());
  return ok();
}

}  // namespace

Deidentifier::Deidentifier(Options options, ProjectKey key, std::optional<PixelRules> rules)
    : options_(std::move(options)), key_(key), rules_(std::move(rules)), writer_(&lucent::write_atomically) {}
Deidentifier::~Deidentifier() = default;

Result<std::unique_ptr<Deidentifier>> Deidentifier::create(Options options, ProjectKey key,
                                                           std::optional<PixelRules> rules) {
  if (auto v = options.validate(); !v) return std::unexpected(v.error());
  if (options.clean_pixel_data && !rules)
    return fail(ErrorCode::kInvalidArgument,
                "option clean-pixel-data needs pixel rules; pass --rules configs/deid/pixel_rules.script");
  if (rules) options.clean_pixel_data = true;
  if (!dcmDataDict.isDictionaryLoaded())
    return fail(ErrorCode::kInternal, "DCMTK data dictionary is not loaded (set DCMDICTPATH or install dcmtk data)");
  register_codecs_once();
  // Elements stored with VR UN but known to the dictionary are read with their real VR, so that
  // their values can be judged and rewritten (DCMTK-wide reading setting; also what a viewer does).
  dcmEnableUnknownVRConversion.set(OFTrue);
  return std::unique_ptr<Deidentifier>(new Deidentifier(std::move(options), key, std::move(rules)));
}

Result<FileReport> Deidentifier::deidentify_file(const fs::path& input, const fs::path& output,
                                                 const AtomicWriter* writer) const {
  FileReport rep;
  DcmFileFormat ff;
  const OFCondition cond = ff.loadFile(input.c_str(), EXS_Unknown, EGL_noChange, kEagerReadBytes, ERM_autoDetect);
  if (cond.bad())
    return fail(ErrorCode::kInvalidData, "cannot parse " + input.string() + " as DICOM: " + cond.text());
  DcmDataset* ds = ff.getDataset();
  {
    OFString media;
    ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, media);
    if (media == UID_MediaStorageDirectoryStorage)
      return fail(ErrorCode::kUnsupported, "DICOMDIR files are not de-identified; rebuild one from the output (dcmmkdir)");
  }
  if (auto s = check_uid(ds, DCM_SOPClassUID, "SOP Class UID (0008,0016)", true); !s) return std::unexpected(s.error());
  if (auto s = check_uid(ds, DCM_SOPInstanceUID, "SOP Instance UID (0008,0018)", true); !s) return std::unexpected(s.error());
  if (auto s = check_uid(ds, DCM_StudyInstanceUID, "Study Instance UID (0020,000D)", false); !s) return std::unexpected(s.error());
  if (auto s = check_uid(ds, DCM_SeriesInstanceUID, "Series Instance UID (0020,000E)", false); !s) return std::unexpected(s.error());
  rep.sop_class_uid = get_top(ds, DCM_SOPClassUID);

  // Burned-in text: flagged, and refused when asked unless a pixel rule cleans it.
  const std::string burned = get_top(ds, DCM_BurnedInAnnotation);
  const std::string conversion = get_top(ds, DCM_ConversionType);
  if (burned == "YES") rep.burned_in_reason = "Burned In Annotation = YES";
  else if (rep.sop_class_uid.starts_with("1.2.840.10008.5.1.4.1.1.7")) rep.burned_in_reason = "secondary capture SOP class";
  else if (!conversion.empty() && conversion != "SYN") rep.burned_in_reason = "Conversion Type = " + conversion;
  rep.burned_in = !rep.burned_in_reason.empty();

  E_TransferSyntax xfer = ds->getOriginalXfer();
  {
    // A deflated file reports its inner encoding as the dataset's; keep the file's own syntax.
    OFString ts;
    if (ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty()) {
      const DcmXfer meta_xfer(ts.c_str());
      if (meta_xfer.getXfer() != EXS_Unknown) xfer = meta_xfer.getXfer();
    }
  }
  if (xfer == EXS_Unknown) xfer = EXS_LittleEndianExplicit;
  if (options_.clean_pixel_data && rules_ && ds->tagExists(DCM_PixelData)) {
    std::map<std::string, std::string> fields{
        {"Modality", get_top(ds, DCM_Modality)},
        {"Manufacturer", get_top(ds, DCM_Manufacturer)},
        {"ManufacturerModelName", get_top(ds, DCM_ManufacturerModelName)},
        {"Rows", get_top(ds, DCM_Rows)},
        {"Columns", get_top(ds, DCM_Columns)},
        {"SOPClassUID", rep.sop_class_uid},
        {"ImageType", get_top(ds, DCM_ImageType)},
        {"BurnedInAnnotation", burned},
        {"ConversionType", conversion}};
    if (const PixelRule* rule = rules_->match(fields)) {
      if (DcmXfer(xfer).isEncapsulated()) {
        const OFCondition dc = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (dc.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
          return fail(ErrorCode::kUnsupported, "pixel rule " + rule->describe() + " applies but transfer syntax " +
                                                   DcmXfer(xfer).getXferName() +
                                                   " cannot be decompressed here (no codec); the pixels cannot be cleaned");
        xfer = EXS_LittleEndianExplicit;
        rep.decompressed = true;
        // Decompressed pixels: YBR photometric interpretations become RGB in DCMTK's decoders,
        // and the lossy-compression history stays in Lossy Image Compression (0028,2110).
      }
      if (auto b = blank_regions(ds, *rule, rep); !b) return std::unexpected(b.error());
      if (ds->tagExists(DCM_BurnedInAnnotation)) ds->putAndInsertString(DCM_BurnedInAnnotation, "NO");
    }
  }
  if (rep.burned_in && rep.pixel_rule.empty()) {
    if (options_.refuse_burned_in)
      return fail(ErrorCode::kPermissionDenied, "refused: possible burned-in text (" + rep.burned_in_reason +
                                                    ") and no pixel rule cleaned it (refuse-burned-in)");
    rep.warnings.push_back("possible burned-in text (" + rep.burned_in_reason + "); no pixel rule applied");
  }

  Context ctx{options_, key_, rep.sop_class_uid, {}, 0, rep};
  rep.original_patient_id = get_top(ds, DCM_PatientID);
  rep.original_patient_name = get_top(ds, DCM_PatientName);
  ctx.patient_key = !rep.original_patient_id.empty() ? rep.original_patient_id : rep.original_patient_name;
  ctx.date_offset = key_.date_offset_days(ctx.patient_key);
  rep.patient_pseudonym = key_.pseudonym(ctx.patient_key);

  process_item(ds, ctx, "", false);

  // Attributes the standard requires on a de-identified instance.
  ds->putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  ds->putAndInsertString(DCM_DeidentificationMethod, options_.describe().c_str());
  ds->findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  for (const MethodCode& m : method_codes(options_)) {
    DcmItem* it = nullptr;
    if (ds->findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, it, -2).good() && it) {
      it->putAndInsertString(DCM_CodeValue, std::string(m.value).c_str());
      it->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      it->putAndInsertString(DCM_CodeMeaning, std::string(m.meaning).c_str());
    }
  }
  const char* longitudinal = options_.has(ProfileOption::kRetainLongitudinalFullDates)       ? "UNMODIFIED"
                             : options_.has(ProfileOption::kRetainLongitudinalModifiedDates) ? "MODIFIED"
                                                                                             : "REMOVED";
  ds->putAndInsertString(DCM_LongitudinalTemporalInformationModified, longitudinal);
  rep.new_sop_instance_uid = get_top(ds, DCM_SOPInstanceUID);

  // File Meta: rebuilt from the dataset (Media Storage SOP Instance UID = new SOP Instance UID).
  DcmMetaInfo* meta = ff.getMetaInfo();
  meta->clear();
  rep.transfer_syntax = DcmXfer(xfer).getXferID();
  if (!ds->canWriteXfer(xfer))
    return fail(ErrorCode::kUnsupported, std::string("cannot re-encode this file in its transfer syntax ") +
                                             DcmXfer(xfer).getXferName() +
                                             " (DCMTK has no encoder for its pixel data representation)");
  auto st = (writer ? *writer : writer_)(output, [&](const fs::path& tmp) -> Status { return write_dicom(ff, xfer, tmp); });
  if (!st) return std::unexpected(st.error());
  return rep;
}

Result<std::vector<Finding>> check_file(const fs::path& input, const Options& opt) {
  dcmEnableUnknownVRConversion.set(OFTrue);  // judge UN-encoded elements by their real VR, as deid does
  DcmFileFormat ff;
  const OFCondition cond = ff.loadFile(input.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad()) return fail(ErrorCode::kInvalidData, "cannot parse " + input.string() + " as DICOM: " + cond.text());
  DcmDataset* ds = ff.getDataset();
  const std::string sop_class = get_top(ds, DCM_SOPClassUID);
  std::vector<Finding> out;
  if (get_top(ds, DCM_PatientIdentityRemoved) != "YES")
    out.push_back({"(0012,0062)", "Patient Identity Removed", "missing or not YES"});
  std::function<void(DcmItem*, const std::string&, bool)> walk = [&](DcmItem* item, const std::string& prefix, bool clean_ctx) {
    for (unsigned long i = 0; i < item->card(); ++i) {
      DcmElement* el = item->getElement(i);
      const DcmTag& tag = el->getTag();
      const std::uint16_t g = tag.getGTag(), e = tag.getETag();
      if (g == 0x0012 && (e == 0x0062 || e == 0x0063 || e == 0x0064)) continue;
      const std::string vr = vr_name(el);
      const char* creator = tag.getPrivateCreator();
      Decision d = decide(g, e, vr, opt, sop_class, creator ? std::string_view(creator) : std::string_view(), clean_ctx);
      if ((g & 1) && e >= 0x0010 && e <= 0x00FF) continue;  // creators: judged with their elements
      const std::string path = prefix + tag_string(g, e);
      std::string name = d.row ? std::string(d.row->name) : std::string(DcmTag(tag).getTagName());
      // Binary values (pixel data, possibly encapsulated) are never read: no rule judges them.
      const std::string v = (vr == "SQ" || is_binary_vr(vr)) ? std::string() : get_string(el);
      auto flag = [&](const std::string& problem) { out.push_back({path, name, problem}); };
      switch (d.action) {
        case Action::kRemove: flag("present; the profile removes it (" + d.code + ")"); break;
        case Action::kZero:
          if (vr == "SQ" ? static_cast<DcmSequenceOfItems*>(el)->card() > 0 : !v.empty())
            flag("has a value; the profile empties it (" + d.code + ")");
          break;
        case Action::kUid:
          if (!v.empty() && !v.starts_with("2.25.") && !v.starts_with(kWellKnownRoot)) flag("UID not replaced (" + d.code + ")");
          break;
        case Action::kPseudonym:
          if (!v.empty() && !v.starts_with("LUC")) flag("not pseudonymised");
          break;
        case Action::kClean:
          if (scrub_text(v) != v) flag("text not clean (" + d.code + ")");
          break;
        case Action::kAgeGroup:
          if (group_age(v) != v) flag("age over 89 not grouped");
          break;
        case Action::kRecurse: {
          auto* sq = static_cast<DcmSequenceOfItems*>(el);
          for (unsigned long k = 0; k < sq->card(); ++k)
            walk(sq->getItem(k), path + "[" + std::to_string(k) + "]/", clean_ctx || d.code.starts_with("C"));
          break;
        }
        default: break;  // K, D and date shifts cannot be told apart from their originals
      }
    }
  };
  walk(ds, "", false);
  return out;
}

}  // namespace lucent::deid
