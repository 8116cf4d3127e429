// Keys (HMAC derivations, key files, the encrypted lookup table), value rewriting and pixel rules.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "lucent/core/atomic_file.h"
#include "lucent/deid/keys.h"
#include "lucent/deid/pixel_rules.h"
#include "lucent/deid/values.h"
#include "support/test_support.h"

using namespace lucent::deid;
using lucent::ErrorCode;

namespace {
ProjectKey key_of(std::uint8_t b) {
  std::array<std::uint8_t, 32> k{};
  k.fill(b);
  return ProjectKey::from_bytes(k);
}
}  // namespace

TEST(ProjectKey, MapsUidsDeterministicallyUnderRoot225) {
  const auto k = key_of(1);
  const std::string a = k.map_uid("1.2.840.113619.2.55.3.1");
  EXPECT_EQ(a, k.map_uid("1.2.840.113619.2.55.3.1"));
  EXPECT_EQ(a, k.map_uid(std::string("1.2.840.113619.2.55.3.1\0", 24)));  // padding ignored
  EXPECT_NE(a, k.map_uid("1.2.840.113619.2.55.3.2"));
  EXPECT_NE(a, key_of(2).map_uid("1.2.840.113619.2.55.3.1"));
  EXPECT_TRUE(a.starts_with("2.25."));
  EXPECT_TRUE(is_valid_uid(a)) << a;
  EXPECT_LE(a.size(), 64u);
}

TEST(ProjectKey, PseudonymsAndDateOffsetsAreStablePerPatient) {
  const auto k = key_of(3);
  EXPECT_EQ(k.pseudonym("PAT-1"), k.pseudonym("PAT-1"));
  EXPECT_NE(k.pseudonym("PAT-1"), k.pseudonym("PAT-2"));
  EXPECT_TRUE(k.pseudonym("PAT-1").starts_with("LUC"));
  const int d = k.date_offset_days("PAT-1");
  EXPECT_EQ(d, k.date_offset_days("PAT-1"));
  EXPECT_LE(d, -1);
  EXPECT_GE(d, -3650);
}

TEST(ProjectKey, CreatesWithMode0600AndRefusesOverwrite) {
  lucent::test::TempDir tmp;
  const auto p = tmp / "k.key";
  ASSERT_TRUE(ProjectKey::create(p));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = ProjectKey::create(p);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(ProjectKey::load(p));
}

TEST(ProjectKey, RefusesMissingOpenOrMalformedKeyFiles) {
  lucent::test::TempDir tmp;
  auto missing = ProjectKey::load(tmp / "none.key");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("--new-key"), std::string::npos);
  const auto p = tmp / "open.key";
  ASSERT_TRUE(lucent::write_file_atomically(p, std::string(64, 'a')));
  ::chmod(p.c_str(), 0644);
  auto open = ProjectKey::load(p);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(open.error().message().find("chmod 600"), std::string::npos);
  ::chmod(p.c_str(), 0600);
  EXPECT_TRUE(ProjectKey::load(p));
  ASSERT_TRUE(lucent::write_file_atomically(p, "not hex"));
  ::chmod(p.c_str(), 0600);
  auto bad = ProjectKey::load(p);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidData);
}

TEST(LookupTable, RoundTripsAndDetectsWrongKeyOrTampering) {
  const auto k = key_of(4);
  const std::string plain = R"({"LUCABC":{"patient_id":"PAT-1"}})";
  auto sealed = seal_lookup(k, plain);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->find("PAT-1"), std::string::npos);
  auto opened = open_lookup(k, *sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, plain);
  auto wrong = open_lookup(key_of(5), *sealed);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);
  std::string tampered = *sealed;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_FALSE(open_lookup(k, tampered));
}

TEST(Values, ShiftsDatesKeepingIntervalsAndTimes) {
  EXPECT_EQ(shift_da("20200301", -1), "20200229");
  EXPECT_EQ(shift_da("20200301\\20200302", -1), "20200229\\20200301");
  EXPECT_EQ(shift_da("20200101-20200110", -10), "20191222-20191231");
  EXPECT_FALSE(shift_da("2020", -1));
  EXPECT_FALSE(shift_da("20201301", -1));
  EXPECT_EQ(shift_dt("20200301123456.123+0100", -1), "20200229123456.123+0100");
  EXPECT_FALSE(shift_dt("2020", -1));
}

TEST(Values, GroupsAgesOver89) {
  EXPECT_EQ(group_age("095Y"), "090Y");
  EXPECT_EQ(group_age("090Y"), "090Y");
  EXPECT_EQ(group_age("089Y"), "089Y");
  EXPECT_EQ(group_age("011M"), "011M");
}

TEST(Values, ValidatesUids) {
  EXPECT_TRUE(is_valid_uid("1.2.840.10008.1.2"));
  EXPECT_FALSE(is_valid_uid("1.2.03"));
  EXPECT_FALSE(is_valid_uid("1..2"));
  EXPECT_FALSE(is_valid_uid("1.2.a"));
  EXPECT_FALSE(is_valid_uid(std::string(65, '1')));
}

TEST(Values, ScrubKeepsVocabularyAndRemovesIdentifiers) {
  EXPECT_EQ(scrub_text("CT CHEST WITH CONTRAST"), "CT CHEST WITH CONTRAST");
  const std::string s = scrub_text("Head CT for John Smith, call 555-867-5309, MRN 12345678");
  EXPECT_EQ(s.find("John"), std::string::npos);
  EXPECT_EQ(s.find("Smith"), std::string::npos);
  EXPECT_EQ(s.find("5309"), std::string::npos);
  EXPECT_EQ(s.find("12345678"), std::string::npos);
  EXPECT_NE(s.find("Head CT"), std::string::npos);
}

TEST(PixelRules, ParsesCtpStyleRulesAndMatchesFirst) {
  auto r = PixelRules::parse(R"(
    # ultrasound banner
    { Modality.equals("US") * Manufacturer.containsIgnoreCase("acme") * Rows.equals("480") }
      (0,0,640,40) (0,440,200,40)
    { Modality.equals("US") } (0,0,10,10)
  )");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->rules().size(), 2u);
  const PixelRule* m = r->match({{"Modality", "US"}, {"Manufacturer", "ACME Corp"}, {"Rows", "480"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->regions.size(), 2u);
  EXPECT_EQ(m->regions[1].y, 440);
  EXPECT_EQ(r->match({{"Modality", "US"}, {"Rows", "600"}}), &r->rules()[1]);
  EXPECT_EQ(r->match({{"Modality", "CT"}}), nullptr);
}

TEST(PixelRules, ReportsSyntaxErrorsWithLineNumbers) {
  auto r = PixelRules::parse("\n\n{ Modality.looksLike(\"US\") } (0,0,1,1)", "rules.script");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("rules.script line 3"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("looksLike"), std::string::npos);
  auto no_region = PixelRules::parse("{ Modality.equals(\"US\") }");
  ASSERT_FALSE(no_region);
  EXPECT_NE(no_region.error().message().find("no (x,y,width,height)"), std::string::npos);
}

TEST(PixelRules, ShippedRuleFileParses) {
  const auto p = std::filesystem::path(LUCENT_TEST_SOURCE_DIR) / "../configs/deid/pixel_rules.script";
  auto r = PixelRules::load(p);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_GE(r->rules().size(), 5u);
}
