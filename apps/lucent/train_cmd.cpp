#include <csignal>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "lucent/core/config.h"
#include "lucent/core/log.h"
#include "lucent/core/threads.h"
#include "lucent/nets/net.h"
#include "lucent/train/seg_trainer.h"
#include "lucent/train/trainer.h"
#include "lucent/transforms/transform.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

std::atomic<bool> g_interrupt{false};

extern "C" void on_interrupt(int) {
  g_interrupt.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct TrainArgs {
  std::string config;
  std::string out;
  std::string device = "cpu";
  int64_t seed = -1;
  std::vector<std::string> sets;
  bool resume = false;
  bool quiet = false;
};

fs::path data_root() {
  if (const char* env = std::getenv("LUCENT_DATA"); env && *env) return env;
  return "../shared/data";
}

// The published MedMNIST v2 rows a recipe may carry under `reference:` — printed beside ours.
void print_comparison(const nlohmann::json& reference, const train::TrainResult& r, const std::string& name) {
  std::printf("\n%-28s %8s %8s\n", ("test split: " + name).c_str(), "AUC", "ACC");
  std::printf("%-28s %8.3f %8.3f   <- this run (best epoch %lld, %.0f s)\n", "Lucent", r.test_metrics["auc"].get<double>(),
              r.test_metrics["acc"].get<double>(), static_cast<long long>(r.best_epoch), r.seconds);
  if (!reference.is_object()) return;
  for (auto it = reference.begin(); it != reference.end(); ++it) {
    if (!it->is_array() || it->size() != 2) continue;
    std::printf("%-28s %8.3f %8.3f\n", it.key().c_str(), (*it)[0].get<double>(), (*it)[1].get<double>());
  }
  std::printf("(published rows: MedMNIST v2, Yang et al., Sci. Data 2023, Table 3)\n");
}

// Segmentation: the test metrics pooled inside the ROI, and the published rows a recipe may
// carry under `reference:` as {name: {dice: …, auc: …, accuracy: …}}.
void print_seg_comparison(const nlohmann::json& reference, const train::TrainResult& r, const std::string& name) {
  const auto& t = r.test_metrics;
  if (!t.contains("dice")) {
    std::printf("\nno test cases; best validation Dice %.4f (epoch %lld, %.0f s)\n", r.val_metrics.value("dice", 0.0),
                static_cast<long long>(r.best_epoch), r.seconds);
    return;
  }
  std::printf("\n%-28s %8s %8s %8s\n", ("test: " + name).c_str(), "Dice", "AUC", "Acc");
  std::printf("%-28s %8.4f %8.4f %8.4f   <- this run (best epoch %lld, %.0f s)\n", "Lucent", t["dice"].get<double>(),
              t.value("auc", 0.0), t["accuracy"].get<double>(), static_cast<long long>(r.best_epoch), r.seconds);
  if (!reference.is_object()) return;
  for (auto it = reference.begin(); it != reference.end(); ++it) {
    if (!it->is_object()) continue;
    std::printf("%-28s", it.key().c_str());
    for (const char* k : {"dice", "auc", "accuracy"}) {
      if (it->contains(k) && (*it)[k].is_number()) std::printf(" %8.4f", (*it)[k].get<double>());
      else std::printf(" %8s", "-");
    }
    std::printf("\n");
  }
}

int run_train(const TrainArgs& a) {
  auto cfg_json = load_config(a.config);
  if (!cfg_json) return report(cfg_json.error());
  for (const auto& s : a.sets)
    if (auto st = apply_override(*cfg_json, s); !st) return report(st.error());
  if (a.seed >= 0) (*cfg_json)["seed"] = a.seed;
  const nlohmann::json reference = cfg_json->value("reference", nlohmann::json());
  cfg_json->erase("reference");
  auto cfg = train::parse_train_config(*cfg_json, a.config, data_root(), fs::path(a.config).parent_path());
  if (!cfg) return report(cfg.error());
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  const std::string device = a.device.empty() ? cfg_json->value("device", "cpu") : a.device;
  const fs::path out = a.out.empty() ? fs::path("runs") / (cfg->name + "-seed" + std::to_string(cfg->seed)) : fs::path(a.out);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  if (!a.quiet)
    std::printf("training %s (%s) on %s, seed %llu, %lld epochs → %s\n", cfg->name.c_str(), cfg->model.name.c_str(),
                cfg->data.path.filename().c_str(), static_cast<unsigned long long>(cfg->seed),
                static_cast<long long>(cfg->epochs), out.c_str());
  const train::TrainOptions options{.out_dir = out, .device = device, .resume = a.resume, .quiet = a.quiet,
                                    .interrupt = &g_interrupt};
  if (cfg->task_kind == "segmentation") {
    auto result = train::run_segmentation_training(*cfg, options, nets, tfs);
    if (!result) return report(result.error());
    print_seg_comparison(reference, *result, cfg->name);
    std::printf("bundle: %s\nmetrics: %s\n", result->bundle_dir.c_str(), (out / "metrics.json").c_str());
    return 0;
  }
  auto result = train::run_training(*cfg, options, nets, tfs);
  if (!result) return report(result.error());
  print_comparison(reference, *result, cfg->name);
  std::printf("bundle: %s\nmetrics: %s\n", result->bundle_dir.c_str(), (out / "metrics.json").c_str());
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a model from a YAML recipe (see configs/)");
  cmd->add_option("config", args->config, "Recipe (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Run folder (default runs/<name>-seed<seed>)");
  cmd->add_option("--device", args->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--seed", args->seed, "Override the recipe's seed")->check(CLI::NonNegativeNumber);
  cmd->add_option("--set", args->sets, "Override a recipe key: --set train.epochs=5 (repeatable)");
  cmd->add_flag("--resume", args->resume, "Continue the run in --out from its last checkpoint");
  cmd->add_flag("--quiet", args->quiet, "No per-epoch lines");
  // Training frees and re-allocates the same activation buffers every step: the large ones get
  // huge pages and are reused, with at most 128 MiB kept free (use_huge_pages_for_tensors).
  cmd->callback([&run, args] {
    run = [args] {
      use_huge_pages_for_tensors();
      return run_train(*args);
    };
  });
}

}  // namespace lucent::app
