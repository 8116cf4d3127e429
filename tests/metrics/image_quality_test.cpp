#include "lucent/metrics/image_quality.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace lucent::metrics {
namespace {

// The smooth test fields used for the scikit-image reference values below:
// truth = sin(0.3 x) + cos(0.2 y) + 0.1 z, pred = truth + 0.2 sin(1.7 x + 0.9 y + 1.3 z).
void fields(const VoxelGrid& g, std::vector<double>& pred, std::vector<double>& truth) {
  pred.clear();
  truth.clear();
  for (int64_t z = 0; z < g.size_zyx[0]; ++z)
    for (int64_t y = 0; y < g.size_zyx[1]; ++y)
      for (int64_t x = 0; x < g.size_zyx[2]; ++x) {
        const double xd = static_cast<double>(x), yd = static_cast<double>(y), zd = static_cast<double>(z);
        const double t = std::sin(0.3 * xd) + std::cos(0.2 * yd) + 0.1 * zd;
        truth.push_back(t);
        pred.push_back(t + 0.2 * std::sin(1.7 * xd + 0.9 * yd + 1.3 * zd));
      }
}

double range_of(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo;
}

TEST(Psnr, HandComputedWithDataRangeFromTruth) {
  // MSE = 1/4, R = 3 - 0 = 3: 10 log10(9 / 0.25) = 10 log10(36)
  const std::vector<double> t{0, 1, 2, 3}, p{0, 1, 2, 4};
  auto v = psnr(p, t);
  ASSERT_TRUE(v);
  EXPECT_NEAR(*v->value, 10 * std::log10(36.0), 1e-12);
  v = psnr(p, t, {.data_range = 255});
  EXPECT_NEAR(*v->value, 10 * std::log10(255.0 * 255.0 * 4), 1e-12);
}

TEST(Psnr, IdenticalImagesAndConstantTruthAreUndefined) {
  const std::vector<double> t{1, 2, 3};
  auto v = psnr(t, t);
  ASSERT_TRUE(v);
  EXPECT_FALSE(*v);
  EXPECT_NE(v->reason.find("identical"), std::string::npos);
  const std::vector<double> c{5, 5, 5};
  v = psnr(t, c);
  ASSERT_TRUE(v);
  EXPECT_FALSE(*v);
  EXPECT_NE(v->reason.find("constant"), std::string::npos);
  auto bad = psnr(t, c, {.data_range = -1});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

// scikit-image 0.19.3: peak_signal_noise_ratio(t, p, data_range=...) and
// structural_similarity(p, t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=...) on the fields above.
TEST(Ssim, Matches2dScikitImageReference) {
  const VoxelGrid g{2, {1, 16, 20}, {1, 1, 1}};
  std::vector<double> p, t;
  fields(g, p, t);
  auto v = ssim(p, t, g);  // R = max - min of the truth
  ASSERT_TRUE(v) << v.error().to_string();
  EXPECT_NEAR(*v->value, 0.94057577140014659, 1e-12);
  v = ssim(p, t, g, {.data_range = 4.0});
  EXPECT_NEAR(*v->value, 0.94059890804203428, 1e-12);
  auto q = psnr(p, t, {.data_range = range_of(t)});
  EXPECT_NEAR(*q->value, 28.993147001401649, 1e-10);
}

TEST(Ssim, Matches3dScikitImageReference) {
  const VoxelGrid g{3, {12, 13, 14}, {1, 1, 1}};
  std::vector<double> p, t;
  fields(g, p, t);
  auto v = ssim(p, t, g);
  ASSERT_TRUE(v) << v.error().to_string();
  EXPECT_NEAR(*v->value, 0.93520629167676628, 1e-12);
  auto q = psnr(p, t, {.data_range = 2.0});
  EXPECT_NEAR(*q->value, 23.010088593169211, 1e-10);
}

TEST(Ssim, IdenticalImagesScoreOne) {
  const VoxelGrid g{2, {1, 12, 12}, {1, 1, 1}};
  std::vector<double> p, t;
  fields(g, p, t);
  auto v = ssim(t, t, g);
  ASSERT_TRUE(v);
  EXPECT_NEAR(*v->value, 1.0, 1e-12);
}

TEST(Ssim, RejectsImagesSmallerThanTheWindow) {
  const VoxelGrid g{3, {10, 12, 12}, {1, 1, 1}};
  std::vector<double> p, t;
  fields(g, p, t);
  auto v = ssim(p, t, g);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().message().find("10 voxels along Z"), std::string::npos) << v.error().message();
}

TEST(Ssim, ImagesAverageChannelsAndCheckShapes) {
  const VoxelGrid g{2, {1, 16, 20}, {1, 1, 1}};
  std::vector<double> p, t;
  fields(g, p, t);
  Image pi, ti;
  pi.geometry.spatial_dims = ti.geometry.spatial_dims = 2;
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor pt = at::from_blob(p.data(), {1, 16, 20}, opts).clone();
  at::Tensor tt = at::from_blob(t.data(), {1, 16, 20}, opts).clone();
  pi.data = at::cat({pt, tt});  // channel 1 is perfect
  ti.data = at::cat({tt, tt});
  auto v = ssim(pi, ti, {.data_range = 4.0});
  ASSERT_TRUE(v) << v.error().to_string();
  EXPECT_NEAR(*v->value, (0.94059890804203428 + 1.0) / 2, 1e-12);
  ti.data = tt;
  v = ssim(pi, ti);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("shapes differ"), std::string::npos) << v.error().message();
}

}  // namespace
}  // namespace lucent::metrics
