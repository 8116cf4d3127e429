#include "lucent/deid/fixtures.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdio>

namespace lucent::deid {
namespace {

Status add_elements(DcmItem* item, const std::vector<FixtureElement>& els) {
  for (const FixtureElement& f : els) {
    // The private creator is implied by the block's creator element, written by the caller; DCMTK
    // re-derives it when the file is read.
    DcmTag tag(f.group, f.element, DcmVR(f.vr.c_str()));
    if (f.vr == "SQ") {
      auto* sq = new DcmSequenceOfItems(tag);
      for (const auto& it : f.items) {
        auto* child = new DcmItem();
        if (auto s = add_elements(child, it); !s) {
          delete child;
          delete sq;
          return s;
        }
        sq->append(child);
      }
      if (item->insert(sq, OFTrue).bad()) {
        delete sq;
        return fail(ErrorCode::kInternal, "cannot insert sequence");
      }
      continue;
    }
    // Private tags are not in the dictionary, so DCMTK's factory would make them UN: build the
    // element class for the requested VR directly.
    DcmElement* el = nullptr;
    const std::string& v = f.vr;
    if (v == "LO") el = new DcmLongString(tag);
    else if (v == "SH") el = new DcmShortString(tag);
    else if (v == "IS") el = new DcmIntegerString(tag);
    else if (v == "DS") el = new DcmDecimalString(tag);
    else if (v == "CS") el = new DcmCodeString(tag);
    else if (v == "PN") el = new DcmPersonName(tag);
    else if (v == "DA") el = new DcmDate(tag);
    else if (v == "TM") el = new DcmTime(tag);
    else if (v == "DT") el = new DcmDateTime(tag);
    else if (v == "UT") el = new DcmUnlimitedText(tag);
    else if (v == "LT") el = new DcmLongText(tag);
    else if (v == "ST") el = new DcmShortText(tag);
    else if (v == "UI") el = new DcmUniqueIdentifier(tag);
    else el = DcmItem::newDicomElement(tag);
    if (!el) return fail(ErrorCode::kInvalidArgument, "cannot create element with VR " + f.vr);
    OFCondition c;
    if (f.vr == "OB" || f.vr == "UN") c = el->putUint8Array(reinterpret_cast<const Uint8*>(f.value.data()), static_cast<unsigned long>(f.value.size()));
    else if (!f.value.empty()) c = el->putString(f.value.c_str());
    if (c.bad()) {
      delete el;
      char buf[16];
      std::snprintf(buf, sizeof buf, "(%04X,%04X)", f.group, f.element);
      return fail(ErrorCode::kInvalidArgument, std::string("cannot set value of ") + buf + ": " + c.text());
    }
    if (item->insert(el, OFTrue).bad()) {
      delete el;
      return fail(ErrorCode::kInternal, "cannot insert element");
    }
  }
  return ok();
}

void dump_item(DcmItem* item, const std::string& prefix, std::vector<DumpedElement>& out) {
  for (unsigned long i = 0; i < item->card(); ++i) {
    DcmElement* el = item->getElement(i);
    const DcmTag& t = el->getTag();
    char buf[16];
    std::snprintf(buf, sizeof buf, "(%04X,%04X)", t.getGTag(), t.getETag());
    DumpedElement d;
    d.path = prefix + buf;
    d.group = t.getGTag();
    d.element = t.getETag();
    d.vr = DcmVR(el->getVR()).getValidVRName();
    if (d.vr == "SQ") {
      out.push_back(d);
      auto* sq = static_cast<DcmSequenceOfItems*>(el);
      for (unsigned long k = 0; k < sq->card(); ++k) dump_item(sq->getItem(k), d.path + "[" + std::to_string(k) + "]/", out);
      continue;
    }
    if (d.vr != "OB" && d.vr != "OW" && d.vr != "UN" && d.vr != "OF" && d.vr != "OD" && d.vr != "OL" && d.vr != "ox") {
      OFString v;
      if (el->getOFStringArray(v).good()) d.value.assign(v.c_str(), v.size());
    }
    out.push_back(d);
  }
}

}  // namespace

Status write_fixture(const std::filesystem::path& path, const std::vector<FixtureElement>& elements) {
  DcmFileFormat ff;
  if (auto s = add_elements(ff.getDataset(), elements); !s) return s;
  const OFCondition c = ff.saveFile(path.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_withoutGL,
                                    EPD_noChange, 0, 0, EWM_createNewMeta);
  if (c.bad()) return fail(ErrorCode::kIoError, "cannot write fixture " + path.string() + ": " + c.text());
  return ok();
}

Result<std::vector<DumpedElement>> dump_dicom(const std::filesystem::path& path, bool with_meta) {
  DcmFileFormat ff;
  const OFCondition c = ff.loadFile(path.c_str());
  if (c.bad()) return fail(ErrorCode::kInvalidData, "cannot parse " + path.string() + ": " + c.text());
  std::vector<DumpedElement> out;
  if (with_meta) dump_item(ff.getMetaInfo(), "", out);
  dump_item(ff.getDataset(), "", out);
  return out;
}

}  // namespace lucent::deid
