// Calibration of probabilities: Brier score, expected and maximum calibration error (ECE, MCE)
// and the points of a reliability curve.
//
//   MetricValue b = brier_score(probs, truth);                 // mean (p - y)^2
//   Calibration cal = calibration(confidence, correct);        // 10 equal-width bins
//
// Binning: `bins` equal-width bins on [0, 1]; a probability p falls in bin min(floor(p * bins),
// bins - 1), so bin 0 is [0, 0.1), bin 9 is [0.9, 1.0] with the default 10.
// ECE = sum over non-empty bins of (n_b / n) * |observed_b - mean_confidence_b|; MCE = the
// largest such gap over non-empty bins. For binary tasks `confidence` is the positive score
// and `outcome` the truth; for multiclass it is the top-label confidence (max probability) and
// whether the arg-max class was right (Guo et al. 2017).
// Undefined with no cases. Probabilities must lie in [0, 1] (callers validate). Pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "lucent/metrics/metric_value.h"

namespace lucent::metrics {

constexpr int kCalibrationBins = 10;

// Mean squared difference between probability and outcome (scikit-learn's brier_score_loss).
[[nodiscard]] MetricValue brier_score(const std::vector<double>& probs, const std::vector<int>& truth);

struct ReliabilityBin {
  double low = 0, high = 0;       // bin edges
  int64_t count = 0;
  double mean_confidence = 0;     // mean predicted probability in the bin (0 if empty)
  double observed = 0;            // fraction of outcomes = 1 in the bin (0 if empty)
};

struct Calibration {
  MetricValue ece;
  MetricValue mce;
  std::vector<ReliabilityBin> bins;  // all `bins`, empty ones with count 0
};

[[nodiscard]] Calibration calibration(const std::vector<double>& confidence, const std::vector<int>& outcome,
                                      int bins = kCalibrationBins);

}  // namespace lucent::metrics
