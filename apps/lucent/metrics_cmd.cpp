// `lucent metrics`: score a prediction file against a truth file, with confidence intervals,
// and write metrics.json + report.html; or, with --pred-mask/--truth-mask, score label maps
// (metrics_mask.cpp). Parsing and printing only; the definitions are in
// lucent/metrics/evaluation.h, segmentation.h and report.h (docs/metrics.md, docs/report.md).
#include "commands.h"
#include "lucent/metrics/evaluation.h"
#include "lucent/metrics/report.h"
#include "metrics_mask.h"
#include "metrics_output.h"

namespace lucent::app {
namespace {

struct MetricsArgs {
  std::string pred;
  std::string truth;
  std::string task;
  std::string patient_column;
  ScoreOptions score;
};

int run_metrics(const MetricsArgs& a) {
  auto task = parse_task(a.task);
  if (!task) return report(task.error());
  auto set = metrics::read_prediction_files(a.pred, a.truth, *task,
                                           {.patient_column = a.patient_column, .subgroup_columns = a.score.subgroups});
  if (!set) return report(set.error());
  auto provenance = metrics::file_provenance({{"predictions", a.pred}, {"truth", a.truth}});
  if (!provenance) return report(provenance.error());
  auto images = metrics::image_paths_from_csv(a.truth, set->ids);
  if (!images) return report(images.error());
  return score_and_write(*set, a.score, *provenance, *images);
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
  auto* rand = cmd->add_flag("--rand", m->rand,
                             "Segmentation: segment agreement instead of per-label overlap: foreground-restricted "
                             "Rand error / split / merge and information scores (ISBI 2012, SNEMI3D)");
  const auto sources = CLI::IsMember({"labels", "boundary", "interior"});
  auto* pred_segments = cmd->add_option("--pred-segments", m->pred_segments,
                                        "--rand: how the prediction becomes segments: labels (values are ids), boundary "
                                        "(non-zero = membrane; segments = connected zero regions) or interior (non-zero "
                                        "= cells; segments = connected non-zero regions); default labels")
                            ->check(sources);
  auto* truth_segments = cmd->add_option("--truth-segments", m->truth_segments,
                                         "--rand: the same for the truth (only its non-zero segments are scored)")
                             ->check(sources);
  pred_mask->needs(truth_mask);
  truth_mask->needs(pred_mask);
  for (auto* o : {pred, truth, task}) pred_mask->excludes(o);
  labels->needs(pred_mask);
  nsd->needs(pred_mask);
  rand->needs(pred_mask);
  pred_segments->needs(rand);
  truth_segments->needs(rand);
  rand->excludes(labels);
  rand->excludes(nsd);
  cmd->add_option("--patient-column", a->patient_column,
                  "Truth column with the patient id: resample patients, not cases");
  add_score_options(cmd, a->score);
  cmd->callback([&run, a, m] {
    if (!m->pred.empty()) {
      const auto& o = a->score;
      if (o.threshold || o.target_sensitivity || o.target_specificity || o.max_fpr || !a->patient_column.empty() ||
          !o.subgroups.empty()) {
        run = [] {
          return report(Error(ErrorCode::kInvalidArgument,
                              "--threshold, --target-*, --max-fpr, --patient-column and --subgroup apply to --pred "
                              "score files, not to --pred-mask label maps"));
        };
        return;
      }
      m->bootstrap = o.bootstrap;
      m->seed = o.seed;
      m->confidence = o.confidence;
      m->ci = o.ci;
      m->out = o.out;
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
