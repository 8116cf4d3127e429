// Paired comparison of two models scored on the same cases: is model A better than model B?
//
//   auto pair = read_paired_files("a.csv", "b.csv", "truth.csv", Task::kBinary, {});
//   auto c = compare(*pair, {.bootstrap = {.resamples = 2000}, .seed = 1});
//   std::string json = to_json(*c).dump(2);                      // compare.json
//
// Three tests, each chosen for what it can answer (docs/metrics.md, "Comparing two models"):
//  - DeLong test for two correlated ROC AUCs (DeLong, DeLong & Clarke-Pearson 1988), with the
//    structural components computed by the midrank algorithm of Sun & Xu (2014): for model r,
//    V10_r(i) over positives and V01_r(j) over negatives as in ranking.h's delong_auc; S10 and
//    S01 their 2×2 sample covariance matrices; Var(A − B) = (S10_aa + S10_bb − 2 S10_ab) / m +
//    (S01_aa + S01_bb − 2 S01_ab) / n; z = (A − B) / √Var; two-sided p = 2 (1 − Φ(|z|)); the
//    interval (A − B) ± z_{1−α/2} √Var. Binary tasks with independent cases (no patient column)
//    and at least 2 positives and 2 negatives.
//  - McNemar test of the accuracies at the decision rule (binary: score >= threshold, each
//    model's own threshold with a target rule; multiclass/ordinal: arg-max): b = cases A gets
//    right and B wrong, c = the reverse. With b + c < 25 the exact two-sided binomial test,
//    p = min(1, 2 P(X ≤ min(b, c))) with X ~ Bin(b + c, 1/2); otherwise the chi-square test with
//    continuity correction, χ² = (|b − c| − 1)² / (b + c) on 1 degree of freedom. Not for
//    multilabel tasks. With a patient column the cases are not independent (a note says so).
//  - Paired bootstrap of every metric (evaluate()'s metrics): the same resample (stratified by
//    class, patients when a patient column is given) scores both models; the interval of A − B
//    is BCa or percentile; the two-sided p-value is the shift method of bootstrap.h.
// Rows of the three files are matched by id (match_predictions' errors name the file, line and
// id of a missing, extra or duplicated id). Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lucent/core/error.h"
#include "lucent/metrics/evaluation.h"

namespace lucent::metrics {

struct PairedPredictions {
  PredictionSet a, b;                // same ids, labels and patients, in the truth file's order
  std::string name_a = "A", name_b = "B";
};

[[nodiscard]] Result<PairedPredictions> read_paired_files(const std::filesystem::path& pred_a,
                                                          const std::filesystem::path& pred_b,
                                                          const std::filesystem::path& truth, Task task,
                                                          const ReadOptions& options = {});

struct DelongComparison {
  double auc_a = 0, auc_b = 0;
  double difference = 0;             // auc_a − auc_b
  double variance = 0;               // of the difference
  std::optional<double> z;           // undefined when the variance is 0
  double p_value = 1;
  double ci_low = 0, ci_high = 0;
  int64_t positives = 0, negatives = 0;
};
// kInvalidArgument: lengths differ, fewer than 2 positives or negatives.
[[nodiscard]] Result<DelongComparison> delong_compare(const std::vector<double>& scores_a,
                                                      const std::vector<double>& scores_b,
                                                      const std::vector<int>& truth, double confidence = 0.95);

struct McNemar {
  int64_t both_right = 0, a_only = 0, b_only = 0, both_wrong = 0;  // a_only: A right, B wrong
  std::string method;                // "exact_binomial" or "chi_square_continuity_corrected"
  std::optional<double> statistic;   // χ² (chi-square method only)
  double p_value = 1;
};
// Threshold between the two methods: discordant pairs below it use the exact test.
constexpr int64_t kMcNemarExactBelow = 25;
[[nodiscard]] McNemar mcnemar(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct);

struct PairedDifference {
  std::string metric;
  MetricValue a, b;
  std::optional<double> difference;  // a − b when both are defined
  std::optional<double> ci_low, ci_high, p_value;
  std::string ci_method = "none";
  std::string note;
};

struct Comparison {
  Task task = Task::kBinary;
  int classes = 2;
  int64_t n = 0, units = 0;
  bool by_patient = false;
  double confidence = 0.95;
  int64_t resamples = 0;
  uint64_t seed = 0;
  std::string name_a, name_b;
  nlohmann::ordered_json decision;   // the rule and each model's threshold
  std::vector<PairedDifference> metrics;
  std::optional<DelongComparison> delong;
  std::string delong_reason;
  std::optional<McNemar> mcnemar;
  std::string mcnemar_reason;
  std::vector<std::string> warnings;
};

// Options as evaluate()'s (decision rule, max_fpr, bootstrap, seed); kInvalidArgument for the
// same impossible options.
[[nodiscard]] Result<Comparison> compare(const PairedPredictions& pair, const EvaluationOptions& options);

// compare.json: {"task", "n", "models", "decision", "delong", "mcnemar", "metrics", "bootstrap",
// "warnings"}.
[[nodiscard]] nlohmann::ordered_json to_json(const Comparison& comparison);

}  // namespace lucent::metrics
