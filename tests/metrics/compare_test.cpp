#include "lucent/metrics/compare.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lucent::metrics {
namespace {

// DeLong's covariance from its definition, O(m n): psi(x, y) = 1[x > y] + 1/2 1[x = y].
double brute_force_variance(const std::vector<double>& a, const std::vector<double>& b, const std::vector<int>& y) {
  std::vector<std::size_t> pos, neg;
  for (std::size_t i = 0; i < y.size(); ++i) (y[i] ? pos : neg).push_back(i);
  auto psi = [](double x, double z) { return x > z ? 1.0 : x == z ? 0.5 : 0.0; };
  const double m = static_cast<double>(pos.size()), n = static_cast<double>(neg.size());
  std::vector<double> v10a, v10b, v01a, v01b;
  for (auto i : pos) {
    double sa = 0, sb = 0;
    for (auto j : neg) sa += psi(a[i], a[j]), sb += psi(b[i], b[j]);
    v10a.push_back(sa / n);
    v10b.push_back(sb / n);
  }
  for (auto j : neg) {
    double sa = 0, sb = 0;
    for (auto i : pos) sa += psi(a[i], a[j]), sb += psi(b[i], b[j]);
    v01a.push_back(sa / m);
    v01b.push_back(sb / m);
  }
  auto cov = [](const std::vector<double>& x, const std::vector<double>& z) {
    double mx = 0, mz = 0;
    for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], mz += z[i];
    mx /= static_cast<double>(x.size());
    mz /= static_cast<double>(z.size());
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - mx) * (z[i] - mz);
    return s / static_cast<double>(x.size() - 1);
  };
  return (cov(v10a, v10a) + cov(v10b, v10b) - 2 * cov(v10a, v10b)) / m +
         (cov(v01a, v01a) + cov(v01b, v01b) - 2 * cov(v01a, v01b)) / n;
}

TEST(DelongCompare, MatchesTheDefinitionWithTies) {
  const std::vector<int> y = {1, 1, 1, 0, 0, 0, 0, 1, 0, 1};
  const std::vector<double> a = {0.9, 0.8, 0.4, 0.4, 0.3, 0.2, 0.6, 0.7, 0.1, 0.4};
  const std::vector<double> b = {0.7, 0.5, 0.5, 0.6, 0.5, 0.1, 0.3, 0.9, 0.2, 0.2};
  auto d = delong_compare(a, b, y);
  ASSERT_TRUE(d) << d.error().message();
  // AUC A: positives {0.9,0.8,0.4,0.7,0.4} vs negatives {0.4,0.3,0.2,0.6,0.1}: 21 wins + 2 ties of 25.
  EXPECT_NEAR(d->auc_a, 22.0 / 25.0, 1e-15);
  EXPECT_NEAR(d->variance, brute_force_variance(a, b, y), 1e-15);
  EXPECT_NEAR(*d->z, d->difference / std::sqrt(d->variance), 1e-15);
  EXPECT_NEAR(d->p_value, std::erfc(std::abs(*d->z) / std::sqrt(2.0)), 1e-15);
}

TEST(DelongCompare, IdenticalModelsHaveNoDifferenceAndPOne) {
  const std::vector<int> y = {1, 0, 1, 0, 1, 0};
  const std::vector<double> a = {0.9, 0.2, 0.6, 0.7, 0.8, 0.1};
  auto d = delong_compare(a, a, y);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->difference, 0.0);
  EXPECT_EQ(d->variance, 0.0);
  EXPECT_FALSE(d->z);
  EXPECT_EQ(d->p_value, 1.0);
  auto bad = delong_compare(a, a, {1, 0, 0, 0, 0, 0});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("at least 2 positive"), std::string::npos);
}

TEST(McNemar, ExactBelow25DiscordantPairsChiSquareAbove) {
  // 3 vs 0 discordant: exact p = 2 * (1/2)^3 = 0.25.
  auto m = mcnemar({true, true, true, true, false}, {false, false, false, true, false});
  EXPECT_EQ(m.a_only, 3);
  EXPECT_EQ(m.b_only, 0);
  EXPECT_EQ(m.both_right, 1);
  EXPECT_EQ(m.both_wrong, 1);
  EXPECT_EQ(m.method, "exact_binomial");
  EXPECT_DOUBLE_EQ(m.p_value, 0.25);
  // 19 vs 5 (24 discordant, still exact): scipy 2 * binom.cdf(5, 24, 0.5) = 0.006610751152038574.
  std::vector<bool> a, b;
  for (int i = 0; i < 19; ++i) a.push_back(true), b.push_back(false);
  for (int i = 0; i < 5; ++i) a.push_back(false), b.push_back(true);
  m = mcnemar(a, b);
  EXPECT_EQ(m.method, "exact_binomial");
  EXPECT_NEAR(m.p_value, 0.006610751152038574, 1e-15);
  // 20 vs 10: chi2 = (10 - 1)^2 / 30 = 2.7, scipy chi2.sf(2.7, 1) = 0.10034824646229054.
  a.clear();
  b.clear();
  for (int i = 0; i < 20; ++i) a.push_back(true), b.push_back(false);
  for (int i = 0; i < 10; ++i) a.push_back(false), b.push_back(true);
  m = mcnemar(a, b);
  EXPECT_EQ(m.method, "chi_square_continuity_corrected");
  EXPECT_DOUBLE_EQ(*m.statistic, 2.7);
  EXPECT_NEAR(m.p_value, 0.10034824646229054, 1e-14);
  // No discordant pair: p = 1.
  EXPECT_EQ(mcnemar({true, false}, {true, false}).p_value, 1.0);
}

