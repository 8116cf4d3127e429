// End-to-end de-identification of synthetic and real files: nested sequences, private tags,
// File Meta, consistent UIDs, bad input, failing writes, verifier, pixel rules, batch runs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/deid/batch.h"
#include "lucent/deid/deidentifier.h"
#include "lucent/deid/fixtures.h"
#include "support/test_support.h"

using namespace lucent::deid;
using lucent::ErrorCode;
namespace fs = std::filesystem;

#define ASSERT_FIXTURE(path, els)                                 \
  do {                                                             \
    auto fixture_status_ = write_fixture(path, els);               \
    ASSERT_TRUE(fixture_status_) << fixture_status_.error().message(); \
  } while (0)

namespace {

ProjectKey test_key(std::uint8_t b = 7) {
  std::array<std::uint8_t, 32> k{};
  k.fill(b);
  return ProjectKey::from_bytes(k);
}

std::unique_ptr<Deidentifier> make(Options opt = {}, std::optional<PixelRules> rules = std::nullopt) {
  auto d = Deidentifier::create(opt, test_key(), std::move(rules));
  EXPECT_TRUE(d) << d.error().message();
  return std::move(*d);
}

std::vector<FixtureElement> base_elements(const std::string& sop_uid = "1.2.3.4.5.6.1") {
  return {
      {0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"},  // Secondary Capture
      {0x0008, 0x0018, "UI", sop_uid},
      {0x0008, 0x0020, "DA", "20190312"},
      {0x0008, 0x0050, "SH", "ACC99887766"},
      {0x0008, 0x0060, "CS", "OT"},
      {0x0008, 0x0080, "LO", "Saint Plantedia Hospital"},
      {0x0008, 0x1030, "LO", "Study for Plantedname"},
      {0x0010, 0x0010, "PN", "Plantedname^Jane"},
      {0x0010, 0x0020, "LO", "PID-4242-PLANT"},
      {0x0010, 0x0030, "DA", "19710423"},
      {0x0010, 0x1010, "AS", "095Y"},
      {0x0010, 0x1040, "LO", "12 Planted Street, Springfield"},
      {0x0020, 0x000D, "UI", "1.2.3.4.5.100"},
      {0x0020, 0x000E, "UI", "1.2.3.4.5.200"},
      {0x0020, 0x4000, "LT", "Call Dr Plantedoc at 555-867-5309"},
      // Three levels of nesting: Content Sequence → Referenced SOP Sequence → item.
      {0x0040, 0xA730, "SQ", "", {{
          {0x0008, 0x0050, "SH", "ACC-NESTED-777"},
          {0x0040, 0x1001, "SH", "RPID-NESTED"},
          {0x0008, 0x1199, "SQ", "", {{
              {0x0008, 0x1150, "UI", "1.2.840.10008.3.1.2.3.1"},
              {0x0008, 0x1155, "UI", "1.2.3.4.5.100"},
              {0x0010, 0x0010, "PN", "Deepnested^Name"}}}}}}},
      {0x0029, 0x0010, "LO", "ACME PRIVATE", {}, ""},
      {0x0029, 0x1010, "LO", "PRIVATE-PLANT-SECRET", {}, "ACME PRIVATE"},
      {0x0019, 0x0010, "LO", "SIEMENS MR HEADER"},
      {0x0019, 0x100C, "IS", "1000", {}, "SIEMENS MR HEADER"},
      {0x0028, 0x0002, "US", "1"},
      {0x0028, 0x0004, "CS", "MONOCHROME2"},
      {0x0028, 0x0010, "US", "4"},
      {0x0028, 0x0011, "US", "4"},
      {0x0028, 0x0100, "US", "8"},
      {0x0028, 0x0101, "US", "8"},
      {0x0028, 0x0102, "US", "7"},
      {0x0028, 0x0103, "US", "0"},
      {0x6000, 0x0010, "US", "4"},
      {0x6000, 0x4000, "LT", "overlay note Plantedname"},
      {0x7FE0, 0x0010, "OB", std::string(16, '\x7f')},
  };
}

std::map<std::string, DumpedElement> by_path(const std::vector<DumpedElement>& v) {
  std::map<std::string, DumpedElement> m;
  for (const auto& d : v) m[d.path] = d;
  return m;
}

std::string slurp(const fs::path& p) {
  auto t = lucent::read_file(p);
  return t ? *t : std::string();
}

const std::vector<std::string> kPlanted{"Plantedname", "PID-4242-PLANT", "ACC99887766", "19710423", "Planted Street",
                                        "555-867-5309", "Plantedoc", "ACC-NESTED-777", "RPID-NESTED", "Deepnested",
                                        "PRIVATE-PLANT-SECRET", "Plantedia", "1.2.3.4.5.100", "1.2.3.4.5.6.1"};

}  // namespace

TEST(Deidentifier, RemovesPlantedIdentifiersEverywhereInTheFile) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  auto d = make();
  auto rep = d->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_TRUE(rep) << rep.error().message();
  const std::string bytes = slurp(tmp / "out.dcm");
  ASSERT_FALSE(bytes.empty());
  for (const auto& s : kPlanted) EXPECT_EQ(bytes.find(s), std::string::npos) << "leaked: " << s;
  // Nothing from the audit record carries a value either.
  for (const auto& a : rep->actions)
    for (const auto& s : kPlanted) EXPECT_EQ((a.path + a.code).find(s), std::string::npos);
}

