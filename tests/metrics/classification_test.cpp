#include "lucent/metrics/classification.h"

#include <gtest/gtest.h>

namespace lucent::metrics {
namespace {

// Hand-computed: 16 positive/negative pairs, 13 ordered correctly and one tie (0.5 vs 0.5).
TEST(BinaryAuc, CountsTiesAsOneHalf) {
  auto auc = binary_auc({0.1, 0.4, 0.35, 0.8, 0.5, 0.5, 0.2, 0.9}, {0, 0, 1, 1, 0, 1, 0, 1});
  ASSERT_TRUE(auc);
  EXPECT_DOUBLE_EQ(*auc, 13.5 / 16.0);
}

TEST(BinaryAuc, UndefinedWithOneClass) {
  auto auc = binary_auc({0.1, 0.2}, {1, 1});
  ASSERT_FALSE(auc);
  EXPECT_EQ(auc.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(auc.error().message().find("only positives"), std::string::npos);
}

TEST(RocAuc, MulticlassIsMacroOneVsRest) {
  const std::vector<std::vector<double>> p = {{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3},  {0.2, 0.2, 0.6},
                                              {0.3, 0.4, 0.3}, {0.5, 0.25, 0.25}, {0.1, 0.1, 0.8}};
  const std::vector<std::vector<int>> y = {{0}, {1}, {2}, {0}, {1}, {2}};
  EXPECT_NEAR(*roc_auc(p, y, Task::kMulticlass), (0.875 + 0.875 + 1.0) / 3.0, 1e-12);
  EXPECT_NEAR(*accuracy(p, y, Task::kMulticlass), 4.0 / 6.0, 1e-12);
}

TEST(RocAuc, BinaryUsesPositiveColumnAndHalfThreshold) {
  const std::vector<std::vector<double>> p = {{0.9, 0.1}, {0.4, 0.6}, {0.55, 0.45}, {0.2, 0.8}};
  const std::vector<std::vector<int>> y = {{0}, {1}, {1}, {0}};
  // Positives 0.6, 0.45 vs negatives 0.1, 0.8: 0.6>0.1, 0.45>0.1 → 2 of 4.
  EXPECT_DOUBLE_EQ(*roc_auc(p, y, Task::kBinary), 0.5);
  EXPECT_DOUBLE_EQ(*accuracy(p, y, Task::kBinary), 0.5);
}

TEST(RocAuc, MultilabelAveragesPerLabel) {
  const std::vector<std::vector<double>> p = {{0.9, 0.2}, {0.1, 0.7}, {0.8, 0.6}, {0.3, 0.1}};
  const std::vector<std::vector<int>> y = {{1, 0}, {0, 1}, {1, 0}, {0, 0}};
  // Label 0: perfect (1.0). Label 1: positive 0.7 vs negatives 0.2, 0.6, 0.1 → 1.0.
  EXPECT_DOUBLE_EQ(*roc_auc(p, y, Task::kMultilabel), 1.0);
  // Per-label accuracy at 0.5: label0 4/4, label1 3/4 (0.6 predicted positive) → mean 7/8.
  EXPECT_DOUBLE_EQ(*accuracy(p, y, Task::kMultilabel), 7.0 / 8.0);
}

TEST(RocAuc, ShapeMismatchNamesTheRow) {
  auto r = roc_auc({{0.5, 0.5}, {0.5}}, {{0}, {1}}, Task::kBinary);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("row 1"), std::string::npos);
  auto t = parse_task("regression");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("regression"), std::string::npos);
}

}  // namespace
}  // namespace lucent::metrics
