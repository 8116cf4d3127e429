// `lucent evaluate BUNDLE --data DATA`: runs a bundle on a labelled dataset and scores it like
// `lucent metrics` (confidence intervals, operating point, calibration, subgroup audit,
// metrics.json, report.html), writing the per-case probabilities beside them. DATA is a
// MedMNIST .npz (one split), a manifest CSV (path,label[,patient_id,id,split,subgroup columns];
// the rows of --split when it has a split column, e.g. a run's split.csv) or an image folder
// ROOT/<class>/... (every image). The bundle's own preprocessing and temperature are used;
// --calibrate-on SPLIT fits a temperature on another split instead (metrics/temperature.h),
// reports it, and with --save-temperature stores it in the bundle (re-hashed); --threshold-on
// SPLIT picks the threshold for a target sensitivity/specificity there and applies it here.
#include <ATen/ATen.h>

#include <cstdio>
#include <map>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/core/csv.h"
#include "lucent/core/hash.h"
#include "lucent/data/dataset.h"
#include "lucent/data/manifest.h"
#include "lucent/io/image_io.h"
#include "lucent/metrics/report.h"
#include "lucent/metrics/temperature.h"
#include "lucent/metrics/threshold.h"
#include "lucent/nets/bundle.h"
#include "lucent/train/trainer.h"
#include "metrics_output.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct EvaluateArgs {
  std::string bundle;
  std::string data;
  std::string split = "test";
  int64_t batch = 256;
  std::string device = "cpu";
  std::string calibrate_on;
  bool save_temperature = false;
  std::string threshold_on;
  ScoreOptions score;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

struct Loaded {
  std::unique_ptr<data::TensorDataset> dataset;  // preprocessed with the bundle's pipeline
  std::map<std::string, const data::ManifestEntry*> entries;  // by id (manifests and folders)
  data::Manifest manifest;
  bool has_patients = false;
  std::string note;
};

Result<Loaded> load_data(const EvaluateArgs& a, const std::string& split_name, const nets::BundleManifest& bm,
                         Task task, const transforms::Pipeline& preprocess) {
  Loaded out;
  Rng rng(0);
  const fs::path path(a.data);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(ErrorCode::kNotFound, "--data " + a.data + " does not exist");
  if (!fs::is_directory(path, ec)) {
    auto format = io::detect_format(path);
    if (format && *format == io::Format::kNpz) {
      auto ds = data::load_medmnist(path, split_name, task);
      if (!ds) return std::unexpected(ds.error());
      if (auto st = (*ds)->preprocess(preprocess, rng); !st) return std::unexpected(st.error());
      out.dataset = std::move(*ds);
      return out;
    }
  }
  auto m = fs::is_directory(path, ec) ? data::scan_image_folder(path, {}) : data::read_manifest(path);
  if (!m) return std::unexpected(m.error());
  out.manifest = std::move(*m);
  // Rows of --split when the manifest assigns splits; every row otherwise.
  bool any_split = false;
  for (const auto& e : out.manifest.entries) any_split = any_split || !e.split.empty();
  std::string split = split_name;
  if (!any_split) {
    out.note = "the data assign no splits: every case is evaluated";
    split.clear();
  }
  auto ds = data::load_manifest_split(out.manifest, split, bm.labels, task, preprocess, rng);
  if (!ds) return std::unexpected(ds.error());
  out.dataset = std::move(*ds);
  for (const auto& e : out.manifest.entries) {
    out.entries[e.id] = &e;
    out.has_patients = out.has_patients || e.patient != e.id;
  }
  return out;
}

// Probabilities (N, K) → PredictionSet rows: binary keeps the positive class's column.
void append_cases(const at::Tensor& probs, const data::TensorDataset& ds, Task task, metrics::PredictionSet& set) {
  const auto p = probs.contiguous();
  const auto y = ds.labels().contiguous();
  auto pa = p.accessor<double, 2>();
  auto ya = y.accessor<int64_t, 2>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    set.ids.push_back(ds.ids()[static_cast<std::size_t>(i)]);
    std::vector<double> s;
    if (task == Task::kBinary) s.push_back(pa[i][1]);
    else
      for (int64_t k = 0; k < p.size(1); ++k) s.push_back(pa[i][k]);
    set.scores.push_back(std::move(s));
    std::vector<int> l;
    for (int64_t k = 0; k < y.size(1); ++k) l.push_back(static_cast<int>(ya[i][k]));
    set.labels.push_back(std::move(l));
  }
}

