#include "lucent/metrics/temperature.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lucent::metrics {
namespace {

// Labels drawn from softmax(z / 2): the fit recovers T = 2, lowers the NLL, keeps the ranking.
TEST(Temperature, RecoversTheTemperatureThatGeneratedTheLabels) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n(0, 3);
  std::vector<std::vector<double>> probs;
  std::vector<std::vector<int>> labels;
  for (int i = 0; i < 20000; ++i) {
    std::vector<double> z = {n(rng), n(rng), n(rng)};
    std::vector<double> p, q;
    double s = 0, t = 0;
    for (double v : z) s += std::exp(v), t += std::exp(v / 2);
    for (double v : z) p.push_back(std::exp(v) / s), q.push_back(std::exp(v / 2) / t);
    std::discrete_distribution<int> pick(q.begin(), q.end());
    probs.push_back(p);
    labels.push_back({pick(rng)});
  }
  auto fit = fit_temperature(probs, labels, Task::kMulticlass);
  ASSERT_TRUE(fit) << fit.error().message();
  EXPECT_NEAR(fit->temperature, 2.0, 0.06);
  EXPECT_LT(fit->nll_after, fit->nll_before);
  EXPECT_FALSE(fit->at_bound);
  const auto scaled = apply_temperature(probs, Task::kMulticlass, fit->temperature);
  for (std::size_t i = 0; i < 50; ++i) {
    EXPECT_NEAR(scaled[i][0] + scaled[i][1] + scaled[i][2], 1.0, 1e-12);
    const auto argmax = [](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    EXPECT_EQ(argmax(scaled[i]), argmax(probs[i]));
  }
}

TEST(Temperature, BinaryScoresUseTheLogitAndTemperatureOneIsTheIdentity) {
  std::vector<std::vector<double>> probs = {{0.9}, {0.2}, {0.7}, {0.4}};
  const auto same = apply_temperature(probs, Task::kBinary, 1.0);
  for (std::size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(same[i][0], probs[i][0], 1e-12);
  // logit(0.9) = ln 9; at T = 2 the probability is sigmoid(ln 9 / 2) = 3 / 4.
  EXPECT_NEAR(apply_temperature({{0.9}}, Task::kBinary, 2.0)[0][0], 0.75, 1e-12);
  // Overconfident and often wrong: the fitted temperature softens (T > 1).
  std::vector<std::vector<double>> over;
  std::vector<std::vector<int>> y;
  for (int i = 0; i < 100; ++i) {
    over.push_back({i % 2 ? 0.99 : 0.01});
    y.push_back({i % 4 == 0 ? 1 : (i % 2)});  // a quarter of the negatives are positives
  }
  auto fit = fit_temperature(over, y, Task::kBinary);
  ASSERT_TRUE(fit);
  EXPECT_GT(fit->temperature, 1.0);
}

TEST(Temperature, SeparableDataHitTheBoundAndBadInputIsRefused) {
  auto fit = fit_temperature({{0.9}, {0.1}}, {{1}, {0}}, Task::kBinary);
  ASSERT_TRUE(fit);
  EXPECT_TRUE(fit->at_bound);
  EXPECT_FALSE(fit_temperature({}, {}, Task::kBinary));
  EXPECT_FALSE(fit_temperature({{0.5, 0.5}, {0.2}}, {{0}, {1}}, Task::kMulticlass));
  EXPECT_FALSE(fit_temperature({{0.5, 0.5}}, {{2}}, Task::kMulticlass));
}

}  // namespace
}  // namespace lucent::metrics
