#include "metrics_output.h"

#include <cstdio>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/metrics/report.h"
#include "lucent/metrics/subgroup.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

std::string fixed(const std::optional<double>& v, int digits = 4) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, *v);
  return buf;
}

void print_table(const metrics::Evaluation& e) {
  std::printf("%s, %lld cases", task_name(e.task).c_str(), static_cast<long long>(e.n));
  if (e.by_patient) std::printf(" from %lld patients", static_cast<long long>(e.units));
  std::printf("; %.0f %% intervals\n", 100 * e.confidence);
  std::printf("  %-16s %8s   %-19s %s\n", "metric", "value", "interval", "method");
  for (const auto& [name, est] : e.metrics) {
    if (!est.point) {
      std::printf("  %-16s %8s   %s\n", name.c_str(), "-", est.point.reason.c_str());
      continue;
    }
    const std::string ci = est.ci_low ? "[" + fixed(est.ci_low) + ", " + fixed(est.ci_high) + "]" : "-";
    std::printf("  %-16s %8s   %-19s %s\n", name.c_str(), fixed(est.point.value).c_str(), ci.c_str(),
                est.ci_method.c_str());
  }
  for (const auto& [name, est] : e.metrics)
    if (est.point && !est.ci_note.empty()) std::printf("  note: %s: %s\n", name.c_str(), est.ci_note.c_str());
  for (const auto& w : e.warnings) std::printf("  warning: %s\n", w.c_str());
  if (e.operating_point.contains("threshold"))
    std::printf("  decision: positive when score >= %s (%s)\n",
                fixed(e.operating_point["threshold"].get<double>(), 6).c_str(),
                e.operating_point["rule"].get<std::string>().c_str());
}

// Per column: each subgroup's n and headline values, then the largest gaps and the flags.
void print_subgroups(const metrics::SubgroupAudit& audit) {
  const std::vector<std::string> headline = {"auc", "sensitivity", "specificity", "f1"};
  for (const auto& col : audit.columns) {
    std::printf("subgroups by %s\n  %-16s %7s", col.column.c_str(), "value", "n");
    for (const auto& m : headline) std::printf(" %12s", m.c_str());
    std::printf("\n");
    for (const auto& g : col.groups) {
      std::printf("  %-16s %7lld", g.value.c_str(), static_cast<long long>(g.n));
      if (!g.evaluation) {
        std::printf("  too small: %s\n", g.reason.c_str());
        continue;
      }
      for (const auto& m : headline) {
        std::optional<double> v;
        for (const auto& [name, est] : g.evaluation->metrics)
          if (name == m) v = est.point.value;
        std::printf(" %12s", fixed(v).c_str());
      }
      std::printf("\n");
    }
    for (const auto& gap : col.gaps)
      if (gap.gap && (gap.metric == "auc" || gap.metric == "sensitivity" || gap.metric == "specificity"))
        std::printf("  largest %s gap %.4f (%s %.4f vs %s %.4f)\n", gap.metric.c_str(), *gap.gap, gap.highest.c_str(),
                    gap.highest_value, gap.lowest.c_str(), gap.lowest_value);
    if (col.tpr_gap && col.fpr_gap)
      std::printf("  equalised odds: TPR gap %.4f, FPR gap %.4f\n", *col.tpr_gap, *col.fpr_gap);
    for (const auto& b : col.below_overall)
      std::printf("  flag: %s = %s: %s %.4f, interval wholly worse than overall %.4f\n", col.column.c_str(),
                  b.subgroup.c_str(), b.metric.c_str(), b.estimate, b.overall);
  }
}

}  // namespace

