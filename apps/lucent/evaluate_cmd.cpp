// `lucent evaluate BUNDLE --data DATA`: runs a bundle on a labelled dataset and scores it like
// `lucent metrics` (confidence intervals, operating point, calibration, subgroup audit,
// metrics.json, report.html), writing the per-case probabilities beside them. DATA is a
// MedMNIST .npz (one split), a manifest CSV (path,label[,patient_id,id,split,subgroup columns];
// the rows of --split when it has a split column, e.g. a run's split.csv) or an image folder
// ROOT/<class>/... (every image). The bundle's own preprocessing and temperature are used.
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

Result<Loaded> load_data(const EvaluateArgs& a, const nets::BundleManifest& bm, Task task,
                         const transforms::Pipeline& preprocess) {
  Loaded out;
  Rng rng(0);
  const fs::path path(a.data);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return fail(ErrorCode::kNotFound, "--data " + a.data + " does not exist");
  if (!fs::is_directory(path, ec)) {
    auto format = io::detect_format(path);
    if (format && *format == io::Format::kNpz) {
      auto ds = data::load_medmnist(path, a.split, task);
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
  std::string split = a.split;
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
  auto loaded = load_data(a, bm, *task, *preprocess);
  if (!loaded) return report(loaded.error());
  const auto& ds = *loaded->dataset;
  if (ds.num_classes() != static_cast<int64_t>(bm.labels.size()))
    return report(Error(ErrorCode::kInvalidData, "--data " + a.data + " has " + std::to_string(ds.num_classes()) +
                                                     " classes but the bundle predicts " +
                                                     std::to_string(bm.labels.size()) + "; evaluate it on data of its task"));
  if (a.device == "cuda") bundle->net->to(torch::Device(a.device));
  const at::Tensor probs = train::predict_probabilities(*bundle->net, ds, *task, a.batch, bm.temperature, a.device);

  // The cases as a PredictionSet: binary scores are the positive class's probability.
  metrics::PredictionSet set;
  set.task = *task;
  set.classes = static_cast<int>(bm.labels.size());
  const auto p = probs.contiguous();
  const auto y = ds.labels().contiguous();
  auto pa = p.accessor<double, 2>();
  auto ya = y.accessor<int64_t, 2>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    set.ids.push_back(ds.ids()[static_cast<std::size_t>(i)]);
    std::vector<double> s;
    if (*task == Task::kBinary) s.push_back(pa[i][1]);
    else
      for (int64_t k = 0; k < p.size(1); ++k) s.push_back(pa[i][k]);
    set.scores.push_back(std::move(s));
    std::vector<int> l;
    for (int64_t k = 0; k < y.size(1); ++k) l.push_back(static_cast<int>(ya[i][k]));
    set.labels.push_back(std::move(l));
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
  for (int64_t i = 0; i < p.size(0); ++i) {
    std::vector<std::string> row = {set.ids[static_cast<std::size_t>(i)]};
    for (int64_t k = 0; k < p.size(1); ++k) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", pa[i][k]);
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
  return score_and_write(set, a.score, provenance, images);
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
  add_score_options(cmd, a->score);
  cmd->callback([&run, a] { run = [a] { return run_evaluate(*a); }; });
}

}  // namespace lucent::app
