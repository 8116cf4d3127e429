// Single DICOM files: every transfer syntax and pixel format decodes to the pixels of its
// uncompressed twin, with the geometry and metadata DICOM defines.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstring>
#include <fstream>
#include <random>

#include "lucent/io/dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using lucent::ErrorCode;
using lucent::Image;
using lucent::io::read_dicom_file;

namespace {

fs::path data(const std::string& rel) { return lucent::test::data_dir() / "dicom" / rel; }

Image must_read(const std::string& rel, const lucent::io::ReadOptions& opt = {}) {
  auto img = read_dicom_file(data(rel), opt);
  EXPECT_TRUE(img.has_value()) << rel << ": " << (img ? "" : img.error().to_string());
  return img ? *img : Image{};
}

void expect_same_pixels(const std::string& a, const std::string& b, bool same_dtype = true) {
  Image x = must_read(a), y = must_read(b);
  ASSERT_TRUE(x.data.defined() && y.data.defined());
  EXPECT_EQ(x.data.sizes(), y.data.sizes()) << a << " vs " << b;
  if (same_dtype) EXPECT_EQ(x.data.scalar_type(), y.data.scalar_type()) << a << " vs " << b;
  if (x.data.sizes() == y.data.sizes())
    EXPECT_TRUE(at::equal(x.data.to(at::kDouble), y.data.to(at::kDouble))) << a << " vs " << b;
}

double mean_abs_diff(const Image& a, const Image& b) {
  return (a.data.to(at::kDouble) - b.data.to(at::kDouble)).abs().mean().item<double>();
}

}  // namespace

TEST(DicomFile, NineTransferSyntaxesOfOneSliceDecodeToIdenticalPixelsAndGeometry) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_ts/In/1.dcm");
  Image ref = must_read("dcm_qa_ts/In/1.dcm");
  ASSERT_TRUE(ref.data.defined());
  // The slice is a Siemens mosaic (35 tiles of 64x64 in a 384x384 image): unpacked to a volume.
  EXPECT_EQ(ref.spatial_dims(), 3);
  EXPECT_EQ(ref.data.sizes(), (std::vector<int64_t>{1, 35, 64, 64}));
  EXPECT_NEAR(ref.geometry.spacing_mm[2], 3.6, 1e-6);
  for (int i = 2; i <= 9; ++i) {
    const std::string f = "dcm_qa_ts/In/" + std::to_string(i) + ".dcm";
    Image img = must_read(f);
    ASSERT_TRUE(img.data.defined()) << f;
    EXPECT_TRUE(at::equal(ref.data.to(at::kDouble), img.data.to(at::kDouble))) << f << " (" << img.meta.transfer_syntax_uid << ")";
    EXPECT_TRUE(ref.geometry.is_close(img.geometry)) << f;
  }
}

TEST(DicomFile, JpegLosslessAndLsAndRleAndBigEndianMatchUncompressed) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/MR_small.dcm");
  const std::string d = "debian_python3-pydicom_2.3.1-1/";
  for (const char* f : {"MR_small_bigendian.dcm", "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                        "MR_small_jpeg_ls_lossless.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm"})
    expect_same_pixels(d + "MR_small.dcm", d + f);
}

TEST(DicomFile, Jpeg2000LosslessMatchesUncompressedTwin) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/US1_UNCR.dcm");
  expect_same_pixels("pydicom-data/US1_UNCR.dcm", "pydicom-data/US1_J2KR.dcm");
  expect_same_pixels("pydicom-data/MR2_UNCR.dcm", "pydicom-data/MR2_J2KR.dcm");
  // 693: Bits Stored 14 vs 16 in the two headers, so int16 vs int32 output; values equal.
  expect_same_pixels("pydicom-data/693_UNCR.dcm", "pydicom-data/693_J2KR.dcm", false);
  Image rg3 = must_read("pydicom-data/RG3_J2KR.dcm");
  EXPECT_EQ(rg3.data.size(0), 1);
  EXPECT_EQ(rg3.meta.photometric_interpretation, "MONOCHROME1");
}