int run_evaluate(const EvaluateArgs& a) {
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  auto bundle = nets::load_bundle(a.bundle, nets);
  if (!bundle) return report(bundle.error());
  const auto& bm = bundle->manifest;
  auto task = parse_task(bm.task);
  if (!task) return report(task.error().with_context("bundle " + a.bundle));
  auto preprocess = transforms::Pipeline::from_json(bm.preprocess, tfs);
  if (!preprocess) return report(preprocess.error().with_context("bundle " + a.bundle + " preprocess"));
  auto loaded = load_data(a, a.split, bm, *task, *preprocess);
  if (!loaded) return report(loaded.error());
  const auto& ds = *loaded->dataset;
  if (ds.num_classes() != static_cast<int64_t>(bm.labels.size()))
    return report(Error(ErrorCode::kInvalidData, "--data " + a.data + " has " + std::to_string(ds.num_classes()) +
                                                     " classes but the bundle predicts " +
                                                     std::to_string(bm.labels.size()) + "; evaluate it on data of its task"));
  if (a.device == "cuda") bundle->net->to(torch::Device(a.device));
  const bool calibrate = !a.calibrate_on.empty();
  const at::Tensor probs =
      train::predict_probabilities(*bundle->net, ds, *task, a.batch, calibrate ? 1.0 : bm.temperature, a.device);

  metrics::PredictionSet set;
  set.task = *task;
  set.classes = static_cast<int>(bm.labels.size());
  append_cases(probs, ds, *task, set);

  // Another split of the same data (temperature 1), for the temperature or the threshold.
  auto other_split = [&](const std::string& split, const std::string& flag) -> Result<metrics::PredictionSet> {
    if (split == a.split)
      return fail(ErrorCode::kInvalidArgument, flag + " " + split + " is the split being evaluated; choose on another "
                                                                    "split (e.g. val) so the evaluation stays honest");
    auto held = load_data(a, split, bm, *task, *preprocess);
    if (!held) return std::unexpected(held.error().with_context(flag + " " + split));
    if (!held->note.empty())
      return fail(ErrorCode::kInvalidArgument, flag + " needs data with splits; " + a.data + " has none");
    metrics::PredictionSet out;
    out.task = *task;
    append_cases(train::predict_probabilities(*bundle->net, *held->dataset, *task, a.batch, 1.0, a.device),
                 *held->dataset, *task, out);
    return out;
  };
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  double temperature = 1.0;
  nlohmann::ordered_json calibration_note;
  if (calibrate) {
    auto held = other_split(a.calibrate_on, "--calibrate-on");
    if (!held) return report(held.error());
    auto fit = metrics::fit_temperature(held->scores, held->labels, *task);
    if (!fit) return report(fit.error());
    temperature = fit->temperature;
    set.scores = metrics::apply_temperature(set.scores, *task, fit->temperature);
    calibration_note = {{"temperature", fit->temperature}, {"fitted_on", a.calibrate_on},
                        {"cases", held->ids.size()},    {"nll_before", fit->nll_before},
                        {"nll_after", fit->nll_after},  {"at_bound", fit->at_bound}};
    extra["temperature_scaling"] = calibration_note;
    std::printf("temperature %.4f fitted on %s (%zu cases; NLL %.4f -> %.4f)%s\n", fit->temperature,
                a.calibrate_on.c_str(), held->ids.size(), fit->nll_before, fit->nll_after,
                fit->at_bound ? "; at the search bound: the split is nearly separable" : "");
    if (a.save_temperature) {
      auto manifest = bm;
      manifest.temperature = fit->temperature;
      bundle->net->to(torch::kCPU);
      if (auto st = nets::save_bundle(a.bundle, *bundle->net, manifest); !st) return report(st.error());
      std::printf("bundle %s: temperature stored, SHA256SUMS rewritten\n", a.bundle.c_str());
    }
  }
  // An operating point chosen on another split and applied, fixed, to this one.
  ScoreOptions score = a.score;
  if (!a.threshold_on.empty()) {
    if (*task != Task::kBinary || !(score.target_sensitivity || score.target_specificity))
      return report(Error(ErrorCode::kInvalidArgument, "--threshold-on needs a binary bundle and --target-sensitivity "
                                                       "or --target-specificity"));
    auto held = other_split(a.threshold_on, "--threshold-on");
    if (!held) return report(held.error());
    std::vector<double> hs;
    std::vector<int> hy;
    for (const auto& r : metrics::apply_temperature(held->scores, *task, temperature)) hs.push_back(r[0]);
    for (const auto& l : held->labels) hy.push_back(l[0]);
    auto op = score.target_sensitivity ? metrics::threshold_for_sensitivity(hs, hy, *score.target_sensitivity)
                                       : metrics::threshold_for_specificity(hs, hy, *score.target_specificity);
    if (!op) return report(op.error().with_context("--threshold-on " + a.threshold_on));
    extra["operating_point_chosen_on"] = {
        {"split", a.threshold_on},
        {"rule", score.target_sensitivity ? "target_sensitivity" : "target_specificity"},
        {"target", score.target_sensitivity ? *score.target_sensitivity : *score.target_specificity},
        {"threshold", op->threshold},
        {"sensitivity", op->sensitivity},
        {"specificity", op->specificity},
        {"cases", hs.size()}};
    std::printf("threshold %.6f chosen on %s (sensitivity %.4f, specificity %.4f there)\n", op->threshold,
                a.threshold_on.c_str(), op->sensitivity, op->specificity);
    score.threshold = op->threshold;
    score.target_sensitivity.reset();
    score.target_specificity.reset();
  }
  std::vector<std::string> images;
  if (!loaded->entries.empty()) {
    for (const auto& col : a.score.subgroups) {
      const auto& cols = loaded->manifest.attribute_columns;
      if (std::find(cols.begin(), cols.end(), col) == cols.end())
        return report(Error(ErrorCode::kInvalidArgument, "--subgroup " + col + ": " + a.data + " has no such column" +
                                                             (cols.empty() ? std::string() : " (it has: " + join(cols) + ")")));
      set.subgroups.emplace_back(col, std::vector<std::string>{});
    }
    for (const auto& id : set.ids) {
      const auto* e = loaded->entries.at(id);
      if (loaded->has_patients) set.patients.push_back(e->patient);
      for (auto& [col, values] : set.subgroups) {
        auto it = e->attributes.find(col);
        values.push_back(it == e->attributes.end() || it->second.empty() ? metrics::kMissingSubgroup : it->second);
      }
      images.push_back(e->path.string());
    }
  } else if (!a.score.subgroups.empty()) {
    return report(Error(ErrorCode::kInvalidArgument,
                        "--subgroup needs a manifest with subgroup columns; " + a.data + " is a MedMNIST .npz"));
  }

  // Per-case probabilities, written first: they are the evaluation's raw material.
  std::error_code ec;
  fs::create_directories(a.score.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.score.out + ": " + ec.message()));
  // The layout of `lucent predict` (score_k in the bundle's label order), so the file can go to
  // `lucent metrics` or `lucent compare` again.
  std::vector<std::string> header = {"id"};
  for (std::size_t k = 0; k < bm.labels.size(); ++k) header.push_back("score_" + std::to_string(k));
  std::string csv = csv_row(header);
  for (std::size_t i = 0; i < set.ids.size(); ++i) {
    std::vector<std::string> row = {set.ids[i]};
    std::vector<double> v = set.scores[i];
    if (*task == Task::kBinary) v.insert(v.begin(), 1 - v[0]);
    for (double x : v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", x);
      row.emplace_back(buf);
    }
    csv += csv_row(row);
  }
  if (auto st = write_file_atomically(fs::path(a.score.out) / "predictions.csv", csv); !st) return report(st.error());

  nlohmann::ordered_json provenance = {{"bundle", a.bundle},
                                       {"bundle.sha256", bundle->sha256},
                                       {"architecture", bm.architecture.name},
                                       {"data", a.data},
                                       {"split", loaded->note.empty() ? a.split : "all"}};
  if (!fs::is_directory(a.data, ec)) {
    auto h = sha256_file(a.data);
    if (!h) return report(h.error());
    provenance["data.sha256"] = *h;
  }
  if (bm.training.contains("data") && bm.training["data"].contains("sha256"))
    provenance["training data.sha256"] = bm.training["data"]["sha256"];
  if (!loaded->note.empty()) std::printf("note: %s\n", loaded->note.c_str());
  if (calibrate) provenance["temperature"] = calibration_note["temperature"];
  return score_and_write(set, score, provenance, images, extra);
}

}  // namespace

