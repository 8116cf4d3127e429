#include "lucent/data/fetch.h"

#include <gtest/gtest.h>

#include <fstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "support/test_support.h"

namespace lucent::data {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

fs::path source_tables() { return fs::path(LUCENT_TEST_SOURCE_DIR).parent_path() / "configs" / "datasets"; }

// A one-entry catalog whose 28 px file is `bytes`.
MedmnistCatalog tiny_catalog(const std::string& md5_28) {
  auto cat = MedmnistCatalog::parse(R"({"tinymnist": {"dims": 2, "task": "binary-class", "n_channels": 1,
      "md5": {"28": ")" + md5_28 + R"(", "64": "00000000000000000000000000000000"},
      "label": {"0": "no", "1": "yes"}}})",
                                    "tiny.json");
  EXPECT_TRUE(cat) << cat.error().to_string();
  return *cat;
}

TEST(Md5File, MatchesTheRfc1321TestVector) {
  test::TempDir dir;
  write(dir / "abc", "abc");
  auto md5 = md5_file(dir / "abc");
  ASSERT_TRUE(md5);
  EXPECT_EQ(*md5, "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_file(dir / "absent").error().code(), ErrorCode::kNotFound);
}

TEST(MedmnistNames, FileNameAndUrlFollowTheZenodoPattern) {
  EXPECT_EQ(medmnist_file_name("breastmnist", 28), "breastmnist.npz");
  EXPECT_EQ(medmnist_file_name("breastmnist", 224), "breastmnist_224.npz");
  EXPECT_EQ(medmnist_url(kMedmnistBaseUrl, "breastmnist", 64),
            "https://zenodo.org/records/10519652/files/breastmnist_64.npz?download=1");
  EXPECT_EQ(medmnist_url("file:///m", "x", 28), "file:///m/x.npz?download=1");
}

TEST(MedmnistCatalog, CommittedTableHasEighteenSetsWithTheirSizes) {
  auto cat = MedmnistCatalog::load(source_tables() / "medmnist.json");
  ASSERT_TRUE(cat) << cat.error().to_string();
  EXPECT_EQ(cat->entries().size(), 18u);
  auto breast = cat->find("breastmnist");
  ASSERT_TRUE(breast);
  EXPECT_EQ((*breast)->md5_by_size_px.at(28), "750601b1f35ba3300ea97c75c52ff8f6");
  EXPECT_EQ((*breast)->md5_by_size_px.size(), 4u);
  auto organ3d = cat->find("organmnist3d");
  ASSERT_TRUE(organ3d);
  EXPECT_EQ((*organ3d)->spatial_dims, 3);
  EXPECT_EQ((*organ3d)->md5_by_size_px.size(), 2u);
  EXPECT_EQ((*organ3d)->labels.size(), 11u);
}

TEST(MedmnistCatalog, UnknownNameListsTheSets) {
  auto cat = MedmnistCatalog::load(source_tables() / "medmnist.json");
  ASSERT_TRUE(cat);
  auto r = cat->find("nosuchmnist");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("pathmnist, chestmnist"), std::string::npos) << r.error().message();
}

TEST(MedmnistCatalog, RejectsMalformedEntriesNamingThem) {
  auto r = MedmnistCatalog::parse(R"({"x": {"dims": 2, "task": "t", "n_channels": 1, "md5": {"28": "abc"},
                                    "label": {}}})",
                                  "t.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("t.json: x: md5 for size 28"), std::string::npos) << r.error().message();
  auto missing = MedmnistCatalog::parse(R"({"x": {"dims": 2}})", "t.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("missing key \"task\""), std::string::npos);
  EXPECT_FALSE(MedmnistCatalog::parse("[1,2", "t.json"));
}

TEST(FetchMedmnist, DownloadsFromFileUrlVerifiesAndLeavesOnlyTheFinalFile) {
  test::TempDir dir;
  write(dir / "src" / "tinymnist.npz", "payload");
  const auto cat = tiny_catalog(*md5_file(dir / "src" / "tinymnist.npz"));
  FetchOptions opts;
  opts.base_url = "file://" + (dir / "src").string();
  auto r = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->outcome, FetchOutcome::kDownloaded);
  EXPECT_EQ(*read_file(dir / "dest" / "tinymnist.npz"), "payload");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "dest"), fs::directory_iterator()), 1);

  auto again = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->outcome, FetchOutcome::kAlreadyPresent);
}

