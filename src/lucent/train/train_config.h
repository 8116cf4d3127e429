// The training recipe: everything `lucent train` needs, parsed strictly from YAML.
// See configs/*.yaml for complete examples; docs/training.md lists every key.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/task.h"
#include "lucent/nets/net.h"

namespace lucent::train {

struct DataConfig {
  std::string kind = "medmnist";          // medmnist | manifest (CSV) | image_folder (ROOT/<class>/…)
  std::filesystem::path path;             // resolved: absolute
  std::optional<Task> task;               // inferred from labels when absent
  std::vector<std::string> labels;        // names of the outputs (manifests: default = sorted labels found)
  std::vector<std::string> exclude;       // image_folder: file-name globs to skip ("*_mask*")
  double val_fraction = 0.15;             // manifests without a split column: patient-level split
  double test_fraction = 0.15;
  std::optional<uint64_t> split_seed;     // default: the run's seed
};

struct OptimConfig {
  std::string optimizer = "adam";         // sgd | adam | adamw
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.9;                  // sgd
  bool nesterov = true;                   // sgd
  std::string schedule = "multistep";     // constant | multistep | cosine | onecycle
  std::vector<double> milestones{0.5, 0.75};  // fractions of the epochs (multistep)
  double gamma = 0.1;                     // multistep factor
  double warmup_epochs = 0.0;             // linear warm-up (cosine, multistep)
  double final_lr_fraction = 0.0;         // cosine floor
};

struct LossConfig {
  std::string name = "auto";              // auto | cross_entropy | bce | focal
  double label_smoothing = 0.0;
  std::string class_weights = "none";     // none | balanced
  double focal_gamma = 2.0;
};

struct TrainConfig {
  std::string name = "run";
  uint64_t seed = 0;
  DataConfig data;
  nets::NetSpec model;                    // spatial_dims/in_channels/num_outputs filled from data
  nlohmann::json preprocess = nlohmann::json::array();
  nlohmann::json augment = nlohmann::json::array();
  int64_t epochs = 100;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 512;
  OptimConfig optim;
  LossConfig loss;
  double grad_clip = 0.0;                 // max global norm; 0 = off
  double ema_decay = 0.0;                 // 0 = off
  double mixup_alpha = 0.0;
  double cutmix_alpha = 0.0;
  int64_t early_stopping_patience = 0;    // epochs without improvement; 0 = off
  std::string select_metric = "auc";      // auc | acc | loss (validation)
  int64_t max_batches_per_epoch = 0;      // 0 = all (smoke tests)
  std::string amp = "off";                // off | bf16 | fp16 | auto: mixed precision on CUDA (train/amp.h)
  nlohmann::json source;                  // the config as given, after overrides
};

// `data_root` resolves relative data paths ($LUCENT_DATA); then the config's own folder.
[[nodiscard]] Result<TrainConfig> parse_train_config(const nlohmann::json& config, const std::string& source,
                                                     const std::filesystem::path& data_root,
                                                     const std::filesystem::path& config_dir);

}  // namespace lucent::train
