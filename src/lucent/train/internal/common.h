// Helpers shared by the classification trainer (trainer.cpp) and the segmentation trainer
// (seg_trainer.cpp): learning-rate schedules, optimisers, checkpoints. Internal to lucent::train.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/nets/bundle.h"
#include "lucent/nets/net.h"
#include "lucent/train/amp.h"
#include "lucent/train/train_config.h"
#include "lucent/train/trainer.h"

namespace lucent::train::internal {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Learning rate at a (fractional) epoch position.
double learning_rate(const OptimConfig& o, double epoch_pos, int64_t epochs);
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o, std::vector<at::Tensor> params);
void set_lr(torch::optim::Optimizer& opt, double lr);

struct Checkpoint {
  int64_t next_epoch = 0;
  double best_value = -std::numeric_limits<double>::infinity();
  int64_t best_epoch = -1;
  int64_t epochs_without_improvement = 0;
  int64_t step = 0;
  nlohmann::json best_val = nlohmann::json::object();
  std::vector<double> amp_scaler;  // fp16 loss scale and growth tracker (AmpContext::state)
};

// The folder is written as a whole under a temporary name, then renamed into place.
[[nodiscard]] Status save_checkpoint(const std::filesystem::path& dir, nets::Net& net, nets::Net* ema,
                                     torch::optim::Optimizer& opt, const Checkpoint& c, const nlohmann::json& config);
// kInvalidArgument when the recipe differs from the one the checkpoint was written with.
[[nodiscard]] Result<Checkpoint> load_checkpoint(const std::filesystem::path& dir, nets::Net& net, nets::Net* ema,
                                                 torch::optim::Optimizer& opt, const nlohmann::json& config,
                                                 const torch::Device& device);
// "m:ss"
std::string format_duration(double s);

// What both trainers check and set up before touching data: the run folder exists (and holds
// no run unless resuming), the device is usable, the mixed precision resolved; cuDNN picks its
// fastest algorithms per shape on CUDA (runs there are not bit-deterministic anyway).
struct RunSetup {
  std::filesystem::path checkpoint_dir;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFloat32;
};
[[nodiscard]] Result<RunSetup> prepare_run(const TrainConfig& config, const TrainOptions& options);

// The result of a run stopped (checkpointed) by TrainOptions::max_epochs_this_run.
[[nodiscard]] TrainResult partial_result(const TrainOptions& options, const Checkpoint& checkpoint,
                                         Clock::time_point start);
// kCancelled: the run was interrupted during `epoch` (0-based); the last checkpoint stays.
[[nodiscard]] Error interrupted(int64_t epoch, const std::filesystem::path& checkpoint_dir);
// kInvalidData when the loss `value` of (epoch, batch) is NaN or infinite: training stops and
// keeps the last good checkpoint; nothing otherwise.
[[nodiscard]] Status check_finite_loss(double value, int64_t epoch, int64_t batch,
                                       const std::filesystem::path& checkpoint_dir);
// backward of the (scaled) loss, then the optimiser step: fp16 gradients are unscaled first
// (clipping sees true norms) and a step whose gradients overflowed is skipped while the loss
// scale backs off, as with PyTorch's GradScaler.
void backward_and_step(AmpContext& amp, const at::Tensor& loss, nets::Net& net, torch::optim::Optimizer& optimizer,
                       double grad_clip);
// Whether 2-D classification training keeps the weights and the input batch channels-last (NHWC),
// from `train.channels_last` (auto | on | off; auto = on the CPU). oneDNN then runs the
// convolutions without a reorder to and from its blocked layout around every layer: in a float32
// training step of the MedMNIST ResNet-18, oneDNN's log showed 65 of 347 ms per step in such
// reorders in NCHW and none in NHWC (bench/train_peer/step_profile.py onednn). Whole epochs ran
// faster in 8 of 8 paired runs with glibc's allocator (+1 to +30 %, median +7 %); with the
// huge-page allocator the wall time was within the noise (bench/run_train_ab.sh) but the CPU
// time lower. In bf16 NHWC was the fastest case every time (docs/benchmarks-train-speed.md).
// 3-D nets are never converted.
[[nodiscard]] bool use_channels_last(const std::string& setting, const torch::Device& device, int64_t spatial_dims);
// Switches the net's 3x3 stride-1 convolutions to oneDNN's Winograd kernels (nets::use_winograd)
// when `setting` is auto and the run is 2-D, on the CPU, in float32, and this build and CPU have
// them; returns how many were switched. For the benchmark ResNet-18 the kernels took about 0.63x
// the time of LibTorch's direct ones (docs/benchmarks-train-speed.md, Run 8); results differ from
// LibTorch's convolution by float32 rounding only.
int apply_winograd(const std::string& setting, nets::Net& net, const torch::Device& device, int64_t spatial_dims,
                   Precision precision);
// True (and logged) when early stopping is on and the checkpoint has gone patience epochs
// without improving the selection metric.
[[nodiscard]] bool stop_early(const TrainConfig& config, const Checkpoint& checkpoint);
// The selected bundle of the run reloaded from disk onto `device`: the model is tested exactly
// as it is deployed.
[[nodiscard]] Result<nets::LoadedBundle> reload_selected_bundle(const std::filesystem::path& out_dir,
                                                                const nets::NetRegistry& registry,
                                                                const torch::Device& device);

}  // namespace lucent::train::internal
