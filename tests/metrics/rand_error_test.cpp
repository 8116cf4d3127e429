// Foreground-restricted Rand and information scores on hand-computed cases, and the
// face-connected labelling that turns boundary / interior maps into segments. The comparison
// with an independent NumPy implementation of scikit-image's adapted_rand_error on real ISBI
// 2012 labels is tests/integration/metrics_rand.py.
#include "lucent/metrics/rand_error.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace lucent::metrics {
namespace {

constexpr double kTol = 1e-12;

RandScores scores(const std::vector<int32_t>& pred, const std::vector<int32_t>& truth) {
  auto s = rand_scores(pred, truth);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().to_string());
  return s ? *s : RandScores{};
}

double v(const MetricValue& m) {
  EXPECT_TRUE(m.value.has_value()) << "undefined: " << m.reason;
  return m.value.value_or(-1.0);
}

// Entropy (nats) of counts / n.
double h(std::initializer_list<double> counts) {
  double n = 0, s = 0;
  for (double c : counts) n += c;
  for (double c : counts) s -= c / n * std::log(c / n);
  return s;
}

TEST(RandScores, IdenticalSegmentationsScorePerfectly) {
  const auto s = scores({4, 4, 9, 9, 9, 2}, {1, 1, 2, 2, 2, 3});  // same partition, other ids
  EXPECT_NEAR(v(s.rand_error), 0.0, kTol);
  EXPECT_NEAR(v(s.rand_split), 1.0, kTol);
  EXPECT_NEAR(v(s.rand_merge), 1.0, kTol);
  EXPECT_NEAR(v(s.info_score), 1.0, kTol);
  EXPECT_NEAR(v(s.info_split), 1.0, kTol);
  EXPECT_NEAR(v(s.info_merge), 1.0, kTol);
  EXPECT_EQ(s.foreground_voxels, 6);
  EXPECT_EQ(s.truth_segments, 3);
  EXPECT_EQ(s.pred_segments, 3);
}

// Truth {1,1,2,2}, one predicted segment: n_ij = 2, 2 → P = 8 − 4 = 4; T = 8 − 4 = 4;
// S = 16 − 4 = 12. split 4/4, merge 4/12, error 1 − 8/16.
TEST(RandScores, EverythingMergedIsAllMergeErrors) {
  const auto s = scores({5, 5, 5, 5}, {1, 1, 2, 2});
  EXPECT_NEAR(v(s.rand_split), 1.0, kTol);
  EXPECT_NEAR(v(s.rand_merge), 1.0 / 3.0, kTol);
  EXPECT_NEAR(v(s.rand_error), 0.5, kTol);
  EXPECT_NEAR(v(s.info_merge), 0.0, kTol);  // I = 0
  EXPECT_NEAR(v(s.info_score), 0.0, kTol);
  EXPECT_FALSE(s.info_split);  // H(S) = 0
  EXPECT_NE(s.info_split.reason.find("one segment"), std::string::npos) << s.info_split.reason;
}

// One true segment of 4, every voxel its own predicted segment: P = 4 − 4 = 0, T = 16 − 4 = 12,
// S = 4 − 4 = 0: split 0, merge undefined (no predicted pairs), error 1 − 0/12.
TEST(RandScores, EverythingSplitIsAllSplitErrors) {
  const auto s = scores({1, 2, 3, 4}, {7, 7, 7, 7});
  EXPECT_NEAR(v(s.rand_split), 0.0, kTol);
  EXPECT_FALSE(s.rand_merge);
  EXPECT_NE(s.rand_merge.reason.find("single voxel"), std::string::npos) << s.rand_merge.reason;
  EXPECT_NEAR(v(s.rand_error), 1.0, kTol);
  EXPECT_NEAR(v(s.info_split), 0.0, kTol);
  EXPECT_FALSE(s.info_merge);  // H(T) = 0
  EXPECT_NEAR(v(s.info_score), 0.0, kTol);
}

