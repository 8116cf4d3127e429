// Reading and writing NIfTI / NRRD / MetaImage / PNG / TIFF through the ITK ImageIO adapter,
// exercised through the public lucent::io::read_image / write_image.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "lucent/core/image.h"
#include "lucent/io/image_io.h"
#include "support/test_support.h"

namespace lucent::io {
namespace {
namespace fs = std::filesystem;
using test::data_dir;
using test::TempDir;

constexpr const char* kCh2 = "mricron_ch2_aal/ch2.nii.gz";
constexpr const char* kLiverNrrd = "dicom/dcmqi/segmentations/liver_seg.nrrd";
constexpr const char* kBusiPng = "busi/benign/benign (1).png";
constexpr const char* kDriveTif = "drive/training/images/21_training.tif";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// gunzip with zlib's gz* API (the test's own oracle, independent of ITK).
std::string gunzip(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

template <typename T>
void put(std::string& h, size_t off, T v) {
  std::memcpy(h.data() + off, &v, sizeof v);
}

// A minimal single-file NIfTI-1 (.nii) with an identity-rotation qform (RAS), written by hand.
std::string nifti_bytes(const std::vector<int16_t>& dims, int16_t datatype, int16_t bitpix, float slope,
                        float inter, const std::string& data) {
  std::string h(352, '\0');
  put<int32_t>(h, 0, 348);
  put<int16_t>(h, 40, static_cast<int16_t>(dims.size()));
  for (size_t i = 0; i < dims.size(); ++i) put<int16_t>(h, 42 + 2 * i, dims[i]);
  put<int16_t>(h, 70, datatype);
  put<int16_t>(h, 72, bitpix);
  put<float>(h, 76, 1.0f);  // qfac
  for (int i = 1; i <= 7; ++i) put<float>(h, 76 + 4 * i, 1.0f);
  put<float>(h, 108, 352.0f);
  put<float>(h, 112, slope);
  put<float>(h, 116, inter);
  put<int16_t>(h, 252, 1);  // qform_code scanner
  put<float>(h, 268, 5.0f);
  put<float>(h, 272, 6.0f);
  put<float>(h, 276, 7.0f);
  std::memcpy(h.data() + 344, "n+1\0", 4);
  return h + data;
}

Geometry oblique_geometry() {
  // Rotation by 25° about the unit axis (1, 2, 3)/√14, anisotropic spacing, non-trivial origin.
  const double a = 25.0 * M_PI / 180.0, c = std::cos(a), s = std::sin(a), t = 1 - c;
  const double n = std::sqrt(14.0), x = 1 / n, y = 2 / n, z = 3 / n;
  Geometry g;
  g.origin_lps = {-101.25, 37.5, 12.75};
  g.spacing_mm = {0.75, 1.25, 2.5};
  g.set_direction_column(0, {t * x * x + c, t * x * y + s * z, t * x * z - s * y});
  g.set_direction_column(1, {t * x * y - s * z, t * y * y + c, t * y * z + s * x});
  g.set_direction_column(2, {t * x * z + s * y, t * y * z - s * x, t * z * z + c});
  return g;
}

// ---------------------------------------------------------------------------------------------
// Real data

TEST(ItkNifti, Ch2ReadsAsUint8VolumeWithNumpyChecksum) {
  LUCENT_REQUIRE_DATA(kCh2);
  auto img = read_image(data_dir() / kCh2);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "NIfTI");
  EXPECT_EQ(img->spatial_dims(), 3);
  EXPECT_EQ(img->data.scalar_type(), at::kByte);
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 181, 217, 181}));
  // Sum, min, max as numpy/nibabel print them.
  EXPECT_EQ(img->data.sum(at::kLong).item<int64_t>(), 317151210);
  EXPECT_EQ(img->data.max().item<uint8_t>(), 254);
}

