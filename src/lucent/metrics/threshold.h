// Metrics of hard decisions: confusion matrices, sensitivity/specificity/PPV/NPV/F1, balanced
// accuracy, Cohen's kappa (unweighted and quadratic-weighted), and operating points of a binary
// score (threshold for a target sensitivity or specificity, Youden's J).
//
//   auto cm = confusion_matrix(truth, predicted, 3);        // rows = truth, columns = predicted
//   MetricValue k = cohen_kappa(cm, KappaWeights::kQuadratic);
//   BinaryCounts c = binary_counts(scores, truth, 0.5);     // positive when score >= 0.5
//   auto op = threshold_for_sensitivity(scores, truth, 0.9);
//
// Conventions: a case is called positive when score >= threshold (as scikit-learn's roc_curve).
// Ratios with a zero denominator are undefined (reason given), not 0: sensitivity without
// positives, specificity without negatives, PPV without predicted positives, NPV without
// predicted negatives, F1 when PPV or sensitivity is undefined or both are 0, kappa when the
// expected disagreement is 0. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/metrics/metric_value.h"

namespace lucent::metrics {

// Square confusion matrix; counts[t * k + p] = cases of true class t predicted as p.
struct ConfusionMatrix {
  int k = 0;
  std::vector<int64_t> counts;
  [[nodiscard]] int64_t at(int truth, int predicted) const { return counts[static_cast<std::size_t>(truth * k + predicted)]; }
  [[nodiscard]] int64_t total() const;
};

// Classes outside 0..k-1 are ignored (callers validate labels first).
[[nodiscard]] ConfusionMatrix confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted, int k);

struct BinaryCounts {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};
[[nodiscard]] BinaryCounts binary_counts(const std::vector<double>& scores, const std::vector<int>& truth,
                                         double threshold);
// One-vs-rest counts of class c from a K×K matrix.
[[nodiscard]] BinaryCounts one_vs_rest(const ConfusionMatrix& cm, int c);

[[nodiscard]] MetricValue sensitivity(const BinaryCounts& c);
[[nodiscard]] MetricValue specificity(const BinaryCounts& c);
[[nodiscard]] MetricValue ppv(const BinaryCounts& c);
[[nodiscard]] MetricValue npv(const BinaryCounts& c);
[[nodiscard]] MetricValue f1(const BinaryCounts& c);
// (sensitivity + specificity) / 2.
[[nodiscard]] MetricValue balanced_accuracy(const BinaryCounts& c);
[[nodiscard]] MetricValue accuracy(const BinaryCounts& c);

enum class KappaWeights { kNone, kQuadratic };
// kappa = 1 - sum(w * O) / sum(w * E), E = outer(row sums, column sums) / n,
// w = 1 - identity (kNone) or (i - j)^2 (kQuadratic) — scikit-learn's cohen_kappa_score with
// labels = 0..k-1.
[[nodiscard]] MetricValue cohen_kappa(const ConfusionMatrix& cm, KappaWeights weights);

// A decision threshold and what it gives on the data it was chosen on.
struct OperatingPoint {
  double threshold = 0;
  double sensitivity = 0;
  double specificity = 0;
};
// The largest threshold (a score, so the most specific choice) whose sensitivity >= target.
// kInvalidArgument: target outside [0, 1], only one class present, length mismatch.
[[nodiscard]] Result<OperatingPoint> threshold_for_sensitivity(const std::vector<double>& scores,
                                                               const std::vector<int>& truth, double target);
// The smallest threshold (the most sensitive choice) whose specificity >= target; when only
// "call nothing positive" reaches it, the threshold is just above the highest score.
[[nodiscard]] Result<OperatingPoint> threshold_for_specificity(const std::vector<double>& scores,
                                                               const std::vector<int>& truth, double target);
// The threshold maximising J = sensitivity + specificity - 1 (the largest one on ties).
[[nodiscard]] Result<OperatingPoint> youden_threshold(const std::vector<double>& scores, const std::vector<int>& truth);

}  // namespace lucent::metrics
