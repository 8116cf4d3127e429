// The committed Table E.1-1 against the standard's machine-readable extract (when present),
// and the per-attribute conformance of decide() for the basic profile and every option.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "lucent/deid/profile.h"
#include "lucent/deid/profile_table.h"
#include "support/test_support.h"

using namespace lucent::deid;

namespace {

constexpr const char* kOptionKeys[] = {"rtnSafePrivOpt",      "rtnUIDsOpt",           "rtnDevIdOpt",  "rtnInstIdOpt",
                                       "rtnPatCharsOpt",      "rtnLongFullDatesOpt",  "rtnLongModifDatesOpt",
                                       "cleanDescOpt",        "cleanStructContOpt",   "cleanGraphOpt"};

nlohmann::json load_standard_table() {
  const auto p = lucent::test::data_dir() / "dicom-standard/confidentiality_profile_attributes.json";
  std::ifstream in(p);
  if (!in) return nullptr;
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(ProfileTable, MatchesTheStandardExtractRowForRow) {
  LUCENT_REQUIRE_DATA("dicom-standard/confidentiality_profile_attributes.json");
  const auto j = load_standard_table();
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), profile_table().size()) << "regenerate with scripts/gen_deid_table.py";
  std::map<std::string, const ProfileRow*> by_tag;
  for (const auto& r : profile_table()) by_tag[std::string(r.tag)] = &r;
  for (const auto& row : j) {
    const std::string tag = row["tag"];
    ASSERT_TRUE(by_tag.contains(tag)) << tag << " missing from profile_table.cpp";
    const ProfileRow& r = *by_tag[tag];
    EXPECT_EQ(r.basic, row["basicProfile"].get<std::string>()) << tag;
    for (int i = 0; i < kProfileOptionCount; ++i) {
      const std::string want = row.contains(kOptionKeys[i]) ? row[kOptionKeys[i]].get<std::string>() : "-";
      EXPECT_EQ(std::string(1, r.option[i]), want) << tag << " " << kOptionKeys[i];
    }
  }
}

TEST(ProfileTable, FindsExactAndWildcardRows) {
  ASSERT_NE(find_profile_row(0x0010, 0x0010), nullptr);
  EXPECT_EQ(find_profile_row(0x0010, 0x0010)->name, "Patient's Name");
  EXPECT_EQ(find_profile_row(0x6002, 0x3000)->name, "Overlay Data");
  EXPECT_EQ(find_profile_row(0x5004, 0x1234)->name, "Curve Data");
  EXPECT_EQ(find_profile_row(0x0029, 0x1010)->name, "Private Attributes");
  EXPECT_EQ(find_profile_row(0x6001, 0x3000)->name, "Private Attributes");  // odd group: private, not overlay
  EXPECT_EQ(find_profile_row(0x0028, 0x0010), nullptr);                      // Rows: not in the table
}

TEST(ProfileDecision, ResolvesCombinedCodesByType) {
  EXPECT_EQ(resolve_combined("X/Z", 3), 'X');
  EXPECT_EQ(resolve_combined("X/Z", 2), 'Z');
  EXPECT_EQ(resolve_combined("X/D", 1), 'D');
  EXPECT_EQ(resolve_combined("X/D", 3), 'X');
  EXPECT_EQ(resolve_combined("Z/D", 2), 'Z');
  EXPECT_EQ(resolve_combined("Z/D", 1), 'D');
  EXPECT_EQ(resolve_combined("X/Z/D", 1), 'D');
  EXPECT_EQ(resolve_combined("X/Z/D", 2), 'Z');
  EXPECT_EQ(resolve_combined("X/Z/D", 3), 'X');
  EXPECT_EQ(resolve_combined("X/Z/U*", 1), 'U');
  EXPECT_EQ(resolve_combined("X/Z/U*", 3), 'X');
  // Unknown type: the choice valid for any type, never a kept value.
  EXPECT_EQ(resolve_combined("X/D", 0), 'D');
  EXPECT_EQ(resolve_combined("X/Z", 0), 'Z');
  EXPECT_EQ(resolve_combined("X/Z/U*", 0), 'U');
}

