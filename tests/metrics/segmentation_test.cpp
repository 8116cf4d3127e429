#include "lucent/metrics/segmentation.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace lucent::metrics {
namespace {

constexpr double kTol = 1e-12;

VoxelGrid grid2d(int64_t ny, int64_t nx, double sy = 1, double sx = 1) {
  return VoxelGrid{2, {1, ny, nx}, {1.0, sy, sx}};
}

// A 2-D mask with the rectangle rows [r0, r1], columns [c0, c1] set.
std::vector<uint8_t> rect(const VoxelGrid& g, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  std::vector<uint8_t> m(static_cast<std::size_t>(g.voxels()), 0);
  for (int64_t r = r0; r <= r1; ++r)
    for (int64_t c = c0; c <= c1; ++c) m[static_cast<std::size_t>(r * g.size_zyx[2] + c)] = 1;
  return m;
}

SegmentationScores scores(const std::vector<uint8_t>& p, const std::vector<uint8_t>& t, const VoxelGrid& g,
                          SegmentationOptions o = {}) {
  auto s = segmentation_scores(p, t, g, o);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().to_string());
  return s ? *s : SegmentationScores{};
}

// Truth: 3x3 square at rows 1..3, columns 1..3 of a 5x5 grid; prediction: the same shifted one
// column right. Overlap 6 of 9 + 9. Surfaces: the 8 ring voxels of each square. Pred → truth:
// four shared ring voxels at 0, the pred's left-middle voxel (the truth's centre) at 1, its
// right column at 1: {0,0,0,0,1,1,1,1}; truth → pred is the mirror image.
TEST(SegmentationMetrics, ShiftedSquareByHand) {
  const VoxelGrid g = grid2d(5, 5);
  const auto s = scores(rect(g, 1, 3, 2, 4), rect(g, 1, 3, 1, 3), g, {.nsd_tolerance_mm = 0.5});
  EXPECT_EQ(s.truth_voxels, 9);
  EXPECT_EQ(s.pred_voxels, 9);
  EXPECT_EQ(s.overlap_voxels, 6);
  EXPECT_EQ(s.truth_surface_voxels, 8);
  EXPECT_EQ(s.pred_surface_voxels, 8);
  EXPECT_NEAR(*s.dice.value, 2.0 / 3.0, kTol);
  EXPECT_NEAR(*s.iou.value, 0.5, kTol);
  EXPECT_NEAR(*s.sensitivity.value, 6.0 / 9.0, kTol);
  EXPECT_NEAR(*s.precision.value, 6.0 / 9.0, kTol);
  EXPECT_NEAR(*s.hd95.value, 1.0, kTol);  // P95 of {0,0,0,0,1,1,1,1}
  EXPECT_NEAR(*s.assd.value, 0.5, kTol);  // 8 ones over 16 distances
  EXPECT_NEAR(*s.nsd.value, 0.5, kTol);   // only the zeros are within 0.5 mm
  const auto s1 = scores(rect(g, 1, 3, 2, 4), rect(g, 1, 3, 1, 3), g, {.nsd_tolerance_mm = 1.0});
  EXPECT_NEAR(*s1.nsd.value, 1.0, kTol);  // tolerance is inclusive
}

// The same squares with 2 mm columns and 1 mm rows: the right-column distances become 2 mm,
// the centre voxel keeps 1 mm (its row neighbours are 1 mm away): {0,0,0,0,1,2,2,2} each way.
TEST(SegmentationMetrics, AnisotropicSpacingScalesDistancesByHand) {
  const VoxelGrid g = grid2d(5, 5, /*sy=*/1.0, /*sx=*/2.0);
  const auto s = scores(rect(g, 1, 3, 2, 4), rect(g, 1, 3, 1, 3), g, {.nsd_tolerance_mm = 1.0});
  EXPECT_NEAR(*s.dice.value, 2.0 / 3.0, kTol);  // overlap does not depend on spacing
  EXPECT_NEAR(*s.hd95.value, 2.0, kTol);
  EXPECT_NEAR(*s.assd.value, 14.0 / 16.0, kTol);
  EXPECT_NEAR(*s.nsd.value, 10.0 / 16.0, kTol);
}

