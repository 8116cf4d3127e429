#include "lucent/deid/values.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <unordered_set>

namespace lucent::deid {
namespace {

std::optional<std::string> shift_one_date(std::string_view d, int days) {
  if (d.size() != 8 || !std::all_of(d.begin(), d.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return std::nullopt;
  using namespace std::chrono;
  const int y = std::stoi(std::string(d.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(d.substr(4, 2))));
  const unsigned dd = static_cast<unsigned>(std::stoi(std::string(d.substr(6, 2))));
  const year_month_day ymd{year{y}, month{m}, day{dd}};
  if (!ymd.ok()) return std::nullopt;
  const year_month_day shifted{sys_days{ymd} + std::chrono::days{days}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(shifted.year()), static_cast<unsigned>(shifted.month()),
                static_cast<unsigned>(shifted.day()));
  if (static_cast<int>(shifted.year()) < 1) return std::nullopt;
  return std::string(buf);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// Descriptor vocabulary: words that describe an examination, never a person or a place.
const std::unordered_set<std::string>& vocabulary() {
  static const std::unordered_set<std::string> words = [] {
    const char* list[] = {
        "ABDOMEN", "ABD", "ACQUISITION", "ADC", "AND", "ANGIO", "ANGIOGRAPHY", "ANKLE", "ANT", "ANTERIOR", "AORTA",
        "ARTERIAL", "AX", "AXIAL", "BILATERAL", "BLADDER", "BODY", "BONE", "BRAIN", "BREAST", "CALCIUM", "CARDIAC",
        "CERVICAL", "CHEST", "COLON", "CONTRAST", "COR", "CORONAL", "CT", "CTA", "DELAYED", "DIFFUSION", "DWI", "DX",
        "ELBOW", "ENHANCED", "EXAM", "FAST", "FEMUR", "FLAIR", "FOOT", "FOR", "FRONTAL", "GRADIENT", "HAND", "HEAD",
        "HEART", "HELICAL", "HIP", "IMAGE", "IMAGES", "IN", "KIDNEY", "KNEE", "LAT", "LATERAL", "LEFT", "LIMITED",
        "LIVER", "LOCALIZER", "LOW", "LOWER", "LUMBAR", "LUNG", "MAMMO", "MAMMOGRAPHY", "MIP", "MPR", "MR", "MRA",
        "MRI", "MM", "NECK", "NO", "NON", "OF", "ON", "ORBIT", "OUT", "PA", "PANCREAS", "PELVIS", "PERFUSION", "PET",
        "PHASE", "PORTAL", "POST", "POSTERIOR", "PRE", "PROTOCOL", "RECON", "RECONSTRUCTION", "RIGHT", "ROUTINE",
        "SAG", "SAGITTAL", "SCAN", "SCOUT", "SERIES", "SHOULDER", "SINUS", "SKULL", "SLICE", "SOFT", "SPINE", "SPIN",
        "STANDARD", "STUDY", "SPLEEN", "STD", "T1", "T2", "THIN", "THORACIC", "THORAX", "TISSUE", "TOF", "TOPOGRAM",
        "UPPER", "US", "ULTRASOUND", "VENOUS", "VIEW", "WITH", "WITHOUT", "WO", "W", "WRIST", "XR", "ECHO", "SE",
        "GRE", "TSE", "FSE", "STIR", "SWI", "DTI", "BOLD", "FMRI", "SPECT", "NM", "CR", "MG", "RF", "XA", "SEG",
        "SEGMENTATION", "TUMOR", "TUMOUR", "LESION", "MASS", "NODULE", "NORMAL", "ABNORMAL", "FINDING", "FINDINGS",
        "MEASUREMENT", "MEASUREMENTS", "VOLUME", "DIAMETER", "LENGTH", "AREA", "MEAN", "REPORT", "IMPRESSION",
        "BENIGN", "MALIGNANT", "UNKNOWN", "THE", "A", "AN", "IS", "ARE", "NOT", "SEEN", "WAS", "OR", "AT", "TO",
    };
    return std::unordered_set<std::string>(std::begin(list), std::end(list));
  }();
  return words;
}

}  // namespace

std::optional<std::string> shift_da(std::string_view da, int days) {
  da = trim(da);
  std::string out;
  std::size_t start = 0;
  while (start <= da.size()) {
    const std::size_t sep = da.find_first_of("\\-", start);
    const std::string_view one = da.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start);
    if (!one.empty()) {
      auto s = shift_one_date(trim(one), days);
      if (!s) return std::nullopt;
      out += *s;
    }
    if (sep == std::string_view::npos) break;
    out += da[sep];
    start = sep + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> shift_dt(std::string_view dt, int days) {
  dt = trim(dt);
  std::string out;
  std::size_t start = 0;
  while (start <= dt.size()) {
    const std::size_t sep = dt.find('\\', start);
    const std::string_view one = dt.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start);
    if (one.size() < 8) return std::nullopt;
    auto d = shift_one_date(one.substr(0, 8), days);
    if (!d) return std::nullopt;
    out += *d;
    out += one.substr(8);
    if (sep == std::string_view::npos) break;
    out += '\\';
    start = sep + 1;
  }
  return out;
}

std::string group_age(std::string_view as) {
  as = trim(as);
  if (as.size() == 4 && as[3] == 'Y' && std::all_of(as.begin(), as.begin() + 3, [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (std::stoi(std::string(as.substr(0, 3))) > 89) return "090Y";
  }
  return std::string(as);
}

bool is_valid_uid(std::string_view uid) {
  while (!uid.empty() && uid.back() == '\0') uid.remove_suffix(1);
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = uid.find('.', start);
    const std::string_view comp = uid.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (comp.empty()) return false;
    if (!std::all_of(comp.begin(), comp.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    if (comp.size() > 1 && comp[0] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string scrub_text(std::string_view text) {
  std::string out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    std::string upper = word;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    const bool number = std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if ((number && word.size() <= 3) || vocabulary().contains(upper)) out += word;
    else out += 'X';
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
    } else {
      flush();
      // Keep only plain separators; anything else (e.g. '@', '#', quotes) becomes a space.
      out += (c == ' ' || c == ',' || c == '.' || c == '-' || c == '/' || c == '(' || c == ')' || c == ':' || c == '\n' ||
              c == '\r')
                 ? c
                 : ' ';
    }
  }
  flush();
  return out;
}

}  // namespace lucent::deid