TEST(ItkNifti, Ch2GeometryMatchesNibabelAffineInLps) {
  LUCENT_REQUIRE_DATA(kCh2);
  auto img = read_image(data_dir() / kCh2);
  ASSERT_TRUE(img) << img.error().to_string();
  // /usr/bin/python3 -c 'import nibabel; print(nibabel.load("ch2.nii.gz").affine)' prints the RAS
  // affine [[1,0,0,-90],[0,1,0,-125],[0,0,1,-71]]; LPS negates its first two rows.
  const std::array<double, 16> expected{-1, 0, 0, 90, 0, -1, 0, 125, 0, 0, 1, -71, 0, 0, 0, 1};
  const auto affine = img->geometry.affine_lps();
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(affine[i], expected[i], 1e-6) << "affine element " << i;
  EXPECT_EQ(img->geometry.orientation_code(), "RAS");
}

TEST(ItkNifti, Ch2RoundTripKeepsValuesAndGeometry) {
  LUCENT_REQUIRE_DATA(kCh2);
  auto img = read_image(data_dir() / kCh2);
  ASSERT_TRUE(img) << img.error().to_string();
  TempDir tmp;
  ASSERT_TRUE(write_image(*img, tmp / "ch2.nii.gz"));
  auto back = read_image(tmp / "ch2.nii.gz");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->data.scalar_type(), at::kByte);
  EXPECT_TRUE(at::equal(back->data, img->data));
  EXPECT_TRUE(back->geometry.is_close(img->geometry, 1e-4, 1e-6));
  EXPECT_EQ(count_files(tmp.path()), 1u) << "temporary file left behind";
}

TEST(ItkNrrd, DcmqiSegmentationReadsLpsGeometry) {
  LUCENT_REQUIRE_DATA(kLiverNrrd);
  auto img = read_image(data_dir() / kLiverNrrd);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "NRRD");
  EXPECT_EQ(img->data.scalar_type(), at::kShort);
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 3, 512, 512}));
  // NRRD header: space left-posterior-superior, origin and directions as written.
  EXPECT_NEAR(img->geometry.origin_lps[0], -235.2, 1e-9);
  EXPECT_NEAR(img->geometry.origin_lps[1], -226.8, 1e-9);
  EXPECT_NEAR(img->geometry.origin_lps[2], -128.69, 1e-9);
  EXPECT_NEAR(img->geometry.spacing_mm[0], 0.810547, 1e-9);
  EXPECT_NEAR(img->geometry.spacing_mm[2], 1.0, 1e-9);
  EXPECT_EQ(img->geometry.orientation_code(), "LPS");
  EXPECT_GT(img->data.ne(0).sum().item<int64_t>(), 0) << "the liver segment is not empty";
}

TEST(ItkNrrd, DcmqiSegmentationToNiftiRoundTrip) {
  LUCENT_REQUIRE_DATA(kLiverNrrd);
  auto img = read_image(data_dir() / kLiverNrrd);
  ASSERT_TRUE(img) << img.error().to_string();
  TempDir tmp;
  ASSERT_TRUE(write_image(*img, tmp / "liver.nii.gz"));
  auto back = read_image(tmp / "liver.nii.gz");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->meta.format, "NIfTI");
  EXPECT_EQ(back->data.scalar_type(), at::kShort);
  EXPECT_TRUE(at::equal(back->data, img->data));
  // NIfTI stores the geometry as float32.
  EXPECT_TRUE(back->geometry.is_close(img->geometry, 1e-4, 1e-6));
}

TEST(ItkPng, BusiGreyRoundTripIsExact) {
  LUCENT_REQUIRE_DATA(kBusiPng);
  auto img = read_image(data_dir() / kBusiPng);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "PNG");
  EXPECT_EQ(img->spatial_dims(), 2);
  EXPECT_EQ(img->data.scalar_type(), at::kByte);
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 268, 320}));
  TempDir tmp;
  ASSERT_TRUE(write_image(*img, tmp / "out.png"));
  auto back = read_image(tmp / "out.png");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(at::equal(back->data, img->data));
  EXPECT_EQ(back->spatial_dims(), 2);
}

