// `lucent metrics`: score a prediction file against a truth file, with confidence intervals,
// and write metrics.json + report.html; or, with --pred-mask/--truth-mask, score label maps
// (metrics_mask.cpp). Parsing and printing only; the definitions are in
// lucent/metrics/evaluation.h, segmentation.h and report.h (docs/metrics.md, docs/report.md).
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/metrics/evaluation.h"
#include "lucent/metrics/report.h"
#include "lucent/metrics/subgroup.h"
#include "metrics_mask.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct MetricsArgs {
  std::string pred;
  std::string truth;
  std::string task;
  std::optional<double> threshold;
  std::optional<double> target_sensitivity;
  std::optional<double> target_specificity;
  std::optional<double> max_fpr;
  int64_t bootstrap = 2000;
  int64_t seed = 0;
  double confidence = 0.95;
  std::string ci = "bca";
  std::string patient_column;
  std::vector<std::string> subgroups;
  int64_t min_subgroup = 30;
  int64_t min_subgroup_class = 5;
  std::string out = ".";
};

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

int run_metrics(const MetricsArgs& a) {
  auto task = parse_task(a.task);
  if (!task) return report(task.error());
  auto set = metrics::read_prediction_files(a.pred, a.truth, *task,
                                           {.patient_column = a.patient_column, .subgroup_columns = a.subgroups});
  if (!set) return report(set.error());
  metrics::EvaluationOptions opts;
  opts.decision = {.threshold = a.threshold,
                   .target_sensitivity = a.target_sensitivity,
                   .target_specificity = a.target_specificity};
  opts.max_fpr = a.max_fpr;
  opts.bootstrap.resamples = a.bootstrap;
  opts.bootstrap.confidence = a.confidence;
  opts.bootstrap.method = a.ci == "percentile" ? metrics::CiMethod::kPercentile : metrics::CiMethod::kBca;
  opts.seed = static_cast<uint64_t>(a.seed);
  auto e = metrics::evaluate(*set, opts);
  if (!e) return report(e.error());
  std::optional<metrics::SubgroupAudit> audit;
  if (!a.subgroups.empty()) {
    auto r = metrics::audit_subgroups(*set, *e, opts, {.min_units = a.min_subgroup, .min_per_class = a.min_subgroup_class});
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
  // The report is rendered before anything is written, so a failure leaves neither file.
  auto provenance = metrics::file_provenance({{"predictions", a.pred}, {"truth", a.truth}});
  if (!provenance) return report(provenance.error());
  auto images = metrics::image_paths_from_csv(a.truth, set->ids);
  if (!images) return report(images.error());
  auto html = metrics::render_report(js, *set, {.provenance = *provenance, .image_paths = *images});
  if (!html) return report(html.error());
  if (auto st = write_file_atomically(out, js.dump(2) + "\n"); !st) return report(st.error());
  const fs::path report_path = fs::path(a.out) / "report.html";
  if (auto st = write_file_atomically(report_path, *html); !st) return report(st.error());
  print_table(*e);
  if (audit) print_subgroups(*audit);
  std::printf("metrics: %s\nreport: %s\n", out.c_str(), report_path.c_str());
  return 0;
}

}  // namespace

