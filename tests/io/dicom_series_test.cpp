// DICOM series: ordering along the normal, consistency checks, and the repair policy, on real
// series and on synthetic ones written with DCMTK from a real slice.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <fstream>
#include <random>

#include "lucent/io/dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using lucent::ErrorCode;
using lucent::Image;
using lucent::io::ReadOptions;
using lucent::io::SeriesPolicy;

namespace {

fs::path data(const std::string& rel) { return lucent::test::data_dir() / "dicom" / rel; }

const char* kBase = "torchio_ct_series/IMG0001.dcm";  // 128 x 88, int16, IOP -1\0\0\0\-1\0

struct SliceSpec {
  double z = 0;                      // position along the normal (0,0,-1)... see write_slice
  int16_t value = 0;                 // every pixel
  std::string series_uid = "1.2.826.0.1.3680043.8.498.1";
  std::function<void(DcmDataset*)> edit;  // extra changes
};

// Writes one synthetic slice: the base slice with IPP z, constant pixels and new UIDs.
void write_slice(const fs::path& out, const SliceSpec& s, int index) {
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(data(kBase).c_str()).good());
  DcmDataset* ds = ff.getDataset();
  char ipp[128];
  std::snprintf(ipp, sizeof ipp, "82.1807\\122.163\\%.6f", s.z);
  ASSERT_TRUE(ds->putAndInsertString(DCM_ImagePositionPatient, ipp).good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_SOPInstanceUID, ("1.2.826.0.1.3680043.8.498.2." + std::to_string(index)).c_str()).good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_SeriesInstanceUID, s.series_uid.c_str()).good());
  ASSERT_TRUE(ds->putAndInsertString(DCM_InstanceNumber, std::to_string(100 - index).c_str()).good());
  std::vector<Uint16> px(128 * 88, static_cast<Uint16>(s.value));
  ASSERT_TRUE(ds->putAndInsertUint16Array(DCM_PixelData, px.data(), px.size()).good());
  if (s.edit) s.edit(ds);
  ASSERT_TRUE(ff.saveFile(out.c_str(), EXS_LittleEndianExplicit).good());
}

std::vector<fs::path> write_series(const lucent::test::TempDir& dir, const std::vector<SliceSpec>& specs) {
  std::vector<fs::path> files;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    // File names deliberately in reverse position order.
    files.push_back(dir / ("s" + std::to_string(specs.size() - i) + ".dcm"));
    write_slice(files.back(), specs[i], static_cast<int>(i));
  }
  return files;
}

ReadOptions repair() {
  ReadOptions o;
  o.policy = SeriesPolicy::kRepair;
  return o;
}

}  // namespace

TEST(DicomSeries, TorchioCtSeriesIsSortedAlongNormalWithStoredValues) {
  LUCENT_REQUIRE_DATA("dicom/torchio_ct_series");
  auto img = lucent::io::read_dicom_folder(data("torchio_ct_series"));
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 17, 128, 88}));
  EXPECT_EQ(img->data.scalar_type(), at::kShort);
  // This TorchIO series stores 0..647 with slope 1 / intercept 0 (not calibrated HU; the
  // HU check on real air is in ThreeSliceCtHasGeometryFromPositions).
  EXPECT_EQ(img->data.min().item<int>(), 0);
  EXPECT_GE(img->data.max().item<int>(), 600);
  EXPECT_NEAR(img->geometry.spacing_mm[0], 2.0, 1e-9);
  EXPECT_NEAR(img->geometry.spacing_mm[2], 2.0, 1e-3);
  // IOP -1\0\0\0\-1\0: normal = (0,0,1); slices ascend in z from the lowest.
  EXPECT_NEAR(img->geometry.direction_at(2, 2), 1.0, 1e-9);
  EXPECT_NEAR(img->geometry.direction_at(0, 0), -1.0, 1e-9);
  EXPECT_NEAR(img->geometry.origin_lps[2], -24.707, 1e-3);
  EXPECT_TRUE(img->geometry.is_orthonormal());
  EXPECT_EQ(img->meta.modality, "CT");
}