TEST(SegmentationMetrics, SingleVoxelsTwoColumnsApart) {
  const VoxelGrid g = grid2d(5, 5, 1.0, 0.5);
  auto s = scores(rect(g, 2, 2, 3, 3), rect(g, 2, 2, 1, 1), g, {.nsd_tolerance_mm = 0.5});
  EXPECT_EQ(s.pred_surface_voxels, 1);  // a lone voxel is its own surface
  EXPECT_NEAR(*s.dice.value, 0.0, kTol);
  EXPECT_NEAR(*s.iou.value, 0.0, kTol);
  EXPECT_NEAR(*s.sensitivity.value, 0.0, kTol);
  EXPECT_NEAR(*s.hd95.value, 1.0, kTol);  // two columns of 0.5 mm
  EXPECT_NEAR(*s.assd.value, 1.0, kTol);
  EXPECT_NEAR(*s.nsd.value, 0.0, kTol);
  s = scores(rect(g, 2, 2, 3, 3), rect(g, 2, 2, 1, 1), g, {.nsd_tolerance_mm = 1.0});
  EXPECT_NEAR(*s.nsd.value, 1.0, kTol);
}

TEST(SegmentationMetrics, IdenticalMasksArePerfect) {
  const VoxelGrid g = grid2d(6, 7, 0.3, 0.9);
  const auto m = rect(g, 1, 4, 2, 5);
  const auto s = scores(m, m, g);
  EXPECT_DOUBLE_EQ(*s.dice.value, 1.0);
  EXPECT_DOUBLE_EQ(*s.iou.value, 1.0);
  EXPECT_DOUBLE_EQ(*s.hd95.value, 0.0);
  EXPECT_DOUBLE_EQ(*s.assd.value, 0.0);
  EXPECT_DOUBLE_EQ(*s.nsd.value, 1.0);
}

TEST(SegmentationMetrics, BothEmptyFollowsMonaiIgnoreEmptyFalse) {
  const VoxelGrid g = grid2d(4, 4);
  const std::vector<uint8_t> empty(16, 0);
  const auto s = scores(empty, empty, g);
  EXPECT_DOUBLE_EQ(*s.dice.value, 1.0);
  EXPECT_DOUBLE_EQ(*s.iou.value, 1.0);
  EXPECT_FALSE(s.sensitivity);
  EXPECT_FALSE(s.precision);
  EXPECT_FALSE(s.hd95);
  EXPECT_FALSE(s.assd);
  EXPECT_FALSE(s.nsd);
  EXPECT_NE(s.hd95.reason.find("both masks are empty"), std::string::npos) << s.hd95.reason;
  const auto e = scores_of_empty_masks();
  EXPECT_DOUBLE_EQ(*e.dice.value, 1.0);
  EXPECT_EQ(e.hd95.reason, s.hd95.reason);
}

TEST(SegmentationMetrics, EmptyTruthGivesZeroOverlapAndUndefinedDistances) {
  const VoxelGrid g = grid2d(4, 4);
  const auto s = scores(rect(g, 1, 2, 1, 2), std::vector<uint8_t>(16, 0), g);
  EXPECT_DOUBLE_EQ(*s.dice.value, 0.0);
  EXPECT_DOUBLE_EQ(*s.iou.value, 0.0);
  EXPECT_DOUBLE_EQ(*s.precision.value, 0.0);
  EXPECT_FALSE(s.sensitivity);
  EXPECT_NE(s.sensitivity.reason.find("truth mask is empty"), std::string::npos);
  EXPECT_FALSE(s.hd95);
  EXPECT_FALSE(s.assd);
  EXPECT_NE(s.hd95.reason.find("truth mask is empty"), std::string::npos) << s.hd95.reason;
  EXPECT_DOUBLE_EQ(*s.nsd.value, 0.0);
}