TEST(ItkPng, OneBitBusiMaskReadsAsZeroAnd255) {
  constexpr const char* kMask = "busi/benign/benign (1)_mask.png";
  LUCENT_REQUIRE_DATA(kMask);
  auto img = read_image(data_dir() / kMask);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 268, 320}));
  EXPECT_EQ(img->data.scalar_type(), at::kByte);
  // libpng expands 1-bit grey to 0/255. 318 set bits, counted by decoding the PNG with
  // zlib + the PNG filters in plain Python (independent of libpng).
  EXPECT_EQ(img->data.eq(255).sum().item<int64_t>(), 318);
  EXPECT_EQ(img->data.eq(0).sum().item<int64_t>(), 268 * 320 - 318);
}

TEST(ItkTiff, DriveFundusReadsAsThreeChannelsAndRoundTripsThroughPng) {
  LUCENT_REQUIRE_DATA(kDriveTif);
  auto img = read_image(data_dir() / kDriveTif);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "TIFF");
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{3, 584, 565}));
  EXPECT_EQ(img->data.scalar_type(), at::kByte);
  // The red channel of a fundus photograph is the brightest.
  EXPECT_GT(img->data[0].to(at::kDouble).mean().item<double>(), img->data[2].to(at::kDouble).mean().item<double>());
  TempDir tmp;
  ASSERT_TRUE(write_image(*img, tmp / "fundus.png"));
  auto back = read_image(tmp / "fundus.png");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(at::equal(back->data, img->data));
}

// ---------------------------------------------------------------------------------------------
// Geometry

TEST(ItkNifti, ObliqueGeometryRoundTripsInLps) {
  Image img;
  img.geometry = oblique_geometry();
  img.data = at::arange(60, at::kFloat).reshape({1, 3, 4, 5}) * 0.5f;
  TempDir tmp;
  ASSERT_TRUE(write_image(img, tmp / "oblique.nii.gz"));
  auto back = read_image(tmp / "oblique.nii.gz");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(at::equal(back->data, img.data));
  EXPECT_TRUE(back->geometry.is_close(img.geometry, 1e-4, 1e-5))
      << "origin " << back->geometry.origin_lps[0] << "," << back->geometry.origin_lps[1] << ","
      << back->geometry.origin_lps[2];
  // The far corner lands where the original geometry puts it (RAS↔LPS applied both ways).
  const Vec3 far{4, 3, 2};
  const Vec3 a = img.geometry.index_to_lps(far), b = back->geometry.index_to_lps(far);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i], b[i], 1e-4);
}

TEST(ItkNifti, WrittenSformMatchesNibabelAffine) {
  Image img;
  img.geometry = oblique_geometry();
  img.data = at::zeros({1, 3, 4, 5}, at::kByte);
  TempDir tmp;
  ASSERT_TRUE(write_image(img, tmp / "oblique.nii.gz"));
  const std::string h = gunzip(tmp / "oblique.nii.gz");
  ASSERT_GE(h.size(), 348u);
  // nibabel.load("oblique.nii.gz").affine for this file (RAS), as printed by /usr/bin/python3;
  // independent of ITK's reader, so a sign error shared by reader and writer cannot hide.
  const double nibabel_ras[3][4] = {{-0.684750, 0.406830, -0.614940, 101.25},
                                    {-0.264175, -1.166346, 0.181989, -37.5},
                                    {-0.154367, 0.191379, 2.416346, 12.75}};
  int16_t sform_code;
  std::memcpy(&sform_code, h.data() + 254, 2);
  EXPECT_GT(sform_code, 0);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) {
      float v;
      std::memcpy(&v, h.data() + 280 + 16 * r + 4 * c, 4);
      EXPECT_NEAR(v, nibabel_ras[r][c], 2e-5) << "srow " << r << " col " << c;
    }
}

