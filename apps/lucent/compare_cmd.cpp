// `lucent compare`: two models scored on the same cases — DeLong test of the AUCs, McNemar test
// of the accuracies and a paired bootstrap of every metric. Parsing and printing only; the
// statistics are in lucent/metrics/compare.h (docs/metrics.md, "Comparing two models").
#include <cstdio>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/metrics/compare.h"
#include "metrics_output.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct CompareArgs {
  std::vector<std::string> preds;
  std::string truth;
  std::string task;
  std::string patient_column;
  ScoreOptions score;  // decision rule, bootstrap, --out (no subgroups)
};

std::string fixed(const std::optional<double>& v, int digits = 4) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.*f", digits, *v);
  return buf;
}

std::string plain(const metrics::MetricValue& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v.value);
  return buf;
}

std::string p_text(const std::optional<double>& p) {
  if (!p) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, *p < 1e-4 ? "%.1e" : "%.4f", *p);
  return buf;
}

void print_table(const metrics::Comparison& c) {
  std::printf("%s, %lld cases", task_name(c.task).c_str(), static_cast<long long>(c.n));
  if (c.by_patient) std::printf(" from %lld patients", static_cast<long long>(c.units));
  std::printf("; A = %s, B = %s; %.0f %% intervals of A - B\n", c.name_a.c_str(), c.name_b.c_str(), 100 * c.confidence);
  std::printf("  %-14s %8s %8s %9s   %-21s %8s\n", "metric", "A", "B", "A - B", "interval", "p");
  for (const auto& d : c.metrics) {
    const std::string ci = d.ci_low ? "[" + fixed(d.ci_low) + ", " + fixed(d.ci_high) + "]" : "-";
    std::printf("  %-14s %8s %8s %9s   %-21s %8s\n", d.metric.c_str(), plain(d.a).c_str(), plain(d.b).c_str(),
                fixed(d.difference).c_str(), ci.c_str(), p_text(d.p_value).c_str());
  }
  if (c.delong)
    std::printf("  DeLong: AUC difference %s [%s, %s], z = %s, p = %s\n", fixed(c.delong->difference).c_str(),
                fixed(c.delong->ci_low).c_str(), fixed(c.delong->ci_high).c_str(), fixed(c.delong->z, 3).c_str(),
                p_text(c.delong->p_value).c_str());
  else
    std::printf("  DeLong: %s\n", c.delong_reason.c_str());
  if (c.mcnemar)
    std::printf("  McNemar (%s): A right/B wrong %lld, A wrong/B right %lld, p = %s\n", c.mcnemar->method.c_str(),
                static_cast<long long>(c.mcnemar->a_only), static_cast<long long>(c.mcnemar->b_only),
                p_text(c.mcnemar->p_value).c_str());
  else
    std::printf("  McNemar: %s\n", c.mcnemar_reason.c_str());
  for (const auto& w : c.warnings) std::printf("  warning: %s\n", w.c_str());
}

int run_compare(const CompareArgs& a) {
  if (a.preds.size() != 2)
    return report(Error(ErrorCode::kInvalidArgument, "give exactly two prediction files: --pred A.csv --pred B.csv (got " +
                                                         std::to_string(a.preds.size()) + ")"));
  auto task = parse_task(a.task);
  if (!task) return report(task.error());
  metrics::ReadOptions read;
  read.patient_column = a.patient_column;
  auto pair = metrics::read_paired_files(a.preds[0], a.preds[1], a.truth, *task, read);
  if (!pair) return report(pair.error());
  auto c = metrics::compare(*pair, evaluation_options(a.score));
  if (!c) return report(c.error());
  std::error_code ec;
  fs::create_directories(a.score.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.score.out + ": " + ec.message()));
  const fs::path out = fs::path(a.score.out) / "compare.json";
  if (auto st = write_file_atomically(out, metrics::to_json(*c).dump(2) + "\n"); !st) return report(st.error());
  print_table(*c);
  std::printf("compare: %s\n", out.c_str());
  return 0;
}

}  // namespace

void add_compare_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<CompareArgs>();
  auto* cmd = app.add_subcommand("compare", "Compare two models on the same cases: DeLong, McNemar and paired "
                                            "bootstrap (docs/metrics.md)");
  cmd->add_option("--pred", a->preds, "Predictions of model A, then of model B (give --pred twice)")->required();
  cmd->add_option("--truth", a->truth, "Truth CSV: id,label or id,label_0..label_{K-1} (multilabel)")->required();
  cmd->add_option("--task", a->task, "binary, multiclass, multilabel or ordinal")
      ->required()
      ->check(CLI::IsMember({"binary", "multiclass", "multilabel", "ordinal"}));
  cmd->add_option("--patient-column", a->patient_column, "Truth column with the patient id: resample patients");
  add_score_options(cmd, a->score, /*with_subgroups=*/false, "compare.json");
  cmd->callback([&run, a] { run = [a] { return run_compare(*a); }; });
}

}  // namespace lucent::app
