// Temperature scaling (Guo et al., ICML 2017): one scalar T > 0 that divides the logits, fitted
// on a held-out split by minimising the negative log-likelihood, then applied to other splits.
// It changes confidence, not the ranking: AUC and the arg-max class stay the same.
//
//   auto t = fit_temperature(val.scores, val.labels, Task::kMulticlass);   // T on validation
//   auto test_scaled = apply_temperature(test.scores, Task::kMulticlass, t->temperature);
//
// Works from probabilities in the PredictionSet layout (binary: one column, the positive class;
// multi-class/ordinal: K columns summing to 1; multi-label: K independent columns): the logits
// are recovered as log p (softmax is shift-invariant) or logit(p) (sigmoid tasks), with p
// clipped to [1e-12, 1 - 1e-12]. The NLL is convex in 1/T, so a golden-section search over
// log(1/T) in [log 0.01, log 100] finds the minimum; a minimum on the boundary (a perfectly
// separable split) is reported as such. Errors: kInvalidArgument for no cases or rows of the
// wrong width.
#pragma once

#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/task.h"

namespace lucent::metrics {

struct TemperatureFit {
  double temperature = 1.0;
  double nll_before = 0;     // mean NLL at T = 1
  double nll_after = 0;      // mean NLL at the fitted T
  bool at_bound = false;     // T hit 0.01 or 100: the split was (nearly) separable
};

[[nodiscard]] Result<TemperatureFit> fit_temperature(const std::vector<std::vector<double>>& scores,
                                                     const std::vector<std::vector<int>>& labels, Task task);

// The probabilities at temperature T, in the same layout.
[[nodiscard]] std::vector<std::vector<double>> apply_temperature(const std::vector<std::vector<double>>& scores,
                                                                 Task task, double temperature);

}  // namespace lucent::metrics