void add_metrics_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<MetricsArgs>();
  auto* cmd = app.add_subcommand("metrics", "Score predictions against the truth, with confidence intervals "
                                            "(docs/metrics.md)");
  auto m = std::make_shared<MaskMetricsArgs>();
  auto* pred = cmd->add_option("--pred", a->pred,
                               "Predictions CSV: id,score or id,score_0..score_{K-1} (as lucent predict writes)");
  auto* truth = cmd->add_option("--truth", a->truth,
                                "Truth CSV: id,label or id,label_0..label_{K-1} (multilabel), other columns allowed");
  auto* task = cmd->add_option("--task", a->task, "binary, multiclass, multilabel or ordinal")
                   ->check(CLI::IsMember({"binary", "multiclass", "multilabel", "ordinal"}));
  auto* pred_mask = cmd->add_option("--pred-mask", m->pred,
                                    "Segmentation: predicted label-map file or folder (matched to --truth-mask by file name)");
  auto* truth_mask = cmd->add_option("--truth-mask", m->truth, "Segmentation: truth label-map file or folder");
  auto* labels = cmd->add_option("--labels", m->labels, "Segmentation: labels to score, e.g. 1,2 (default: every non-zero label)")
                     ->delimiter(',');
  auto* nsd = cmd->add_option("--nsd-tolerance", m->nsd_tolerance_mm,
                              "Segmentation: normalised surface Dice tolerance in mm (default 1)")
                  ->check(CLI::NonNegativeNumber);
  pred_mask->needs(truth_mask);
  truth_mask->needs(pred_mask);
  for (auto* o : {pred, truth, task}) pred_mask->excludes(o);
  labels->needs(pred_mask);
  nsd->needs(pred_mask);
  auto* thr = cmd->add_option("--threshold", a->threshold, "Binary/multilabel: positive when score >= T (default 0.5)");
  auto* sens = cmd->add_option("--target-sensitivity", a->target_sensitivity,
                               "Binary: use the highest threshold reaching this sensitivity")
                   ->check(CLI::Range(0.0, 1.0));
  auto* spec = cmd->add_option("--target-specificity", a->target_specificity,
                               "Binary: use the lowest threshold reaching this specificity")
                   ->check(CLI::Range(0.0, 1.0));
  thr->excludes(sens)->excludes(spec);
  sens->excludes(spec);
  cmd->add_option("--max-fpr", a->max_fpr, "Also report partial AUC up to this FPR (McClish-standardised)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap resamples (0 = no bootstrap intervals)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a->seed, "Seed of the bootstrap")->check(CLI::NonNegativeNumber);
  cmd->add_option("--confidence", a->confidence, "Confidence level of the intervals")->check(CLI::Range(0.5, 0.999));
  cmd->add_option("--ci", a->ci, "Bootstrap interval: bca or percentile")->check(CLI::IsMember({"bca", "percentile"}));
  cmd->add_option("--patient-column", a->patient_column,
                  "Truth column with the patient id: resample patients, not cases");
  cmd->add_option("--subgroup", a->subgroups,
                  "Truth column to audit by (sex, age band, site…): every metric per value; repeatable");
  cmd->add_option("--min-subgroup", a->min_subgroup,
                  "Subgroups with fewer cases (patients with --patient-column) are reported as too small (default 30)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--min-subgroup-class", a->min_subgroup_class,
                  "…or with fewer positives or negatives (every class for multiclass) than this (default 5)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", a->out, "Folder for metrics.json (default: current folder)");
  cmd->callback([&run, a, m] {
    if (!m->pred.empty()) {
      if (a->threshold || a->target_sensitivity || a->target_specificity || a->max_fpr || !a->patient_column.empty() ||
          !a->subgroups.empty()) {
        run = [] {
          return report(Error(ErrorCode::kInvalidArgument,
                              "--threshold, --target-*, --max-fpr, --patient-column and --subgroup apply to --pred "
                              "score files, not to --pred-mask label maps"));
        };
        return;
      }
      m->bootstrap = a->bootstrap;
      m->seed = a->seed;
      m->confidence = a->confidence;
      m->ci = a->ci;
      m->out = a->out;
      run = [m] { return run_mask_metrics(*m); };
      return;
    }
    if (a->pred.empty() || a->truth.empty() || a->task.empty()) {
      run = [] {
        return report(Error(ErrorCode::kInvalidArgument,
                            "lucent metrics needs --pred, --truth and --task (score files), or --pred-mask and "
                            "--truth-mask (label maps); see lucent metrics --help"));
      };
      return;
    }
    run = [a] { return run_metrics(*a); };
  });
}

}  // namespace lucent::app