TEST(SegmentationMetrics, EmptyPredictionGivesZeroOverlapAndUndefinedDistances) {
  const VoxelGrid g = grid2d(4, 4);
  const auto s = scores(std::vector<uint8_t>(16, 0), rect(g, 1, 2, 1, 2), g);
  EXPECT_DOUBLE_EQ(*s.dice.value, 0.0);
  EXPECT_DOUBLE_EQ(*s.sensitivity.value, 0.0);
  EXPECT_FALSE(s.precision);
  EXPECT_FALSE(s.hd95);
  EXPECT_NE(s.hd95.reason.find("predicted mask is empty"), std::string::npos) << s.hd95.reason;
  EXPECT_DOUBLE_EQ(*s.nsd.value, 0.0);
}

// Reference values from MONAI's algorithm written with SciPy 1.10 (binary_erosion ^ mask,
// distance_transform_edt(~edges, sampling=spacing), np.percentile):
// see docs/metrics.md "Segmentation and image-quality metrics".
TEST(SegmentationMetrics, MatchesScipyReferenceOnAnisotropic3dEllipsoids) {
  const VoxelGrid g{3, {12, 14, 16}, {2.5, 0.8, 0.7}};
  std::vector<uint8_t> t(static_cast<std::size_t>(g.voxels())), p(t.size());
  std::size_t i = 0;
  for (int z = 0; z < 12; ++z)
    for (int y = 0; y < 14; ++y)
      for (int x = 0; x < 16; ++x, ++i) {
        const double tz = (z - 5.5) / 4, ty = (y - 6.2) / 5, tx = (x - 7.1) / 6;
        const double pz = (z - 6.0) / 3.5, py = (y - 7.0) / 5.5, px = (x - 6.3) / 5;
        t[i] = tz * tz + ty * ty + tx * tx <= 1;
        p[i] = pz * pz + py * py + px * px <= 1;
      }
  auto s = scores(p, t, g, {.nsd_tolerance_mm = 1.5});
  EXPECT_EQ(s.truth_voxels, 506);
  EXPECT_EQ(s.pred_voxels, 412);
  EXPECT_EQ(s.overlap_voxels, 362);
  EXPECT_NEAR(*s.dice.value, 0.7886710239651417, 1e-12);
  EXPECT_NEAR(*s.iou.value, 0.6510791366906474, 1e-12);
  EXPECT_NEAR(*s.hd95.value, 2.5, 1e-9);
  EXPECT_NEAR(*s.assd.value, 0.6826446948030248, 1e-9);
  EXPECT_NEAR(*s.nsd.value, 0.8838862559241706, 1e-12);
  s = scores(p, t, g, {.nsd_tolerance_mm = 1.5, .pooling = HausdorffPooling::kUnion});
  EXPECT_NEAR(*s.hd95.value, 2.48, 1e-9);
}

TEST(SegmentationMetrics, MatchesScipyReferenceOn2dIrregularShapes) {
  const VoxelGrid g = grid2d(20, 24, 1.2, 0.6);
  std::vector<uint8_t> t(static_cast<std::size_t>(g.voxels())), p(t.size());
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 24; ++x) {
      const auto k = static_cast<std::size_t>(y * 24 + x);
      t[k] = (y - 9) * (y - 9) / 49.0 + (x - 11) * (x - 11) / 64.0 <= 1 || (y >= 2 && y <= 4 && x >= 15 && x <= 21);
      p[k] = (y - 10) * (y - 10) / 36.0 + (x - 12) * (x - 12) / 81.0 <= 1;
    }
  auto s = scores(p, t, g, {.nsd_tolerance_mm = 1.0});
  EXPECT_EQ(s.truth_voxels, 193);
  EXPECT_EQ(s.pred_voxels, 163);
  EXPECT_EQ(s.overlap_voxels, 145);
  EXPECT_NEAR(*s.dice.value, 0.8146067415730337, 1e-12);
  EXPECT_NEAR(*s.iou.value, 0.6872037914691943, 1e-12);
  EXPECT_NEAR(*s.hd95.value, 3.9425508418316606, 1e-9);
  EXPECT_NEAR(*s.assd.value, 1.1730300807207186, 1e-9);
  EXPECT_NEAR(*s.nsd.value, 0.5111111111111111, 1e-12);
  s = scores(p, t, g, {.nsd_tolerance_mm = 1.0, .pooling = HausdorffPooling::kUnion});
  EXPECT_NEAR(*s.hd95.value, 3.7294491388916486, 1e-9);
}