TEST(FetchMedmnist, ChecksumMismatchDiscardsTheDownload) {
  test::TempDir dir;
  write(dir / "src" / "tinymnist.npz", "not the release");
  const auto cat = tiny_catalog("0123456789abcdef0123456789abcdef");
  FetchOptions opts;
  opts.base_url = "file://" + (dir / "src").string() + "/";
  auto r = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("expected 0123456789abcdef0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir / "dest"));
}

TEST(FetchMedmnist, WrongExistingFileNeedsForce) {
  test::TempDir dir;
  write(dir / "src" / "tinymnist.npz", "payload");
  write(dir / "dest" / "tinymnist.npz", "damaged");
  const auto cat = tiny_catalog(*md5_file(dir / "src" / "tinymnist.npz"));
  FetchOptions opts;
  opts.base_url = "file://" + (dir / "src").string();
  auto r = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(r.error().message().find("--force"), std::string::npos);
  EXPECT_EQ(*read_file(dir / "dest" / "tinymnist.npz"), "damaged");
  opts.force = true;
  auto forced = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_TRUE(forced) << forced.error().to_string();
  EXPECT_EQ(forced->outcome, FetchOutcome::kReplaced);
  EXPECT_EQ(*read_file(dir / "dest" / "tinymnist.npz"), "payload");
}

TEST(FetchMedmnist, SizeNotInTheReleaseIsInvalidArgument) {
  test::TempDir dir;
  const auto cat = tiny_catalog("0123456789abcdef0123456789abcdef");
  auto r = fetch_medmnist(cat, "tinymnist", 128, dir / "dest", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("sizes 28, 64"), std::string::npos) << r.error().message();
  EXPECT_FALSE(fs::exists(dir / "dest"));
}

TEST(FetchMedmnist, MissingSourceFileIsNotFound) {
  test::TempDir dir;
  fs::create_directories(dir / "src");
  const auto cat = tiny_catalog("0123456789abcdef0123456789abcdef");
  FetchOptions opts;
  opts.base_url = "file://" + (dir / "src").string();
  auto r = fetch_medmnist(cat, "tinymnist", 28, dir / "dest", opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(fs::is_empty(dir / "dest"));
}

TEST(DownloadToFile, RefusesUnsupportedSchemes) {
  test::TempDir dir;
  auto st = download_to_file("gopher://example.invalid/x", dir / "x", {});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir / "x"));
}

TEST(Sha256List, ParsesSha256sumFormatAndRejectsEscapes) {
  const std::string h(64, 'a');
  auto ok = parse_sha256_list(h + "  ./a b/c (1).png\n\n" + h + " *d\n", "l");
  ASSERT_TRUE(ok) << ok.error().to_string();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].path, "a b/c (1).png");
  EXPECT_EQ((*ok)[1].path, "d");
  auto up = parse_sha256_list(h + "  ../etc/passwd\n", "l");
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message().find("l:1"), std::string::npos);
  EXPECT_FALSE(parse_sha256_list(h + "  /abs\n", "l"));
  EXPECT_FALSE(parse_sha256_list(h + "  x\n" + h + "  x\n", "l"));
  auto bad = parse_sha256_list("zz  x\n", "l");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidData);
}

TEST(VerifyFolder, ReportsMismatchedMissingAndUnexpectedFiles) {
  test::TempDir dir;
  write(dir / "a.txt", "a");
  write(dir / "sub" / "b.txt", "changed");
  write(dir / "extra.txt", "x");
  write(dir / "SHA256SUMS", "ignored");
  const std::vector<ChecksumEntry> list{
      {"a.txt", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
      {"sub/b.txt", "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"},
      {"gone.txt", "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"}};
  auto r = verify_folder(list, dir.path());
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->ok, 1u);
  ASSERT_EQ(r->mismatched.size(), 1u);
  EXPECT_EQ(r->mismatched[0].path, "sub/b.txt");
  EXPECT_EQ(r->missing, std::vector<std::string>{"gone.txt"});
  EXPECT_EQ(r->unexpected, std::vector<std::string>{"extra.txt"});
  auto st = r->status("toy", dir.path());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(st.error().message().find("2 of 3 files failed (1 mismatched, 1 missing; 1 ok)"), std::string::npos)
      << st.error().message();
}

TEST(VerifyFolder, CommittedDriveListMatchesTheSharedCopy) {
  LUCENT_REQUIRE_DATA("drive");
  auto list = load_sha256_list(source_tables() / "drive.sha256");
  ASSERT_TRUE(list) << list.error().to_string();
  auto r = verify_folder(*list, test::data_dir() / "drive");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->passed());
  EXPECT_EQ(r->ok, 140u);
  EXPECT_TRUE(r->unexpected.empty());
}

TEST(VerifyMedmnist, SharedCopiesMatchTheReleaseTable) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  auto cat = MedmnistCatalog::load(source_tables() / "medmnist.json");
  ASSERT_TRUE(cat);
  auto r = verify_medmnist_folder(*cat, test::data_dir() / "medmnist");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->passed());
  EXPECT_GE(r->ok, 2u);
}

TEST(DatasetRegistry, FindsByNameAndAliasAndListsNamesOtherwise) {
  ASSERT_TRUE(find_dataset("isbi2012"));
  EXPECT_EQ((*find_dataset("mricron_ch2_aal"))->name, "mricron");
  auto r = find_dataset("nosuch");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("medmnist, busi, drive, isbi2012, mricron, dicom"), std::string::npos);
  for (const auto& d : dataset_registry()) {
    if (d.method != FetchMethod::kManual) continue;
    EXPECT_TRUE(fs::exists(source_tables() / d.checksum_list)) << d.name;
  }
}

}  // namespace
}  // namespace lucent::data
