// Choosing the foreground threshold of a binary segmentation on held-out pixels: the
// threshold on the grid 0.01, 0.02, …, 0.99 that maximises pooled Dice or pixel accuracy.
// Used by segmentation training with `infer.threshold: auto` on the validation images (never
// the test images); see docs/segmentation.md.
//
//   ThresholdHistogram h;
//   for (const auto& image : validation)                       // pooled over the images
//     if (auto st = h.add(probs_of(image), truth_of(image), roi_of(image)); !st) return st;
//   auto c = choose_threshold(h, ThresholdMetric::kDice);
//   // c->threshold, c->value (Dice there), c->value_at_half (Dice at 0.5)
//
// A pixel is called foreground when p >= t, compared in float32 as LibTorch compares a float
// tensor with a scalar (`probs >= t` in the trainer's evaluation and in infer::Segmenter), so
// the counts here are exactly those of thresholding the same probabilities there.
// One pass over the pixels fills a histogram per true class (pixel i goes to bin b = the
// number of grid thresholds it reaches); every threshold's counts are then suffix sums of the
// bins: O(n + 100²) time, 1.6 kB of memory, whatever the number of pixels.
// Metrics (as segmentation evaluation): Dice = 2TP / (2TP + FP + FN), 1 when truth and
// prediction are both empty; accuracy = (TP + TN) / pixels. Ties: the threshold closest to 0.5
// wins (of two equally close, the lower one), so a flat optimum keeps the usual 0.5.
// Empty foreground (no true pixel): Dice is 1 only where nothing is predicted, so the chosen
// threshold is the one closest to 0.5 above every probability (`foreground` = 0 tells).
// Errors: kInvalidArgument when probabilities, truth and ROI differ in length, when no pixel
// was counted (empty data or an empty ROI), or for an unknown metric name.
// Thread-safety: values; choose_threshold is pure.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "lucent/core/error.h"
#include "lucent/metrics/threshold.h"

namespace lucent::metrics {

enum class ThresholdMetric { kDice, kAccuracy };

// "dice" | "accuracy"; kInvalidArgument naming the allowed names otherwise.
[[nodiscard]] Result<ThresholdMetric> parse_threshold_metric(std::string_view name);
[[nodiscard]] std::string threshold_metric_name(ThresholdMetric metric);

// Grid thresholds are k / kThresholdGridSteps for k = 1 … kThresholdGridSteps - 1.
inline constexpr int kThresholdGridSteps = 100;

struct ThresholdChoice {
  double threshold = 0.5;    // the chosen grid threshold
  double value = 0;          // the metric there
  double value_at_half = 0;  // the metric at 0.5
  int64_t pixels = 0;        // pixels it was chosen on
  int64_t foreground = 0;    // of which truly foreground
};

// Foreground probabilities of pooled pixels, binned per true class.
class ThresholdHistogram {
 public:
  // probabilities[i] = foreground probability of pixel i; truth[i] != 0 = foreground; with a
  // non-empty roi only pixels with roi[i] != 0 count. NaN counts as below every threshold.
  // kInvalidArgument when the lengths differ (nothing is added then).
  [[nodiscard]] Status add(std::span<const float> probabilities, std::span<const uint8_t> truth,
                           std::span<const uint8_t> roi = {});

  // Counts when foreground is p >= k / kThresholdGridSteps, k in 1 … kThresholdGridSteps - 1.
  [[nodiscard]] BinaryCounts counts_at(int k) const;
  [[nodiscard]] int64_t pixels() const { return pixels_; }
  [[nodiscard]] int64_t foreground() const { return foreground_; }
  // Bin b holds the pixels whose probability reaches the grid thresholds 1 … b (b = 0: none).
  using Bins = std::array<int64_t, kThresholdGridSteps>;
  [[nodiscard]] const Bins& foreground_bins() const { return fg_; }
  [[nodiscard]] const Bins& background_bins() const { return bg_; }

 private:
  std::array<int64_t, kThresholdGridSteps> fg_{}, bg_{};
  int64_t pixels_ = 0, foreground_ = 0;
};

// Dice or accuracy of binary counts, with the conventions above.
[[nodiscard]] double threshold_metric_value(const BinaryCounts& counts, ThresholdMetric metric);

[[nodiscard]] Result<ThresholdChoice> choose_threshold(const ThresholdHistogram& histogram,
                                                       ThresholdMetric metric);
// The same for one set of pixels.
[[nodiscard]] Result<ThresholdChoice> choose_threshold(std::span<const float> probabilities,
                                                       std::span<const uint8_t> truth,
                                                       std::span<const uint8_t> roi, ThresholdMetric metric);

}  // namespace lucent::metrics