TEST(SegmentationMetrics, RejectsBadOptionsAndSizes) {
  const VoxelGrid g = grid2d(3, 3);
  const std::vector<uint8_t> m(9, 1);
  auto s = segmentation_scores(m, m, g, {.nsd_tolerance_mm = -1});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("tolerance"), std::string::npos);
  s = segmentation_scores(m, std::vector<uint8_t>(8, 1), g);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("truth 8"), std::string::npos) << s.error().message();
  s = segmentation_scores(m, m, VoxelGrid{2, {1, 3, 3}, {1, 0, 1}});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("spacing"), std::string::npos);
}

TEST(SurfaceVoxels, TwoDimensionalMasksHaveNoZNeighbours) {
  const VoxelGrid g = grid2d(5, 5);
  const auto s = surface_voxels(rect(g, 1, 3, 1, 3), g);
  int n = 0;
  for (auto v : s) n += v;
  EXPECT_EQ(n, 8);
  EXPECT_EQ(s[2 * 5 + 2], 0);  // the centre has all four neighbours inside
}

TEST(SurfaceVoxels, ThreeDimensionalCubeKeepsOnlyItsInterior) {
  const VoxelGrid g{3, {5, 5, 5}, {1, 1, 1}};
  std::vector<uint8_t> m(125, 0);
  for (int z = 1; z <= 3; ++z)
    for (int y = 1; y <= 3; ++y)
      for (int x = 1; x <= 3; ++x) m[static_cast<std::size_t>((z * 5 + y) * 5 + x)] = 1;
  const auto s = surface_voxels(m, g);
  int n = 0;
  for (auto v : s) n += v;
  EXPECT_EQ(n, 26);  // 27 minus the centre
  // A full grid: only voxels on the grid border are surface (the outside counts as background).
  const auto full = surface_voxels(std::vector<uint8_t>(125, 1), g);
  n = 0;
  for (auto v : full) n += v;
  EXPECT_EQ(n, 125 - 27);
}

TEST(DistanceTransform, MatchesBruteForceWithAnisotropicSpacing) {
  const VoxelGrid g{3, {7, 9, 11}, {2.0, 0.7, 1.3}};
  std::mt19937 gen(3);
  std::bernoulli_distribution feature(0.03);
  std::vector<uint8_t> f(static_cast<std::size_t>(g.voxels()));
  for (auto& v : f) v = feature(gen);
  f[5] = 1;
  const auto d = squared_distance_transform(f, g);
  std::size_t i = 0;
  for (int z = 0; z < 7; ++z)
    for (int y = 0; y < 9; ++y)
      for (int x = 0; x < 11; ++x, ++i) {
        double best = std::numeric_limits<double>::infinity();
        std::size_t j = 0;
        for (int z2 = 0; z2 < 7; ++z2)
          for (int y2 = 0; y2 < 9; ++y2)
            for (int x2 = 0; x2 < 11; ++x2, ++j)
              if (f[j]) {
                const double dz = (z - z2) * 2.0, dy = (y - y2) * 0.7, dx = (x - x2) * 1.3;
                best = std::min(best, dz * dz + dy * dy + dx * dx);
              }
        ASSERT_NEAR(d[i], best, 1e-9) << "at z=" << z << " y=" << y << " x=" << x;
      }
}

TEST(DistanceTransform, NoFeaturesMeansInfinity) {
  const VoxelGrid g{3, {2, 3, 4}, {1, 1, 1}};
  const auto d = squared_distance_transform(std::vector<uint8_t>(24, 0), g);
  for (double v : d) EXPECT_TRUE(std::isinf(v));
}