TEST(DicomSeries, OrderDoesNotDependOnFileNames) {
  LUCENT_REQUIRE_DATA("dicom/torchio_ct_series");
  auto ref = lucent::io::read_dicom_folder(data("torchio_ct_series"));
  ASSERT_TRUE(ref);
  lucent::test::TempDir tmp;
  std::vector<fs::path> src;
  for (const auto& e : fs::directory_iterator(data("torchio_ct_series"))) src.push_back(e.path());
  std::sort(src.begin(), src.end());
  std::vector<int> names(src.size());
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = static_cast<int>(i);
  std::shuffle(names.begin(), names.end(), std::mt19937(42));
  std::vector<fs::path> copies;
  for (std::size_t i = 0; i < src.size(); ++i) {
    copies.push_back(tmp / ("x" + std::to_string(names[i]) + ".dcm"));
    fs::copy_file(src[i], copies.back());
  }
  auto img = lucent::io::read_dicom_folder(tmp.path());
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_TRUE(at::equal(img->data, ref->data));
  EXPECT_TRUE(img->geometry.is_close(ref->geometry));
  std::shuffle(copies.begin(), copies.end(), std::mt19937(3));
  auto again = lucent::io::read_dicom_series(copies);
  ASSERT_TRUE(again);
  EXPECT_TRUE(at::equal(again->data, ref->data));
}

TEST(DicomSeries, ThreeSliceCtHasGeometryFromPositions) {
  LUCENT_REQUIRE_DATA("dicom/dcmqi/segmentations/ct-3slice");
  auto img = lucent::io::read_dicom_folder(data("dcmqi/segmentations/ct-3slice"));
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 3, 512, 512}));
  EXPECT_NEAR(img->geometry.spacing_mm[0], 0.810547, 1e-6);
  EXPECT_NEAR(img->geometry.spacing_mm[2], 1.0, 1e-4);
  EXPECT_NEAR(img->geometry.origin_lps[0], -235.199997, 1e-4);
  EXPECT_NEAR(img->geometry.origin_lps[2], -128.690002, 1e-4);
  EXPECT_LE(img->data.min().item<int>(), -900);
}

TEST(DicomSeries, ScanGroupsSeriesAndListsSkippedFilesWithReasons) {
  LUCENT_REQUIRE_DATA("dicom/dcmqi");
  auto scan = lucent::io::scan_dicom_folder(data("dcmqi"));
  ASSERT_TRUE(scan) << scan.error().to_string();
  EXPECT_GE(scan->series.size(), 2u);
  bool found_ct = false;
  for (const auto& s : scan->series)
    if (s.files.size() == 3 && s.modality == "CT") found_ct = true;
  EXPECT_TRUE(found_ct);
  bool sr_skipped = false, nrrd_skipped = false;
  for (const auto& [p, why] : scan->skipped) {
    EXPECT_FALSE(why.empty()) << p;
    if (p.filename() == "sr.dcm") sr_skipped = why.find("no Pixel Data") != std::string::npos;
    if (p.extension() == ".nrrd") nrrd_skipped = true;
  }
  EXPECT_TRUE(sr_skipped);
  EXPECT_TRUE(nrrd_skipped);
}

TEST(DicomSeries, RejectsMissingSliceUnderStrictPolicyAndFillsItUnderRepair) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  auto files = write_series(tmp, {{0, 0}, {2, 10}, {4, 20}, {8, 40}});
  auto strict = lucent::io::read_dicom_series(files);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(strict.error().message().find("missing slice"), std::string::npos) << strict.error().message();
  EXPECT_NE(strict.error().message().find("expected spacing 2"), std::string::npos) << strict.error().message();
  EXPECT_NE(strict.error().message().find("1.2.826.0.1.3680043.8.498.1"), std::string::npos);
  auto fixed = lucent::io::read_dicom_series(files, repair());
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  ASSERT_EQ(fixed->data.size(1), 5);
  EXPECT_EQ(fixed->data.index({0, 3, 0, 0}).item<int>(), 30);  // interpolated between 20 and 40
  EXPECT_EQ(fixed->data.index({0, 4, 0, 0}).item<int>(), 40);
  EXPECT_NEAR(fixed->geometry.spacing_mm[2], 2.0, 1e-6);
  // The repair is recorded with the image, not only logged.
  ASSERT_EQ(fixed->meta.notes.size(), 1u);
  EXPECT_NE(fixed->meta.notes[0].find("slice 3 was missing"), std::string::npos) << fixed->meta.notes[0];
}

