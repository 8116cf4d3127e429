#include "lucent/metrics/threshold_select.h"

#include <algorithm>
#include <cstdlib>

namespace lucent::metrics {

namespace {

// The grid thresholds as float32, the type the probabilities are compared in.
struct FloatGrid {
  std::array<float, kThresholdGridSteps> t{};
  FloatGrid() {
    for (int k = 0; k < kThresholdGridSteps; ++k)
      t[static_cast<std::size_t>(k)] = static_cast<float>(static_cast<double>(k) / kThresholdGridSteps);
  }
};

// The number of grid thresholds (k >= 1) that p reaches: p >= t[k] for k = 1 … bin.
int bin_of(float p, const FloatGrid& g) {
  if (!(p >= g.t[1])) return 0;  // also NaN
  int k = static_cast<int>(std::min(static_cast<double>(p), 1.0) * kThresholdGridSteps);
  k = std::clamp(k, 1, kThresholdGridSteps - 1);
  while (k < kThresholdGridSteps - 1 && p >= g.t[static_cast<std::size_t>(k + 1)]) ++k;
  while (p < g.t[static_cast<std::size_t>(k)]) --k;
  return k;
}

}  // namespace

Result<ThresholdMetric> parse_threshold_metric(std::string_view name) {
  if (name == "dice") return ThresholdMetric::kDice;
  if (name == "accuracy") return ThresholdMetric::kAccuracy;
  return fail(ErrorCode::kInvalidArgument,
              "threshold metric is '" + std::string(name) + "', expected one of: dice, accuracy");
}

std::string threshold_metric_name(ThresholdMetric metric) {
  return metric == ThresholdMetric::kDice ? "dice" : "accuracy";
}

Status ThresholdHistogram::add(std::span<const float> probabilities, std::span<const uint8_t> truth,
                               std::span<const uint8_t> roi) {
  if (truth.size() != probabilities.size() || (!roi.empty() && roi.size() != probabilities.size()))
    return fail(ErrorCode::kInvalidArgument,
                "threshold histogram: " + std::to_string(probabilities.size()) + " probabilities, " +
                    std::to_string(truth.size()) + " truth values and " + std::to_string(roi.size()) +
                    " ROI values; give one truth (and ROI, if any) value per probability");
  static const FloatGrid grid;
  const bool all = roi.empty();
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    if (!all && roi[i] == 0) continue;
    const auto b = static_cast<std::size_t>(bin_of(probabilities[i], grid));
    if (truth[i] != 0)
      ++fg_[b], ++foreground_;
    else
      ++bg_[b];
    ++pixels_;
  }
  return ok();
}

BinaryCounts ThresholdHistogram::counts_at(int k) const {
  BinaryCounts c;
  for (int b = std::max(k, 0); b < kThresholdGridSteps; ++b) {
    c.tp += fg_[static_cast<std::size_t>(b)];
    c.fp += bg_[static_cast<std::size_t>(b)];
  }
  c.fn = foreground_ - c.tp;
  c.tn = pixels_ - foreground_ - c.fp;
  return c;
}

double threshold_metric_value(const BinaryCounts& c, ThresholdMetric metric) {
  if (metric == ThresholdMetric::kAccuracy) {
    const int64_t n = c.tp + c.fp + c.fn + c.tn;
    return n ? static_cast<double>(c.tp + c.tn) / static_cast<double>(n) : 0.0;
  }
  const int64_t den = 2 * c.tp + c.fp + c.fn;
  return den ? 2.0 * static_cast<double>(c.tp) / static_cast<double>(den) : 1.0;
}

Result<ThresholdChoice> choose_threshold(const ThresholdHistogram& h, ThresholdMetric metric) {
  if (h.pixels() == 0)
    return fail(ErrorCode::kInvalidArgument,
                "no pixels to choose a threshold on (no images, or every pixel outside the ROI); give the "
                "validation images pixels inside their region of interest or set a fixed threshold");
  std::array<double, kThresholdGridSteps> value{};
  for (int k = 1; k < kThresholdGridSteps; ++k)
    value[static_cast<std::size_t>(k)] = threshold_metric_value(h.counts_at(k), metric);
  constexpr int kHalf = kThresholdGridSteps / 2;
  int best = kHalf;
  // Candidates in order of distance to 0.5 (the lower first): a later one wins only when better.
  for (int d = 1; d < kHalf; ++d)
    for (int k : {kHalf - d, kHalf + d})
      if (k >= 1 && k < kThresholdGridSteps &&
          value[static_cast<std::size_t>(k)] > value[static_cast<std::size_t>(best)])
        best = k;
  ThresholdChoice out;
  out.threshold = static_cast<double>(best) / kThresholdGridSteps;
  out.value = value[static_cast<std::size_t>(best)];
  out.value_at_half = value[static_cast<std::size_t>(kHalf)];
  out.pixels = h.pixels();
  out.foreground = h.foreground();
  return out;
}

Result<ThresholdChoice> choose_threshold(std::span<const float> probabilities, std::span<const uint8_t> truth,
                                         std::span<const uint8_t> roi, ThresholdMetric metric) {
  ThresholdHistogram h;
  if (auto st = h.add(probabilities, truth, roi); !st) return std::unexpected(st.error());
  return choose_threshold(h, metric);
}

}  // namespace lucent::metrics