TEST(Deidentifier, SetsTheAttributesTheStandardRequires) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  auto rep = make()->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_TRUE(rep);
  auto dump = dump_dicom(tmp / "out.dcm", true);
  ASSERT_TRUE(dump);
  auto m = by_path(*dump);
  EXPECT_EQ(m["(0012,0062)"].value, "YES");
  EXPECT_NE(m["(0012,0063)"].value.find("PS3.15"), std::string::npos);
  EXPECT_EQ(m["(0012,0064)[0]/(0008,0100)"].value, "113100");
  EXPECT_EQ(m["(0012,0064)[0]/(0008,0102)"].value, "DCM");
  EXPECT_EQ(m["(0028,0303)"].value, "REMOVED");
  EXPECT_EQ(m["(0002,0003)"].value, m["(0008,0018)"].value);  // Media Storage SOP Instance UID consistent
  EXPECT_TRUE(m["(0008,0018)"].value.starts_with("2.25."));
  EXPECT_EQ(m["(0010,0020)"].value, test_key().pseudonym("PID-4242-PLANT"));
  EXPECT_EQ(m["(0010,0010)"].value, m["(0010,0020)"].value);
  EXPECT_FALSE(m.contains("(0029,1010)"));  // private removed
  EXPECT_FALSE(m.contains("(0029,0010)"));
  EXPECT_FALSE(m.contains("(6000,0010)"));  // overlay group removed
  EXPECT_FALSE(m.contains("(0010,1010)"));  // age removed in the basic profile
  EXPECT_EQ(m["(0008,0050)"].value, "");    // accession: Z
  EXPECT_EQ(m["(0008,0020)"].value, "");    // study date: Z
  // Nested: accession zeroed, UIDs mapped the same way as at the top level, names replaced.
  EXPECT_EQ(m["(0040,A730)[0]/(0008,0050)"].value, "");
  EXPECT_EQ(m["(0040,A730)[0]/(0008,1199)[0]/(0008,1155)"].value, m["(0020,000D)"].value);
  EXPECT_EQ(m["(0040,A730)[0]/(0008,1199)[0]/(0008,1150)"].value, "1.2.840.10008.3.1.2.3.1");  // well-known kept
  EXPECT_TRUE(rep->burned_in);  // secondary capture
}

