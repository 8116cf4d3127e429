// Classification metrics with MedMNIST's definitions, on plain vectors (no tensors), so that
// predictions from any source can be scored.
//
//   std::vector<std::vector<double>> probs = ...;   // N rows, K columns (softmax / sigmoid)
//   std::vector<std::vector<int>> labels = ...;     // N rows: 1 column (class) or K (multi-label)
//   auto auc = lucent::metrics::roc_auc(probs, labels, Task::kBinary);
//
// Definitions (MedMNIST v2, Yang et al. 2023):
//  binary      AUC of the positive-class score (column K-1; a single column is the score);
//              ACC at threshold 0.5 on that score.
//  multiclass  macro one-vs-rest AUC; ACC of the arg-max.
//  ordinal     as multiclass.
//  multilabel  mean over labels of per-label AUC; ACC = mean over labels of per-label accuracy
//              at threshold 0.5.
// AUC is the Mann–Whitney statistic with ties counted one half. A label column with only one
// class present has no AUC: kInvalidArgument naming the column (MedMNIST test splits always
// have both). Errors: kInvalidArgument for shape mismatches. Thread-safe (pure functions).
#pragma once

#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/task.h"

namespace lucent::metrics {

using lucent::Task;

// AUC of scores for a binary truth vector (1 = positive).
[[nodiscard]] Result<double> binary_auc(const std::vector<double>& scores, const std::vector<int>& truth);

[[nodiscard]] Result<double> roc_auc(const std::vector<std::vector<double>>& probs,
                                     const std::vector<std::vector<int>>& labels, Task task);
[[nodiscard]] Result<double> accuracy(const std::vector<std::vector<double>>& probs,
                                      const std::vector<std::vector<int>>& labels, Task task);

}  // namespace lucent::metrics