TEST(DicomFile, EmriSmallVariantsDecodeEqually) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/emri_small.dcm");
  for (const char* f : {"emri_small_RLE.dcm", "emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm",
                        "emri_small_jpeg_ls_lossless.dcm"})
    expect_same_pixels("pydicom-data/emri_small.dcm", std::string("pydicom-data/") + f);
}

TEST(DicomFile, TruncatedJpeg2000GivesClearError) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm");
  for (const char* f : {"pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm",
                        "debian_python3-pydicom_2.3.1-1/JPEG2000-embedded-sequence-delimiter.dcm"}) {
    auto img = read_dicom_file(data(f));
    if (img) continue;  // a correct image is acceptable too
    EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().message();
    EXPECT_NE(img.error().message().find(data(f).string()), std::string::npos);
  }
}

TEST(DicomFile, DeflatedAndRleAndJ2kSegFramesMatchUncompressed) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/liver.dcm");
  for (const char* f : {"liver_deflate.dcm", "liver_rle.dcm", "liver_expb.dcm"})
    expect_same_pixels("pydicom-data/liver.dcm", std::string("pydicom-data/") + f);
  for (const char* f : {"liver_nonbyte_aligned_deflate.dcm", "liver_nonbyte_aligned_rle.dcm"})
    expect_same_pixels("pydicom-data/liver_nonbyte_aligned.dcm", std::string("pydicom-data/") + f);
}

TEST(DicomFile, OneBitSegFramesUnpackToZeroOrOne) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/liver.dcm");
  Image seg = must_read("pydicom-data/liver.dcm");
  ASSERT_TRUE(seg.data.defined());
  EXPECT_EQ(seg.data.scalar_type(), at::kByte);
  EXPECT_EQ(seg.data.dim(), 4);
  EXPECT_LE(seg.data.max().item<int>(), 1);
  EXPECT_GT(seg.data.sum().item<int64_t>(), 0);
}

TEST(DicomFile, DeflatedExplicitLittleEndianIsRead) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/image_dfl.dcm");
  Image img = must_read("debian_python3-pydicom_2.3.1-1/image_dfl.dcm");
  EXPECT_TRUE(img.data.defined());
}

TEST(DicomFile, RgbPlanarConfigurationsAndRleAndBigEndianAgree) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/SC_rgb.dcm");
  expect_same_pixels("pydicom-data/color-px.dcm", "pydicom-data/color-pl.dcm");
  Image rgb = must_read("pydicom-data/SC_rgb.dcm");
  EXPECT_EQ(rgb.data.size(0), 3);
  EXPECT_EQ(rgb.data.scalar_type(), at::kByte);
  expect_same_pixels("pydicom-data/SC_rgb.dcm", "debian_python3-pydicom_2.3.1-1/SC_rgb_rle.dcm");
  expect_same_pixels("pydicom-data/SC_rgb.dcm", "pydicom-data/SC_rgb_expb.dcm");
  expect_same_pixels("pydicom-data/SC_rgb_2frame.dcm", "debian_python3-pydicom_2.3.1-1/SC_rgb_rle_2frame.dcm");
  expect_same_pixels("pydicom-data/SC_rgb_16bit.dcm", "debian_python3-pydicom_2.3.1-1/SC_rgb_rle_16bit.dcm");
  expect_same_pixels("pydicom-data/SC_rgb_16bit.dcm", "pydicom-data/SC_rgb_expb_16bit.dcm");
  expect_same_pixels("pydicom-data/SC_rgb_32bit.dcm", "debian_python3-pydicom_2.3.1-1/SC_rgb_rle_32bit.dcm");
  expect_same_pixels("pydicom-data/SC_rgb_32bit.dcm", "pydicom-data/SC_rgb_expb_32bit.dcm");
  // The first pixel of SC_rgb is pure red.
  EXPECT_EQ(rgb.data.index({0, 0, 0}).item<int>(), 255);
  EXPECT_EQ(rgb.data.index({1, 0, 0}).item<int>(), 0);
  EXPECT_EQ(rgb.data.index({2, 0, 0}).item<int>(), 0);
}