TEST(Deidentifier, UidsAreConsistentAcrossFilesAndRuns) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "a.dcm", base_elements("1.2.3.4.5.6.1"));
  ASSERT_FIXTURE(tmp / "b.dcm", base_elements("1.2.3.4.5.6.2"));
  auto d1 = make();
  ASSERT_TRUE(d1->deidentify_file(tmp / "a.dcm", tmp / "a.out"));
  ASSERT_TRUE(d1->deidentify_file(tmp / "b.dcm", tmp / "b.out"));
  auto d2 = make();  // a second "run" with the same key
  ASSERT_TRUE(d2->deidentify_file(tmp / "a.dcm", tmp / "a2.out"));
  auto a = by_path(*dump_dicom(tmp / "a.out")), b = by_path(*dump_dicom(tmp / "b.out")),
       a2 = by_path(*dump_dicom(tmp / "a2.out"));
  EXPECT_EQ(a["(0020,000D)"].value, b["(0020,000D)"].value);
  EXPECT_EQ(a["(0020,000E)"].value, b["(0020,000E)"].value);
  EXPECT_NE(a["(0008,0018)"].value, b["(0008,0018)"].value);
  EXPECT_EQ(a["(0008,0018)"].value, a2["(0008,0018)"].value);
  EXPECT_EQ(slurp(tmp / "a.out"), slurp(tmp / "a2.out"));  // byte-identical reruns
}

TEST(Deidentifier, RetainOptionsKeepOnlyWhatTheyName) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  Options opt;
  for (auto n : {"retain-patient-characteristics", "retain-long-modified-dates", "retain-safe-private",
                 "retain-institution-identity", "clean-descriptors"})
    ASSERT_TRUE(opt.enable(n));
  ASSERT_TRUE(make(opt)->deidentify_file(tmp / "in.dcm", tmp / "out.dcm"));
  auto m = by_path(*dump_dicom(tmp / "out.dcm"));
  EXPECT_EQ(m["(0010,1010)"].value, "090Y");                      // age kept, grouped over 89
  EXPECT_EQ(m["(0008,0080)"].value, "Saint Plantedia Hospital");   // institution retained
  EXPECT_EQ(m["(0019,100C)"].value, "1000");                       // safe private kept ...
  EXPECT_EQ(m["(0019,0010)"].value, "SIEMENS MR HEADER");          // ... with its creator
  EXPECT_FALSE(m.contains("(0029,1010)"));
  EXPECT_EQ(m["(0028,0303)"].value, "MODIFIED");
  const std::string study_date = m["(0008,0020)"].value;           // shifted, not removed
  ASSERT_EQ(study_date.size(), 8u);
  EXPECT_NE(study_date, "20190312");
  const std::string desc = m["(0008,1030)"].value;                  // cleaned descriptor
  EXPECT_NE(desc.find("Study"), std::string::npos);
  EXPECT_EQ(desc.find("Plantedname"), std::string::npos);
  EXPECT_EQ(m["(0010,0030)"].value, "");  // birth date: Z, no option of the table retains it
}

TEST(Deidentifier, QuarantinesUnparseableAndInvalidUidFiles) {
  lucent::test::TempDir tmp;
  ASSERT_TRUE(lucent::write_file_atomically(tmp / "junk.dcm", std::string(300, 'x')));
  auto d = make();
  auto r1 = d->deidentify_file(tmp / "junk.dcm", tmp / "o1.dcm");
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code(), ErrorCode::kInvalidData);
  auto els = base_elements("1.2.03.x");
  ASSERT_FIXTURE(tmp / "baduid.dcm", els);
  auto r2 = d->deidentify_file(tmp / "baduid.dcm", tmp / "o2.dcm");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r2.error().message().find("SOP Instance UID"), std::string::npos) << r2.error().message();
  // Truncated: a real file cut in the middle of its data.
  ASSERT_FIXTURE(tmp / "full.dcm", base_elements());
  const std::string full = slurp(tmp / "full.dcm");
  ASSERT_TRUE(lucent::write_file_atomically(tmp / "cut.dcm", full.substr(0, full.size() / 2)));
  auto r3 = d->deidentify_file(tmp / "cut.dcm", tmp / "o3.dcm");
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), ErrorCode::kInvalidData);
  EXPECT_FALSE(fs::exists(tmp / "o1.dcm") || fs::exists(tmp / "o2.dcm") || fs::exists(tmp / "o3.dcm"));
}

TEST(Deidentifier, AFailingWriterLeavesNothingAndSaysDiskFull) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  auto d = make();
  d->set_writer([](const fs::path& target, const std::function<lucent::Status(const fs::path&)>&) -> lucent::Status {
    return lucent::fail(ErrorCode::kResourceExhausted, "no space left on device writing " + target.string());
  });
  auto r = d->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(tmp / "out.dcm"));
}

