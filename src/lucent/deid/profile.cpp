#include "lucent/deid/profile.h"

#include <algorithm>
#include <array>
#include <unordered_map>

namespace lucent::deid {
namespace {

struct OptionName {
  std::string_view name;
  int index;  // ProfileOption, or -1.. for the extras
};
constexpr int kCleanPixel = -1, kKeepOverlays = -2, kRefuseBurnedIn = -3, kNoPseudonym = -4;
constexpr std::array<OptionName, 14> kOptionNames{{
    {"retain-safe-private", 0},
    {"retain-uids", 1},
    {"retain-device-identity", 2},
    {"retain-institution-identity", 3},
    {"retain-patient-characteristics", 4},
    {"retain-long-full-dates", 5},
    {"retain-long-modified-dates", 6},
    {"clean-descriptors", 7},
    {"clean-structured-content", 8},
    {"clean-graphics", 9},
    {"clean-pixel-data", kCleanPixel},
    {"keep-overlays", kKeepOverlays},
    {"refuse-burned-in", kRefuseBurnedIn},
    {"no-pseudonym", kNoPseudonym},
}};

bool is_text_vr(std::string_view vr) {
  static constexpr std::array<std::string_view, 10> kText{"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"};
  return std::find(kText.begin(), kText.end(), vr) != kText.end();
}
bool is_date_vr(std::string_view vr) { return vr == "DA" || vr == "DT" || vr == "TM"; }

const ProfileRow* find_exact(std::uint16_t g, std::uint16_t e) {
  static const std::unordered_map<std::uint32_t, const ProfileRow*> index = [] {
    std::unordered_map<std::uint32_t, const ProfileRow*> m;
    for (const ProfileRow& r : profile_table())
      if (r.group_mask == 0xFFFF && r.element_mask == 0xFFFF) m.emplace((std::uint32_t{r.group} << 16) | r.element, &r);
    return m;
  }();
  auto it = index.find((std::uint32_t{g} << 16) | e);
  return it == index.end() ? nullptr : it->second;
}

Action action_for_letter(char c, std::string_view vr) {
  switch (c) {
    case 'K': return vr == "SQ" ? Action::kRecurse : Action::kKeep;
    case 'X': return Action::kRemove;
    case 'Z': return Action::kZero;
    case 'U': return vr == "SQ" ? Action::kRecurse : Action::kUid;
    case 'D': return vr == "SQ" ? Action::kRecurse : vr == "UI" ? Action::kUid : Action::kDummy;
    case 'C':
      if (vr == "SQ") return Action::kRecurse;
      if (vr == "DA" || vr == "DT") return Action::kShiftDate;
      if (vr == "TM") return Action::kKeep;  // whole-day shifts leave times of day unchanged
      if (vr == "UI") return Action::kUid;
      if (vr == "PN") return Action::kDummy;
      if (is_text_vr(vr)) return Action::kClean;
      return Action::kKeep;
    default: return Action::kRemove;
  }
}

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kKeep: return "keep";
    case Action::kRemove: return "remove";
    case Action::kZero: return "zero";
    case Action::kDummy: return "dummy";
    case Action::kClean: return "clean";
    case Action::kUid: return "uid";
    case Action::kPseudonym: return "pseudonym";
    case Action::kShiftDate: return "shift-date";
    case Action::kRecurse: return "recurse";
    case Action::kAgeGroup: return "age-group";
  }
  return "?";
}

const ProfileRow* find_profile_row(std::uint16_t group, std::uint16_t element) {
  if (const ProfileRow* r = find_exact(group, element)) return r;
  // The few wildcard rows, found once.
  static const std::vector<const ProfileRow*> wildcards = [] {
    std::vector<const ProfileRow*> w;
    for (const ProfileRow& r : profile_table())
      if (r.group_mask != 0xFFFF || r.element_mask != 0xFFFF) w.push_back(&r);
    return w;
  }();
  // Odd groups are private whatever their element (checked before the 50xx/60xx wildcards).
  if (group & 1) {
    for (const ProfileRow* r : wildcards)
      if (r->group_mask == 0x0001 && r->matches(group, element)) return r;
    return nullptr;
  }
  for (const ProfileRow* r : wildcards)
    if (r->group_mask != 0x0001 && r->matches(group, element)) return r;
  return nullptr;
}

