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
// (target outside [0, 1], a --threshold for a multiclass task, an unknown patient or subgroup
// column).
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
  // Truth columns asked for as subgroups (ReadOptions::subgroup_columns): name → one value per
  // case; an empty cell is the value kMissingSubgroup.
  std::vector<std::pair<std::string, std::vector<std::string>>> subgroups;
};

inline constexpr const char* kMissingSubgroup = "(missing)";

struct ReadOptions {
  std::string patient_column;                  // empty: cases are independent
  std::vector<std::string> subgroup_columns;   // truth columns to carry (e.g. sex, site)
};

// The cases `rows` (indices into p, in that order) as a PredictionSet of their own.
[[nodiscard]] PredictionSet subset(const PredictionSet& p, const std::vector<std::size_t>& rows);

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

// A metric with its per-class values: name → estimate (support has no interval).
using NamedEstimates = std::vector<std::pair<std::string, Estimate>>;

struct Evaluation {
  Task task = Task::kBinary;
  int classes = 2;
  int64_t n = 0;
  int64_t units = 0;                       // patients when a patient column was given, else n
  bool by_patient = false;
  double confidence = 0.95;
  int64_t resamples = 0;
  uint64_t seed = 0;
  std::optional<double> threshold;          // binary/multilabel: the decision threshold used
  NamedEstimates metrics;                  // in presentation order
  // per class (multiclass, ordinal) or label (multilabel): name → metric → estimate; "support"
  // (cases of the class) has no interval. One-vs-rest AUCs of independent cases use DeLong.
  std::vector<std::pair<std::string, NamedEstimates>> per_class;
  std::vector<ConfusionMatrix> confusion;  // binary/multiclass: one; multilabel: one 2×2 per label
  nlohmann::ordered_json operating_point;  // the rule, threshold, and Youden's J for binary
  std::vector<std::pair<std::string, Calibration>> calibration;  // "positive"/"top_label"/"label_k"
  std::vector<std::string> warnings;       // e.g. strata too small for a trustworthy bootstrap
};

// Below this many units (cases or patients) in a stratum, bootstrap intervals come with a warning.
constexpr std::size_t kSmallStratumUnits = 10;

[[nodiscard]] Result<Evaluation> evaluate(const PredictionSet& predictions, const EvaluationOptions& options);

using NamedValues = std::vector<std::pair<std::string, MetricValue>>;

// Every metric of a PredictionSet for any multiplicity of its cases (Counts, bootstrap.h),
// without re-sorting: each ranking column is sorted once here, and compute() sweeps the sorted
// orders, O(N·K) per call. This is what makes 2,000 resamples of 100,000 cases take seconds
// (bench/metrics_bootstrap.cpp). With every count 1 the values are those of the whole set;
// with a resample's counts they equal the metrics of the resample written out case by case
// (the ROC points are the same integer counts; sums differ only by rounding order).
// Construction copies what it needs from `p`; compute() and flat() are const and thread-safe.
class MetricTable {
 public:
  // threshold: binary/multilabel decision (positive when score >= threshold); unused otherwise.
  MetricTable(const PredictionSet& p, double threshold, std::optional<double> max_fpr);

  struct Values {
    NamedValues metrics;                                        // presentation order
    std::vector<std::pair<std::string, NamedValues>> per_class; // multiclass/ordinal/multilabel
    std::vector<ConfusionMatrix> confusion;                     // one, or one 2×2 per label
  };
  [[nodiscard]] Values compute(const Counts& counts) const;
  // The metrics, then every per-class value except support, flattened in a fixed order.
  [[nodiscard]] std::vector<std::optional<double>> flat(const Counts& counts) const;

 private:
  struct Column {                   // one ranking problem: a score column against a 0/1 truth
    std::vector<uint32_t> order;    // case indices by decreasing score (stable)
    std::vector<uint8_t> positive;  // truth of order[j]
    std::vector<uint32_t> group_end;   // end (exclusive) in `order` of each run of equal scores
    std::vector<double> group_score;
  };
  Task task_ = Task::kBinary;
  int k_ = 2;
  std::size_t n_ = 0;
  std::optional<double> max_fpr_;
  std::vector<Column> columns_;     // binary: 1; otherwise K
  // Per case (multilabel: per case and label, index i * K + k).
  std::vector<int> truth_;          // binary/multilabel 0/1, multiclass the class
  std::vector<int> decision_;       // binary/multilabel: called positive; multiclass: arg-max class
  std::vector<double> brier_;       // squared error (multiclass: summed over classes)
  std::vector<double> confidence_;  // calibration confidence
  std::vector<uint8_t> outcome_;    // calibration outcome
  std::vector<uint8_t> bin_;        // calibration bin of confidence_
};

// metrics.json: {"task", "n", "classes", "metrics": {name: {value, ci_low, ci_high, ci_method
// [, reason][, ci_note]}}, "per_class", "operating_point", "calibration", "confusion_matrix",
// "bootstrap"}, keys in that order, metrics in presentation order.
[[nodiscard]] nlohmann::ordered_json to_json(const Evaluation& evaluation);
// One estimate: {"value", "ci_low", "ci_high", "ci_method"[, "reason"][, "ci_note"]}.
[[nodiscard]] nlohmann::ordered_json to_json(const Estimate& estimate);

}  // namespace lucent::metrics
