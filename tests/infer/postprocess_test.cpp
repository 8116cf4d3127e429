#include "lucent/infer/postprocess.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace lucent::infer {
namespace {

at::Tensor grid(std::vector<std::vector<int>> rows) {
  at::Tensor t = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, torch::kByte);
  for (std::size_t y = 0; y < rows.size(); ++y)
    for (std::size_t x = 0; x < rows[y].size(); ++x) t[y][x] = rows[y][x];
  return t;
}

TEST(PostProcess, ArgmaxAndThreshold) {
  auto p = torch::tensor({0.2f, 0.7f, 0.1f, 0.5f, 0.1f, 0.3f, 0.3f, 0.2f, 0.6f}).view({3, 1, 3});
  auto l = labels_from_probabilities(p);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(*l, torch::tensor({1, 0, 2}, torch::kByte).view({1, 3})));
  auto t = labels_from_probabilities(torch::tensor({0.2f, 0.5f, 0.9f}).view({1, 1, 3}), {.threshold = 0.5});
  ASSERT_TRUE(t);
  EXPECT_TRUE(torch::equal(*t, torch::tensor({0, 1, 1}, torch::kByte).view({1, 3})));
  EXPECT_FALSE(labels_from_probabilities(torch::zeros({2, 3})));  // no spatial axes
}

TEST(PostProcess, DiagonalNeighboursJoinUnderFullConnectivityOnly) {
  const auto m = grid({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}});
  auto full = connected_components(m, Connectivity::kFull);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->sizes.size(), 2u);
  EXPECT_EQ(full->sizes[1], 3);
  auto face = connected_components(m, Connectivity::kFace);
  ASSERT_TRUE(face);
  EXPECT_EQ(face->sizes.size(), 4u);
  // 3-D: corners touching only at a vertex are one 26-component, two 6-components.
  auto v = torch::zeros({2, 2, 2}, torch::kByte);
  v[0][0][0] = 1;
  v[1][1][1] = 1;
  EXPECT_EQ(connected_components(v, Connectivity::kFull)->sizes.size(), 2u);
  EXPECT_EQ(connected_components(v, Connectivity::kFace)->sizes.size(), 3u);
}

TEST(PostProcess, KeepsTheLargestComponentPerClass) {
  auto l = grid({{1, 1, 0, 1, 0},
                 {1, 1, 0, 0, 0},
                 {0, 0, 0, 2, 2},
                 {2, 0, 0, 2, 0}});
  auto changed = keep_largest_components(l);
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, 2);  // the lone 1 at (0,3) and the lone 2 at (3,0)
  EXPECT_TRUE(torch::equal(l, grid({{1, 1, 0, 0, 0}, {1, 1, 0, 0, 0}, {0, 0, 0, 2, 2}, {0, 0, 0, 2, 0}})));
  // Only class 2 processed, keep 2 → nothing of class 1 touched.
  auto l2 = grid({{1, 0, 1}, {0, 0, 0}, {2, 0, 2}});
  ASSERT_TRUE(keep_largest_components(l2, {.classes = {1}, .connectivity = Connectivity::kFace, .keep = 1}));
  EXPECT_EQ(l2.eq(1).sum().item<int64_t>(), 1);
  EXPECT_EQ(l2.eq(2).sum().item<int64_t>(), 2);
  EXPECT_FALSE(keep_largest_components(l2, {.keep = 0}));
  auto bad = keep_largest_components(l2, {.classes = {0}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("class 0"), std::string::npos);
}

TEST(PostProcess, FillsEnclosedHolesOfOneClassOnly) {
  auto l = grid({{0, 0, 0, 0, 0, 0, 0},
                 {0, 1, 1, 1, 0, 2, 2},
                 {0, 1, 0, 1, 0, 2, 0},
                 {0, 1, 1, 1, 0, 2, 2},
                 {0, 3, 3, 3, 0, 0, 0},
                 {0, 3, 0, 1, 0, 0, 0},
                 {0, 3, 3, 1, 0, 0, 0}});
  auto changed = fill_holes(l);
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, 1);
  EXPECT_EQ(l[2][2].item<int>(), 1);  // enclosed by class 1
  EXPECT_EQ(l[2][6].item<int>(), 0);  // touches the border
  EXPECT_EQ(l[5][2].item<int>(), 0);  // bordered by classes 3 and 1
  // A hole closed only diagonally stays open for a face-connected foreground.
  auto d = grid({{0, 0, 0, 0}, {0, 0, 1, 0}, {0, 1, 0, 1}, {0, 0, 1, 0}});
  auto dd = d.clone();
  EXPECT_EQ(*fill_holes(d, {.connectivity = Connectivity::kFull}), 1);
  EXPECT_EQ(*fill_holes(dd, {.connectivity = Connectivity::kFace}), 0);
}

TEST(PostProcess, RemovesObjectsUnderAVoxelCountOrVolume) {
  auto l = grid({{1, 1, 1, 0, 1}, {0, 0, 0, 0, 0}, {2, 2, 0, 0, 0}});
  auto c = l.clone();
  EXPECT_EQ(*remove_small_components(c, {.min_voxels = 2}), 1);  // the single 1
  EXPECT_EQ(c.eq(2).sum().item<int64_t>(), 2);
  // Spacing 0.5 x 2 mm → 1 mm² per pixel: under 2.5 mm² removes the 1-pixel and 2-pixel objects.
  auto v = l.clone();
  EXPECT_EQ(*remove_small_components(v, {.min_volume_mm3 = 2.5, .spacing_mm = {0.5, 2, 7}}), 3);
  EXPECT_EQ(v.eq(1).sum().item<int64_t>(), 3);
  auto bad = remove_small_components(v, {.min_voxels = 1, .spacing_mm = {1, 0, 1}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("spacing_mm must be positive"), std::string::npos);
}

TEST(PostProcess, VolumesInCubicMillimetresAndMillilitres) {
  auto l = torch::zeros({4, 5, 6}, torch::kShort);
  l.narrow(0, 0, 2).fill_(3);  // 60 voxels
  l[3][0][0] = 1;
  auto v = structure_volumes(l, {0.5, 1.0, 2.0}, 5);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 4u);  // labels 1..4
  EXPECT_EQ((*v)[0].voxels, 1);
  EXPECT_DOUBLE_EQ((*v)[0].volume_mm3, 1.0);
  EXPECT_EQ((*v)[1].voxels, 0);
  EXPECT_EQ((*v)[2].label, 3);
  EXPECT_DOUBLE_EQ((*v)[2].volume_mm3, 60.0);
  EXPECT_DOUBLE_EQ((*v)[2].volume_ml, 0.06);
  auto f = structure_volumes(torch::zeros({2, 2}), {1, 1, 1});
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("integer labels"), std::string::npos);
}

}  // namespace
}  // namespace lucent::infer
