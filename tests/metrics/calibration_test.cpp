#include "lucent/metrics/calibration.h"

#include <gtest/gtest.h>

namespace lucent::metrics {
namespace {

TEST(Brier, MeanSquaredError) {
  EXPECT_NEAR(*brier_score({0.1, 0.9, 0.8}, {0, 1, 0}).value, (0.01 + 0.01 + 0.64) / 3, 1e-15);
  EXPECT_FALSE(brier_score({}, {}));
}

TEST(Calibration, TenEqualWidthBinsHandComputed) {
  // Bin 0: {.05} observed 0 (gap .05); bin 1: {.15} observed 1 (gap .85); bin 9: {.95, .95}
  // observed .5 (gap .45). ECE = .25*.05 + .25*.85 + .5*.45 = .45; MCE = .85.
  const auto cal = calibration({0.05, 0.15, 0.95, 0.95}, {0, 1, 1, 0});
  EXPECT_NEAR(*cal.ece.value, 0.45, 1e-15);
  EXPECT_NEAR(*cal.mce.value, 0.85, 1e-15);
  ASSERT_EQ(cal.bins.size(), 10u);
  EXPECT_EQ(cal.bins[9].count, 2);
  EXPECT_EQ(cal.bins[5].count, 0);
  EXPECT_DOUBLE_EQ(cal.bins[9].observed, 0.5);
  EXPECT_DOUBLE_EQ(cal.bins[3].low, 0.3);
}

TEST(Calibration, OneGoesInTheLastBinAndPerfectIsZero) {
  const auto cal = calibration({1.0, 0.0}, {1, 0});
  EXPECT_EQ(cal.bins[9].count, 1);
  EXPECT_EQ(cal.bins[0].count, 1);
  EXPECT_DOUBLE_EQ(*cal.ece.value, 0.0);
  EXPECT_FALSE(calibration({}, {}).ece);
}

}  // namespace
}  // namespace lucent::metrics
