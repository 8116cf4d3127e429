// The training recipe: everything `lucent train` needs, parsed strictly from YAML.
// See configs/*.yaml for complete examples; docs/training.md lists every key.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/task.h"
#include "lucent/data/segmentation.h"
#include "lucent/nets/net.h"

namespace lucent::train {

struct DataConfig {
  std::string kind = "medmnist";          // medmnist | manifest (CSV) | image_folder (ROOT/<class>/…)
  std::filesystem::path path;             // resolved: absolute (seg_cases: the first case's image folder)
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

// Segmentation recipes (`task: segmentation`): data layout, patch sampling, loss and the
// sliding-window inference used for validation, test and the bundle.
struct SegConfig {
  int64_t num_classes = 2;                 // data.num_classes: labels 0..K-1 (background = 0)
  std::map<int64_t, int64_t> remap;        // data.remap {mask value: label}
  std::string images = "images";           // seg_folder: folders relative to data.path
  std::string masks = "masks";
  std::string mask_suffix;                 // "_mask": BUSI-style masks beside the images
  std::string roi;                         // ROI / field-of-view folder ("" = none)
  std::string roi_suffix;
  int64_t val_count = 0;                   // data.split.val_count: exact validation patients
  std::vector<int64_t> patch_size{64, 64}; // train.patch_size (Y, X) or (Z, Y, X)
  int64_t patches_per_image = 64;          // per training image and epoch
  double pos_fraction = 0.5;               // patches centred on foreground
  std::string loss = "dice_ce";            // dice_ce | dice | focal | tversky
  bool batch_dice = false;
  double tversky_alpha = 0.5, tversky_beta = 0.5;
  int64_t val_every = 1;                   // train.val_every: validate every N epochs (and the last)
  std::vector<int64_t> infer_patch_size;   // infer.patch_size (default: train.patch_size)
  double overlap = 0.5;                    // infer.overlap
  std::string blend = "gaussian";          // infer.blend: gaussian | constant
  int64_t infer_batch_size = 4;            // infer.batch_size (windows per forward pass)
  bool flip_tta = false;                   // infer.flip_tta
  double threshold = 0.5;                  // infer.threshold (binary, on the foreground probability);
                                           // with threshold_auto: the one used until it is chosen
  bool threshold_auto = false;             // infer.threshold: auto — chosen on the validation images
                                           // after training (metrics/threshold_select.h); binary only
  std::string threshold_metric = "dice";   // infer.threshold_metric: dice | accuracy (what auto maximises)
  // Post-processing of the label maps, in order: infer.min_component_voxels > 0 first (as a
  // remove_small_components step), then the steps of infer.postprocess (infer/postprocess.h:
  // remove_small_components, keep_largest_components, fill_holes). Validated when the recipe
  // is read; written to the bundle and applied by the trainer's evaluation and lucent predict.
  nlohmann::json postprocess = nlohmann::json::array();
  std::string rand_error = "off";          // train.rand_error: off | boundary | objects (SegEvalOptions)
  // data.kind seg_cases: the cases listed in the recipe under data.cases, each
  // {id, image, mask (one path or a list, combined by union), split: train | val | test,
  // roi (optional), patient_id (optional, default: the id)}. Paths resolve like data.path
  // ($LUCENT_DATA, then the recipe's folder) and are absolute here; every file exists.
  std::vector<data::SegCase> cases;
};

struct TrainConfig {
  std::string name = "run";
  std::string task_kind = "classification";  // `task`: classification | segmentation
  SegConfig seg;
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
  std::string channels_last = "auto";     // auto | on | off: 2-D weights and batches in NHWC (auto: on the CPU)
  std::string winograd = "auto";          // auto | off: oneDNN Winograd 3x3 convolutions (auto: CPU, 2-D, float32)
  nlohmann::json source;                  // the config as given, after overrides
};

// `data_root` resolves relative data paths ($LUCENT_DATA); then the config's own folder.
// data.kind seg_cases: every problem of every case is listed in one error, each naming the case
// (`data.cases[1] (id 'ch2_val')`): kNotFound for a file that exists neither under data_root
// nor next to the recipe; kInvalidArgument for a missing or unknown key in a case, a split
// other than train | val | test, a duplicated id, or one patient_id in two splits.
[[nodiscard]] Result<TrainConfig> parse_train_config(const nlohmann::json& config, const std::string& source,
                                                     const std::filesystem::path& data_root,
                                                     const std::filesystem::path& config_dir);

}  // namespace lucent::train
