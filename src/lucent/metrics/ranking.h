// Ranking metrics of one binary problem: ROC curve, ROC AUC, partial AUC, average precision
// (PR AUC) and the DeLong variance of the AUC.
//
//   std::vector<double> s = {0.1, 0.8, 0.8};  std::vector<int> y = {0, 1, 0};
//   MetricValue auc = roc_auc(s, y);                         // 0.75 (ties count one half)
//   MetricValue ap  = average_precision(s, y);
//   Result<DelongAuc> d = delong_auc(s, y);                  // auc, variance, 95 % CI
//
// Conventions (identical to scikit-learn 1.2):
//  - truth: 0 = negative, anything else = positive. A case is called positive at threshold t
//    when score >= t; the ROC curve has one point per distinct score, plus (0, 0).
//  - roc_auc is the trapezoidal area under that curve = the Mann–Whitney statistic with ties
//    counted one half.
//  - partial_roc_auc(max_fpr): area for FPR in [0, max_fpr], the curve linearly interpolated at
//    max_fpr. kRaw returns that area (range 0..max_fpr); kMcClish standardises it as
//    scikit-learn's roc_auc_score(max_fpr=...) does: 0.5 * (1 + (A - m) / (M - m)) with
//    m = max_fpr^2 / 2 and M = max_fpr, so 0.5 is chance and 1 is perfect.
//  - average_precision = sum over distinct thresholds (descending) of
//    (R_k - R_{k-1}) * P_k, no interpolation (sklearn's average_precision_score).
// Undefined (MetricValue without value): no positive or no negative case ("undefined: only one
// class present"). Pure functions; thread-safe. Inputs must have equal lengths (checked:
// kInvalidArgument).
#pragma once

#include <cstdint>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/metrics/metric_value.h"

namespace lucent::metrics {

// One point of the ROC curve: the cases with score >= threshold are called positive.
struct RocPoint {
  double threshold = 0;
  int64_t true_positives = 0;
  int64_t false_positives = 0;
};

// Points in decreasing threshold order, one per distinct score (no (0,0) point).
[[nodiscard]] std::vector<RocPoint> roc_points(const std::vector<double>& scores, const std::vector<int>& truth);

// Midranks (1-based, ties get the mean of their ranks) of `values`, in O(n log n).
[[nodiscard]] std::vector<double> midranks(const std::vector<double>& values);

[[nodiscard]] MetricValue roc_auc(const std::vector<double>& scores, const std::vector<int>& truth);

enum class PartialAucScale { kRaw, kMcClish };
// max_fpr must be in (0, 1] (kInvalidArgument otherwise).
[[nodiscard]] Result<MetricValue> partial_roc_auc(const std::vector<double>& scores, const std::vector<int>& truth,
                                                  double max_fpr, PartialAucScale scale = PartialAucScale::kMcClish);

[[nodiscard]] MetricValue average_precision(const std::vector<double>& scores, const std::vector<int>& truth);

// The same three from precomputed roc_points(scores, truth): one sort serves all of them.
[[nodiscard]] MetricValue roc_auc(const std::vector<RocPoint>& points);
[[nodiscard]] Result<MetricValue> partial_roc_auc(const std::vector<RocPoint>& points, double max_fpr,
                                                  PartialAucScale scale = PartialAucScale::kMcClish);
[[nodiscard]] MetricValue average_precision(const std::vector<RocPoint>& points);

// AUC with its DeLong (1988) variance, computed by the midrank method of Sun & Xu (2014):
// V10_i = (R_i - R^X_i) / n for each positive, V01_j = 1 - (R_j - R^Y_j) / m for each negative
// (R = midrank among all cases, R^X / R^Y = midrank among positives / negatives),
// Var = s²(V10) / m + s²(V01) / n with sample variances (divisor m-1, n-1).
struct DelongAuc {
  double auc = 0;
  double variance = 0;
  int64_t positives = 0;
  int64_t negatives = 0;
  // auc ± z * sqrt(variance), clipped to [0, 1]; z = Φ⁻¹(1 - (1 - confidence) / 2).
  [[nodiscard]] std::pair<double, double> interval(double confidence = 0.95) const;
};
// kInvalidArgument: length mismatch, or fewer than 2 positives or 2 negatives (message says
// "only one class present" when one class is missing).
[[nodiscard]] Result<DelongAuc> delong_auc(const std::vector<double>& scores, const std::vector<int>& truth);

// Standard normal CDF and its inverse (Acklam's rational approximation, one Halley step;
// |error| < 1e-12). p must be in (0, 1).
[[nodiscard]] double normal_cdf(double z);
[[nodiscard]] double normal_quantile(double p);

}  // namespace lucent::metrics
