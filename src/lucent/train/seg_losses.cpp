#include "lucent/train/seg_losses.h"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

namespace lucent::train {
namespace {

// Probabilities and one-hot targets prepared once for every loss.
struct Prepared {
  at::Tensor log_probs;  // (N, K', ...) log-softmax
  at::Tensor probs;      // (N, K', ...), zero where ignored
  at::Tensor onehot;     // (N, K', ...), zero where ignored
  at::Tensor labels;     // (N, ...) int64, ignored voxels set to 0
  at::Tensor valid;      // (N, ...) float 1/0
  at::Tensor weights;    // (K',) float
  int64_t classes = 0;
};

std::string shape(const at::Tensor& t) { return c10::str(t.sizes()); }

Result<Prepared> prepare(const at::Tensor& logits, const at::Tensor& target, const SegLossOptions& o) {
  if (!logits.defined() || !target.defined()) return fail(ErrorCode::kInvalidArgument, "segmentation loss: empty tensor");
  if (logits.dim() < 3 || !at::isFloatingType(logits.scalar_type()))
    return fail(ErrorCode::kInvalidArgument, "segmentation loss: logits must be floating point (N, K, [Z,] Y, X), got " +
                                                 std::string(c10::toString(logits.scalar_type())) + " " + shape(logits));
  if (at::isFloatingType(target.scalar_type()) || target.scalar_type() == at::kBool)
    return fail(ErrorCode::kInvalidArgument, "segmentation loss: target must hold integer labels, got " +
                                                 std::string(c10::toString(target.scalar_type())));
  std::vector<int64_t> want(logits.sizes().begin(), logits.sizes().end());
  want.erase(want.begin() + 1);
  if (target.sizes() != at::IntArrayRef(want))
    return fail(ErrorCode::kInvalidArgument, "segmentation loss: target " + shape(target) + " does not match logits " +
                                                 shape(logits) + "; expected target " + c10::str(at::IntArrayRef(want)) +
                                                 " (labels, no channel axis)");
  const int64_t k = logits.size(1) == 1 ? 2 : logits.size(1);
  if (!o.class_weights.empty()) {
    if (static_cast<int64_t>(o.class_weights.size()) != k)
      return fail(ErrorCode::kInvalidArgument, "segmentation loss: " + std::to_string(o.class_weights.size()) +
                                                   " class_weights for " + std::to_string(k) +
                                                   " classes (a single-channel sigmoid output counts as 2: background, "
                                                   "foreground)");
    for (double w : o.class_weights)
      if (!(w >= 0) || !std::isfinite(w))
        return fail(ErrorCode::kInvalidArgument, "segmentation loss: class weight " + std::to_string(w) +
                                                     " is not a finite non-negative number");
    if (std::accumulate(o.class_weights.begin(), o.class_weights.end(), 0.0) <= 0)
      return fail(ErrorCode::kInvalidArgument, "segmentation loss: class_weights are all zero");
  }
  if (!(o.smooth >= 0)) return fail(ErrorCode::kInvalidArgument, "segmentation loss: smooth must be >= 0");

  Prepared p;
  p.classes = k;
  const at::Tensor t64 = target.to(at::kLong);
  at::Tensor valid_b = o.ignore_label >= 0 ? t64.ne(o.ignore_label) : at::ones_like(t64, at::kBool);
  if (valid_b.any().item<bool>()) {
    const at::Tensor v = t64.masked_select(valid_b);
    const int64_t lo = v.min().item<int64_t>(), hi = v.max().item<int64_t>();
    if (lo < 0 || hi >= k)
      return fail(ErrorCode::kInvalidData, "segmentation loss: target holds label " + std::to_string(lo < 0 ? lo : hi) +
                                               " but the logits have " + std::to_string(k) + " classes (0.." +
                                               std::to_string(k - 1) + ")" +
                                               (o.ignore_label >= 0 ? " and ignore_label is " + std::to_string(o.ignore_label)
                                                                    : std::string(" and no ignore_label is set")) +
                                               "; remap the labels or set ignore_label");
  }
  const at::Tensor x = logits.size(1) == 1 ? at::cat({at::zeros_like(logits), logits}, 1) : logits;
  p.log_probs = at::log_softmax(x, 1);
  p.labels = t64.masked_fill(~valid_b, 0);
  p.valid = valid_b.to(x.scalar_type());
  const at::Tensor mask = p.valid.unsqueeze(1);
  p.probs = p.log_probs.exp() * mask;
  p.onehot = at::one_hot(p.labels, k).movedim(-1, 1).to(x.scalar_type()) * mask;
  p.weights = o.class_weights.empty()
                  ? at::ones({k}, x.options())
                  : at::tensor(o.class_weights, at::TensorOptions().dtype(at::kDouble)).to(x.scalar_type());
  return p;
}

// Σ_c w_c (1 - score_c) / Σ_c w_c, averaged over samples. Dice: (2TP + s) / (2TP + FP + FN + s);
// otherwise Tversky: (TP + s) / (TP + alpha FP + beta FN + s).
at::Tensor region_loss(const Prepared& p, const SegLossOptions& o, bool dice, double alpha = 0.5, double beta = 0.5) {
  std::vector<int64_t> dims;
  for (int64_t d = o.batch_dice ? 0 : 2; d < p.probs.dim(); ++d)
    if (d != 1) dims.push_back(d);
  const at::Tensor tp = (p.probs * p.onehot).sum(dims);
  const at::Tensor fp = p.probs.sum(dims) - tp;
  const at::Tensor fn = p.onehot.sum(dims) - tp;
  const at::Tensor score = dice ? (2 * tp + o.smooth) / (2 * tp + fp + fn + o.smooth)
                                : (tp + o.smooth) / (tp + alpha * fp + beta * fn + o.smooth);  // (N, K') or (K')
  at::Tensor w = p.weights.expand_as(score).clone();
  if (!o.include_background) w.select(-1, 0).zero_();
  if (o.empty == EmptyClass::kExclude) w = w * (p.onehot.sum(dims) > 0).to(w.scalar_type());
  const at::Tensor per = ((1 - score) * w).sum(-1);
  const at::Tensor norm = w.sum(-1);
  const at::Tensor used = (norm > 0).to(w.scalar_type());
  // Samples with no class left contribute 0 (and no NaN: the denominator is clamped).
  const at::Tensor loss = per / norm.clamp_min(1e-12) * used;
  return loss.dim() == 0 ? loss : loss.mean();
}

// Weighted mean over non-ignored voxels of w_t · (1 - p_t)^gamma · (-log p_t).
at::Tensor voxel_loss(const Prepared& p, double gamma) {
  const at::Tensor logp_t = p.log_probs.gather(1, p.labels.unsqueeze(1)).squeeze(1);
  const at::Tensor w_t = p.weights.index_select(0, p.labels.flatten()).view_as(logp_t) * p.valid;
  at::Tensor term = -logp_t * w_t;
  if (gamma > 0) term = term * (1 - logp_t.exp()).clamp_min(1e-12).pow(gamma);
  return term.sum() / w_t.sum().clamp_min(1e-12);
}

Status check_tversky(const SegLossOptions& o) {
  if (!(o.tversky_alpha >= 0) || !(o.tversky_beta >= 0) || o.tversky_alpha + o.tversky_beta <= 0)
    return fail(ErrorCode::kInvalidArgument, "tversky loss: alpha and beta must be >= 0 and not both 0, got alpha " +
                                                 std::to_string(o.tversky_alpha) + ", beta " +
                                                 std::to_string(o.tversky_beta));
  return ok();
}

template <typename F>
Result<at::Tensor> guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string(what) + " failed: " + e.what());
  }
}

}  // namespace