TEST(ItkNifti, ObliqueGeometryRoundTripsThroughNrrdAndMha) {
  Image img;
  img.geometry = oblique_geometry();
  img.data = at::arange(60, at::kInt).reshape({1, 3, 4, 5});
  TempDir tmp;
  for (const char* name : {"o.nrrd", "o.mha"}) {
    ASSERT_TRUE(write_image(img, tmp / name)) << name;
    auto back = read_image(tmp / name);
    ASSERT_TRUE(back) << name << ": " << back.error().to_string();
    EXPECT_TRUE(at::equal(back->data, img.data)) << name;
    EXPECT_TRUE(back->geometry.is_close(img.geometry, 1e-9, 1e-9)) << name;
  }
}

TEST(ItkNifti, TwoDImageWrittenToNiftiKeepsItsThreeDPosition) {
  Image img;
  img.geometry = oblique_geometry();
  img.geometry.spatial_dims = 2;
  img.data = at::arange(12, at::kShort).reshape({1, 3, 4});
  TempDir tmp;
  ASSERT_TRUE(write_image(img, tmp / "slice.nii.gz"));
  auto back = read_image(tmp / "slice.nii.gz");
  ASSERT_TRUE(back) << back.error().to_string();
  // Read back as a one-slice volume at the same place in the patient.
  EXPECT_EQ(back->spatial_dims(), 3);
  EXPECT_EQ(back->data.sizes(), (std::vector<int64_t>{1, 1, 3, 4}));
  EXPECT_TRUE(at::equal(back->data[0][0], img.data[0]));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(back->geometry.origin_lps[i], img.geometry.origin_lps[i], 1e-4);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(back->geometry.direction[i], img.geometry.direction[i], 1e-5);
  const Vec3 p = img.geometry.index_to_lps({3, 2, 0}), q = back->geometry.index_to_lps({3, 2, 0});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], q[i], 1e-4);
}

TEST(ItkPng, TwoDGeometryHasUnitNormal) {
  Image img;
  img.geometry.spatial_dims = 2;
  img.data = at::ones({1, 5, 7}, at::kByte);
  TempDir tmp;
  ASSERT_TRUE(write_image(img, tmp / "a.png"));
  auto back = read_image(tmp / "a.png");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->spatial_dims(), 2);
  EXPECT_TRUE(back->geometry.is_orthonormal());
  EXPECT_EQ(back->geometry.direction_column(2), (Vec3{0, 0, 1}));
}

// ---------------------------------------------------------------------------------------------
// Pixel types and channels

TEST(ItkNifti, ScaleSlopeAndInterceptGivePhysicalValues) {
  std::string data;
  for (int16_t v : {0, 1, 2, 3, 4, 5, 6, 7}) data.append(reinterpret_cast<const char*>(&v), 2);
  TempDir tmp;
  spit(tmp / "scaled.nii", nifti_bytes({2, 2, 2}, /*DT_INT16*/ 4, 16, 2.0f, -10.0f, data));
  auto img = read_image(tmp / "scaled.nii");
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_TRUE(at::isFloatingType(img->data.scalar_type()));
  const auto expected = at::arange(8, at::kDouble).reshape({1, 2, 2, 2}) * 2.0 - 10.0;
  EXPECT_TRUE(at::allclose(img->data.to(at::kDouble), expected));
  // qform origin (5, 6, 7) RAS is (-5, -6, 7) LPS.
  EXPECT_NEAR(img->geometry.origin_lps[0], -5.0, 1e-6);
  EXPECT_NEAR(img->geometry.origin_lps[1], -6.0, 1e-6);
  EXPECT_NEAR(img->geometry.origin_lps[2], 7.0, 1e-6);
}