// Truth {1,1,1,2,2,2}, prediction {1,1,2,2,2,2}: n_ij = 2, 1, 3 → P = 14 − 6 = 8; t = 3, 3 →
// T = 18 − 6 = 12; s = 2, 4 → S = 20 − 6 = 14. split 8/12, merge 8/14, error 1 − 16/26.
TEST(RandScores, PartialOverlapByHand) {
  const auto s = scores({1, 1, 2, 2, 2, 2}, {1, 1, 1, 2, 2, 2});
  EXPECT_NEAR(v(s.rand_split), 8.0 / 12.0, kTol);
  EXPECT_NEAR(v(s.rand_merge), 8.0 / 14.0, kTol);
  EXPECT_NEAR(v(s.rand_error), 1.0 - 16.0 / 26.0, kTol);
  const double ht = h({3, 3}), hs = h({2, 4}), hts = h({2, 1, 3}), mi = ht + hs - hts;
  EXPECT_NEAR(v(s.info_split), mi / hs, kTol);
  EXPECT_NEAR(v(s.info_merge), mi / ht, kTol);
  EXPECT_NEAR(v(s.info_score), 2 * mi / (hs + ht), kTol);
}

TEST(RandScores, TruthBackgroundIsExcludedAndPredictedBackgroundIsOneSegment) {
  // Voxels with true id 0 do not count, whatever is predicted there.
  const auto same = scores({7, 8, 1, 1, 2, 2}, {0, 0, 1, 1, 2, 2});
  EXPECT_NEAR(v(same.rand_error), 0.0, kTol);
  EXPECT_EQ(same.foreground_voxels, 4);
  // Predicted id 0 on the foreground is an ordinary segment (scikit-image): two true cells
  // predicted as background are merged.
  const auto zero = scores({0, 0, 0, 0, 9, 9}, {1, 1, 2, 2, 0, 0});
  EXPECT_NEAR(v(zero.rand_error), 0.5, kTol);
  EXPECT_NEAR(v(zero.rand_merge), 1.0 / 3.0, kTol);
  EXPECT_EQ(zero.pred_background_voxels, 4);
  EXPECT_EQ(zero.pred_segments, 1);
}

TEST(RandScores, NoTrueForegroundIsUndefinedWithTheReason) {
  const auto s = scores({1, 2, 3}, {0, 0, 0});
  EXPECT_EQ(s.foreground_voxels, 0);
  for (const auto& name : rand_metric_names()) {
    const MetricValue& m = rand_metric(s, name);
    EXPECT_FALSE(m) << name;
    EXPECT_NE(m.reason.find("no foreground"), std::string::npos) << name << ": " << m.reason;
  }
}

TEST(RandScores, MapsOfDifferentSizesAreRefused) {
  auto s = rand_scores(std::vector<int32_t>{1, 2}, std::vector<int32_t>{1, 2, 3});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("differ in size"), std::string::npos) << s.error().message();
}

TEST(RandScores, NegativeAndLargeIdsAreDistinctSegments) {
  const auto s = scores({-1, -1, 2147483647, 2147483647}, {-5, -5, 3, 3});
  EXPECT_NEAR(v(s.rand_error), 0.0, kTol);
  EXPECT_EQ(s.truth_segments, 2);
}

// 4x4 with a diagonal one-pixel boundary (B):  . . . B / . . B . / . B . . / B . . .
// Face connectivity keeps the two triangles apart although they touch at corners.
TEST(ConnectedSegments, FaceConnectivitySeparatesRegionsAcrossADiagonalBoundary) {
  const VoxelGrid g{2, {1, 4, 4}, {1, 1, 1}};
  std::vector<int32_t> boundary(16, 0);
  for (int r = 0; r < 4; ++r) boundary[static_cast<std::size_t>(r * 4 + (3 - r))] = 1;
  auto ids = segments_of(boundary, g, SegmentSource::kBoundary);
  ASSERT_TRUE(ids) << ids.error().to_string();
  const std::vector<int32_t> expected{1, 1, 1, 0, 1, 1, 0, 2, 1, 0, 2, 2, 0, 2, 2, 2};
  EXPECT_EQ(*ids, expected);
  // The same map read as interiors: each boundary pixel is its own segment (diagonal only).
  auto interior = segments_of(boundary, g, SegmentSource::kInterior);
  ASSERT_TRUE(interior);
  const std::vector<int32_t> singles{0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 0};
  EXPECT_EQ(*interior, singles);
  auto labels = segments_of(boundary, g, SegmentSource::kLabels);
  ASSERT_TRUE(labels);
  EXPECT_EQ(*labels, boundary);
}