TEST(LabelMapScores, ScoresEachLabelAndDefaultsToNonzeroLabels) {
  const VoxelGrid g = grid2d(5, 5);
  // truth: label 1 = square rows 1..3 cols 1..3, label 7 at (0, 4); pred: label 1 shifted right, label 3 at (4, 0)
  std::vector<int32_t> t(25, 0), p(25, 0);
  for (int r = 1; r <= 3; ++r)
    for (int c = 1; c <= 3; ++c) t[static_cast<std::size_t>(r * 5 + c)] = 1;
  for (int r = 1; r <= 3; ++r)
    for (int c = 2; c <= 4; ++c) p[static_cast<std::size_t>(r * 5 + c)] = 1;
  t[4] = 7;
  p[20] = 3;
  auto all = label_map_scores(p, t, g, {});
  ASSERT_TRUE(all) << all.error().to_string();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].label, 1);
  EXPECT_EQ((*all)[1].label, 3);
  EXPECT_EQ((*all)[2].label, 7);
  EXPECT_NEAR(*(*all)[0].scores.dice.value, 2.0 / 3.0, kTol);
  EXPECT_NEAR(*(*all)[0].scores.hd95.value, 1.0, kTol);
  EXPECT_DOUBLE_EQ(*(*all)[1].scores.dice.value, 0.0);  // predicted only
  EXPECT_FALSE((*all)[1].scores.sensitivity);
  EXPECT_FALSE((*all)[2].scores.hd95);                   // truth only
  // Explicit labels, in the order given; a label in neither map gets the both-empty values.
  auto some = label_map_scores(p, t, g, {9, 1});
  ASSERT_TRUE(some);
  EXPECT_EQ((*some)[0].label, 9);
  EXPECT_DOUBLE_EQ(*(*some)[0].scores.dice.value, 1.0);
  EXPECT_FALSE((*some)[0].scores.hd95);
  EXPECT_NEAR(*(*some)[1].scores.dice.value, 2.0 / 3.0, kTol);
}

TEST(LabelMapScores, LabelZeroIsScoredWhenAskedFor) {
  const VoxelGrid g = grid2d(2, 2);
  const std::vector<int32_t> t{0, 0, 1, 1}, p{0, 1, 1, 1};
  auto s = label_map_scores(p, t, g, {0});
  ASSERT_TRUE(s);
  EXPECT_NEAR(*(*s)[0].scores.dice.value, 2.0 / 3.0, kTol);  // background: 1 shared of 2 + 1
}

Image label_image(at::Tensor data, std::array<double, 3> spacing_ijk = {1, 1, 1}) {
  Image img;
  img.data = std::move(data);
  img.geometry.spatial_dims = static_cast<int>(img.data.dim()) - 1;
  img.geometry.spacing_mm = spacing_ijk;
  return img;
}

TEST(LabelMapScores, ImagesUseTheTruthSpacingAndAcceptWholeFloats) {
  at::Tensor t = at::zeros({1, 5, 5}, at::kFloat), p = at::zeros({1, 5, 5}, at::kByte);
  t.slice(1, 1, 4).slice(2, 1, 4).fill_(2);
  p.slice(1, 1, 4).slice(2, 2, 5).fill_(2);
  auto s = label_map_scores(label_image(p), label_image(t, {2.0, 1.0, 1.0}), {}, {.nsd_tolerance_mm = 1.0});
  ASSERT_TRUE(s) << s.error().to_string();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].label, 2);
  EXPECT_NEAR(*(*s)[0].scores.hd95.value, 2.0, kTol);  // X spacing 2 mm, as in the by-hand case
  EXPECT_NEAR(*(*s)[0].scores.nsd.value, 10.0 / 16.0, kTol);
}

TEST(LabelMapScores, ImagesRejectProbabilitiesChannelsAndSizeMismatch) {
  at::Tensor t = at::zeros({1, 4, 4}, at::kFloat);
  at::Tensor prob = at::full({1, 4, 4}, 0.25, at::kFloat);
  auto s = label_map_scores(label_image(prob), label_image(t), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(s.error().message().find("prediction label map holds non-integer values"), std::string::npos)
      << s.error().message();
  s = label_map_scores(label_image(at::zeros({2, 4, 4})), label_image(at::zeros({2, 4, 4})), {});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("2 channels"), std::string::npos) << s.error().message();
  s = label_map_scores(label_image(at::zeros({1, 4, 5})), label_image(t), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("sizes differ"), std::string::npos) << s.error().message();
}

}  // namespace
}  // namespace lucent::metrics
