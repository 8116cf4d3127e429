// Segmentation training behind `lucent train` for recipes with `task: segmentation`: random
// patches (a share centred on foreground), augmentations applied to image and label map
// together, Dice / Dice+CE / focal / Tversky losses with the ROI left out, validation by
// sliding-window inference on whole images with Dice inside the ROI, checkpoint selection on
// validation Dice, and test metrics of the selected bundle.
//
//   auto cfg = lucent::train::parse_train_config(json, "drive_unet.yaml", data_root, config_dir);
//   auto r = lucent::train::run_segmentation_training(*cfg, {.out_dir = "runs/drive"}, nets, transforms);
//
// Run folder (as the classification trainer, trainer.h): config.json, log.jsonl (one line per
// epoch: loss, lr, val Dice, patches/s), checkpoint/ (resumable), split.csv (the cases and the
// split as used), bundle/ (task "segmentation"; bundle.json's training.inference holds the
// sliding-window settings, threshold and post-processing that predict must use), metrics.json
// (test metrics, pooled over the test pixels inside the ROI and per case; binary: the threshold
// used). With infer.threshold: auto the selected bundle segments the validation images after
// training, the grid threshold maximising infer.threshold_metric over their ROI pixels is chosen
// (metrics/threshold_select.h), test is scored at it, and the bundle is re-saved with it.
// Errors: as run_training, plus kInvalidData naming each bad case (see data/segmentation.h)
// and kInvalidArgument for a net that is not a segmentation net or a patch it cannot take.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/data/segmentation.h"
#include "lucent/infer/postprocess.h"
#include "lucent/nets/net.h"
#include "lucent/train/trainer.h"

namespace lucent::train {

[[nodiscard]] Result<TrainResult> run_segmentation_training(const TrainConfig& config, const TrainOptions& options,
                                                            const nets::NetRegistry& nets,
                                                            const transforms::TransformRegistry& transforms);

struct SegEvalOptions {
  std::vector<int64_t> patch_size;     // sliding-window patch
  double overlap = 0.5;
  std::string blend = "gaussian";      // gaussian | constant
  int64_t batch_size = 4;
  bool flip_tta = false;
  double threshold = 0.5;              // binary: foreground probability ≥ threshold
  std::vector<infer::PostprocessStep> postprocess;  // applied to each label map before scoring
  bool with_auc = true;                // pixel AUC (binary only)
  bool per_case = false;               // per-case Dice / HD95 in "cases"
  // Segment agreement (metrics/rand_error.h) of the predicted vs true segments inside the ROI:
  // "boundary" = the foreground classes mark boundaries (ISBI membranes) and segments are the
  // face-connected regions of class 0; "objects" = segments are the face-connected regions of
  // the foreground; "off" = not computed.
  std::string rand_error = "off";
  std::string device = "cpu";
};

// Segments every sample by sliding-window inference and scores it inside its ROI:
// {"dice", "accuracy", "sensitivity", "specificity", "auc", "threshold" (binary), "dice_mean_per_case",
//  "pixels", "cases", …}; pooled values count every ROI pixel of every case once. Multi-class:
// "dice" is the mean of the per-class pooled Dice over the foreground classes (a class absent
// from truth and prediction counts 1), "dice_mean_present" the mean over the "classes_present"
// (foreground classes with true voxels), "dice_per_class" each. Memory: binary keeps the
// probability volume (the threshold and the AUC need it); K > 2 keeps only the uint8 argmax
// label map, written slab by slab through the sliding window's sink, so the buffers are the
// slab accumulator (K + 1)·patch_z·Y·X·4 B and one batch of windows (sliding_window.h), never
// the K·Z·Y·X·4 B output. "buffer_bytes" (the largest over the cases), "peak_rss_bytes" (the
// process's, after the evaluation), "inference_seconds" and "seconds" (inference and scoring)
// report it. With rand_error
// on: "rand_error", "rand_split", "rand_merge", "info_score", "info_split", "info_merge" (the
// mean over the cases where each is defined; null when none) and "rand_cases", plus the
// per-case values in "per_case".
[[nodiscard]] Result<nlohmann::json> evaluate_segmentation(nets::Net& net, const std::vector<data::SegSample>& samples,
                                                           int64_t num_classes, const SegEvalOptions& options);

}  // namespace lucent::train