TEST(Deidentifier, WritingToDevFullFailsClearly) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "/dev/full not available";
  auto d = make();
  d->set_writer([](const fs::path&, const std::function<lucent::Status(const fs::path&)>& write) {
    return write("/dev/full");  // the DICOM writer itself hits ENOSPC
  });
  auto r = d->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message().find("disk full"), std::string::npos) << r.error().message();
}

TEST(Deidentifier, RefusesBurnedInWhenAskedUnlessAPixelRuleCleansIt) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  Options opt;
  opt.refuse_burned_in = true;
  auto r = make(opt)->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message().find("secondary capture"), std::string::npos);
  auto rules = PixelRules::parse(R"({ Modality.equals("OT") * Rows.equals("4") } (0,0,2,1))");
  ASSERT_TRUE(rules);
  auto d = make(opt, *rules);
  auto ok = d->deidentify_file(tmp / "in.dcm", tmp / "out.dcm");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_FALSE(ok->pixel_rule.empty());
  // Pixel check: the first two pixels of row 0 are blanked, the rest untouched.
  const std::string bytes = slurp(tmp / "out.dcm");
  const std::string px = bytes.substr(bytes.size() - 16);
  EXPECT_EQ(px.substr(0, 2), std::string(2, '\0'));
  EXPECT_EQ(px.substr(2), std::string(14, '\x7f'));
}

TEST(Verifier, FindsWhatTheProfileWouldChangeAndPassesItsOwnOutput) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "in.dcm", base_elements());
  auto before = check_file(tmp / "in.dcm", {});
  ASSERT_TRUE(before);
  std::set<std::string> paths;
  for (const auto& f : *before) paths.insert(f.path);
  EXPECT_TRUE(paths.contains("(0012,0062)"));
  EXPECT_TRUE(paths.contains("(0008,0050)"));
  EXPECT_TRUE(paths.contains("(0029,1010)"));
  EXPECT_TRUE(paths.contains("(0040,A730)[0]/(0008,0050)"));
  ASSERT_TRUE(make()->deidentify_file(tmp / "in.dcm", tmp / "out.dcm"));
  auto after = check_file(tmp / "out.dcm", {});
  ASSERT_TRUE(after);
  for (const auto& f : *after) ADD_FAILURE() << f.path << " " << f.name << ": " << f.problem;
}