void add_evaluate_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<EvaluateArgs>();
  auto* cmd = app.add_subcommand("evaluate", "Run a bundle on labelled data and score it: metrics.json, report.html, "
                                             "predictions.csv (docs/metrics.md)");
  cmd->add_option("bundle", a->bundle, "Bundle folder (RUN/bundle)")->required();
  cmd->add_option("--data", a->data, "MedMNIST .npz, manifest CSV (e.g. RUN/split.csv) or image folder ROOT/<class>/…")
      ->required();
  cmd->add_option("--split", a->split, "Split to evaluate: .npz train|val|test; manifest rows with this split (default test)");
  cmd->add_option("--batch", a->batch, "Images per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("--device", a->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  auto* cal = cmd->add_option("--calibrate-on", a->calibrate_on,
                              "Fit temperature scaling on this split (e.g. val) and evaluate with it");
  cmd->add_flag("--save-temperature", a->save_temperature, "Store the fitted temperature in the bundle")->needs(cal);
  cmd->add_option("--threshold-on", a->threshold_on,
                  "Binary: choose the --target-sensitivity/--target-specificity threshold on this split (e.g. val) "
                  "and apply it unchanged to the evaluated one");
  add_score_options(cmd, a->score);
  cmd->callback([&run, a] { run = [a] { return run_evaluate(*a); }; });
}

}  // namespace lucent::app