TEST(ProfileDecision, ContentDateIsDummyInSrAndZeroInCtImages) {
  Options opt;
  EXPECT_EQ(decide(0x0008, 0x0023, "DA", opt, "1.2.840.10008.5.1.4.1.1.88.22").action, Action::kDummy);
  EXPECT_EQ(decide(0x0008, 0x0023, "DA", opt, "1.2.840.10008.5.1.4.1.1.2").action, Action::kZero);
}

TEST(ProfileOptions, RejectsUnknownAndConflictingOptions) {
  Options opt;
  auto s = opt.enable("retain-everything");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), lucent::ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("retain-safe-private"), std::string::npos);
  ASSERT_TRUE(opt.enable("retain-long-full-dates"));
  ASSERT_TRUE(opt.enable("retain-long-modified-dates"));
  auto v = opt.validate();
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("exclude each other"), std::string::npos);
}

TEST(ProfileOptions, MethodCodesFollowCid7050) {
  Options opt;
  for (auto n : {"clean-pixel-data", "retain-uids", "retain-safe-private", "retain-institution-identity"}) ASSERT_TRUE(opt.enable(n));
  std::vector<std::string> codes;
  for (const auto& m : method_codes(opt)) codes.emplace_back(m.value);
  EXPECT_EQ(codes, (std::vector<std::string>{"113100", "113101", "113110", "113111", "113112"}));
}

// ---- Conformance: for every attribute of Table E.1-1 and every option, the decision matches
// the standard's row (taken from the json when present, else from the committed table).

struct OptionCase {
  const char* name;  // "" = basic profile
  int column;        // ProfileOption index, -1 = none
};

class ProfileConformance : public ::testing::TestWithParam<OptionCase> {};

TEST_P(ProfileConformance, EveryAttributeGetsTheActionOfItsRow) {
  const OptionCase oc = GetParam();
  Options opt;
  opt.pseudonymize_patient = false;  // judge Patient's Name / ID by the table alone
  if (oc.column >= 0) opt.options.set(oc.column);
  const auto j = load_standard_table();
  std::map<std::string, nlohmann::json> std_rows;
  if (j.is_array())
    for (const auto& r : j) std_rows[r["tag"]] = r;
  const std::string sop_ct = "1.2.840.10008.5.1.4.1.1.2";
  int checked = 0;
  for (const ProfileRow& row : profile_table()) {
    std::string basic(row.basic);
    char opt_letter = '-';
    if (oc.column >= 0) opt_letter = row.option[oc.column];
    if (auto it = std_rows.find(std::string(row.tag)); it != std_rows.end()) {
      basic = it->second["basicProfile"];
      opt_letter = oc.column >= 0 && it->second.contains(kOptionKeys[oc.column])
                       ? it->second[kOptionKeys[oc.column]].get<std::string>()[0]
                       : '-';
    }
    // A concrete tag for the row (wildcards: first group of the range; private: (0019,1010)).
    std::uint16_t g = row.group, e = row.element;
    if (row.group_mask == 0x0001) g = 0x0019, e = 0x1010;
    if (row.group_mask == 0xFF00 && row.element_mask == 0) e = 0x3000;  // a curve element, not a group length
    std::string vr(row.vr);
    if (vr.empty() || vr.find('/') != std::string::npos) vr = "OB";
    if (row.group_mask == 0xFF00 && !oc.name[0]) continue;  // 50xx/60xx groups checked below
    const Decision d = decide(g, e, vr, opt, sop_ct);
    char want = opt_letter != '-' ? opt_letter : resolve_combined(basic, attribute_type(g, e, sop_ct));
    if ((row.group_mask == 0xFF00) && want == 'X') continue;  // overlay group rule tested separately
    Action expected;
    switch (want) {
      case 'X': expected = Action::kRemove; break;
      case 'Z': expected = Action::kZero; break;
      case 'K': expected = vr == "SQ" ? Action::kRecurse : vr == "AS" ? Action::kAgeGroup : Action::kKeep; break;
      case 'U': expected = vr == "SQ" ? Action::kRecurse : Action::kUid; break;
      case 'D': expected = vr == "SQ" ? Action::kRecurse : vr == "UI" ? Action::kUid : Action::kDummy; break;
      case 'C':
        if (row.group_mask == 0x0001) {
          expected = Action::kRemove;  // (0019,1010) under no creator is not on the safe list
        } else if (vr == "SQ") expected = Action::kRecurse;
        else if (vr == "DA" || vr == "DT") expected = Action::kShiftDate;
        else if (vr == "UI") expected = Action::kUid;
        else if (vr == "PN") expected = Action::kDummy;
        else if (vr == "TM" || vr == "OB" || vr == "DS" || vr == "US" || vr == "CS" || vr == "IS" || vr == "AS")
          expected = vr == "AS" ? Action::kAgeGroup : Action::kKeep;
        else expected = Action::kClean;
        break;
      default: FAIL() << "unexpected letter " << want << " for " << row.tag;
    }
    EXPECT_EQ(action_name(d.action), action_name(expected))
        << row.tag << " " << row.name << " (VR " << vr << ", basic " << basic << ", option " << opt_letter
        << ", code " << d.code << ")";
    ++checked;
  }
  EXPECT_GT(checked, 600);
}

