// `lucent metrics`: score a prediction file against a truth file, with confidence intervals.
// Parsing and printing only; the definitions are in lucent/metrics/evaluation.h
// (docs/metrics.md).
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/metrics/evaluation.h"

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

int run_metrics(const MetricsArgs& a) {
  auto task = parse_task(a.task);
  if (!task) return report(task.error());
  auto set = metrics::read_prediction_files(a.pred, a.truth, *task, {.patient_column = a.patient_column});
  if (!set) return report(set.error());
  metrics::EvaluationOptions opts;
  opts.decision = {.threshold = a.threshold,
                   .target_sensitivity = a.target_sensitivity,
                   .target_specificity = a.target_specificity};
  opts.max_fpr = a.max_fpr;
  opts.bootstrap = {.resamples = a.bootstrap,
                    .confidence = a.confidence,
                    .method = a.ci == "percentile" ? metrics::CiMethod::kPercentile : metrics::CiMethod::kBca};
  opts.seed = static_cast<uint64_t>(a.seed);
  auto e = metrics::evaluate(*set, opts);
  if (!e) return report(e.error());
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec)
    return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));
  const fs::path out = fs::path(a.out) / "metrics.json";
  if (auto st = write_file_atomically(out, metrics::to_json(*e).dump(2) + "\n"); !st) return report(st.error());
  print_table(*e);
  std::printf("metrics: %s\n", out.c_str());
  return 0;
}

}  // namespace

void add_metrics_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<MetricsArgs>();
  auto* cmd = app.add_subcommand("metrics", "Score predictions against the truth, with confidence intervals "
                                            "(docs/metrics.md)");
  cmd->add_option("--pred", a->pred, "Predictions CSV: id,score or id,score_0..score_{K-1} (as lucent predict writes)")
      ->required();
  cmd->add_option("--truth", a->truth, "Truth CSV: id,label or id,label_0..label_{K-1} (multilabel), other columns allowed")
      ->required();
  cmd->add_option("--task", a->task, "binary, multiclass, multilabel or ordinal")
      ->required()
      ->check(CLI::IsMember({"binary", "multiclass", "multilabel", "ordinal"}));
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
  cmd->add_option("--out", a->out, "Folder for metrics.json (default: current folder)");
  cmd->callback([&run, a] { run = [a] { return run_metrics(*a); }; });
}

}  // namespace lucent::app