TEST(Batch, MirrorsResumesQuarantinesAndAudits) {
  lucent::test::TempDir tmp;
  fs::create_directories(tmp / "in/Plantedname_Jane/series1");
  ASSERT_FIXTURE(tmp / "in/Plantedname_Jane/series1/a.dcm", base_elements("1.2.3.4.5.6.1"));
  ASSERT_FIXTURE(tmp / "in/Plantedname_Jane/series1/b.dcm", base_elements("1.2.3.4.5.6.2"));
  ASSERT_TRUE(lucent::write_file_atomically(tmp / "in/Plantedname_Jane/notes.txt", "not dicom Plantedname"));
  auto d = make();
  BatchConfig cfg;
  cfg.input = tmp / "in";
  cfg.output = tmp / "out";
  cfg.lookup = tmp / "lookup.bin";
  cfg.threads = 2;
  auto s1 = run_batch(*d, cfg);
  ASSERT_TRUE(s1) << s1.error().message();
  EXPECT_EQ(s1->files, 3u);
  EXPECT_EQ(s1->written, 2u);
  EXPECT_EQ(s1->quarantined, 1u);
  // Output names never carry input names; no planted string anywhere in the output tree.
  std::size_t dicoms = 0;
  for (auto& e : fs::recursive_directory_iterator(tmp / "out")) {
    EXPECT_EQ(e.path().string().find("Planted"), std::string::npos) << e.path();
    if (!e.is_regular_file()) continue;
    dicoms += e.path().extension() == ".dcm";
    const std::string bytes = slurp(e.path());
    for (const auto& p : kPlanted) EXPECT_EQ(bytes.find(p), std::string::npos) << p << " in " << e.path();
  }
  EXPECT_EQ(dicoms, 2u);
  // Quarantine reason names the input; the input itself is not copied anywhere.
  std::size_t reasons = 0;
  for (auto& e : fs::directory_iterator(tmp / "out.quarantine")) {
    ++reasons;
    const auto j = nlohmann::json::parse(slurp(e.path()));
    EXPECT_NE(j["input"].get<std::string>().find("notes.txt"), std::string::npos);
    EXPECT_EQ(j["code"], "invalid_data");
  }
  EXPECT_EQ(reasons, 1u);
  // Audit: valid JSON lines, actions without values, a summary.
  std::ifstream audit(tmp / "out.audit.jsonl");
  std::string line, last;
  int files = 0;
  while (std::getline(audit, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "file") {
      ++files;
      EXPECT_GT(j["actions"].size(), 10u);
      const std::string acts = j["actions"].dump();
      for (const auto& p : kPlanted) EXPECT_EQ(acts.find(p), std::string::npos);
    }
    last = j["event"];
  }
  EXPECT_EQ(files, 2);
  EXPECT_EQ(last, "summary");
  // Rerun: everything already complete is skipped.
  auto s2 = run_batch(*d, cfg);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->skipped, 3u);
  EXPECT_EQ(s2->written, 0u);
  // Lookup table: only the key holder reads it back.
  EXPECT_EQ(slurp(tmp / "lookup.bin").find("PID-4242-PLANT"), std::string::npos);
  auto table = read_lookup(test_key(), tmp / "lookup.bin");
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_NE(table->find("PID-4242-PLANT"), std::string::npos);
  EXPECT_FALSE(read_lookup(test_key(9), tmp / "lookup.bin"));
}

TEST(Batch, RefusesOverlappingInputAndOutput) {
  lucent::test::TempDir tmp;
  fs::create_directories(tmp / "in");
  BatchConfig cfg;
  cfg.input = tmp / "in";
  cfg.output = tmp / "in/out";
  auto r = run_batch(*make(), cfg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("overlap"), std::string::npos);
}

TEST(Batch, UnwritableOutputIsAClearError) {
  lucent::test::TempDir tmp;
  ASSERT_FIXTURE(tmp / "a.dcm", base_elements());
  BatchConfig cfg;
  cfg.input = tmp / "a.dcm";
  cfg.output = "/proc/lucent-deid-out";  // a read-only file system, even for root
  auto r = run_batch(*make(), cfg);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIoError);
  EXPECT_NE(r.error().message().find("/proc/lucent-deid-out"), std::string::npos);
}

TEST(RealData, CtSeriesKeepsPixelsBitIdenticalAndSegReferencesLinkUp) {
  LUCENT_REQUIRE_DATA("dicom/dcmqi/segmentations");
  const fs::path seg_dir = lucent::test::data_dir() / "dicom/dcmqi/segmentations";
  fs::path seg;
  std::vector<fs::path> cts;
  for (auto& e : fs::recursive_directory_iterator(seg_dir)) {
    if (!e.is_regular_file()) continue;
    if (e.path().filename() == "liver.dcm") seg = e.path();
    else if (e.path().parent_path().filename() == "ct-3slice") cts.push_back(e.path());
  }
  if (seg.empty() || cts.empty()) GTEST_SKIP() << "liver.dcm / ct-3slice not found under " << seg_dir;
  lucent::test::TempDir tmp;
  auto d = make();
  std::set<std::string> ct_uids;
  for (std::size_t i = 0; i < cts.size(); ++i) {
    const fs::path out = tmp / ("ct" + std::to_string(i) + ".dcm");
    ASSERT_TRUE(d->deidentify_file(cts[i], out));
    auto m = by_path(*dump_dicom(out));
    ct_uids.insert(m["(0008,0018)"].value);
    ct_uids.insert(m["(0020,000E)"].value);
  }
  ASSERT_TRUE(d->deidentify_file(seg, tmp / "seg.dcm"));
  int refs = 0;
  const auto seg_dump = dump_dicom(tmp / "seg.dcm");
  ASSERT_TRUE(seg_dump);
  for (const auto& e : *seg_dump)
    if ((e.group == 0x0008 && e.element == 0x1155) || (e.group == 0x0020 && e.element == 0x000E && e.path.find('/') != std::string::npos)) {
      ++refs;
      EXPECT_TRUE(ct_uids.contains(e.value)) << e.path << " = " << e.value << " does not link to a de-identified CT ("
                                             << cts.size() << " CT files)";
    }
  EXPECT_GT(refs, 0);
}

