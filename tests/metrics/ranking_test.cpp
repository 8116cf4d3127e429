#include "lucent/metrics/ranking.h"

#include <gtest/gtest.h>

#include "lucent/core/rng.h"

namespace lucent::metrics {
namespace {

TEST(RocAuc, CountsTiesAsOneHalf) {
  // 16 positive/negative pairs, 13 ordered correctly and one tie (0.5 vs 0.5).
  const auto auc = roc_auc({0.1, 0.4, 0.35, 0.8, 0.5, 0.5, 0.2, 0.9}, {0, 0, 1, 1, 0, 1, 0, 1});
  ASSERT_TRUE(auc);
  EXPECT_DOUBLE_EQ(*auc.value, 13.5 / 16.0);
}

TEST(RocAuc, PerfectInvertedAndAllTied) {
  EXPECT_DOUBLE_EQ(*roc_auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}).value, 1.0);
  EXPECT_DOUBLE_EQ(*roc_auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}).value, 0.0);
  EXPECT_DOUBLE_EQ(*roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}).value, 0.5);
}

TEST(RocAuc, SingleClassIsUndefinedWithReason) {
  const auto auc = roc_auc({0.1, 0.7}, {1, 1});
  EXPECT_FALSE(auc);
  EXPECT_NE(auc.reason.find("only one class present"), std::string::npos);
  EXPECT_FALSE(average_precision({0.1, 0.7}, {0, 0}));
  EXPECT_FALSE(roc_auc({}, {}));
}

TEST(AveragePrecision, StepwiseWithoutInterpolation) {
  // Thresholds 0.9 (P=1, R=.5), 0.8 (P=.5, R=.5), 0.7 (P=2/3, R=1): AP = .5*1 + .5*2/3.
  EXPECT_NEAR(*average_precision({0.9, 0.8, 0.7, 0.6}, {1, 0, 1, 0}).value, 0.5 + 1.0 / 3.0, 1e-15);
  // A tie 0.5/0.5 is one threshold (P=.5, R=.5), then 0.2 (P=2/3, R=1).
  EXPECT_NEAR(*average_precision({0.5, 0.5, 0.2}, {1, 0, 1}).value, 0.25 + 1.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(*average_precision({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}).value, 1.0);
}

TEST(PartialAuc, RawAndMcClishStandardised) {
  // ROC: (0,.5) (.5,.5) (.5,1) (1,1).
  const std::vector<double> s = {0.9, 0.8, 0.7, 0.6};
  const std::vector<int> y = {1, 0, 1, 0};
  EXPECT_NEAR(*partial_roc_auc(s, y, 0.5, PartialAucScale::kRaw)->value, 0.25, 1e-15);
  EXPECT_NEAR(*partial_roc_auc(s, y, 0.5)->value, 0.5 * (1 + (0.25 - 0.125) / (0.5 - 0.125)), 1e-15);
  // Cut inside the segment (0,.5)→(.5,.5): area .125.
  EXPECT_NEAR(*partial_roc_auc(s, y, 0.25, PartialAucScale::kRaw)->value, 0.125, 1e-15);
  EXPECT_NEAR(*partial_roc_auc(s, y, 0.25)->value, 0.5 * (1 + (0.125 - 0.03125) / (0.25 - 0.03125)), 1e-15);
  // max_fpr = 1 is the full AUC.
  EXPECT_NEAR(*partial_roc_auc(s, y, 1.0)->value, *roc_auc(s, y).value, 1e-15);
  auto bad = partial_roc_auc(s, y, 0.0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("(0, 1]"), std::string::npos);
}

TEST(Midranks, TiesShareTheirMeanRank) {
  EXPECT_EQ(midranks({3, 1, 3, 2}), (std::vector<double>{3.5, 1, 3.5, 2}));
}

// Hand-checked: positives {.9,.7,.4}, negatives {.6,.3}. V10 = {1, 1, .5}, V01 = {2/3, 1};
// AUC = 5/6; Var = s²(V10)/3 + s²(V01)/2 = (1/12)/3 + (1/18)/2 = 1/18.
TEST(Delong, VarianceOfTinyExample) {
  auto d = delong_auc({0.9, 0.6, 0.7, 0.3, 0.4}, {1, 0, 1, 0, 1});
  ASSERT_TRUE(d);
  EXPECT_NEAR(d->auc, 5.0 / 6.0, 1e-15);
  EXPECT_NEAR(d->variance, 1.0 / 18.0, 1e-15);
  const auto [lo, hi] = d->interval(0.95);
  EXPECT_NEAR(lo, 5.0 / 6.0 - 1.959963984540054 * std::sqrt(1.0 / 18.0), 1e-12);
  EXPECT_DOUBLE_EQ(hi, 1.0);  // clipped
}

// The midrank method equals DeLong's O(mn) definition, also with ties.
TEST(Delong, MidranksMatchPairwiseDefinitionWithTies) {
  Rng rng(11);
  std::vector<double> s;
  std::vector<int> y;
  for (int i = 0; i < 60; ++i) {
    y.push_back(rng.bernoulli(0.4) ? 1 : 0);
    s.push_back(static_cast<double>(rng.integer(0, 9)) / 10.0 + 0.05 * y.back());
  }
  std::vector<double> pos, neg;
  for (std::size_t i = 0; i < s.size(); ++i) (y[i] ? pos : neg).push_back(s[i]);
  auto psi = [](double a, double b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; };
  std::vector<double> v10(pos.size(), 0), v01(neg.size(), 0);
  for (std::size_t i = 0; i < pos.size(); ++i)
    for (std::size_t j = 0; j < neg.size(); ++j) {
      v10[i] += psi(pos[i], neg[j]) / static_cast<double>(neg.size());
      v01[j] += psi(pos[i], neg[j]) / static_cast<double>(pos.size());
    }
  auto var = [](const std::vector<double>& v) {
    double m = 0, s2 = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) s2 += (x - m) * (x - m);
    return s2 / static_cast<double>(v.size() - 1);
  };
  auto d = delong_auc(s, y);
  ASSERT_TRUE(d);
  EXPECT_NEAR(d->auc, *roc_auc(s, y).value, 1e-12);
  EXPECT_NEAR(d->variance, var(v10) / static_cast<double>(pos.size()) + var(v01) / static_cast<double>(neg.size()), 1e-14);
}

