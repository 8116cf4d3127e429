// Scoring a PredictionSet and writing the results, shared by `lucent metrics` (prediction
// files) and `lucent evaluate` (a bundle run on a dataset): the options both take, the
// evaluation with its subgroup audit, metrics.json, report.html and the terminal table.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "lucent/metrics/evaluation.h"

namespace lucent::app {

struct ScoreOptions {
  std::optional<double> threshold;
  std::optional<double> target_sensitivity;
  std::optional<double> target_specificity;
  std::optional<double> max_fpr;
  int64_t bootstrap = 2000;
  int64_t seed = 0;
  double confidence = 0.95;
  std::string ci = "bca";
  std::vector<std::string> subgroups;
  int64_t min_subgroup = 30;
  int64_t min_subgroup_class = 5;
  std::string out = ".";
};

// Registers --threshold/--target-sensitivity/--target-specificity, --max-fpr, --bootstrap,
// --seed, --confidence, --ci, --out and, `with_subgroups`, --subgroup, --min-subgroup,
// --min-subgroup-class. `what` names the output files in --out's help.
void add_score_options(CLI::App* cmd, ScoreOptions& options, bool with_subgroups = true,
                       const std::string& what = "metrics.json and report.html");

// The decision rule, bootstrap and seed of `options` for metrics::evaluate / compare.
[[nodiscard]] metrics::EvaluationOptions evaluation_options(const ScoreOptions& options);

// Evaluates, audits the subgroups the set carries, renders the report, then writes
// OUT/metrics.json and OUT/report.html (nothing is written when a step fails) and prints the
// table. `provenance` goes into the report header; `image_paths` (empty or one per case) gives
// thumbnails; the members of `extra` are added to metrics.json. Returns the process exit code.
int score_and_write(const metrics::PredictionSet& set, const ScoreOptions& options,
                    const nlohmann::ordered_json& provenance, const std::vector<std::string>& image_paths,
                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace lucent::app
