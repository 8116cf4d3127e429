// Types (1, 2, 3) of the attributes with combined action codes in Table E.1-1, by IOD family.
// From PS3.3 module tables: general image IODs use General Equipment / General Series /
// General Image (mostly type 3; Content Date/Time 2C); enhanced multi-frame IODs, SEG and
// parametric maps use Enhanced General Equipment and Multi-frame Functional Groups (Device
// Serial Number, Content Date/Time, Acquisition DateTime type 1); SR documents have Content
// Date/Time type 1. Unknown (0) lets resolve_combined pick the choice valid for any type.
#include <string_view>

#include "lucent/deid/profile.h"

namespace lucent::deid {
namespace {

enum class Family { kImage, kEnhanced, kSr, kOther };

Family family_of(std::string_view sop) {
  constexpr std::string_view kStorage = "1.2.840.10008.5.1.4.1.1.";
  if (!sop.starts_with(kStorage)) return Family::kOther;
  const std::string_view rest = sop.substr(kStorage.size());
  if (rest.starts_with("88.")) return Family::kSr;
  for (std::string_view e : {"67", "2.1", "2.2", "4.1", "4.3", "4.4", "66.4", "30", "6.2", "12.1.1", "12.2.1", "13.1.",
                             "130", "128.1", "77.1.6", "481."})
    if (rest == e || (e.ends_with('.') && rest.starts_with(e))) return Family::kEnhanced;
  if (rest.starts_with("481.")) return Family::kOther;  // RT
  return Family::kImage;
}

}  // namespace

int attribute_type(std::uint16_t g, std::uint16_t e, std::string_view sop_class_uid) {
  const Family f = family_of(sop_class_uid);
  const std::uint32_t t = (std::uint32_t{g} << 16) | e;
  switch (t) {
    case 0x00080023:  // Content Date
    case 0x00080033:  // Content Time
      return f == Family::kImage ? 2 : (f == Family::kEnhanced || f == Family::kSr) ? 1 : 0;
    case 0x0008002A:  // Acquisition DateTime
      return f == Family::kEnhanced ? 1 : f == Family::kImage ? 3 : 0;
    case 0x00181000:  // Device Serial Number
      return f == Family::kEnhanced ? 1 : f == Family::kOther ? 0 : 3;
    case 0x00080022: case 0x00080032:  // Acquisition Date / Time
    case 0x00181400:                   // Acquisition Device Processing Description
    case 0x0018700C: case 0x0018700E:  // Date / Time of Last Detector Calibration
    case 0x0018700A:                   // Detector ID
    case 0x00189516: case 0x00189517:  // Start / End Acquisition DateTime
    case 0x00080012: case 0x00080013:  // Instance Creation Date / Time
    case 0x00080080: case 0x00080082:  // Institution Name / Code Sequence
    case 0x00081010:                   // Station Name
    case 0x00081070: case 0x00081072:  // Operators' Name / Identification Sequence
    case 0x00181030:                   // Protocol Name
    case 0x00080021: case 0x00080031:  // Series Date / Time
    case 0x00081110:                   // Referenced Study Sequence
    case 0x00321060:                   // Requested Procedure Description
    case 0x22000002: case 0x22000005:  // Label Text / Barcode Value
    case 0x0040A032:                   // Observation DateTime
      return f == Family::kOther ? 0 : 3;
    case 0x00081111:  // Referenced Performed Procedure Step Sequence (type 2 in SR Document Series)
      return f == Family::kSr ? 2 : f == Family::kOther ? 0 : 3;
    case 0x00081140:  // Referenced Image Sequence
    case 0x00082112:  // Source Image Sequence
      return f == Family::kImage ? 3 : 0;
    case 0x00400555:  // Acquisition Context Sequence
      return f == Family::kEnhanced ? 2 : f == Family::kImage ? 3 : 0;
    case 0x00700084:  // Content Creator's Name
    case 0x00180010:  // Contrast/Bolus Agent
    case 0x00100020:  // Patient ID
    case 0x00102203:  // Patient's Sex Neutered
    case 0x00189919:  // Instruction Performed DateTime
      return 2;
    default: return 0;
  }
}

}  // namespace lucent::deid