void add_score_options(CLI::App* cmd, ScoreOptions& o, bool with_subgroups, const std::string& what) {
  auto* thr = cmd->add_option("--threshold", o.threshold, "Binary/multilabel: positive when score >= T (default 0.5)");
  auto* sens = cmd->add_option("--target-sensitivity", o.target_sensitivity,
                               "Binary: use the highest threshold reaching this sensitivity")
                   ->check(CLI::Range(0.0, 1.0));
  auto* spec = cmd->add_option("--target-specificity", o.target_specificity,
                               "Binary: use the lowest threshold reaching this specificity")
                   ->check(CLI::Range(0.0, 1.0));
  thr->excludes(sens)->excludes(spec);
  sens->excludes(spec);
  cmd->add_option("--max-fpr", o.max_fpr, "Also report partial AUC up to this FPR (McClish-standardised)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--bootstrap", o.bootstrap, "Bootstrap resamples (0 = no bootstrap intervals)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o.seed, "Seed of the bootstrap")->check(CLI::NonNegativeNumber);
  cmd->add_option("--confidence", o.confidence, "Confidence level of the intervals")->check(CLI::Range(0.5, 0.999));
  cmd->add_option("--ci", o.ci, "Bootstrap interval: bca or percentile")->check(CLI::IsMember({"bca", "percentile"}));
  if (with_subgroups) {
    cmd->add_option("--subgroup", o.subgroups,
                    "Column to audit by (sex, age band, site…): every metric per value; repeatable");
    cmd->add_option("--min-subgroup", o.min_subgroup,
                    "Subgroups with fewer cases (patients when patients are known) are reported as too small (default 30)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--min-subgroup-class", o.min_subgroup_class,
                    "…or with fewer positives or negatives (every class for multiclass) than this (default 5)")
        ->check(CLI::NonNegativeNumber);
  }
  cmd->add_option("--out", o.out, "Folder for " + what + " (default: current folder)");
}

metrics::EvaluationOptions evaluation_options(const ScoreOptions& a) {
  metrics::EvaluationOptions opts;
  opts.decision = {.threshold = a.threshold,
                   .target_sensitivity = a.target_sensitivity,
                   .target_specificity = a.target_specificity};
  opts.max_fpr = a.max_fpr;
  opts.bootstrap.resamples = a.bootstrap;
  opts.bootstrap.confidence = a.confidence;
  opts.bootstrap.method = a.ci == "percentile" ? metrics::CiMethod::kPercentile : metrics::CiMethod::kBca;
  opts.seed = static_cast<uint64_t>(a.seed);
  return opts;
}

int score_and_write(const metrics::PredictionSet& set, const ScoreOptions& a, const nlohmann::ordered_json& provenance,
                    const std::vector<std::string>& image_paths, const nlohmann::ordered_json& extra) {
  const auto opts = evaluation_options(a);
  auto e = metrics::evaluate(set, opts);
  if (!e) return report(e.error());
  std::optional<metrics::SubgroupAudit> audit;
  if (!set.subgroups.empty()) {
    auto r = metrics::audit_subgroups(set, *e, opts, {.min_units = a.min_subgroup, .min_per_class = a.min_subgroup_class});
    if (!r) return report(r.error());
    audit = std::move(*r);
  }
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec)
    return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));
  const fs::path out = fs::path(a.out) / "metrics.json";
  auto js = metrics::to_json(*e);
  if (audit) {
    js["subgroups"] = metrics::subgroups_json(*audit);
    js["subgroup_audit"] = metrics::audit_json(*audit);
  }
  for (auto it = extra.begin(); it != extra.end(); ++it) js[it.key()] = it.value();
  // The report is rendered before anything is written, so a failure leaves neither file.
  auto html = metrics::render_report(js, set, {.provenance = provenance, .image_paths = image_paths});
  if (!html) return report(html.error());
  if (auto st = write_file_atomically(out, js.dump(2) + "\n"); !st) return report(st.error());
  const fs::path report_path = fs::path(a.out) / "report.html";
  if (auto st = write_file_atomically(report_path, *html); !st) return report(st.error());
  print_table(*e);
  if (audit) print_subgroups(*audit);
  std::printf("metrics: %s\nreport: %s\n", out.c_str(), report_path.c_str());
  return 0;
}

}  // namespace lucent::app
