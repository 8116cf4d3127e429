#include "lucent/metrics/bootstrap.h"

#include <gtest/gtest.h>

#include <map>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {
namespace {

std::vector<std::optional<double>> mean_of(const std::vector<double>& x, const std::vector<int64_t>& cases) {
  double s = 0;
  for (int64_t c : cases) s += x[static_cast<std::size_t>(c)];
  return {s / static_cast<double>(cases.size())};
}

TEST(SortedQuantile, MatchesNumpyLinear) {
  EXPECT_DOUBLE_EQ(sorted_quantile({1, 2, 3, 4}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(sorted_quantile({1, 2, 3, 4}, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(sorted_quantile({7}, 0.3), 7.0);
}

TEST(Bootstrap, DeterministicUnderASeed) {
  std::vector<double> x;
  Rng gen(5);
  for (int i = 0; i < 80; ++i) x.push_back(gen.normal(0, 1));
  const auto r = Resampler::make(x.size(), {}, {});
  const Statistics stat = [&](const std::vector<int64_t>& c) { return mean_of(x, c); };
  for (auto method : {CiMethod::kPercentile, CiMethod::kBca}) {
    const BootstrapOptions o{.resamples = 500, .confidence = 0.95, .method = method};
    const auto a = bootstrap_intervals(stat, stat(r.all_cases()), r, o, Rng(42));
    const auto b = bootstrap_intervals(stat, stat(r.all_cases()), r, o, Rng(42));
    const auto c = bootstrap_intervals(stat, stat(r.all_cases()), r, o, Rng(43));
    ASSERT_TRUE(a[0].low && a[0].high);
    EXPECT_EQ(*a[0].low, *b[0].low);
    EXPECT_EQ(*a[0].high, *b[0].high);
    EXPECT_NE(*a[0].low, *c[0].low);
    EXPECT_LT(*a[0].low, *stat(r.all_cases())[0]);
    EXPECT_GT(*a[0].high, *stat(r.all_cases())[0]);
    EXPECT_EQ(a[0].replicates, 500);
  }
}

TEST(Bootstrap, PercentileIntervalOfAMeanHasTheNormalWidth) {
  // n = 400 draws of N(0, 1): the 95 % interval of the mean is about ±1.96/20 wide.
  std::vector<double> x;
  Rng gen(9);
  for (int i = 0; i < 400; ++i) x.push_back(gen.normal(0, 1));
  const auto r = Resampler::make(x.size(), {}, {});
  const Statistics stat = [&](const std::vector<int64_t>& c) { return mean_of(x, c); };
  const auto iv = bootstrap_intervals(stat, stat(r.all_cases()), r, {.resamples = 2000}, Rng(1));
  EXPECT_NEAR(*iv[0].high - *iv[0].low, 2 * 1.96 / 20, 0.03);
  EXPECT_EQ(iv[0].method, "bootstrap_bca");
}

TEST(Resampler, StratifiedDrawKeepsClassCounts) {
  const std::vector<int> strata = {0, 0, 0, 1, 1, 0, 1, 0};
  const auto r = Resampler::make(strata.size(), strata, {});
  Rng rng(3);
  for (int b = 0; b < 50; ++b) {
    const auto cases = r.draw(rng);
    int ones = 0;
    for (int64_t c : cases) ones += strata[static_cast<std::size_t>(c)];
    EXPECT_EQ(cases.size(), strata.size());
    EXPECT_EQ(ones, 3);
  }
}

TEST(Resampler, PatientLevelDrawKeepsAPatientsCasesTogether) {
  // Patients A (cases 0,1,2), B (3), C (4,5), D (6,7).
  const std::vector<std::string> patient = {"A", "A", "A", "B", "C", "C", "D", "D"};
  const auto r = Resampler::make(patient.size(), {}, patient);
  EXPECT_EQ(r.units(), 4u);
  Rng rng(17);
  for (int b = 0; b < 100; ++b) {
    std::map<int64_t, int> times;
    for (int64_t c : r.draw(rng)) ++times[c];
    // Every case of a patient appears exactly as often as the patient was drawn.
    EXPECT_EQ(times[0], times[1]);
    EXPECT_EQ(times[1], times[2]);
    EXPECT_EQ(times[4], times[5]);
    EXPECT_EQ(times[6], times[7]);
    EXPECT_EQ(times[0] + times[3] + times[4] + times[6], 4);  // four patients drawn
  }
}

TEST(Resampler, PatientsAreStratifiedByTheirClasses) {
  const std::vector<std::string> patient = {"A", "A", "B", "C", "C", "D"};
  const std::vector<int> strata = {1, 1, 0, 0, 0, 1};
  const auto r = Resampler::make(patient.size(), strata, patient);
  EXPECT_EQ(r.strata(), 2u);
  Rng rng(4);
  for (int b = 0; b < 50; ++b) {
    std::map<std::string, int> drawn;
    for (int64_t c : r.draw(rng)) ++drawn[patient[static_cast<std::size_t>(c)]];
    // Two class-1 patients (A: 2 cases, D: 1) and two class-0 patients (B: 1, C: 2) each time.
    EXPECT_EQ(drawn["A"] / 2 + drawn["D"], 2);
    EXPECT_EQ(drawn["B"] + drawn["C"] / 2, 2);
  }
}

TEST(Bootstrap, UndefinedReplicatesAreCountedAndLeftOut) {
  // The statistic is undefined whenever case 0 is missing from the resample.
  const auto r = Resampler::make(6, {}, {});
  const Statistics stat = [](const std::vector<int64_t>& c) -> std::vector<std::optional<double>> {
    if (std::find(c.begin(), c.end(), 0) == c.end()) return {std::nullopt};
    return {static_cast<double>(c.size())};
  };
  const auto iv = bootstrap_intervals(stat, {6.0}, r, {.resamples = 400, .method = CiMethod::kPercentile}, Rng(2));
  EXPECT_LT(iv[0].replicates, 400);
  EXPECT_NE(iv[0].note.find("resamples (left out)"), std::string::npos);
  const auto none = bootstrap_intervals(stat, {std::nullopt}, r, {.resamples = 10}, Rng(2));
  EXPECT_FALSE(none[0].low);
  EXPECT_NE(none[0].note.find("undefined on the full sample"), std::string::npos);
}

// 100 studies × 400 resamples: the percentile interval of the AUC covers the true AUC
// (binormal, 0.760) in roughly 95 % of studies.
TEST(Bootstrap, AucCoverageBySimulation) {
  const double true_auc = normal_cdf(1.0 / std::sqrt(2.0));
  Rng gen(77);
  int covered = 0;
  constexpr int kStudies = 100;
  for (int k = 0; k < kStudies; ++k) {
    std::vector<double> s;
    std::vector<int> y;
    for (int i = 0; i < 80; ++i) {
      y.push_back(i % 2);
      s.push_back(gen.normal(i % 2 ? 1.0 : 0.0, 1.0));
    }
    const auto r = Resampler::make(s.size(), y, {});
    const Statistics stat = [&](const std::vector<int64_t>& c) -> std::vector<std::optional<double>> {
      std::vector<double> ss;
      std::vector<int> yy;
      for (int64_t i : c) {
        ss.push_back(s[static_cast<std::size_t>(i)]);
        yy.push_back(y[static_cast<std::size_t>(i)]);
      }
      return {roc_auc(ss, yy).value};
    };
    const auto iv = bootstrap_intervals(stat, stat(r.all_cases()), r,
                                        {.resamples = 400, .method = CiMethod::kPercentile}, gen.fork(k));
    covered += *iv[0].low <= true_auc && true_auc <= *iv[0].high;
  }
  EXPECT_GE(covered, 85);
  EXPECT_LE(covered, 100);
}

}  // namespace
}  // namespace lucent::metrics