TEST(DicomFile, YbrFullAndYbrFull422ConvertToRgb) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/SC_ybr_full_uncompressed.dcm");
  Image rgb = must_read("pydicom-data/SC_rgb.dcm");
  Image ybr = must_read("pydicom-data/SC_ybr_full_uncompressed.dcm");
  Image ybr422 = must_read("debian_python3-pydicom_2.3.1-1/SC_ybr_full_422_uncompressed.dcm");
  ASSERT_EQ(ybr.data.sizes(), rgb.data.sizes());
  ASSERT_EQ(ybr422.data.sizes(), rgb.data.sizes());
  EXPECT_EQ(ybr.meta.photometric_interpretation, "YBR_FULL");
  EXPECT_LT(mean_abs_diff(ybr, rgb), 2.0);
  EXPECT_LT(mean_abs_diff(ybr422, rgb), 3.0);
}

TEST(DicomFile, JpegBaselineRgbDecodesCloseToOriginal) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/SC_rgb_jpeg_dcmtk.dcm");
  Image rgb = must_read("pydicom-data/SC_rgb.dcm");
  for (const char* f : {"SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_jpeg_gdcm.dcm",
                        "SC_rgb_dcmtk_+eb+cr.dcm"}) {
    Image j = must_read(std::string("debian_python3-pydicom_2.3.1-1/") + f);
    ASSERT_EQ(j.data.sizes(), rgb.data.sizes()) << f;
    EXPECT_LT(mean_abs_diff(j, rgb), 3.0) << f;
  }
}

TEST(DicomFile, PaletteColourBecomesRgb) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/OT-PAL-8-face.dcm");
  Image img = must_read("pydicom-data/OT-PAL-8-face.dcm");
  ASSERT_TRUE(img.data.defined());
  EXPECT_EQ(img.data.size(0), 3);
  EXPECT_EQ(img.data.size(1), 480);
  EXPECT_EQ(img.data.size(2), 640);
  EXPECT_EQ(img.meta.photometric_interpretation, "PALETTE COLOR");
  EXPECT_GT(img.data.to(at::kDouble).std().item<double>(), 1.0);
  expect_same_pixels("pydicom-data/OBXXXX1A.dcm", "pydicom-data/OBXXXX1A_rle.dcm");
}

TEST(DicomFile, SegmentedPaletteLutsExpandToRgb) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/gdcm-US-ALOKA-16.dcm");
  Image img = must_read("pydicom-data/gdcm-US-ALOKA-16.dcm");
  ASSERT_TRUE(img.data.defined());
  EXPECT_EQ(img.data.size(0), 3);
  EXPECT_GT(img.data.to(at::kDouble).std().item<double>(), 1.0);
  expect_same_pixels("pydicom-data/gdcm-US-ALOKA-16.dcm", "pydicom-data/gdcm-US-ALOKA-16_big.dcm");
}

TEST(DicomFile, Monochrome1IsInvertedSoHigherIsBrighter) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/MR_small.dcm");
  // The same pixels labelled MONOCHROME1: v' = min_stored + max_stored - v (signed 16 bits: -1 - v).
  lucent::test::TempDir tmp;
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(data("debian_python3-pydicom_2.3.1-1/MR_small.dcm").c_str()).good());
  ASSERT_TRUE(ff.getDataset()->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME1").good());
  ASSERT_TRUE(ff.saveFile((tmp / "mono1.dcm").c_str(), EXS_LittleEndianExplicit).good());
  Image m2 = must_read("debian_python3-pydicom_2.3.1-1/MR_small.dcm");
  auto m1 = read_dicom_file(tmp / "mono1.dcm");
  ASSERT_TRUE(m1) << m1.error().to_string();
  EXPECT_EQ(m1->meta.photometric_interpretation, "MONOCHROME1");
  EXPECT_TRUE(at::equal((m1->data.to(at::kInt) + m2.data.to(at::kInt)), at::full_like(m2.data.to(at::kInt), -1)));
  Image rg3 = must_read("pydicom-data/RG3_J2KR.dcm");
  EXPECT_GE(rg3.data.min().item<int>(), 0);
}

