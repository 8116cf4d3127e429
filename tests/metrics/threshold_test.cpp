#include "lucent/metrics/threshold.h"

#include <gtest/gtest.h>

namespace lucent::metrics {
namespace {

TEST(ConfusionMatrix, RowsAreTruthColumnsArePredicted) {
  const auto cm = confusion_matrix({0, 1, 2, 2, 1}, {0, 2, 2, 1, 1}, 3);
  EXPECT_EQ(cm.at(0, 0), 1);
  EXPECT_EQ(cm.at(1, 2), 1);
  EXPECT_EQ(cm.at(2, 1), 1);
  EXPECT_EQ(cm.at(1, 1), 1);
  EXPECT_EQ(cm.total(), 5);
  const auto b = one_vs_rest(cm, 1);  // class 1: tp 1, fn 1 (1→2), fp 1 (2→1), tn 2
  EXPECT_EQ(b.tp, 1);
  EXPECT_EQ(b.fn, 1);
  EXPECT_EQ(b.fp, 1);
  EXPECT_EQ(b.tn, 2);
}

TEST(BinaryCounts, PositiveWhenScoreAtLeastThreshold) {
  const auto c = binary_counts({0.5, 0.49, 0.9, 0.1}, {1, 1, 0, 0}, 0.5);
  EXPECT_EQ(c.tp, 1);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.tn, 1);
}

TEST(RatesFromCounts, HandComputed) {
  const BinaryCounts c{.tp = 8, .fp = 2, .tn = 6, .fn = 4};
  EXPECT_DOUBLE_EQ(*sensitivity(c).value, 8.0 / 12.0);
  EXPECT_DOUBLE_EQ(*specificity(c).value, 6.0 / 8.0);
  EXPECT_DOUBLE_EQ(*ppv(c).value, 8.0 / 10.0);
  EXPECT_DOUBLE_EQ(*npv(c).value, 6.0 / 10.0);
  EXPECT_DOUBLE_EQ(*f1(c).value, 16.0 / 22.0);
  EXPECT_DOUBLE_EQ(*balanced_accuracy(c).value, (8.0 / 12.0 + 6.0 / 8.0) / 2);
  EXPECT_DOUBLE_EQ(*accuracy(c).value, 14.0 / 20.0);
}

TEST(RatesFromCounts, ZeroDenominatorsAreUndefinedNotZero) {
  const BinaryCounts none_called{.tp = 0, .fp = 0, .tn = 5, .fn = 3};
  EXPECT_FALSE(ppv(none_called));
  EXPECT_NE(ppv(none_called).reason.find("no case called positive"), std::string::npos);
  EXPECT_FALSE(f1(none_called));
  const BinaryCounts no_pos{.tp = 0, .fp = 2, .tn = 5, .fn = 0};
  EXPECT_FALSE(sensitivity(no_pos));
  EXPECT_FALSE(balanced_accuracy(no_pos));
  EXPECT_NE(sensitivity(no_pos).reason.find("no positive case"), std::string::npos);
}

TEST(CohenKappa, UnweightedHandComputed) {
  // po = 35/50, pe = (25*30 + 25*20) / 2500 = 0.5 → kappa = 0.4.
  const ConfusionMatrix cm{2, {20, 5, 10, 15}};
  EXPECT_NEAR(*cohen_kappa(cm, KappaWeights::kNone).value, 0.4, 1e-15);
}

TEST(CohenKappa, QuadraticHandComputed) {
  // Observed weighted disagreement 2, expected 22/4 → 1 - 2/5.5 = 7/11.
  const auto cm = confusion_matrix({0, 1, 2, 2}, {0, 2, 2, 1}, 3);
  EXPECT_NEAR(*cohen_kappa(cm, KappaWeights::kQuadratic).value, 7.0 / 11.0, 1e-15);
}

TEST(CohenKappa, OneClassEverywhereIsUndefined) {
  const auto cm = confusion_matrix({0, 0, 0}, {0, 0, 0}, 2);
  const auto k = cohen_kappa(cm, KappaWeights::kNone);
  EXPECT_FALSE(k);
  EXPECT_NE(k.reason.find("chance agreement"), std::string::npos);
}

const std::vector<double> kScores = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
const std::vector<int> kTruth = {1, 1, 0, 1, 0, 0};

TEST(OperatingPoint, TargetSensitivityTakesTheHighestThreshold) {
  auto op = threshold_for_sensitivity(kScores, kTruth, 0.6);
  ASSERT_TRUE(op);
  EXPECT_DOUBLE_EQ(op->threshold, 0.8);
  EXPECT_DOUBLE_EQ(op->sensitivity, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(op->specificity, 1.0);
  op = threshold_for_sensitivity(kScores, kTruth, 1.0);
  EXPECT_DOUBLE_EQ(op->threshold, 0.6);
  EXPECT_DOUBLE_EQ(op->specificity, 2.0 / 3.0);
}

TEST(OperatingPoint, TargetSpecificityTakesTheLowestThreshold) {
  auto op = threshold_for_specificity(kScores, kTruth, 1.0);
  ASSERT_TRUE(op);
  EXPECT_DOUBLE_EQ(op->threshold, 0.8);
  op = threshold_for_specificity(kScores, kTruth, 0.5);
  EXPECT_DOUBLE_EQ(op->threshold, 0.6);
  EXPECT_DOUBLE_EQ(op->sensitivity, 1.0);
  // Only "nothing positive" reaches specificity 1 when the top score is a negative.
  op = threshold_for_specificity({0.9, 0.1}, {0, 1}, 1.0);
  EXPECT_GT(op->threshold, 0.9);
  EXPECT_DOUBLE_EQ(op->sensitivity, 0.0);
  EXPECT_DOUBLE_EQ(op->specificity, 1.0);
}

TEST(OperatingPoint, YoudenTakesTheLargestThresholdOnTies) {
  // J = 1/3, 2/3, 1/3, 2/3, ... → 0.8 (first of the two maxima).
  auto op = youden_threshold(kScores, kTruth);
  ASSERT_TRUE(op);
  EXPECT_DOUBLE_EQ(op->threshold, 0.8);
}

TEST(OperatingPoint, SingleClassAndBadTargetAreErrors) {
  auto op = youden_threshold({0.1, 0.2}, {1, 1});
  ASSERT_FALSE(op);
  EXPECT_NE(op.error().message().find("only one class present"), std::string::npos);
  auto bad = threshold_for_sensitivity(kScores, kTruth, 1.5);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lucent::metrics