TEST(ConnectedSegments, ThreeDimensionalNeighboursJoinAlongZ) {
  // 2 slices of 1x3: slice 0 = 1 0 1, slice 1 = 1 1 1 → one segment, joined along z.
  const VoxelGrid g{3, {2, 1, 3}, {1, 1, 1}};
  auto ids = connected_segments(std::vector<uint8_t>{1, 0, 1, 1, 1, 1}, g);
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 0, 1, 1, 1, 1}));
  // A 2-D grid of the same voxels has no Z neighbours.
  auto flat = connected_segments(std::vector<uint8_t>{1, 0, 1, 1, 1, 0}, VoxelGrid{2, {1, 2, 3}, {1, 1, 1}});
  ASSERT_TRUE(flat);
  EXPECT_EQ(*flat, (std::vector<int32_t>{1, 0, 2, 1, 1, 0}));
}

TEST(ConnectedSegments, LengthOtherThanTheGridIsRefused) {
  auto ids = connected_segments(std::vector<uint8_t>{1, 0, 1}, VoxelGrid{2, {1, 2, 2}, {1, 1, 1}});
  ASSERT_FALSE(ids);
  EXPECT_EQ(ids.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(ids.error().message().find("3 voxels"), std::string::npos) << ids.error().message();
}

Image label_image(at::Tensor data) {
  Image img;
  img.data = std::move(data);
  img.geometry.spatial_dims = static_cast<int>(img.data.dim()) - 1;
  return img;
}

// ISBI conventions on images: truth 255 = cell interior, 0 = membrane; prediction 1 = membrane.
// A 3x5 image with a vertical membrane at column 2 in the truth; the prediction misses the
// middle of it, so its two cells are one (a merge): n = 12 true-interior pixels, of which the
// prediction labels 11 as one segment and the missed membrane pixel is not in the truth's
// foreground. Truth 6 + 6; prediction 12 in one: P = 72 − 12 = 60 = T, S = 144 − 12 = 132.
TEST(RandScores, ImagesFromBoundaryAndInteriorMaps) {
  at::Tensor truth = at::full({1, 3, 5}, 255, at::kByte);
  truth.select(2, 2).fill_(0);
  at::Tensor pred = at::zeros({1, 3, 5}, at::kInt);
  pred.select(2, 2).fill_(1);
  pred[0][1][2] = 0;
  auto s = rand_scores(label_image(pred), label_image(truth), SegmentSource::kBoundary, SegmentSource::kInterior);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->foreground_voxels, 12);
  EXPECT_EQ(s->truth_segments, 2);
  EXPECT_EQ(s->pred_segments, 1);
  EXPECT_NEAR(v(s->rand_split), 1.0, kTol);
  EXPECT_NEAR(v(s->rand_merge), 60.0 / 132.0, kTol);
  EXPECT_NEAR(v(s->rand_error), 1.0 - 120.0 / 192.0, kTol);
  // Sizes must agree.
  auto bad = rand_scores(label_image(at::zeros({1, 3, 4}, at::kInt)), label_image(truth), SegmentSource::kLabels,
                         SegmentSource::kInterior);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  // A probability map is refused naming the role.
  auto prob = rand_scores(label_image(at::full({1, 3, 5}, 0.5)), label_image(truth), SegmentSource::kBoundary,
                          SegmentSource::kInterior);
  ASSERT_FALSE(prob);
  EXPECT_EQ(prob.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(prob.error().message().find("prediction"), std::string::npos) << prob.error().message();
}

}  // namespace
}  // namespace lucent::metrics