Result<SegLossKind> parse_seg_loss(const std::string& name) {
  if (name == "dice") return SegLossKind::kDice;
  if (name == "dice_ce") return SegLossKind::kDiceCe;
  if (name == "focal") return SegLossKind::kFocal;
  if (name == "tversky") return SegLossKind::kTversky;
  return fail(ErrorCode::kInvalidArgument,
              "unknown segmentation loss '" + name + "'; expected one of: dice, dice_ce, focal, tversky");
}

Result<at::Tensor> soft_dice_loss(const at::Tensor& logits, const at::Tensor& target, const SegLossOptions& o) {
  return guarded("dice loss", [&]() -> Result<at::Tensor> {
    auto p = prepare(logits, target, o);
    if (!p) return std::unexpected(p.error());
    return region_loss(*p, o, true);
  });
}

Result<at::Tensor> tversky_loss(const at::Tensor& logits, const at::Tensor& target, const SegLossOptions& o) {
  if (auto st = check_tversky(o); !st) return std::unexpected(st.error());
  return guarded("tversky loss", [&]() -> Result<at::Tensor> {
    auto p = prepare(logits, target, o);
    if (!p) return std::unexpected(p.error());
    return region_loss(*p, o, false, o.tversky_alpha, o.tversky_beta);
  });
}

Result<at::Tensor> focal_loss(const at::Tensor& logits, const at::Tensor& target, const SegLossOptions& o) {
  if (!(o.focal_gamma >= 0) || !std::isfinite(o.focal_gamma))
    return fail(ErrorCode::kInvalidArgument, "focal loss: gamma must be a finite number >= 0, got " +
                                                 std::to_string(o.focal_gamma));
  return guarded("focal loss", [&]() -> Result<at::Tensor> {
    auto p = prepare(logits, target, o);
    if (!p) return std::unexpected(p.error());
    return voxel_loss(*p, o.focal_gamma);
  });
}

Result<at::Tensor> dice_ce_loss(const at::Tensor& logits, const at::Tensor& target, const SegLossOptions& o) {
  if (!(o.dice_weight >= 0) || !(o.ce_weight >= 0))
    return fail(ErrorCode::kInvalidArgument, "dice_ce loss: dice_weight and ce_weight must be >= 0");
  return guarded("dice_ce loss", [&]() -> Result<at::Tensor> {
    auto p = prepare(logits, target, o);
    if (!p) return std::unexpected(p.error());
    return o.dice_weight * region_loss(*p, o, true) + o.ce_weight * voxel_loss(*p, 0.0);
  });
}

Result<at::Tensor> segmentation_loss(SegLossKind kind, const at::Tensor& logits, const at::Tensor& target,
                                     const SegLossOptions& options) {
  switch (kind) {
    case SegLossKind::kDice:
      return soft_dice_loss(logits, target, options);
    case SegLossKind::kDiceCe:
      return dice_ce_loss(logits, target, options);
    case SegLossKind::kFocal:
      return focal_loss(logits, target, options);
    case SegLossKind::kTversky:
      return tversky_loss(logits, target, options);
  }
  return fail(ErrorCode::kInvalidArgument, "unknown segmentation loss kind");
}

}  // namespace lucent::train
