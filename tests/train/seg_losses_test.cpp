#include "lucent/train/seg_losses.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace lucent::train {
namespace {

// One sample, 1x4 pixels, two classes, every pixel predicted p(class 1) = 0.75.
at::Tensor logits_075(int64_t n = 1) {
  auto l = torch::zeros({n, 2, 1, 4}, torch::kDouble);
  l.select(1, 1).fill_(std::log(3.0));
  return l;
}
at::Tensor labels(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong).view({1, 1, 4}); }

double value(const Result<at::Tensor>& r) {
  EXPECT_TRUE(r) << (r ? "" : r.error().to_string());
  return r ? r->item<double>() : NAN;
}

// Hand values for target [1, 1, 0, 0]:
//   class 1: TP 1.5, Σp 3, Σt 2 → Dice 3/5;   class 0: TP 0.5, Σp 1, Σt 2 → Dice 1/3
//   CE: (2·(-ln 0.75) + 2·(-ln 0.25)) / 4;     focal γ=2: (2·0.25²·(-ln 0.75) + 2·0.75²·(-ln 0.25)) / 4
TEST(SegLosses, DiceMatchesTheHandComputedValue) {
  const SegLossOptions o{.smooth = 0};
  EXPECT_NEAR(value(soft_dice_loss(logits_075(), labels({1, 1, 0, 0}), o)), 1 - (0.6 + 1.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(value(soft_dice_loss(logits_075(), labels({1, 1, 0, 0}), {.include_background = false, .smooth = 0})),
              0.4, 1e-12);
  EXPECT_NEAR(value(soft_dice_loss(logits_075(), labels({1, 1, 0, 0}), {.class_weights = {1, 3}, .smooth = 0})),
              1 - (1.0 / 3 + 3 * 0.6) / 4, 1e-12);
}

TEST(SegLosses, SingleChannelSigmoidEqualsTwoClassSoftmax) {
  auto one = torch::full({1, 1, 1, 4}, std::log(3.0), torch::kDouble);  // sigmoid = 0.75
  EXPECT_NEAR(value(soft_dice_loss(one, labels({1, 1, 0, 0}), {.smooth = 0})), 1 - (0.6 + 1.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(value(dice_ce_loss(one, labels({1, 1, 0, 0}))), value(dice_ce_loss(logits_075(), labels({1, 1, 0, 0}))),
              1e-12);
}

TEST(SegLosses, CrossEntropyFocalAndDiceCeMatchHandValues) {
  const double ce = (2 * -std::log(0.75) + 2 * -std::log(0.25)) / 4;
  const double dice = 1 - (0.6 + 1.0 / 3) / 2;
  EXPECT_NEAR(value(dice_ce_loss(logits_075(), labels({1, 1, 0, 0}), {.smooth = 0})), dice + ce, 1e-12);
  EXPECT_NEAR(value(dice_ce_loss(logits_075(), labels({1, 1, 0, 0}), {.smooth = 0, .dice_weight = 0})), ce, 1e-12);
  const double focal = (2 * 0.0625 * -std::log(0.75) + 2 * 0.5625 * -std::log(0.25)) / 4;
  EXPECT_NEAR(value(focal_loss(logits_075(), labels({1, 1, 0, 0}))), focal, 1e-12);
  EXPECT_NEAR(value(focal_loss(logits_075(), labels({1, 1, 0, 0}), {.focal_gamma = 0})), ce, 1e-12);
  // Class weights weight each voxel by its true class: (1·2·0.2877 + 3·2·1.3863)/(2 + 6) with w = {3, 1}.
  const double wce = (2 * -std::log(0.75) + 3 * 2 * -std::log(0.25)) / 8;
  EXPECT_NEAR(value(dice_ce_loss(logits_075(), labels({1, 1, 0, 0}), {.class_weights = {3, 1}, .dice_weight = 0})),
              wce, 1e-12);
}

TEST(SegLosses, TverskyMatchesHandValueAndReducesToDice) {
  // class 1: TP 1.5, FP 1.5, FN 0.5 → 1.5 / (1.5 + 0.3·1.5 + 0.7·0.5)
  const SegLossOptions o{.include_background = false, .smooth = 0, .tversky_alpha = 0.3, .tversky_beta = 0.7};
  EXPECT_NEAR(value(tversky_loss(logits_075(), labels({1, 1, 0, 0}), o)), 1 - 1.5 / 2.3, 1e-12);
  EXPECT_NEAR(value(tversky_loss(logits_075(), labels({1, 1, 0, 0}), {.smooth = 0})),
              value(soft_dice_loss(logits_075(), labels({1, 1, 0, 0}), {.smooth = 0})), 1e-12);
}

TEST(SegLosses, IgnoredVoxelsLeaveEveryTerm) {
  // target [1, 1, 0, ignore]: class 1 TP 1.5, Σp 2.25, Σt 2; class 0 TP 0.25, Σp 0.75, Σt 1
  const SegLossOptions o{.ignore_label = 255, .smooth = 0};
  EXPECT_NEAR(value(soft_dice_loss(logits_075(), labels({1, 1, 0, 255}), o)), 1 - (3 / 4.25 + 0.5 / 1.75) / 2, 1e-12);
  const double ce = (2 * -std::log(0.75) - std::log(0.25)) / 3;
  EXPECT_NEAR(value(dice_ce_loss(logits_075(), labels({1, 1, 0, 255}), {.ignore_label = 255, .dice_weight = 0})), ce,
              1e-12);
}

TEST(SegLosses, BatchDiceSumsOverTheBatchBeforeTheRatio) {
  auto target = torch::tensor({1, 1, 0, 0, 0, 0, 0, 0}, torch::kLong).view({2, 1, 4});
  // per sample: sample 0 Dice 0.6, sample 1 (no foreground) ≈ 0 → loss ≈ 0.7; batch: 3/8 → 0.625
  EXPECT_NEAR(value(soft_dice_loss(logits_075(2), target, {.include_background = false})), 0.7, 1e-5);
  EXPECT_NEAR(value(soft_dice_loss(logits_075(2), target, {.include_background = false, .batch_dice = true,
                                                             .smooth = 0})),
              0.625, 1e-12);
  // Excluding classes absent from a sample's target leaves sample 1 out entirely: 0.4 / 2.
  EXPECT_NEAR(value(soft_dice_loss(logits_075(2), target, {.include_background = false, .smooth = 0,
                                                             .empty = EmptyClass::kExclude})),
              0.2, 1e-12);
}

TEST(SegLosses, EmptyMasksGiveFiniteLossesAndGradients) {
  for (auto kind : {SegLossKind::kDice, SegLossKind::kDiceCe, SegLossKind::kFocal, SegLossKind::kTversky}) {
    for (auto empty : {EmptyClass::kCountAsOne, EmptyClass::kExclude}) {
      // Prediction empty too (class 1 logit -30): counts as ~1 or is excluded → loss ≈ 0.
      auto l = torch::zeros({1, 2, 4, 4}, torch::kDouble);
      l.select(1, 1).fill_(-30.0);
      l.requires_grad_(true);
      const SegLossOptions o{.include_background = false, .empty = empty};
      auto loss = segmentation_loss(kind, l, torch::zeros({1, 4, 4}, torch::kLong), o);
      ASSERT_TRUE(loss);
      EXPECT_TRUE(std::isfinite(loss->item<double>()));
      EXPECT_LT(loss->item<double>(), 1e-3);
      loss->backward();
      EXPECT_TRUE(torch::isfinite(l.grad()).all().item<bool>());
      // Every voxel ignored: 0, finite gradients.
      auto l2 = torch::randn({1, 2, 4, 4}, torch::kDouble).requires_grad_(true);
      auto all_ignored = segmentation_loss(kind, l2, torch::full({1, 4, 4}, 9, torch::kLong),
                                           {.ignore_label = 9, .empty = empty});
      ASSERT_TRUE(all_ignored);
      EXPECT_EQ(all_ignored->item<double>(), 0.0);
      all_ignored->backward();
      EXPECT_TRUE(torch::isfinite(l2.grad()).all().item<bool>());
    }
  }
  // An empty target with a predicted foreground is penalised under kCountAsOne.
  EXPECT_GT(value(soft_dice_loss(logits_075(), labels({0, 0, 0, 0}), {.include_background = false})), 0.99);
}

TEST(SegLosses, BadInputsAreNamed) {
  auto r = soft_dice_loss(logits_075(), labels({1, 1, 0, 3}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("label 3"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("2 classes"), std::string::npos);
  auto shape = soft_dice_loss(logits_075(), torch::zeros({1, 2, 2}, torch::kLong));
  ASSERT_FALSE(shape);
  EXPECT_NE(shape.error().message().find("does not match logits"), std::string::npos);
  auto dtype = soft_dice_loss(logits_075(), torch::zeros({1, 1, 4}));
  ASSERT_FALSE(dtype);
  EXPECT_NE(dtype.error().message().find("integer labels"), std::string::npos);
  auto weights = dice_ce_loss(logits_075(), labels({1, 1, 0, 0}), {.class_weights = {1, 1, 1}});
  ASSERT_FALSE(weights);
  EXPECT_NE(weights.error().message().find("3 class_weights for 2 classes"), std::string::npos);
  auto tv = tversky_loss(logits_075(), labels({1, 1, 0, 0}), {.tversky_alpha = 0, .tversky_beta = 0});
  ASSERT_FALSE(tv);
  EXPECT_NE(tv.error().message().find("alpha"), std::string::npos);
  auto kind = parse_seg_loss("lovasz");
  ASSERT_FALSE(kind);
  EXPECT_NE(kind.error().message().find("dice_ce"), std::string::npos);
}

}  // namespace
}  // namespace lucent::train
