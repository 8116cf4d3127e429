// Evaluation of a set of predictions against the truth: every classification metric of the
// task with a confidence interval, per-class values, the operating point and calibration.
// This is what `lucent metrics` prints and writes as metrics.json.
//
//   auto p = read_prediction_files("pred.csv", "truth.csv", Task::kBinary, {.patient_column = "patient"});
//   auto e = evaluate(*p, {.bootstrap = {.resamples = 2000}, .seed = 7});
//   std::string json = to_json(*e).dump(2);
//
// Files (read with lucent::read_csv): PRED has `id` and the scores — `score` (binary), or
// `score_0 … score_{K-1}` as written by `lucent predict` (other columns such as `predicted`
// are ignored; for binary with score_0, score_1 the positive score is score_1). TRUTH has `id`
// and `label` (binary 0/1, multiclass and ordinal 0..K-1) or `label_0 … label_{K-1}`
// (multilabel, 0/1), plus any other columns (a patient column among them).
// Errors (each names the file, line and id): kNotFound for a missing file; kInvalidData for a
// missing, extra or duplicated id, a non-numeric score, a probability outside [0, 1], an empty
// file, a missing column, a label outside 0..K-1; kInvalidArgument for impossible options
// (target outside [0, 1], a --threshold for a multiclass task, an unknown patient column).
//
// Metric definitions and what is resampled: docs/metrics.md. Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lucent/core/csv.h"
#include "lucent/core/error.h"
#include "lucent/core/task.h"
#include "lucent/metrics/bootstrap.h"
#include "lucent/metrics/calibration.h"
#include "lucent/metrics/metric_value.h"
#include "lucent/metrics/threshold.h"

namespace lucent::metrics {

// Scores and truth matched by id, in the truth file's order.
struct PredictionSet {
  Task task = Task::kBinary;
  int classes = 2;                              // K (binary: 2)
  std::vector<std::string> ids;
  std::vector<std::vector<double>> scores;      // N rows: 1 (binary: positive score) or K
  std::vector<std::vector<int>> labels;         // N rows: 1 (class) or K (multilabel 0/1)
  std::vector<std::string> patients;            // empty, or one per case
};

struct ReadOptions {
  std::string patient_column;  // empty: cases are independent
};

[[nodiscard]] Result<PredictionSet> read_prediction_files(const std::filesystem::path& pred,
                                                          const std::filesystem::path& truth, Task task,
                                                          const ReadOptions& options = {});
// The same from parsed tables (`pred_source` / `truth_source` name them in messages).
[[nodiscard]] Result<PredictionSet> match_predictions(const CsvTable& pred, const std::string& pred_source,
                                                      const CsvTable& truth, const std::string& truth_source,
                                                      Task task, const ReadOptions& options = {});

// How binary (and multilabel) scores become decisions. At most one of the targets is set.
struct DecisionOptions {
  std::optional<double> threshold;             // default 0.5; called positive when score >= it
  std::optional<double> target_sensitivity;    // binary only
  std::optional<double> target_specificity;    // binary only
};

struct EvaluationOptions {
  DecisionOptions decision;
  std::optional<double> max_fpr;               // adds `pauc` (McClish-standardised) when set
  BootstrapOptions bootstrap;                  // resamples = 0: no bootstrap intervals
  uint64_t seed = 0;
};

struct Estimate {
  MetricValue point;
  std::optional<double> ci_low, ci_high;
  std::string ci_method = "none";  // "delong", "bootstrap_bca", "bootstrap_percentile", "none"
  std::string ci_note;
};

struct Evaluation {
  Task task = Task::kBinary;
  int classes = 2;
  int64_t n = 0;
  int64_t units = 0;                       // patients when a patient column was given, else n
  bool by_patient = false;
  double confidence = 0.95;
  int64_t resamples = 0;
  uint64_t seed = 0;
  std::vector<std::pair<std::string, Estimate>> metrics;  // in presentation order
  // per class (multiclass, ordinal) or label (multilabel): name → metric → value
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, MetricValue>>>> per_class;
  std::vector<ConfusionMatrix> confusion;  // binary/multiclass: one; multilabel: one 2×2 per label
  nlohmann::ordered_json operating_point;  // the rule, threshold, and Youden's J for binary
  std::vector<std::pair<std::string, Calibration>> calibration;  // "positive"/"top_label"/"label_k"
  std::vector<std::string> warnings;       // e.g. strata too small for a trustworthy bootstrap
};

// Below this many units (cases or patients) in a stratum, bootstrap intervals come with a warning.
constexpr std::size_t kSmallStratumUnits = 10;

[[nodiscard]] Result<Evaluation> evaluate(const PredictionSet& predictions, const EvaluationOptions& options);

// metrics.json: {"task", "n", "classes", "metrics": {name: {value, ci_low, ci_high, ci_method
// [, reason][, ci_note]}}, "per_class", "operating_point", "calibration", "confusion_matrix",
// "bootstrap"}, keys in that order, metrics in presentation order.
[[nodiscard]] nlohmann::ordered_json to_json(const Evaluation& evaluation);

}  // namespace lucent::metrics