PairedPredictions pair_of(const std::vector<double>& a, const std::vector<double>& b, const std::vector<int>& y) {
  PairedPredictions p;
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (auto* s : {&p.a, &p.b}) {
      s->ids.push_back("c" + std::to_string(i));
      s->labels.push_back({y[i]});
    }
    p.a.scores.push_back({a[i]});
    p.b.scores.push_back({b[i]});
  }
  return p;
}

TEST(Compare, PairedDifferencesOfHandComputedMetrics) {
  const std::vector<int> y = {1, 1, 1, 0, 0, 0, 0, 1, 0, 1};
  const std::vector<double> a = {0.9, 0.8, 0.4, 0.4, 0.3, 0.2, 0.6, 0.7, 0.1, 0.4};
  const std::vector<double> b = {0.7, 0.5, 0.45, 0.6, 0.5, 0.1, 0.3, 0.9, 0.2, 0.2};
  auto c = compare(pair_of(a, b, y), {.bootstrap = {.resamples = 300}, .seed = 4});
  ASSERT_TRUE(c) << c.error().message();
  // At 0.5: A calls {0.9, 0.8, 0.6, 0.7} → acc 7/10; B calls {0.7, 0.5, 0.6, 0.5, 0.9} → acc 6/10.
  const auto& acc = c->metrics[2];
  ASSERT_EQ(acc.metric, "acc");
  EXPECT_DOUBLE_EQ(*acc.a.value, 0.7);
  EXPECT_DOUBLE_EQ(*acc.b.value, 0.6);
  EXPECT_NEAR(*acc.difference, 0.1, 1e-15);
  ASSERT_TRUE(acc.ci_low && acc.p_value);
  EXPECT_LE(*acc.ci_low, *acc.difference);
  EXPECT_GE(*acc.ci_high, *acc.difference);
  EXPECT_GT(*acc.p_value, 0.0);
  EXPECT_LE(*acc.p_value, 1.0);
  EXPECT_EQ(acc.ci_method, "paired_bootstrap_bca");
  ASSERT_TRUE(c->delong);
  EXPECT_NEAR(c->delong->difference, *c->metrics[0].difference, 1e-15);
  ASSERT_TRUE(c->mcnemar);
  EXPECT_EQ(c->mcnemar->method, "exact_binomial");
  const auto js = to_json(*c);
  EXPECT_EQ(js["mcnemar"]["discordant"], c->mcnemar->a_only + c->mcnemar->b_only);
  EXPECT_DOUBLE_EQ(js["metrics"]["acc"]["a"].get<double>(), 0.7);
}

TEST(Compare, AModelAgainstItselfHasPValueOne) {
  const std::vector<int> y = {1, 1, 0, 0, 1, 0, 1, 0};
  const std::vector<double> a = {0.9, 0.4, 0.3, 0.6, 0.8, 0.1, 0.7, 0.2};
  auto c = compare(pair_of(a, a, y), {.bootstrap = {.resamples = 100}});
  ASSERT_TRUE(c);
  for (const auto& d : c->metrics) {
    if (!d.difference) continue;
    EXPECT_EQ(*d.difference, 0.0) << d.metric;
    if (d.p_value) EXPECT_EQ(*d.p_value, 1.0) << d.metric;
  }
  EXPECT_EQ(c->delong->p_value, 1.0);
  EXPECT_EQ(c->mcnemar->p_value, 1.0);
}

TEST(Compare, PatientColumnReplacesDelongByTheBootstrap) {
  auto pair = pair_of({0.9, 0.2, 0.6, 0.7, 0.8, 0.1}, {0.8, 0.3, 0.5, 0.4, 0.6, 0.2}, {1, 0, 1, 0, 1, 0});
  for (auto* s : {&pair.a, &pair.b}) s->patients = {"p1", "p1", "p2", "p2", "p3", "p3"};
  auto c = compare(pair, {.bootstrap = {.resamples = 50}});
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->delong);
  EXPECT_NE(c->delong_reason.find("independent"), std::string::npos);
  EXPECT_EQ(c->units, 3);
}

TEST(Compare, RejectsSetsOnDifferentCases) {
  auto pair = pair_of({0.9, 0.2}, {0.8, 0.3}, {1, 0});
  pair.b.ids[1] = "other";
  auto c = compare(pair, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lucent::metrics