TEST(DicomFile, ParametricMapFloatStaysFloat) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/parametric_map_float.dcm");
  Image f = must_read("pydicom-data/parametric_map_float.dcm");
  Image d = must_read("pydicom-data/parametric_map_double_float.dcm");
  EXPECT_EQ(f.data.scalar_type(), at::kFloat);
  EXPECT_EQ(d.data.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::isfinite(f.data).all().item<bool>());
}

TEST(DicomFile, CtSliceIsInHounsfieldUnitsWithGeometry) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/CT_small.dcm");
  lucent::io::ReadOptions opt;
  opt.keep_dicom_attributes = true;
  Image ct = must_read("debian_python3-pydicom_2.3.1-1/CT_small.dcm", opt);
  ASSERT_TRUE(ct.data.defined());
  EXPECT_EQ(ct.spatial_dims(), 2);
  EXPECT_EQ(ct.meta.format, "DICOM");
  EXPECT_EQ(ct.meta.modality, "CT");
  EXPECT_FALSE(ct.meta.series_instance_uid.empty());
  EXPECT_EQ(ct.meta.dicom_attributes.count("(0008,0060)"), 1u);
  EXPECT_EQ(ct.meta.dicom_attributes.count("(7FE0,0010)"), 0u);
  // CT_small: IPP -158.135803\-179.035797\-75.699997, PixelSpacing 0.661468\0.661468.
  EXPECT_NEAR(ct.geometry.origin_lps[0], -158.135803, 1e-4);
  EXPECT_NEAR(ct.geometry.origin_lps[2], -75.699997, 1e-4);
  EXPECT_NEAR(ct.geometry.spacing_mm[0], 0.661468, 1e-6);
}

TEST(DicomFile, EnhancedMultiFrameBecomesVolumeFromFirstStack) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_enh/In/Philips/IM_0027_fMAP.dcm");
  Image img = must_read("dcm_qa_enh/In/Philips/IM_0027_fMAP.dcm");
  ASSERT_TRUE(img.data.defined());
  EXPECT_EQ(img.spatial_dims(), 3);
  EXPECT_EQ(img.data.size(1), 32);  // 64 frames = 32 positions x 2 image types
  EXPECT_TRUE(img.geometry.is_orthonormal());
  EXPECT_GT(img.geometry.spacing_mm[2], 0.0);
}

TEST(DicomFile, SiemensEnhancedFileIsOneVolume) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_enh/In/Siemens/XA10/6_1.dcm");
  Image img = must_read("dcm_qa_enh/In/Siemens/XA10/6_1.dcm");
  ASSERT_TRUE(img.data.defined());
  EXPECT_EQ(img.data.size(1), 6);
  EXPECT_NEAR(img.geometry.spacing_mm[2], 2.4, 1e-3);
  EXPECT_NEAR(img.geometry.spacing_mm[0], 3.375, 1e-6);
}

TEST(DicomFile, ClassicMultiFrameWithoutPositionsIsFrameStack) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/SC_rgb_2frame.dcm");
  Image img = must_read("pydicom-data/SC_rgb_2frame.dcm");
  ASSERT_TRUE(img.data.defined());
  EXPECT_EQ(img.data.dim(), 4);
  EXPECT_EQ(img.data.size(1), 2);
  EXPECT_DOUBLE_EQ(img.geometry.spacing_mm[2], 1.0);
}

TEST(DicomFile, HighThroughputJpeg2000IsUnsupportedWithName) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data/HTJ2K_08_RGB.dcm");
  auto img = read_dicom_file(data("pydicom-data/HTJ2K_08_RGB.dcm"));
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(img.error().message().find("unsupported transfer syntax"), std::string::npos);
  EXPECT_NE(img.error().message().find("1.2.840.10008.1.2.4.203"), std::string::npos);
  EXPECT_NE(img.error().message().find("HTJ2K_08_RGB.dcm"), std::string::npos);
}

