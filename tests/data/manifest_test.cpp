// Manifest and image-folder datasets: reading, patient-level splits, the dataset check and
// loading a split, on small generated folders and on the real BUSI folder.
#include "lucent/data/manifest.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "lucent/core/csv.h"
#include "lucent/io/image_io.h"
#include "support/test_support.h"

namespace lucent::data {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

void write_png(const fs::path& path, int64_t channels, int64_t h, int64_t w, int value) {
  fs::create_directories(path.parent_path());
  Image img;
  img.data = at::full({channels, h, w}, value, at::kByte);
  img.geometry.spatial_dims = 2;
  ASSERT_TRUE(io::write_image(img, path)) << path;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// ROOT/a/{0..3}.png (+ a mask to exclude), ROOT/b/{0..1}.png, a README to ignore.
void make_folder(const fs::path& root) {
  for (int i = 0; i < 4; ++i) write_png(root / "a" / (std::to_string(i) + ".png"), 1, 8, 8, 10 * i);
  write_png(root / "a" / "0_mask.png", 1, 8, 8, 255);
  for (int i = 0; i < 2; ++i) write_png(root / "b" / (std::to_string(i) + ".png"), 1, 6, 10, 100 + i);
  write_text(root / "README.md", "not an image");
}

TEST(ImageFolder, ClassIsSubFolderAndExcludedFilesAreSkipped) {
  TempDir tmp;
  make_folder(tmp.path());
  auto m = scan_image_folder(tmp.path(), {"*_mask*"});
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->entries.size(), 6u);
  EXPECT_EQ(m->entries[0].id, "a/0");
  EXPECT_EQ(m->entries[0].label, "a");
  EXPECT_EQ(m->entries[5].label, "b");
  EXPECT_EQ(m->entries[0].patient, m->entries[0].id);
  auto all = scan_image_folder(tmp.path());
  ASSERT_TRUE(all);
  EXPECT_EQ(all->entries.size(), 7u);
}

TEST(ImageFolder, RejectsMissingFolderAndFolderWithoutClasses) {
  TempDir tmp;
  auto missing = scan_image_folder(tmp / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  write_png(tmp / "flat.png", 1, 4, 4, 0);
  auto flat = scan_image_folder(tmp.path());
  ASSERT_FALSE(flat);
  EXPECT_NE(flat.error().message().find("one sub-folder per class"), std::string::npos);
}

TEST(Manifest, ReadsColumnsResolvesRelativePathsAndKeepsAttributes) {
  TempDir tmp;
  make_folder(tmp / "img");
  write_text(tmp / "m.csv", "path,label,patient_id,sex,site\nimg/a/0.png,a,P1,F,north\nimg/b/1.png,b,P2,M,south\n");
  auto m = read_manifest(tmp / "m.csv");
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->entries.size(), 2u);
  EXPECT_EQ(m->attribute_columns, (std::vector<std::string>{"sex", "site"}));
  EXPECT_EQ(m->entries[0].id, "img/a/0");
  EXPECT_EQ(m->entries[0].patient, "P1");
  EXPECT_EQ(m->entries[1].attributes.at("site"), "south");
  EXPECT_TRUE(fs::exists(m->entries[0].path));
  EXPECT_TRUE(m->entries[0].path.is_absolute());
}

TEST(Manifest, RejectsMissingColumnsDuplicateIdsAndMissingFile) {
  TempDir tmp;
  write_text(tmp / "nolabel.csv", "path\nx.png\n");
  auto a = read_manifest(tmp / "nolabel.csv");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("'path' and 'label'"), std::string::npos);
  write_text(tmp / "dup.csv", "id,path,label\nc1,x.png,a\nc1,y.png,b\n");
  auto b = read_manifest(tmp / "dup.csv");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("'c1' is used twice"), std::string::npos);
  EXPECT_EQ(read_manifest(tmp / "none.csv").error().code(), ErrorCode::kNotFound);
}