TEST(ItkNifti, FourDImageIsUnsupportedNamingFileAndSize) {
  TempDir tmp;
  const fs::path p = tmp / "fmri.nii";
  spit(p, nifti_bytes({3, 2, 2, 4}, /*DT_UINT8*/ 2, 8, 0.0f, 0.0f, std::string(48, '\1')));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
  EXPECT_NE(img.error().message().find("3×2×2×4"), std::string::npos) << img.error().message();
}

TEST(ItkNrrd, Uint16ReadsAsInt32WithoutWrapping) {
  std::string bytes = "NRRD0004\ntype: unsigned short\ndimension: 2\nsizes: 2 2\nencoding: raw\nendian: little\n\n";
  for (uint16_t v : {0, 1, 40000, 65535}) bytes.append(reinterpret_cast<const char*>(&v), 2);
  TempDir tmp;
  spit(tmp / "u16.nrrd", bytes);
  auto img = read_image(tmp / "u16.nrrd");
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->data.scalar_type(), at::kInt);
  EXPECT_EQ(img->data.flatten()[2].item<int32_t>(), 40000);
  EXPECT_EQ(img->data.flatten()[3].item<int32_t>(), 65535);
}

TEST(ItkPng, SixteenBitAndRgbaRoundTrip) {
  TempDir tmp;
  Image grey16;
  grey16.geometry.spatial_dims = 2;
  grey16.data = (at::arange(20, at::kInt) * 3000).reshape({1, 4, 5});
  ASSERT_TRUE(write_image(grey16, tmp / "g16.png"));
  auto back = read_image(tmp / "g16.png");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->data.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(back->data, grey16.data));

  Image rgba;
  rgba.geometry.spatial_dims = 2;
  rgba.data = at::arange(4 * 6 * 7, at::kInt).remainder(256).to(at::kByte).reshape({4, 6, 7});
  ASSERT_TRUE(write_image(rgba, tmp / "rgba.png"));
  auto back4 = read_image(tmp / "rgba.png");
  ASSERT_TRUE(back4) << back4.error().to_string();
  EXPECT_EQ(back4->data.sizes(), (std::vector<int64_t>{4, 6, 7}));
  EXPECT_TRUE(at::equal(back4->data, rgba.data));
}

TEST(ItkNrrd, MultiChannelFloatRoundTripsChannelsFirst) {
  Image img;
  img.geometry = oblique_geometry();
  img.data = at::randn({3, 2, 4, 5}, at::kFloat);
  TempDir tmp;
  for (const char* name : {"v.nrrd", "v.mha", "v.nii.gz"}) {
    ASSERT_TRUE(write_image(img, tmp / name)) << name;
    auto back = read_image(tmp / name);
    ASSERT_TRUE(back) << name << ": " << back.error().to_string();
    EXPECT_EQ(back->data.sizes(), img.data.sizes()) << name;
    EXPECT_TRUE(at::equal(back->data, img.data)) << name;
  }
}

TEST(ItkNifti, RgbUint8RoundTripsInEveryVolumeFormat) {
  Image img;
  img.geometry = oblique_geometry();
  img.data = at::arange(3 * 2 * 4 * 5, at::kInt).remainder(251).to(at::kByte).reshape({3, 2, 4, 5});
  TempDir tmp;
  for (const char* name : {"rgb.nii.gz", "rgb.nrrd", "rgb.mha"}) {
    ASSERT_TRUE(write_image(img, tmp / name)) << name;
    auto back = read_image(tmp / name);
    ASSERT_TRUE(back) << name << ": " << back.error().to_string();
    EXPECT_EQ(back->data.scalar_type(), at::kByte) << name;
    EXPECT_TRUE(at::equal(back->data, img.data)) << name;
    EXPECT_TRUE(back->geometry.is_close(img.geometry, 1e-4, 1e-5)) << name;
  }
}