TEST(RealData, PixelRulesDecodeCompressedDataOrQuarantineWithoutCodec) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_ts/In/9.dcm");
  const fs::path in = lucent::test::data_dir() / "dicom/dcm_qa_ts/In";
  auto rules = PixelRules::parse(R"({ Modality.equals("MR") } (0,0,8,2))");
  ASSERT_TRUE(rules);
  auto d = make({}, *rules);
  lucent::test::TempDir tmp;
  std::string reference;  // blanked pixels of the uncompressed file
  for (const char* name : {"1.dcm", "4.dcm", "5.dcm", "7.dcm"}) {
    const fs::path out = tmp / name;
    auto rep = d->deidentify_file(in / name, out);
    ASSERT_TRUE(rep) << name << ": " << rep.error().message();
    EXPECT_FALSE(rep->pixel_rule.empty()) << name;
    EXPECT_EQ(rep->transfer_syntax, std::string(name) == "1.dcm" ? rep->transfer_syntax : "1.2.840.10008.1.2.1") << name;
    EXPECT_EQ(rep->decompressed, std::string(name) != "1.dcm") << name;
    auto m = by_path(*dump_dicom(out));
    const std::size_t px = std::stoul(m["(0028,0010)"].value) * std::stoul(m["(0028,0011)"].value) *
                           (std::stoul(m["(0028,0100)"].value) / 8);
    const std::string bytes = slurp(out);
    ASSERT_GT(bytes.size(), px);
    const std::string pixels = bytes.substr(bytes.size() - px);
    const std::size_t row = std::stoul(m["(0028,0011)"].value) * (std::stoul(m["(0028,0100)"].value) / 8);
    EXPECT_EQ(pixels.substr(0, 8 * (row / std::stoul(m["(0028,0011)"].value))),
              std::string(8 * (row / std::stoul(m["(0028,0011)"].value)), '\0'))
        << name << ": region not blanked";
    if (reference.empty()) reference = pixels;
    else EXPECT_EQ(pixels, reference) << name << " decodes to different pixels than 1.dcm";
  }
  auto j2k = d->deidentify_file(in / "9.dcm", tmp / "9.dcm");
  ASSERT_FALSE(j2k);
  EXPECT_EQ(j2k.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(j2k.error().message().find("no codec"), std::string::npos) << j2k.error().message();
  EXPECT_FALSE(fs::exists(tmp / "9.dcm"));
}

// Regression: a file whose standard elements are stored with VR UN kept its Patient's Name and
// UIDs, because the rewrite of a UN value failed silently.
TEST(RealData, ElementsStoredAsUnAreDeidentifiedNotLeaked) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/rtdose_rle.dcm");
  const fs::path in = lucent::test::data_dir() / "dicom/debian_python3-pydicom_2.3.1-1/rtdose_rle.dcm";
  const std::string original = slurp(in);
  ASSERT_NE(original.find("Lastname^Firstname"), std::string::npos) << "test file changed";
  lucent::test::TempDir tmp;
  auto rep = make()->deidentify_file(in, tmp / "out.dcm");
  ASSERT_TRUE(rep) << rep.error().message();
  const std::string out = slurp(tmp / "out.dcm");
  EXPECT_EQ(out.find("Lastname"), std::string::npos);
  EXPECT_EQ(out.find("1.9.999.999.99.9.9999.9999.20030818153516"), std::string::npos);
  auto findings = check_file(tmp / "out.dcm", {});
  ASSERT_TRUE(findings);
  for (const auto& f : *findings) ADD_FAILURE() << f.path << " " << f.name << ": " << f.problem;
}
