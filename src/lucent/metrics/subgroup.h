// Subgroup (bias) audit: every metric of `lucent metrics` per value of a truth column (sex, age
// band, site, manufacturer…), each with its interval, and per column the spread between
// subgroups — the largest gap of each metric, the equalised-odds differences at the overall
// operating point, and the subgroups whose interval lies wholly below the overall value.
//
//   auto p = read_prediction_files(pred, truth, Task::kBinary, {.subgroup_columns = {"sex", "site"}});
//   auto overall = evaluate(*p, options);
//   auto audit = audit_subgroups(*p, *overall, options, {.min_units = 30});
//   json["subgroups"] = subgroups_json(*audit);  json["subgroup_audit"] = audit_json(*audit);
//
// Each subgroup is evaluated by evaluate() on its own cases with the overall decision threshold
// held fixed (binary, multilabel), so the same DeLong / bootstrap machinery, resampling unit
// (patients with a patient column) and seed apply. A subgroup is "too small" — reported with
// its counts, not evaluated and not ranked — when it has fewer than `min_units` units (cases or
// patients) or, per class, fewer than `min_per_class` cases: binary, positives and negatives;
// multilabel, positives and negatives of every label; multiclass/ordinal, cases of every class.
// Gaps and equalised odds use only subgroups that are not too small and need two of them.
// Equalised odds (Hardt et al. 2016; Fairlearn's equalized_odds_difference): TPR = sensitivity,
// FPR = 1 − specificity at the fixed threshold (multiclass/multilabel: macro values); the TPR gap
// and FPR gap are max − min over subgroups, the difference is the larger of the two.
// "Below overall": a subgroup metric whose interval's upper end is below the overall value
// (for brier and ece, where lower is better, whose lower end is above it).
// Errors: kInvalidArgument for min_units below 1 or min_per_class below 0; a subgroup evaluation
// error, with the column and value as context.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lucent/core/error.h"
#include "lucent/metrics/evaluation.h"

namespace lucent::metrics {

struct SubgroupOptions {
  int64_t min_units = 30;     // cases, or patients with a patient column
  int64_t min_per_class = 5;  // see above
};

struct Subgroup {
  std::string value;                  // the column's value (kMissingSubgroup for empty cells)
  int64_t n = 0;                      // cases
  int64_t units = 0;                  // patients with a patient column, else cases
  std::vector<int64_t> class_counts;  // binary: {negatives, positives}; multiclass: per class;
                                      // multilabel: positives per label
  bool too_small = false;
  std::string reason;                 // why it is too small
  std::optional<Evaluation> evaluation;  // when not too small
};

struct MetricGap {
  std::string metric;
  std::optional<double> gap;          // highest − lowest
  std::string highest, lowest;        // subgroup values
  double highest_value = 0, lowest_value = 0;
  std::string reason;                 // when there is no gap
};

struct BelowOverall {
  std::string subgroup, metric;
  double estimate = 0, bound = 0, overall = 0;  // bound: ci_high (ci_low for brier/ece)
};

struct SubgroupColumn {
  std::string column;
  std::vector<Subgroup> groups;       // sorted by value
  std::vector<MetricGap> gaps;        // one per overall metric, same order
  std::optional<double> tpr_gap, fpr_gap;
  std::vector<std::pair<std::string, std::pair<std::optional<double>, std::optional<double>>>> rates;  // value → (tpr, fpr)
  std::string equalised_odds_reason;  // when there are no gaps
  std::vector<BelowOverall> below_overall;
};

struct SubgroupAudit {
  SubgroupOptions options;
  Task task = Task::kBinary;
  bool by_patient = false;
  std::optional<double> threshold;
  std::vector<SubgroupColumn> columns;  // in the order of PredictionSet::subgroups
};

[[nodiscard]] Result<SubgroupAudit> audit_subgroups(const PredictionSet& predictions, const Evaluation& overall,
                                                    const EvaluationOptions& options,
                                                    const SubgroupOptions& subgroup_options = {});

// metrics.json "subgroups": {column: {value: {"n", ["units",] counts, "status", ["reason"],
// "metrics": {...}, "operating_point": {"tpr", "fpr"}, "warnings"}}}.
[[nodiscard]] nlohmann::ordered_json subgroups_json(const SubgroupAudit& audit);
// metrics.json "subgroup_audit": {"rules": {...}, "columns": {column: {"ranked", "too_small",
// "largest_gap": {metric: {...}}, "equalised_odds": {...}, "below_overall": [...]}}}.
[[nodiscard]] nlohmann::ordered_json audit_json(const SubgroupAudit& audit);

}  // namespace lucent::metrics