TEST(Delong, OneClassIsAClearError) {
  auto d = delong_auc({0.1, 0.2, 0.3}, {0, 0, 0});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(d.error().message().find("only one class present"), std::string::npos);
  auto few = delong_auc({0.1, 0.2, 0.3}, {0, 0, 1});
  ASSERT_FALSE(few);
  EXPECT_NE(few.error().message().find("at least 2"), std::string::npos);
}

// 200 simulated studies (50 + 50 cases, binormal with AUC = Φ(1/√2) ≈ 0.760): the 95 % DeLong
// interval should cover the true AUC in about 95 % of them.
TEST(Delong, CoverageBySimulation) {
  const double true_auc = normal_cdf(1.0 / std::sqrt(2.0));
  Rng rng(2024);
  int covered = 0;
  constexpr int kStudies = 200;
  for (int k = 0; k < kStudies; ++k) {
    std::vector<double> s;
    std::vector<int> y;
    for (int i = 0; i < 100; ++i) {
      y.push_back(i % 2);
      s.push_back(rng.normal(i % 2 ? 1.0 : 0.0, 1.0));
    }
    auto d = delong_auc(s, y);
    ASSERT_TRUE(d);
    const auto [lo, hi] = d->interval(0.95);
    covered += lo <= true_auc && true_auc <= hi;
  }
  const double coverage = static_cast<double>(covered) / kStudies;
  EXPECT_GE(coverage, 0.90);
  EXPECT_LE(coverage, 0.99);
}

TEST(Normal, QuantileAndCdfAreInverse) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(0.01), -2.3263478740408408, 1e-12);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
  for (double p : {1e-6, 0.02, 0.3, 0.77, 0.99, 1 - 1e-7}) EXPECT_NEAR(normal_cdf(normal_quantile(p)), p, 1e-13 + p * 1e-12);
}

}  // namespace
}  // namespace lucent::metrics