TEST(Manifest, WriteThenReadRoundTripsSplitAndAttributes) {
  TempDir tmp;
  make_folder(tmp / "img");
  write_text(tmp / "m.csv", "path,label,patient_id,age\nimg/a/0.png,a,P1,40\nimg/a/1.png,a,P1,41\nimg/b/0.png,b,P2,\n");
  auto m = read_manifest(tmp / "m.csv");
  ASSERT_TRUE(m);
  m->entries[0].split = m->entries[1].split = "train";
  m->entries[2].split = "test";
  ASSERT_TRUE(write_manifest(*m, tmp / "out" / "split.csv"));
  auto back = read_manifest(tmp / "out" / "split.csv");
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->entries.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->entries[i].id, m->entries[i].id);
    EXPECT_EQ(back->entries[i].path, m->entries[i].path);
    EXPECT_EQ(back->entries[i].split, m->entries[i].split);
    EXPECT_EQ(back->entries[i].patient, m->entries[i].patient);
  }
  EXPECT_EQ(back->entries[1].attributes.at("age"), "41");
}

Manifest synthetic(int patients, int images_per_patient) {
  Manifest m;
  m.source = "synthetic";
  for (int p = 0; p < patients; ++p)
    for (int i = 0; i < images_per_patient; ++i) {
      ManifestEntry e;
      e.patient = 'p';
      e.patient += std::to_string(p);
      e.id = e.patient;
      e.id += '_';
      e.id += std::to_string(i);
      e.path = "/nonexistent.png";
      e.label = p % 4 == 0 ? "rare" : "common";
      m.entries.push_back(std::move(e));
    }
  return m;
}

TEST(PatientSplit, KeepsEveryPatientInOneSplitAndStratifies) {
  auto s = split_by_patient(synthetic(200, 3), {.val_fraction = 0.1, .test_fraction = 0.2, .seed = 7});
  ASSERT_TRUE(s) << s.error().message();
  std::map<std::string, std::set<std::string>> splits_of;
  std::map<std::string, std::map<std::string, int>> patients;  // split → label → patients
  for (const auto& e : s->entries) {
    splits_of[e.patient].insert(e.split);
    if (e.id.ends_with("_0")) ++patients[e.split][e.label];
  }
  for (const auto& [p, splits] : splits_of) EXPECT_EQ(splits.size(), 1u) << p;
  // 50 rare and 150 common patients: 20 % of each go to test, 10 % to val.
  EXPECT_EQ(patients["test"]["rare"], 10);
  EXPECT_EQ(patients["test"]["common"], 30);
  EXPECT_EQ(patients["val"]["rare"], 5);
  EXPECT_EQ(patients["val"]["common"], 15);
  EXPECT_EQ(patients["train"]["rare"], 35);
}

