// Choosing a binary segmentation threshold from a histogram of pooled pixels: optima known by
// hand, the tie rule, the ROI, an empty foreground, the errors, and agreement with thresholding
// the same probabilities one threshold at a time (as the trainer and the segmenter do).
#include "lucent/metrics/threshold_select.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace lucent::metrics {
namespace {

struct Pixels {
  std::vector<float> p;
  std::vector<uint8_t> truth;
  std::vector<uint8_t> roi;
  void add(float prob, uint8_t t, int count, uint8_t inside = 1) {
    for (int i = 0; i < count; ++i) p.push_back(prob), truth.push_back(t), roi.push_back(inside);
  }
};

// 10 foreground pixels at p = 0.6, 5 foreground and 5 background at p = 0.4, 100 background
// at p = 0.1. Thresholds in (0.4, 0.6]: TP 10, FN 5, FP 0 → Dice 20/25, 5 errors. Thresholds in
// (0.1, 0.4]: TP 15, FP 5 → Dice 30/35, 5 errors. Dice prefers the lower range (its value
// closest to 0.5 is 0.40, where p = 0.4 counts as foreground); accuracy ties and keeps 0.5.
Pixels two_ranges() {
  Pixels x;
  x.add(0.6f, 1, 10);
  x.add(0.4f, 1, 5);
  x.add(0.4f, 0, 5);
  x.add(0.1f, 0, 100);
  return x;
}

TEST(ThresholdSelect, DiceAndAccuracyOptimaKnownByHand) {
  const Pixels x = two_ranges();
  auto dice = choose_threshold(x.p, x.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(dice) << dice.error().message();
  EXPECT_DOUBLE_EQ(dice->threshold, 0.40);
  EXPECT_DOUBLE_EQ(dice->value, 30.0 / 35.0);
  EXPECT_DOUBLE_EQ(dice->value_at_half, 20.0 / 25.0);
  EXPECT_EQ(dice->pixels, 120);
  EXPECT_EQ(dice->foreground, 15);
  auto acc = choose_threshold(x.p, x.truth, {}, ThresholdMetric::kAccuracy);
  ASSERT_TRUE(acc) << acc.error().message();
  EXPECT_DOUBLE_EQ(acc->threshold, 0.5);
  EXPECT_DOUBLE_EQ(acc->value, 115.0 / 120.0);
  EXPECT_DOUBLE_EQ(acc->value_at_half, 115.0 / 120.0);
}

TEST(ThresholdSelect, FlatOptimumTakesTheThresholdClosestToOneHalf) {
  // Perfect separation for every threshold in (0.25, 0.35]: 0.35 is the closest to 0.5.
  Pixels low;
  low.add(0.35f, 1, 7);
  low.add(0.25f, 0, 9);
  auto c = choose_threshold(low.p, low.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->threshold, 0.35);
  EXPECT_DOUBLE_EQ(c->value, 1.0);
  EXPECT_DOUBLE_EQ(c->value_at_half, 0.0);  // nothing predicted, 7 missed
  // Perfect in (0.2, 0.8]: 0.5 itself.
  Pixels wide;
  wide.add(0.8f, 1, 3);
  wide.add(0.2f, 0, 3);
  auto w = choose_threshold(wide.p, wide.truth, {}, ThresholdMetric::kAccuracy);
  ASSERT_TRUE(w);
  EXPECT_DOUBLE_EQ(w->threshold, 0.5);
  // Equally good at distance 0.04 below and above 0.5: the lower one wins.
  Pixels sym;
  sym.add(0.54f, 1, 4);
  sym.add(0.53f, 0, 8);
  sym.add(0.46f, 1, 4);
  // t <= 0.46: TP 8, FP 8 → 16/24; t in (0.46, 0.53]: TP 4, FP 8, FN 4 → 8/20;
  // t = 0.54: TP 4, FN 4 → 8/12 = 16/24; t > 0.54: 0.
  auto s = choose_threshold(sym.p, sym.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->value, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s->value_at_half, 8.0 / 20.0);
  EXPECT_DOUBLE_EQ(s->threshold, 0.46);
}

TEST(ThresholdSelect, OnlyPixelsInsideTheRoiCount) {
  Pixels x = two_ranges();
  // Outside the ROI: 1000 background pixels at p = 0.4 that would make (0.4, 0.6] Dice's best.
  x.add(0.4f, 0, 1000, 0);
  auto with_roi = choose_threshold(x.p, x.truth, x.roi, ThresholdMetric::kDice);
  ASSERT_TRUE(with_roi) << with_roi.error().message();
  EXPECT_DOUBLE_EQ(with_roi->threshold, 0.40);
  EXPECT_DOUBLE_EQ(with_roi->value, 30.0 / 35.0);
  EXPECT_EQ(with_roi->pixels, 120);
  auto without = choose_threshold(x.p, x.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(without);
  EXPECT_DOUBLE_EQ(without->threshold, 0.5);  // (0.4, 0.6] is best once the 1000 count
  EXPECT_EQ(without->pixels, 1120);
}

TEST(ThresholdSelect, PoolsImagesAddedOneByOne) {
  const Pixels x = two_ranges();
  ThresholdHistogram h;
  const std::span<const float> p(x.p);
  const std::span<const uint8_t> t(x.truth);
  ASSERT_TRUE(h.add(p.first(50), t.first(50)));
  ASSERT_TRUE(h.add(p.subspan(50), t.subspan(50)));
  auto c = choose_threshold(h, ThresholdMetric::kDice);
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->threshold, 0.40);
  EXPECT_EQ(c->pixels, 120);
}

TEST(ThresholdSelect, EmptyForegroundChoosesTheClosestThresholdAboveEveryProbability) {
  Pixels x;
  x.add(0.1f, 0, 50);
  x.add(0.73f, 0, 2);
  auto c = choose_threshold(x.p, x.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->foreground, 0);
  EXPECT_DOUBLE_EQ(c->threshold, 0.74);
  EXPECT_DOUBLE_EQ(c->value, 1.0);  // nothing true, nothing predicted
  EXPECT_DOUBLE_EQ(c->value_at_half, 0.0);
  // All below 0.5: nothing to change.
  Pixels quiet;
  quiet.add(0.2f, 0, 10);
  auto q = choose_threshold(quiet.p, quiet.truth, {}, ThresholdMetric::kDice);
  ASSERT_TRUE(q);
  EXPECT_DOUBLE_EQ(q->threshold, 0.5);
  EXPECT_DOUBLE_EQ(q->value, 1.0);
}

TEST(ThresholdSelect, NoPixelsAndMismatchedLengthsAreErrors) {
  auto none = choose_threshold(std::span<const float>(), {}, {}, ThresholdMetric::kDice);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(none.error().message().find("no pixels"), std::string::npos) << none.error().message();
  Pixels outside;
  outside.add(0.7f, 1, 5, 0);
  auto empty_roi = choose_threshold(outside.p, outside.truth, outside.roi, ThresholdMetric::kDice);
  ASSERT_FALSE(empty_roi);
  EXPECT_NE(empty_roi.error().message().find("outside the ROI"), std::string::npos)
      << empty_roi.error().message();
  const std::vector<float> p{0.1f, 0.2f};
  const std::vector<uint8_t> t{1};
  ThresholdHistogram h;
  auto st = h.add(p, t);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("2 probabilities, 1 truth values"), std::string::npos)
      << st.error().message();
  EXPECT_EQ(h.pixels(), 0);
  auto metric = parse_threshold_metric("f1");
  ASSERT_FALSE(metric);
  EXPECT_NE(metric.error().message().find("expected one of: dice, accuracy"), std::string::npos);
  EXPECT_EQ(*parse_threshold_metric("accuracy"), ThresholdMetric::kAccuracy);
  EXPECT_EQ(threshold_metric_name(ThresholdMetric::kDice), "dice");
}

// The histogram's counts at every grid threshold equal thresholding the float32 probabilities
// with LibTorch (`probs >= t`, the trainer's and the segmenter's rule), also for probabilities
// lying exactly on a grid value, and the choice is the brute-force best.
TEST(ThresholdSelect, CountsAgreeWithThresholdingEachGridValueInLibTorch) {
  at::manual_seed(5);
  const int64_t n = 20000;
  at::Tensor p = at::rand({n}, at::kFloat);
  // A quarter exactly on grid values (as float32), where >= decides.
  const at::Tensor on_grid = (at::randint(1, 100, {n / 4}, at::kLong).to(at::kDouble) / 100.0).to(at::kFloat);
  p.narrow(0, 0, n / 4).copy_(on_grid);
  p[7] = 0.0f;
  p[8] = 1.0f;
  p[9] = std::numeric_limits<float>::quiet_NaN();
  const at::Tensor truth = (at::rand({n}) < p.nan_to_num(0.0) * 0.8 + 0.1).to(at::kByte).contiguous();
  const at::Tensor roi = (at::rand({n}) < 0.9).to(at::kByte).contiguous();
  ThresholdHistogram h;
  ASSERT_TRUE(h.add({p.data_ptr<float>(), static_cast<std::size_t>(n)},
                    {truth.data_ptr<uint8_t>(), static_cast<std::size_t>(n)},
                    {roi.data_ptr<uint8_t>(), static_cast<std::size_t>(n)}));
  const at::Tensor in = roi.to(at::kBool), t1 = truth.to(at::kBool) & in, t0 = truth.logical_not() & in;
  double best = -1;
  for (int k = 1; k < kThresholdGridSteps; ++k) {
    const double thr = static_cast<double>(k) / kThresholdGridSteps;
    const at::Tensor pred = p >= thr;
    const BinaryCounts c = h.counts_at(k);
    EXPECT_EQ(c.tp, (pred & t1).sum().item<int64_t>()) << thr;
    EXPECT_EQ(c.fp, (pred & t0).sum().item<int64_t>()) << thr;
    EXPECT_EQ(c.tp + c.fn, t1.sum().item<int64_t>());
    EXPECT_EQ(c.tp + c.fp + c.fn + c.tn, in.sum().item<int64_t>());
    best = std::max(best, threshold_metric_value(c, ThresholdMetric::kDice));
  }
  auto c = choose_threshold(h, ThresholdMetric::kDice);
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->value, best);
  EXPECT_DOUBLE_EQ(c->value,
                   threshold_metric_value(h.counts_at(static_cast<int>(std::lround(c->threshold * 100))),
                                          ThresholdMetric::kDice));
}

}  // namespace
}  // namespace lucent::metrics
