// The training loop behind `lucent train`: MedMNIST-protocol training with checkpoint
// selection on validation, resumable, deterministic under a seed on the CPU.
//
//   auto cfg = lucent::train::parse_train_config(json, "recipe.yaml", data_root, config_dir);
//   auto result = lucent::train::run_training(*cfg, {.out_dir = "runs/pneumonia"}, nets, transforms);
//
// Run folder:
//   config.json        the recipe as run (after --set overrides)
//   log.jsonl          one JSON object per epoch (loss, lr, val metrics, images/s, time)
//   checkpoint/        last completed epoch: model/EMA weights (safetensors), optimiser state,
//                      state.json — written as a whole folder then renamed, so a kill at any
//                      moment leaves the previous epoch's checkpoint intact
//   bundle/            the best epoch by the validation metric (see nets/bundle.h), with
//                      validation and test metrics
//   metrics.json       test-split metrics of the selected checkpoint (MedMNIST definitions)
// Errors: config/data errors as given; kInvalidData when the loss becomes NaN/Inf (training
// stops; the last good checkpoint stays); kCancelled when `interrupt` is raised (checkpoint of
// the last completed epoch kept; --resume continues); kAlreadyExists when the run folder holds
// a checkpoint and resume was not requested.
#pragma once

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "lucent/core/error.h"
#include "lucent/core/task.h"
#include "lucent/data/dataset.h"
#include "lucent/nets/net.h"
#include "lucent/train/train_config.h"
#include "lucent/transforms/transform.h"

namespace lucent::train {

struct TrainOptions {
  std::filesystem::path out_dir;
  std::string device = "cpu";              // cpu | cuda
  bool resume = false;
  bool quiet = false;                      // no per-epoch lines on stdout
  int64_t max_epochs_this_run = 0;         // stop (checkpointed) after this many epochs; 0 = no limit
  const std::atomic<bool>* interrupt = nullptr;
};

struct TrainResult {
  std::filesystem::path bundle_dir;
  nlohmann::json test_metrics;             // {"auc":…, "acc":…}
  nlohmann::json val_metrics;
  int64_t best_epoch = 0;
  double seconds = 0;
  bool completed = true;                   // false when max_epochs_this_run stopped it early
};

[[nodiscard]] Result<TrainResult> run_training(const TrainConfig& config, const TrainOptions& options,
                                               const nets::NetRegistry& nets,
                                               const transforms::TransformRegistry& transforms);

// Class probabilities (softmax; sigmoid for multi-label) for every image of an already
// preprocessed dataset, as float64 (N, K) on the CPU. The net is put in eval mode.
[[nodiscard]] at::Tensor predict_probabilities(nets::Net& net, const data::TensorDataset& dataset, Task task,
                                               int64_t batch_size, double temperature, const std::string& device);

// Re-estimates every batch-norm layer's running mean and variance for the net's current weights
// (cumulative averages over the first `max_images` images of an already preprocessed dataset,
// train-mode forward passes without gradients), then leaves the net in eval mode. Used for the
// EMA model, whose averaged weights do not match averaged statistics. No-op without batch norm.
void recompute_batch_norm(nets::Net& net, const data::TensorDataset& train, int64_t batch_size, int64_t max_images,
                          const std::string& device);

// AUC and ACC (MedMNIST definitions) of probabilities against a dataset's labels.
[[nodiscard]] Result<nlohmann::json> score(const at::Tensor& probs, const data::TensorDataset& dataset, Task task);

}  // namespace lucent::train