TEST(DicomSeries, DuplicatePositionsAreErrorsUnlessRepairFindsIdenticalPixels) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir same, differ;
  auto files = write_series(same, {{0, 0}, {2, 10}, {2, 10}, {4, 20}});
  auto strict = lucent::io::read_dicom_series(files);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(strict.error().message().find("duplicate position"), std::string::npos);
  auto fixed = lucent::io::read_dicom_series(files, repair());
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_EQ(fixed->data.size(1), 3);
  auto files2 = write_series(differ, {{0, 0}, {2, 10}, {2, 11}, {4, 20}});
  auto bad = lucent::io::read_dicom_series(files2, repair());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(bad.error().message().find("different pixels"), std::string::npos) << bad.error().message();
}

TEST(DicomSeries, MixedOrientationsAreAlwaysAnError) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  SliceSpec odd{4, 20};
  odd.edit = [](DcmDataset* ds) { ds->putAndInsertString(DCM_ImageOrientationPatient, "-1\\0\\0\\0\\0\\-1"); };
  auto files = write_series(tmp, {{0, 0}, {2, 10}, odd});
  for (const auto& opt : {ReadOptions{}, repair()}) {
    auto img = lucent::io::read_dicom_series(files, opt);
    ASSERT_FALSE(img);
    EXPECT_EQ(img.error().code(), ErrorCode::kInconsistentSeries);
    EXPECT_NE(img.error().message().find("mixed orientations"), std::string::npos) << img.error().message();
  }
}

TEST(DicomSeries, NonUniformSpacingIsAnErrorUnderBothPolicies) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  auto files = write_series(tmp, {{0, 0}, {2, 10}, {5, 20}});
  for (const auto& opt : {ReadOptions{}, repair()}) {
    auto img = lucent::io::read_dicom_series(files, opt);
    ASSERT_FALSE(img);
    EXPECT_EQ(img.error().code(), ErrorCode::kInconsistentSeries);
    EXPECT_NE(img.error().message().find("non-uniform slice spacing"), std::string::npos) << img.error().message();
  }
}

TEST(DicomSeries, GantryTiltIsRejectedStrictlyAndResampledUnderRepair) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  // The row direction of the base slice is (-1,0,0): shift x by 2 mm (one column) per slice.
  std::vector<SliceSpec> specs;
  for (int k = 0; k < 3; ++k) {
    SliceSpec s{2.0 * k, static_cast<int16_t>(10 * k)};
    const double x = 82.1807 + 2.0 * k;
    s.edit = [x, k](DcmDataset* ds) {
      char ipp[128];
      std::snprintf(ipp, sizeof ipp, "%.4f\\122.163\\%.6f", x, 2.0 * k);
      ds->putAndInsertString(DCM_ImagePositionPatient, ipp);
      // Mark column 10 so the shift is visible.
      Uint16* px = nullptr;
      DcmElement* el = nullptr;
      ds->findAndGetElement(DCM_PixelData, el);
      el->getUint16Array(px);
      for (int y = 0; y < 128; ++y) px[y * 88 + 10] = 1000;
    };
    specs.push_back(s);
  }
  auto files = write_series(tmp, specs);
  auto strict = lucent::io::read_dicom_series(files);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(strict.error().message().find("gantry tilt"), std::string::npos) << strict.error().message();
  auto fixed = lucent::io::read_dicom_series(files, repair());
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_TRUE(fixed->geometry.is_orthonormal());
  // Slice k starts 2k mm further along x = k columns back along the row direction (-x):
  // its marked column lands at 10 - k on the common grid.
  EXPECT_EQ(fixed->data.index({0, 0, 5, 10}).item<int>(), 1000);
  EXPECT_EQ(fixed->data.index({0, 1, 5, 9}).item<int>(), 1000);
  EXPECT_EQ(fixed->data.index({0, 2, 5, 8}).item<int>(), 1000);
}