TEST(PatientSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  auto a = split_by_patient(synthetic(100, 2), {.seed = 3});
  auto b = split_by_patient(synthetic(100, 2), {.seed = 3});
  auto c = split_by_patient(synthetic(100, 2), {.seed = 4});
  ASSERT_TRUE(a && b && c);
  std::vector<std::string> sa, sb, sc;
  for (std::size_t i = 0; i < a->entries.size(); ++i) {
    sa.push_back(a->entries[i].split);
    sb.push_back(b->entries[i].split);
    sc.push_back(c->entries[i].split);
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(PatientSplit, RejectsImpossibleFractions) {
  auto s = split_by_patient(synthetic(10, 1), {.val_fraction = 0.5, .test_fraction = 0.5, .seed = 0});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(split_by_patient(synthetic(10, 1), {.val_fraction = -0.1, .test_fraction = 0.2, .seed = 0}));
}

bool has_problem(const CheckReport& r, const std::string& id, const std::string& fragment) {
  for (const auto& p : r.problems)
    if (p.id == id && p.what.find(fragment) != std::string::npos) return true;
  return false;
}

TEST(DatasetCheck, NamesEachBadCase) {
  TempDir tmp;
  make_folder(tmp / "img");
  write_png(tmp / "img" / "rgb.png", 3, 8, 8, 1);
  write_text(tmp / "img" / "broken.png", "this is not a PNG");
  write_text(tmp / "m.csv",
             "id,path,label,patient_id,split\n"
             "ok,img/a/0.png,a,P1,train\n"
             "leak,img/a/1.png,a,P1,test\n"
             "gone,img/missing.png,a,P3,train\n"
             "bad,img/broken.png,a,P4,train\n"
             "rgb,img/rgb.png,b,P5,train\n"
             "odd,img/a/2.png,c,P6,train\n"
             "small,img/b/0.png,b,P7,valid\n"
             "again,img/a/0.png,a,P8,train\n");
  auto m = read_manifest(tmp / "m.csv");
  ASSERT_TRUE(m) << m.error().message();
  auto r = check_manifest(*m, {.labels = {"a", "b"}, .multilabel = false, .channels = 0, .size = {8, 8}});
  EXPECT_EQ(r.images, 8);
  EXPECT_TRUE(has_problem(r, "gone", "file not found"));
  EXPECT_TRUE(has_problem(r, "bad", "unreadable"));
  EXPECT_TRUE(has_problem(r, "rgb", "3 channel(s), expected 1"));
  EXPECT_TRUE(has_problem(r, "odd", "unknown label 'c'"));
  EXPECT_TRUE(has_problem(r, "small", "size [6, 10], expected [8, 8]"));
  EXPECT_TRUE(has_problem(r, "small", "unknown split 'valid'"));
  EXPECT_TRUE(has_problem(r, "again", "listed twice"));
  EXPECT_TRUE(has_problem(r, "ok", "appears in several splits"));
  EXPECT_FALSE(has_problem(r, "ok", "unreadable"));
  EXPECT_EQ(r.counts.at("train").at("a"), 4);
}

TEST(DatasetCheck, CleanFolderHasNoProblemsAndCountsClasses) {
  TempDir tmp;
  make_folder(tmp.path());
  auto m = scan_image_folder(tmp.path(), {"*_mask*"});
  ASSERT_TRUE(m);
  auto r = check_manifest(*m, {});
  EXPECT_TRUE(r.problems.empty()) << r.problems.front().id << ": " << r.problems.front().what;
  EXPECT_EQ(r.counts.at("").at("a"), 4);
  EXPECT_EQ(r.counts.at("").at("b"), 2);
}

TEST(ManifestDataset, LoadsSplitThroughPreprocessingToOneSize) {
  TempDir tmp;
  make_folder(tmp.path());
  auto m = scan_image_folder(tmp.path(), {"*_mask*"});
  ASSERT_TRUE(m);
  for (auto& e : m->entries) e.split = e.id == "a/3" ? "test" : "train";
  transforms::TransformRegistry reg;
  transforms::register_builtin_transforms(reg);
  auto resize = transforms::Pipeline::from_json(nlohmann::json::parse(R"([{"name":"resize","size":[4,4]}])"), reg);
  ASSERT_TRUE(resize);
  Rng rng(0);
  auto ds = load_manifest_split(*m, "train", {"a", "b"}, Task::kBinary, *resize, rng);
  ASSERT_TRUE(ds) << ds.error().message();
  EXPECT_EQ((*ds)->size(), 5);
  EXPECT_EQ((*ds)->images().sizes(), (std::vector<int64_t>{5, 1, 4, 4}));
  EXPECT_EQ((*ds)->labels()[4][0].item<int64_t>(), 1);
  EXPECT_EQ((*ds)->ids()[0], "a/0");
  EXPECT_NEAR((*ds)->images()[2].mean().item<double>(), 20.0, 1e-4);

  auto none = transforms::Pipeline::from_json(nlohmann::json::array(), reg);
  auto mixed = load_manifest_split(*m, "train", {"a", "b"}, Task::kBinary, *none, rng);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message().find("add `resize`"), std::string::npos) << mixed.error().message();
  auto unknown = load_manifest_split(*m, "train", {"a"}, Task::kBinary, *resize, rng);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("unknown label 'b'"), std::string::npos);
  EXPECT_EQ(load_manifest_split(*m, "val", {"a", "b"}, Task::kBinary, *resize, rng).error().code(), ErrorCode::kNotFound);
}

TEST(ImageFolder, ReadsRealBusiWithMasksExcluded) {
  LUCENT_REQUIRE_DATA("busi");
  auto m = scan_image_folder(test::data_dir() / "busi", {"*_mask*"});
  ASSERT_TRUE(m) << m.error().message();
  std::map<std::string, int> counts;
  for (const auto& e : m->entries) ++counts[e.label];
  EXPECT_EQ(counts["benign"], 437);
  EXPECT_EQ(counts["malignant"], 210);
  EXPECT_EQ(counts["normal"], 133);
  auto s = split_by_patient(std::move(*m), {.val_fraction = 0.15, .test_fraction = 0.2, .seed = 0});
  ASSERT_TRUE(s);
  std::map<std::string, int> test_counts;
  for (const auto& e : s->entries)
    if (e.split == "test") ++test_counts[e.label];
  EXPECT_EQ(test_counts["benign"], 87);  // round(437 × 0.2)
  EXPECT_EQ(test_counts["malignant"], 42);
  EXPECT_EQ(test_counts["normal"], 27);
}

}  // namespace
}  // namespace lucent::data