INSTANTIATE_TEST_SUITE_P(
    AllOptions, ProfileConformance,
    ::testing::Values(OptionCase{"", -1}, OptionCase{"RetainSafePrivate", 0}, OptionCase{"RetainUids", 1},
                      OptionCase{"RetainDeviceIdentity", 2}, OptionCase{"RetainInstitutionIdentity", 3},
                      OptionCase{"RetainPatientCharacteristics", 4}, OptionCase{"RetainLongFullDates", 5},
                      OptionCase{"RetainLongModifiedDates", 6}, OptionCase{"CleanDescriptors", 7},
                      OptionCase{"CleanStructuredContent", 8}, OptionCase{"CleanGraphics", 9}),
    [](const auto& info) { return std::string(info.param.name[0] ? info.param.name : "Basic"); });

TEST(ProfileDecision, OverlayGroupsAreRemovedUnlessKept) {
  Options opt;
  EXPECT_EQ(decide(0x6000, 0x0010, "US", opt, "").action, Action::kRemove);  // Overlay Rows
  EXPECT_EQ(decide(0x6000, 0x3000, "OW", opt, "").action, Action::kRemove);
  opt.keep_overlays = true;
  EXPECT_EQ(decide(0x6000, 0x0010, "US", opt, "").action, Action::kKeep);
  EXPECT_EQ(decide(0x6000, 0x3000, "OW", opt, "").action, Action::kKeep);
  EXPECT_EQ(decide(0x6000, 0x4000, "LT", opt, "").action, Action::kKeep);
}

TEST(ProfileDecision, AttributesOutsideTheTableAreRemovedUnlessKept) {
  Options opt;
  EXPECT_EQ(decide(0x0028, 0x0010, "US", opt, "").action, Action::kKeep);        // Rows
  EXPECT_EQ(decide(0x0008, 0x0070, "LO", opt, "").action, Action::kKeep);        // Manufacturer (keep list)
  EXPECT_EQ(decide(0x0040, 0xA160, "UT", opt, "").action, Action::kDummy);       // SR Text Value (type 1C)
  EXPECT_EQ(decide(0x0070, 0x0081, "LO", opt, "").action, Action::kZero);        // Content Description (type 2)
  EXPECT_EQ(decide(0x0018, 0x9999, "LO", opt, "").action, Action::kRemove);      // other unlisted text
  EXPECT_EQ(decide(0x0040, 0xA160, "UT", opt, "", {}, true).action, Action::kClean);  // inside cleaned content
  EXPECT_EQ(decide(0x0018, 0x9999, "DA", opt, "").action, Action::kRemove);      // an unlisted date
  EXPECT_EQ(decide(0xFFFC, 0xFFFC, "OB", opt, "").action, Action::kRemove);      // trailing padding
  EXPECT_EQ(decide(0x0400, 0x0520, "OB", opt, "").action, Action::kRemove);      // encrypted original content
  EXPECT_EQ(decide(0x0008, 0x1150, "UI", opt, "").action, Action::kUid);         // well-known values kept by the engine
  EXPECT_EQ(decide(0x0029, 0x1010, "LO", opt, "", "SIEMENS MR HEADER").action, Action::kRemove);
  ASSERT_TRUE(opt.enable("retain-safe-private"));
  EXPECT_EQ(decide(0x0019, 0x100C, "IS", opt, "", "SIEMENS MR HEADER").action, Action::kKeep);
  EXPECT_EQ(decide(0x0019, 0x1099, "LO", opt, "", "SIEMENS MR HEADER").action, Action::kRemove);
}