TEST(ItkNifti, BoolAndInt64AreStoredAsIntegers) {
  TempDir tmp;
  Image mask;
  mask.data = at::rand({1, 2, 3, 4}).gt(0.5);
  ASSERT_TRUE(write_image(mask, tmp / "mask.nii.gz"));
  auto back = read_image(tmp / "mask.nii.gz");
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->data.scalar_type(), at::kByte);
  EXPECT_TRUE(at::equal(back->data, mask.data.to(at::kByte)));

  Image labels;
  labels.data = at::arange(24, at::kLong).reshape({1, 2, 3, 4});
  ASSERT_TRUE(write_image(labels, tmp / "labels.nii.gz"));
  auto back2 = read_image(tmp / "labels.nii.gz");
  ASSERT_TRUE(back2) << back2.error().to_string();
  EXPECT_TRUE(at::equal(back2->data.to(at::kLong), labels.data));

  labels.data[0][0][0][0] = int64_t{1} << 40;
  auto st = write_image(labels, tmp / "big.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("int32"), std::string::npos) << st.error().message();
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(ItkNifti, CorruptSizeofHdrIsInvalidDataNamingTheFile) {
  LUCENT_REQUIRE_DATA(kCh2);
  std::string bytes = gunzip(data_dir() / kCh2);
  ASSERT_GT(bytes.size(), 352u);
  put<int32_t>(bytes, 0, 0x01020304);  // sizeof_hdr
  TempDir tmp;
  const fs::path p = tmp / "corrupt.nii";
  spit(p, bytes);
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

TEST(ItkNifti, CorruptDimIsInvalidDataNamingTheFile) {
  LUCENT_REQUIRE_DATA(kCh2);
  std::string bytes = gunzip(data_dir() / kCh2);
  ASSERT_GT(bytes.size(), 352u);
  put<int16_t>(bytes, 40, 3);
  put<int16_t>(bytes, 42, -181);  // dim[1] negative
  TempDir tmp;
  const fs::path p = tmp / "baddim.nii";
  spit(p, bytes);
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

// Regression: a NaN in the orientation fields made ITK's SVD loop forever.
TEST(ItkNifti, NonFiniteOrientationFieldsAreInvalidDataNotAHang) {
  TempDir tmp;
  std::string base = nifti_bytes({2, 2, 2}, /*DT_UINT8*/ 2, 8, 1.0f, 0.0f, std::string(8, '\1'));
  std::string bad_pixdim = base;
  put<float>(bad_pixdim, 80, std::numeric_limits<float>::quiet_NaN());
  std::string bad_srow = base;
  put<int16_t>(bad_srow, 254, 1);
  for (int i = 0; i < 12; ++i) put<float>(bad_srow, 280 + 4 * i, i % 5 == 0 ? 1.0f : 0.0f);
  put<float>(bad_srow, 296, std::numeric_limits<float>::infinity());
  std::string bad_quatern = base;
  put<float>(bad_quatern, 260, std::numeric_limits<float>::quiet_NaN());
  for (const auto& [name, bytes] : {std::pair{"pixdim.nii", bad_pixdim}, std::pair{"srow.nii", bad_srow},
                                    std::pair{"quatern.nii", bad_quatern}}) {
    const fs::path p = tmp / name;
    spit(p, bytes);
    auto img = read_image(p);
    ASSERT_FALSE(img) << name;
    EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
    EXPECT_NE(img.error().message().find("corrupt"), std::string::npos) << img.error().message();
  }
}

TEST(ItkNifti, Nifti2IsUnsupportedWithAdvice) {
  // ITK 5.2 reads NIfTI-1 only. A NIfTI-2 header (540 bytes): 2×3×1 int16.
  std::string h(544, '\0');
  put<int32_t>(h, 0, 540);
  std::memcpy(h.data() + 4, "n+2\0\r\n\032\n", 8);
  put<int16_t>(h, 12, 4);   // DT_INT16
  put<int16_t>(h, 14, 16);  // bitpix
  const int64_t dims[8] = {3, 2, 3, 1, 1, 1, 1, 1};
  for (int i = 0; i < 8; ++i) put<int64_t>(h, 16 + 8 * i, dims[i]);
  for (int i = 0; i < 8; ++i) put<double>(h, 104 + 8 * i, 1.0);
  put<int64_t>(h, 168, 544);
  TempDir tmp;
  const fs::path p = tmp / "two.nii";
  spit(p, h + std::string(12, '\0'));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kUnsupported) << img.error().to_string();
  EXPECT_NE(img.error().message().find("NIfTI-2"), std::string::npos) << img.error().message();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

TEST(ItkNifti, TruncatedGzipIsInvalidData) {
  LUCENT_REQUIRE_DATA(kCh2);
  const std::string bytes = slurp(data_dir() / kCh2);
  TempDir tmp;
  const fs::path p = tmp / "truncated.nii.gz";
  spit(p, bytes.substr(0, bytes.size() / 2));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

TEST(ItkNifti, TruncatedUncompressedVoxelsAreInvalidData) {
  LUCENT_REQUIRE_DATA(kCh2);
  const std::string bytes = gunzip(data_dir() / kCh2);
  TempDir tmp;
  const fs::path p = tmp / "short.nii";
  spit(p, bytes.substr(0, bytes.size() - 1000));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
}

TEST(ItkPng, FloatImageIsRefusedWithAdvice) {
  Image img;
  img.geometry.spatial_dims = 2;
  img.data = at::rand({1, 8, 8});
  TempDir tmp;
  auto st = write_image(img, tmp / "f.png");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  EXPECT_NE(st.error().message().find("uint8"), std::string::npos) << st.error().message();
  EXPECT_EQ(count_files(tmp.path()), 0u) << "a failed write left a file behind";
}

TEST(ItkPng, VolumeIsRefusedNamingItsSize) {
  Image img;
  img.data = at::zeros({1, 4, 8, 9}, at::kByte);
  TempDir tmp;
  auto st = write_image(img, tmp / "v.png");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  EXPECT_NE(st.error().message().find("4×8×9"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("2-D"), std::string::npos) << st.error().message();
  EXPECT_EQ(count_files(tmp.path()), 0u);
}

TEST(ItkWrite, ErrorsNameTheDestinationNotTheTemporaryFile) {
  Image img;
  img.geometry.spatial_dims = 2;
  img.data = at::rand({1, 8, 8});
  TempDir tmp;
  auto st = write_image(img, tmp / "float.png");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find((tmp / "float.png").string()), std::string::npos) << st.error().message();
  EXPECT_EQ(st.error().message().find(".tmp-"), std::string::npos) << st.error().message();
}

TEST(ItkPng, TruncatedPngIsInvalidData) {
  LUCENT_REQUIRE_DATA(kBusiPng);
  const std::string bytes = slurp(data_dir() / kBusiPng);
  TempDir tmp;
  const fs::path p = tmp / "cut.png";
  spit(p, bytes.substr(0, bytes.size() / 2));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

TEST(ItkJpeg, RgbJpegReadsThreeChannelsAndTruncationIsInvalidData) {
  constexpr const char* kJpeg = "dicom/highdicom/frame_rgb.jpeg";
  LUCENT_REQUIRE_DATA(kJpeg);
  auto img = read_image(data_dir() / kJpeg);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "JPEG");
  EXPECT_EQ(img->data.size(0), 3);
  EXPECT_EQ(img->spatial_dims(), 2);
  const std::string bytes = slurp(data_dir() / kJpeg);
  TempDir tmp;
  const fs::path p = tmp / "cut.jpeg";
  spit(p, bytes.substr(0, bytes.size() * 2 / 3));
  auto cut = read_image(p);
  ASSERT_FALSE(cut) << "libjpeg fills a truncated file with grey; the reader must refuse it";
  EXPECT_EQ(cut.error().code(), ErrorCode::kInvalidData) << cut.error().to_string();
  EXPECT_NE(cut.error().message().find("truncated"), std::string::npos) << cut.error().message();
}

TEST(ItkMetaImage, TruncatedDataAreInvalidData) {
  Image img;
  img.data = at::arange(4000, at::kFloat).reshape({1, 10, 20, 20});
  TempDir tmp;
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress);
    WriteOptions opt;
    opt.compress = compress;
    ASSERT_TRUE(write_image(img, tmp / "full.mha", opt));
    const std::string bytes = slurp(tmp / "full.mha");
    const fs::path p = tmp / "cut.mha";
    spit(p, bytes.substr(0, bytes.size() - 100));
    auto back = read_image(p);
    ASSERT_FALSE(back) << "MetaIO accepts a short file with a warning; the reader must refuse it";
    EXPECT_EQ(back.error().code(), ErrorCode::kInvalidData) << back.error().to_string();
    EXPECT_NE(back.error().message().find("truncated"), std::string::npos) << back.error().message();
  }
}

TEST(ItkNrrd, TruncatedRawNrrdIsInvalidData) {
  Image img;
  img.data = at::arange(4000, at::kFloat).reshape({1, 10, 20, 20});
  TempDir tmp;
  WriteOptions opt;
  opt.compress = false;
  ASSERT_TRUE(write_image(img, tmp / "full.nrrd", opt));
  const std::string bytes = slurp(tmp / "full.nrrd");
  const fs::path p = tmp / "cut.nrrd";
  spit(p, bytes.substr(0, bytes.size() - 100));
  auto back = read_image(p);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code(), ErrorCode::kInvalidData) << back.error().to_string();
  EXPECT_NE(back.error().message().find(p.string()), std::string::npos) << back.error().message();
}

TEST(ItkWrite, MissingFolderIsIoError) {
  Image img;
  img.data = at::zeros({1, 2, 2, 2}, at::kByte);
  TempDir tmp;
  auto st = write_image(img, tmp / "no" / "such" / "dir" / "x.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kIoError) << st.error().to_string();
  EXPECT_FALSE(fs::exists(tmp / "no"));
}

TEST(ItkWrite, ShapeNotMatchingSpatialDimsIsInvalidArgument) {
  Image img;
  img.data = at::zeros({2, 2}, at::kByte);  // missing the channel axis
  img.geometry.spatial_dims = 3;
  TempDir tmp;
  auto st = write_image(img, tmp / "x.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  EXPECT_EQ(count_files(tmp.path()), 0u);
}

TEST(ItkWrite, NonFiniteOrDegenerateGeometryIsInvalidArgument) {
  TempDir tmp;
  Image img;
  img.data = at::zeros({1, 2, 2, 2}, at::kByte);
  img.geometry.spacing_mm[1] = 0.0;
  auto st = write_image(img, tmp / "zero.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  EXPECT_NE(st.error().message().find("spacing"), std::string::npos) << st.error().message();
  img.geometry = Geometry{};
  img.geometry.origin_lps[2] = std::numeric_limits<double>::quiet_NaN();
  st = write_image(img, tmp / "nan.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  img.geometry = Geometry{};
  img.geometry.set_direction_column(2, {1, 0, 0});
  st = write_image(img, tmp / "flat.nii.gz");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << st.error().to_string();
  EXPECT_EQ(count_files(tmp.path()), 0u);
}

TEST(ItkRead, GarbageWithImageExtensionIsInvalidData) {
  TempDir tmp;
  const fs::path p = tmp / "garbage.nrrd";
  spit(p, std::string(500, 'x'));
  auto img = read_image(p);
  ASSERT_FALSE(img);
  EXPECT_EQ(img.error().code(), ErrorCode::kInvalidData) << img.error().to_string();
  EXPECT_NE(img.error().message().find(p.string()), std::string::npos) << img.error().message();
}

}  // namespace
}  // namespace lucent::io