Status Options::enable(std::string_view name) {
  for (const auto& o : kOptionNames) {
    if (o.name != name) continue;
    if (o.index >= 0) options.set(o.index);
    else if (o.index == kCleanPixel) clean_pixel_data = true;
    else if (o.index == kKeepOverlays) keep_overlays = true;
    else if (o.index == kRefuseBurnedIn) refuse_burned_in = true;
    else if (o.index == kNoPseudonym) pseudonymize_patient = false;
    return ok();
  }
  std::string known;
  for (const auto& o : kOptionNames) known += (known.empty() ? "" : ", ") + std::string(o.name);
  return fail(ErrorCode::kInvalidArgument, "unknown de-identification option '" + std::string(name) + "'; known: " + known);
}

Status Options::validate() const {
  if (has(ProfileOption::kRetainLongitudinalFullDates) && has(ProfileOption::kRetainLongitudinalModifiedDates))
    return fail(ErrorCode::kInvalidArgument,
                "options retain-long-full-dates and retain-long-modified-dates exclude each other; choose one");
  return ok();
}

std::vector<std::string> option_names() {
  std::vector<std::string> out;
  for (const auto& o : kOptionNames) out.emplace_back(o.name);
  return out;
}

std::string Options::describe() const {
  // LO with VM 1-n: one value per component, each well under 64 characters.
  std::string s = "PS3.15 Basic Application Confidentiality Profile\\Lucent deid";
  for (const auto& o : kOptionNames) {
    const bool on = o.index >= 0 ? options.test(o.index) : o.index == kCleanPixel ? clean_pixel_data : false;
    if (on) s += "\\" + std::string(o.name);
  }
  return s;
}

std::vector<MethodCode> method_codes(const Options& opt) {
  std::vector<MethodCode> c{{"113100", "Basic Application Confidentiality Profile"}};
  if (opt.clean_pixel_data) c.push_back({"113101", "Clean Pixel Data Option"});
  if (opt.has(ProfileOption::kCleanGraphics)) c.push_back({"113103", "Clean Graphics Option"});
  if (opt.has(ProfileOption::kCleanStructuredContent)) c.push_back({"113104", "Clean Structured Content Option"});
  if (opt.has(ProfileOption::kCleanDescriptors)) c.push_back({"113105", "Clean Descriptors Option"});
  if (opt.has(ProfileOption::kRetainLongitudinalFullDates))
    c.push_back({"113106", "Retain Longitudinal Temporal Information Full Dates Option"});
  if (opt.has(ProfileOption::kRetainLongitudinalModifiedDates))
    c.push_back({"113107", "Retain Longitudinal Temporal Information Modified Dates Option"});
  if (opt.has(ProfileOption::kRetainPatientCharacteristics)) c.push_back({"113108", "Retain Patient Characteristics Option"});
  if (opt.has(ProfileOption::kRetainDeviceIdentity)) c.push_back({"113109", "Retain Device Identity Option"});
  if (opt.has(ProfileOption::kRetainUids)) c.push_back({"113110", "Retain UIDs Option"});
  if (opt.has(ProfileOption::kRetainSafePrivate)) c.push_back({"113111", "Retain Safe Private Option"});
  if (opt.has(ProfileOption::kRetainInstitutionIdentity)) c.push_back({"113112", "Retain Institution Identity Option"});
  return c;
}

char resolve_combined(std::string_view code, int type) {
  if (code.size() == 1) return code[0];
  if (code == "X/Z") return type == 3 ? 'X' : 'Z';
  if (code == "X/D") return type == 3 || type == 2 ? 'X' : 'D';
  if (code == "Z/D") return type == 2 || type == 3 ? 'Z' : 'D';
  if (code == "X/Z/D") return type == 3 ? 'X' : type == 2 ? 'Z' : 'D';
  if (code == "X/Z/U*") return type == 3 ? 'X' : type == 2 ? 'Z' : 'U';
  return 'X';
}

