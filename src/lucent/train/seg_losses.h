// Segmentation losses: soft Dice, Dice + cross-entropy, focal and Tversky, on per-voxel logits
// against integer label maps, with per-class weights and an ignored label.
//
//   lucent::train::SegLossOptions o{.class_weights = {0.5, 1, 2}, .ignore_label = 255};
//   auto loss = lucent::train::segmentation_loss(SegLossKind::kDiceCe, logits, labels, o);
//   if (!loss) return std::unexpected(loss.error());
//   loss->backward();
//
// logits: float (N, K, [Z,] Y, X). K ≥ 2 means softmax over classes 0..K-1; K = 1 means a
// sigmoid foreground probability, handled as two classes (background = 1 - p, foreground = p),
// so class_weights then have 2 entries and include_background decides whether class 0 counts.
// target: integer (N, [Z,] Y, X) with values in [0, K) (K = 1: {0, 1}) or ignore_label.
//
// Definitions (p = probabilities, t = one-hot target, both zeroed where the target is
// ignore_label; sums over the voxels of one sample, or of the whole batch with batch_dice):
//   TP = Σ p·t, FP = Σ p·(1-t), FN = Σ (1-p)·t
//   Dice_c    = (2 TP + s) / (2 TP + FP + FN + s)                     s = smooth
//   Tversky_c = (TP + s) / (TP + alpha·FP + beta·FN + s)             alpha = beta = 0.5 is Dice
//   region loss = Σ_c w_c (1 - score_c) / Σ_c w_c, averaged over samples (one term per class
//   and sample; with batch_dice, per class)
//   cross-entropy = Σ_v w_{t_v} (-log p_{t_v}) / Σ_v w_{t_v} over non-ignored voxels v
//   focal (Lin et al. 2017) = Σ_v w_{t_v} (1 - p_{t_v})^gamma (-log p_{t_v}) / Σ_v w_{t_v}
//   dice_ce = dice_weight · Dice loss + ce_weight · cross-entropy (nnU-Net's default loss)
// Empty masks: with EmptyClass::kCountAsOne (default, as nnU-Net and MONAI) a class absent from
// the target scores s / (Σp + s): about 1 when the prediction is empty too, about 0 when it
// predicts that class anywhere (a false-positive penalty). With kExclude a class absent from
// the target (in that sample, or in the batch with batch_dice) is left out of the average; if
// every class is left out the region loss is 0. In every case the loss and its gradients stay
// finite, also when every voxel is ignored (then the loss is 0).
// Errors: kInvalidArgument for shapes, dtypes and options (naming the value and what is
// expected); kInvalidData for a target label outside [0, K) that is not ignore_label.
// Thread-safety: pure functions.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::train {

enum class SegLossKind { kDice, kDiceCe, kFocal, kTversky };
enum class EmptyClass { kCountAsOne, kExclude };

// "dice" | "dice_ce" | "focal" | "tversky" (kInvalidArgument listing them otherwise).
[[nodiscard]] Result<SegLossKind> parse_seg_loss(const std::string& name);

struct SegLossOptions {
  std::vector<double> class_weights;  // one per class (2 when K = 1); empty = all 1
  int64_t ignore_label = -1;          // target value excluded from every term; negative = none
  bool include_background = true;     // class 0 in the Dice / Tversky average
  bool batch_dice = false;            // sums over the whole batch before the ratio (nnU-Net)
  double smooth = 1e-5;               // s above, added to numerator and denominator
  EmptyClass empty = EmptyClass::kCountAsOne;
  double tversky_alpha = 0.5;         // weight of false positives
  double tversky_beta = 0.5;          // weight of false negatives
  double focal_gamma = 2.0;
  double dice_weight = 1.0;           // dice_ce
  double ce_weight = 1.0;             // dice_ce
};

[[nodiscard]] Result<at::Tensor> segmentation_loss(SegLossKind kind, const at::Tensor& logits, const at::Tensor& target,
                                                   const SegLossOptions& options = {});
[[nodiscard]] Result<at::Tensor> soft_dice_loss(const at::Tensor& logits, const at::Tensor& target,
                                                const SegLossOptions& options = {});
[[nodiscard]] Result<at::Tensor> dice_ce_loss(const at::Tensor& logits, const at::Tensor& target,
                                              const SegLossOptions& options = {});
[[nodiscard]] Result<at::Tensor> focal_loss(const at::Tensor& logits, const at::Tensor& target,
                                            const SegLossOptions& options = {});
[[nodiscard]] Result<at::Tensor> tversky_loss(const at::Tensor& logits, const at::Tensor& target,
                                              const SegLossOptions& options = {});

}  // namespace lucent::train