TEST(DicomFile, TruncatedZeroByteRandomAndNoPixelFilesFailClearly) {
  LUCENT_REQUIRE_DATA("dicom/debian_python3-pydicom_2.3.1-1/CT_small.dcm");
  lucent::test::TempDir tmp;
  {
    std::ifstream in(data("debian_python3-pydicom_2.3.1-1/CT_small.dcm"), std::ios::binary);
    std::vector<char> buf(1000);
    in.read(buf.data(), 1000);
    std::ofstream(tmp / "truncated.dcm", std::ios::binary).write(buf.data(), 1000);
  }
  std::ofstream(tmp / "empty.dcm").close();
  {
    std::mt19937 rng(7);
    std::ofstream out(tmp / "random.dcm", std::ios::binary);
    for (int i = 0; i < 5000; ++i) out.put(static_cast<char>(rng() & 0xFF));
  }
  for (const char* name : {"truncated.dcm", "empty.dcm", "random.dcm"}) {
    auto img = read_dicom_file(tmp / name);
    ASSERT_FALSE(img) << name;
    EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
    EXPECT_NE(img.error().message().find((tmp / name).string()), std::string::npos) << img.error().message();
  }
  LUCENT_REQUIRE_DATA("dicom/dcmqi/sr-example/sr.dcm");
  auto sr = read_dicom_file(data("dcmqi/sr-example/sr.dcm"));
  ASSERT_FALSE(sr);
  EXPECT_EQ(sr.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(sr.error().message().find("no Pixel Data"), std::string::npos);
  EXPECT_NE(sr.error().message().find("sr.dcm"), std::string::npos);
  auto missing = read_dicom_file(tmp / "nope.dcm");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

namespace {

// The 8 corner voxel centres (LPS) of dcm2niix's reference NIfTI (RAS, rows flipped).
std::vector<lucent::Vec3> nifti_corners_lps(const fs::path& nii) {
  std::ifstream in(nii, std::ios::binary);
  char h[348];
  in.read(h, 348);
  int16_t dim[8];
  float srow[3][4];
  std::memcpy(dim, h + 40, sizeof dim);
  for (int r = 0; r < 3; ++r) std::memcpy(srow[r], h + 280 + 16 * r, 16);
  std::vector<lucent::Vec3> out;
  for (int a : {0, 1})
    for (int b : {0, 1})
      for (int c : {0, 1}) {
        const double v[4] = {a * (dim[1] - 1.0), b * (dim[2] - 1.0), c * (dim[3] - 1.0), 1.0};
        lucent::Vec3 ras{};
        for (int r = 0; r < 3; ++r) ras[r] = srow[r][0] * v[0] + srow[r][1] * v[1] + srow[r][2] * v[2] + srow[r][3];
        out.push_back({-ras[0], -ras[1], ras[2]});
      }
  return out;
}

double max_corner_distance(const Image& img, const std::vector<lucent::Vec3>& ref) {
  const auto n = img.size_ijk();
  double worst = 0;
  for (int a : {0, 1})
    for (int b : {0, 1})
      for (int c : {0, 1}) {
        const auto p = img.geometry.index_to_lps({a * (n[0] - 1.0), b * (n[1] - 1.0), c * (n[2] - 1.0)});
        double best = 1e30;
        for (const auto& q : ref) best = std::min(best, lucent::norm({p[0] - q[0], p[1] - q[1], p[2] - q[2]}));
        worst = std::max(worst, best);
      }
  return worst;
}

}  // namespace

TEST(DicomFile, EnhancedGeometryMatchesDcm2niixReference) {
  LUCENT_REQUIRE_DATA("dicom/dcm_qa_enh/Ref/Siemens_REST1_w_SMS_PF7-8_6.nii");
  Image siemens = must_read("dcm_qa_enh/In/Siemens/XA10/6_1.dcm");
  EXPECT_LT(max_corner_distance(siemens, nifti_corners_lps(data("dcm_qa_enh/Ref/Siemens_REST1_w_SMS_PF7-8_6.nii"))), 0.01);
  Image philips = must_read("dcm_qa_enh/In/Philips/IM_0027_fMAP.dcm");
  EXPECT_LT(max_corner_distance(philips, nifti_corners_lps(data("dcm_qa_enh/Ref/Philips_WIP_B0_NS_801_e1.nii"))), 0.01);
}
