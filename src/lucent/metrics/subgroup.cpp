#include "lucent/metrics/subgroup.h"

#include <algorithm>
#include <map>
#include <set>

namespace lucent::metrics {
namespace {

using json = nlohmann::ordered_json;

bool lower_is_better(const std::string& metric) { return metric == "brier" || metric == "ece"; }

const Estimate* find(const NamedEstimates& metrics, const std::string& name) {
  for (const auto& [n, est] : metrics)
    if (n == name) return &est;
  return nullptr;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Counts per class and the reason a subgroup is too small (empty when it is not).
std::string size_check(const PredictionSet& p, const std::vector<std::size_t>& rows, int64_t units,
                       const SubgroupOptions& o, bool by_patient, std::vector<int64_t>& counts) {
  const std::size_t k = static_cast<std::size_t>(p.classes);
  if (p.task == Task::kMultilabel) {
    counts.assign(k, 0);
    for (std::size_t r : rows)
      for (std::size_t c = 0; c < k; ++c) counts[c] += p.labels[r][c] != 0;
  } else {
    counts.assign(p.task == Task::kBinary ? 2 : k, 0);
    for (std::size_t r : rows) ++counts[static_cast<std::size_t>(p.labels[r][0])];
  }
  const char* unit = by_patient ? "patient(s)" : "case(s)";
  if (units < o.min_units)
    return std::to_string(units) + " " + unit + ", fewer than the minimum " + std::to_string(o.min_units) +
           " (--min-subgroup)";
  const auto n = static_cast<int64_t>(rows.size());
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (p.task == Task::kMultilabel) {
      if (counts[c] < o.min_per_class || n - counts[c] < o.min_per_class)
        return "label " + std::to_string(c) + " has " + std::to_string(counts[c]) + " positive and " +
               std::to_string(n - counts[c]) + " negative case(s), fewer than " + std::to_string(o.min_per_class) +
               " (--min-subgroup-class)";
    } else if (counts[c] < o.min_per_class) {
      const std::string what = p.task == Task::kBinary ? (c == 1 ? "positive" : "negative")
                                                       : "class " + std::to_string(c);
      return std::to_string(counts[c]) + " " + what + " case(s), fewer than " + std::to_string(o.min_per_class) +
             " (--min-subgroup-class)";
    }
  }
  return {};
}

}  // namespace

Result<SubgroupAudit> audit_subgroups(const PredictionSet& p, const Evaluation& overall, const EvaluationOptions& options,
                                      const SubgroupOptions& so) {
  if (so.min_units < 1)
    return fail(ErrorCode::kInvalidArgument, "--min-subgroup must be at least 1, got " + std::to_string(so.min_units));
  if (so.min_per_class < 0)
    return fail(ErrorCode::kInvalidArgument,
                "--min-subgroup-class must be at least 0, got " + std::to_string(so.min_per_class));
  SubgroupAudit audit;
  audit.options = so;
  audit.task = p.task;
  audit.by_patient = !p.patients.empty();
  audit.threshold = overall.threshold;
  // The subgroups keep the overall operating point: a threshold chosen per subgroup would hide
  // exactly the differences the audit is for.
  EvaluationOptions sub_options = options;
  sub_options.decision = {};
  if (overall.threshold) sub_options.decision.threshold = *overall.threshold;

  for (const auto& [column, values] : p.subgroups) {
    SubgroupColumn col;
    col.column = column;
    std::map<std::string, std::vector<std::size_t>> rows_of;
    for (std::size_t i = 0; i < values.size(); ++i) rows_of[values[i]].push_back(i);
    for (const auto& [value, rows] : rows_of) {
      Subgroup g;
      g.value = value;
      g.n = static_cast<int64_t>(rows.size());
      std::set<std::string> patients;
      if (audit.by_patient)
        for (std::size_t r : rows) patients.insert(p.patients[r]);
      g.units = audit.by_patient ? static_cast<int64_t>(patients.size()) : g.n;
      g.reason = size_check(p, rows, g.units, so, audit.by_patient, g.class_counts);
      g.too_small = !g.reason.empty();
      if (!g.too_small) {
        auto e = evaluate(subset(p, rows), sub_options);
        if (!e) return std::unexpected(e.error().with_context("subgroup " + column + " = '" + value + "'"));
        g.evaluation = std::move(*e);
      }
      col.groups.push_back(std::move(g));
    }

    // Gaps of each metric over the subgroups that are not too small.
    for (const auto& [metric, overall_est] : overall.metrics) {
      MetricGap gap;
      gap.metric = metric;
      int defined = 0;
      for (const auto& g : col.groups) {
        if (!g.evaluation) continue;
        const Estimate* est = find(g.evaluation->metrics, metric);
        if (!est || !est->point) continue;
        const double v = *est->point.value;
        if (defined == 0 || v > gap.highest_value) gap.highest_value = v, gap.highest = g.value;
        if (defined == 0 || v < gap.lowest_value) gap.lowest_value = v, gap.lowest = g.value;
        ++defined;
        // Wholly below (worse than) the overall value.
        if (overall_est.point) {
          const double all = *overall_est.point.value;
          if (lower_is_better(metric) ? (est->ci_low && *est->ci_low > all) : (est->ci_high && *est->ci_high < all))
            col.below_overall.push_back({g.value, metric, v, lower_is_better(metric) ? *est->ci_low : *est->ci_high, all});
        }
      }
      if (defined >= 2) gap.gap = gap.highest_value - gap.lowest_value;
      else gap.reason = "needs two subgroups with a value; " + std::to_string(defined) + " have one";
      col.gaps.push_back(std::move(gap));
    }

    // Equalised odds at the fixed operating point.
    std::optional<double> tpr_min, tpr_max, fpr_min, fpr_max;
    for (const auto& g : col.groups) {
      if (!g.evaluation) continue;
      std::optional<double> tpr, fpr;
      if (const Estimate* se = find(g.evaluation->metrics, "sensitivity"); se && se->point) tpr = *se->point.value;
      if (const Estimate* sp = find(g.evaluation->metrics, "specificity"); sp && sp->point) fpr = 1.0 - *sp->point.value;
      col.rates.push_back({g.value, {tpr, fpr}});
      if (tpr) tpr_min = std::min(tpr_min.value_or(*tpr), *tpr), tpr_max = std::max(tpr_max.value_or(*tpr), *tpr);
      if (fpr) fpr_min = std::min(fpr_min.value_or(*fpr), *fpr), fpr_max = std::max(fpr_max.value_or(*fpr), *fpr);
    }
    const auto with_tpr = std::count_if(col.rates.begin(), col.rates.end(), [](const auto& r) { return r.second.first.has_value(); });
    const auto with_fpr = std::count_if(col.rates.begin(), col.rates.end(), [](const auto& r) { return r.second.second.has_value(); });
    if (with_tpr >= 2) col.tpr_gap = *tpr_max - *tpr_min;
    if (with_fpr >= 2) col.fpr_gap = *fpr_max - *fpr_min;
    if (!col.tpr_gap || !col.fpr_gap)
      col.equalised_odds_reason = "needs two subgroups (not too small) with a defined sensitivity and specificity";
    audit.columns.push_back(std::move(col));
  }
  return audit;
}

json subgroups_json(const SubgroupAudit& audit) {
  json out = json::object();
  for (const auto& col : audit.columns) {
    json groups = json::object();
    for (const auto& g : col.groups) {
      json j = {{"n", g.n}};
      if (audit.by_patient) j["units"] = g.units;
      if (audit.task == Task::kBinary) {
        j["negatives"] = g.class_counts[0];
        j["positives"] = g.class_counts[1];
      } else {
        j[audit.task == Task::kMultilabel ? "positives_per_label" : "class_counts"] = g.class_counts;
      }
      j["status"] = g.too_small ? "too_small" : "ok";
      if (g.too_small) {
        j["reason"] = g.reason;
      } else {
        json metrics = json::object();
        for (const auto& [name, est] : g.evaluation->metrics) metrics[name] = to_json(est);
        j["metrics"] = std::move(metrics);
        j["warnings"] = g.evaluation->warnings;
      }
      groups[g.value] = std::move(j);
    }
    out[col.column] = std::move(groups);
  }
  return out;
}

json audit_json(const SubgroupAudit& audit) {
  json columns = json::object();
  for (const auto& col : audit.columns) {
    json ranked = json::array(), small = json::array();
    for (const auto& g : col.groups) (g.too_small ? small : ranked).push_back(g.value);
    json gaps = json::object();
    for (const auto& gap : col.gaps) {
      json j = {{"gap", optional_json(gap.gap)}};
      if (gap.gap) {
        j["highest"] = {{"subgroup", gap.highest}, {"value", gap.highest_value}};
        j["lowest"] = {{"subgroup", gap.lowest}, {"value", gap.lowest_value}};
      } else {
        j["reason"] = gap.reason;
      }
      gaps[gap.metric] = std::move(j);
    }
    json tpr = json::object(), fpr = json::object();
    for (const auto& [value, r] : col.rates) {
      tpr[value] = optional_json(r.first);
      fpr[value] = optional_json(r.second);
    }
    json eo = {{"threshold", optional_json(audit.threshold)},
               {"tpr_gap", optional_json(col.tpr_gap)},
               {"fpr_gap", optional_json(col.fpr_gap)},
               {"difference", col.tpr_gap && col.fpr_gap ? json(std::max(*col.tpr_gap, *col.fpr_gap)) : json(nullptr)},
               {"tpr", std::move(tpr)},
               {"fpr", std::move(fpr)}};
    if (!audit.threshold) eo["note"] = "arg-max decisions: TPR and FPR are macro (one-vs-rest) values";
    if (!col.equalised_odds_reason.empty()) eo["reason"] = col.equalised_odds_reason;
    json below = json::array();
    for (const auto& b : col.below_overall)
      below.push_back({{"subgroup", b.subgroup},
                       {"metric", b.metric},
                       {"value", b.estimate},
                       {lower_is_better(b.metric) ? "ci_low" : "ci_high", b.bound},
                       {"overall", b.overall}});
    columns[col.column] = {{"ranked", std::move(ranked)},
                           {"too_small", std::move(small)},
                           {"largest_gap", std::move(gaps)},
                           {"equalised_odds", std::move(eo)},
                           {"below_overall", std::move(below)}};
  }
  return {{"rules",
           {{"unit", audit.by_patient ? "patient" : "case"},
            {"min_units", audit.options.min_units},
            {"min_per_class", audit.options.min_per_class},
            {"threshold", optional_json(audit.threshold)},
            {"below_overall", "interval wholly worse than the overall value (ci_high < overall; for brier and ece "
                              "ci_low > overall)"}}},
          {"columns", std::move(columns)}};
}

}  // namespace lucent::metrics