Decision decide(std::uint16_t g, std::uint16_t e, std::string_view vr, const Options& opt, std::string_view sop_class_uid,
                std::string_view private_creator, bool in_clean_context) {
  Decision d;
  // Group lengths are retired (except in the File Meta group, which is rebuilt): removed.
  if (e == 0x0000) {
    d.action = Action::kRemove;
    d.code = "group-length";
    return d;
  }
  const bool is_private = (g & 1) != 0;
  if (is_private) {
    d.row = find_profile_row(g, e);
    if (e >= 0x0010 && e <= 0x00FF) {  // private creator: kept only with a kept element (see deidentifier)
      d.action = Action::kRemove;
      d.code = "X";
      return d;
    }
    if (opt.has(ProfileOption::kRetainSafePrivate) && is_safe_private(g, e, private_creator)) {
      d.action = vr == "SQ" ? Action::kRecurse : Action::kKeep;
      d.code = "C(safe-private)";
    } else {
      d.action = Action::kRemove;
      d.code = "X";
    }
    return d;
  }
  if (opt.pseudonymize_patient && g == 0x0010 && (e == 0x0010 || e == 0x0020)) {
    d.row = find_profile_row(g, e);
    d.action = Action::kPseudonym;
    d.code = std::string(d.row ? d.row->basic : "Z") + "(pseudonym)";
    return d;
  }
  // Overlays: whole 60xx groups go unless kept; Overlay Data / Comments follow the table.
  if ((g & 0xFF00) == 0x6000 && !(g & 1)) {
    const bool kept = opt.keep_overlays || opt.has(ProfileOption::kCleanGraphics);
    if (!kept) {
      d.row = find_profile_row(g, e);
      d.action = Action::kRemove;
      d.code = d.row ? "X" : "X(overlay)";
      return d;
    }
  }
  const ProfileRow* row = find_profile_row(g, e);
  if (row) {
    d.row = row;
    char letter = 0;
    bool keep = false, clean = false;
    for (int i = 0; i < kProfileOptionCount; ++i) {
      if (!opt.options.test(i)) continue;
      const char a = row->option[i];
      keep |= a == 'K';
      clean |= a == 'C';
    }
    if (clean) {
      letter = 'C';
      d.code = "C";
    } else if (keep) {
      letter = 'K';
      d.code = "K";
    } else {
      const int type = row->basic.size() > 1 ? attribute_type(g, e, sop_class_uid) : 0;
      letter = resolve_combined(row->basic, type);
      d.code = std::string(row->basic);
      if (row->basic.size() > 1) d.code += std::string("->") + letter + "(type " + (type ? std::to_string(type) : "?") + ")";
    }
    // Overlays kept by keep-overlays without Clean Graphics: their data follow K.
    if ((g & 0xFF00) == 0x6000 && opt.keep_overlays && letter == 'X') {
      letter = 'K';
      d.code = "K(keep-overlays)";
    }
    d.action = action_for_letter(letter, vr);
    if (d.action == Action::kKeep && vr == "AS") d.action = Action::kAgeGroup;
    return d;
  }
  // Not in the table.
  if (vr == "SQ") {
    d.action = Action::kRecurse;
    d.code = "not-in-table(kept:SQ)";
  } else if (vr == "UI") {
    d.action = Action::kUid;  // the de-identifier keeps well-known 1.2.840.10008.* values
    d.code = "not-in-table(UI)";
  } else if (const char t = outside_table_text_action(g, e); t != 0 && !in_clean_context) {
    d.action = action_for_letter(t, vr);
    d.code = std::string("not-in-table(") + t + ")";
  } else if (is_kept_outside_table(g, e, vr)) {
    d.action = vr == "AS" ? Action::kAgeGroup : Action::kKeep;
    d.code = "not-in-table(kept)";
  } else if (in_clean_context && (is_text_vr(vr) || is_date_vr(vr))) {
    d.action = vr == "PN" ? Action::kDummy
               : is_date_vr(vr) ? (opt.has(ProfileOption::kRetainLongitudinalFullDates) ? Action::kKeep
                                   : opt.has(ProfileOption::kRetainLongitudinalModifiedDates)
                                       ? (vr == "TM" ? Action::kKeep : Action::kShiftDate)
                                       : Action::kRemove)
                                 : Action::kClean;
    d.code = "not-in-table(clean-context)";
  } else {
    d.action = Action::kRemove;
    d.code = "not-in-table(X)";
  }
  return d;
}

}  // namespace lucent::deid