TEST(DicomSeries, VariableSliceThicknessIsAcceptedOnlyUnderRepair) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  SliceSpec thick{4, 20};
  thick.edit = [](DcmDataset* ds) { ds->putAndInsertString(DCM_SliceThickness, "3"); };
  auto files = write_series(tmp, {{0, 0}, {2, 10}, thick});
  auto strict = lucent::io::read_dicom_series(files);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(strict.error().message().find("variable slice thickness"), std::string::npos);
  auto fixed = lucent::io::read_dicom_series(files, repair());
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_EQ(fixed->data.size(1), 3);
}

TEST(DicomSeries, DifferentRowsAreAnError) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  SliceSpec other{4, 20};
  other.edit = [](DcmDataset* ds) {
    ds->putAndInsertUint16(DCM_Rows, 64);
    std::vector<Uint16> px(64 * 88, 20);
    ds->putAndInsertUint16Array(DCM_PixelData, px.data(), px.size());
  };
  auto files = write_series(tmp, {{0, 0}, {2, 10}, other});
  auto img = lucent::io::read_dicom_series(files, repair());
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(img.error().message().find("(0028,0010) Rows"), std::string::npos) << img.error().message();
}

TEST(DicomSeries, TwoSeriesInOneFolderNeedASeriesUid) {
  LUCENT_REQUIRE_DATA(std::string("dicom/") + kBase);
  lucent::test::TempDir tmp;
  SliceSpec a1{0, 0}, a2{2, 10}, b1{0, 5, "1.2.826.0.1.3680043.8.498.77"}, b2{2, 6, "1.2.826.0.1.3680043.8.498.77"};
  write_series(tmp, {a1, a2, b1, b2});
  auto img = lucent::io::read_dicom_folder(tmp.path());
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(img.error().message().find("1.2.826.0.1.3680043.8.498.1 "), std::string::npos) << img.error().message();
  EXPECT_NE(img.error().message().find("1.2.826.0.1.3680043.8.498.77"), std::string::npos);
  ReadOptions pick;
  pick.series_uid = "1.2.826.0.1.3680043.8.498.77";
  auto b = lucent::io::read_dicom_folder(tmp.path(), pick);
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(b->data.size(1), 2);
  EXPECT_EQ(b->data.index({0, 0, 0, 0}).item<int>(), 5);
  pick.series_uid = "9.9.9";
  auto none = lucent::io::read_dicom_folder(tmp.path(), pick);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kInvalidArgument);
}

TEST(DicomSeries, MultiFrameFilesRepeatingPositionsAreNotMixed) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_enh/In/Siemens/XA10");
  std::vector<fs::path> files;
  for (int i = 1; i <= 4; ++i) files.push_back(data("dcm_qa_enh/In/Siemens/XA10/6_" + std::to_string(i) + ".dcm"));
  auto img = lucent::io::read_dicom_series(files);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(img.error().message().find("read each file"), std::string::npos) << img.error().message();
}

TEST(DicomSeries, FolderWithoutImagesIsNotFound) {
  lucent::test::TempDir tmp;
  std::ofstream(tmp / "notes.txt") << "hello";
  auto img = lucent::io::read_dicom_folder(tmp.path());
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(img.error().message().find("notes.txt"), std::string::npos);
}

TEST(DicomSeries, SameSliceInNineTransferSyntaxesIsDuplicateUnlessRepaired) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_ts/In");
  auto strict = lucent::io::read_dicom_folder(data("dcm_qa_ts/In"));
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), ErrorCode::kInconsistentSeries);
  EXPECT_NE(strict.error().message().find("duplicate position"), std::string::npos);
  auto fixed = lucent::io::read_dicom_folder(data("dcm_qa_ts/In"), repair());
  ASSERT_TRUE(fixed) << fixed.error().to_string();
  EXPECT_EQ(fixed->data.sizes(), (std::vector<int64_t>{1, 1, 384, 384}));
}
