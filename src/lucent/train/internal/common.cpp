#include "lucent/train/internal/common.h"

#include <cmath>
#include <cstdio>
#include <numbers>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "lucent/core/safetensors.h"
#include "lucent/core/log.h"
#include "lucent/nets/bundle.h"

namespace lucent::train::internal {
namespace fs = std::filesystem;

// Learning rate at a (fractional) epoch position.
double learning_rate(const OptimConfig& o, double epoch_pos, int64_t epochs) {
  const double base = o.lr, e = static_cast<double>(epochs);
  if (o.schedule == "onecycle") {
    const double up = 0.3 * e, start = base / 25.0, end = base / 1e4;
    if (epoch_pos < up) return start + (base - start) * 0.5 * (1 - std::cos(std::numbers::pi * epoch_pos / up));
    return end + (base - end) * 0.5 * (1 + std::cos(std::numbers::pi * (epoch_pos - up) / (e - up)));
  }
  if (o.warmup_epochs > 0 && epoch_pos < o.warmup_epochs) return base * std::max(epoch_pos, 1e-3) / o.warmup_epochs;
  if (o.schedule == "multistep") {
    double lr = base;
    for (double m : o.milestones)
      if (epoch_pos >= m * e) lr *= o.gamma;
    return lr;
  }
  if (o.schedule == "cosine") {
    const double floor = base * o.final_lr_fraction;
    const double t = (epoch_pos - o.warmup_epochs) / std::max(1e-9, e - o.warmup_epochs);
    return floor + (base - floor) * 0.5 * (1 + std::cos(std::numbers::pi * std::clamp(t, 0.0, 1.0)));
  }
  return base;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o, std::vector<at::Tensor> params) {
  if (o.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov && o.momentum > 0).weight_decay(o.weight_decay));
  if (o.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}


Status save_checkpoint(const fs::path& dir, nets::Net& net, nets::Net* ema, torch::optim::Optimizer& opt,
                       const Checkpoint& c, const nlohmann::json& config) {
  const fs::path tmp = temporary_sibling(dir);
  std::error_code ec;
  remove_tree(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create " + tmp.string() + ": " + ec.message());
  Status st = write_safetensors(tmp / "model.safetensors", nets::state_tensors(net));
  if (st && ema) st = write_safetensors(tmp / "ema.safetensors", nets::state_tensors(*ema));
  if (st) {
    try {
      torch::save(opt, (tmp / "optimizer.pt").string());
    } catch (const std::exception& e) {
      st = fail(ErrorCode::kIoError, std::string("cannot save optimiser state: ") + e.what());
    }
  }
  nlohmann::json state = {{"next_epoch", c.next_epoch},   {"best_value", c.best_value},
                          {"best_epoch", c.best_epoch},   {"epochs_without_improvement", c.epochs_without_improvement},
                          {"step", c.step},               {"best_val", c.best_val},
                          {"amp_scaler", c.amp_scaler},   {"config_sha256", sha256_hex(config.dump())}};
  if (st) st = write_file_atomically(tmp / "state.json", state.dump(2));
  if (!st) {
    remove_tree(tmp, ec);
    return st;
  }
  const fs::path old = temporary_sibling(dir);
  if (fs::exists(dir)) fs::rename(dir, old, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot move checkpoint into " + dir.string() + ": " + ec.message());
  remove_tree(old, ec);
  return ok();
}

Result<Checkpoint> load_checkpoint(const fs::path& dir, nets::Net& net, nets::Net* ema, torch::optim::Optimizer& opt,
                                   const nlohmann::json& config, const torch::Device& device) {
  auto text = read_file(dir / "state.json");
  if (!text) return std::unexpected(text.error().with_context("resuming"));
  Checkpoint c;
  try {
    auto s = nlohmann::json::parse(*text);
    if (s.at("config_sha256").get<std::string>() != sha256_hex(config.dump()))
      return fail(ErrorCode::kInvalidArgument, "cannot resume " + dir.string() +
                                                   ": the recipe differs from the one this run started with; "
                                                   "use the same config and --set values, or a new --out folder");
    c.next_epoch = s.at("next_epoch");
    c.best_value = s.at("best_value").is_null() ? -std::numeric_limits<double>::infinity() : s.at("best_value").get<double>();
    c.best_epoch = s.at("best_epoch");
    c.epochs_without_improvement = s.at("epochs_without_improvement");
    c.step = s.at("step");
    c.best_val = s.at("best_val");
    if (s.contains("amp_scaler")) c.amp_scaler = s.at("amp_scaler").get<std::vector<double>>();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, (dir / "state.json").string() + " is malformed: " + e.what());
  }
  auto w = read_safetensors(dir / "model.safetensors");
  if (!w) return std::unexpected(w.error());
  if (auto st = nets::load_state_tensors(net, w->tensors, (dir / "model.safetensors").string()); !st)
    return std::unexpected(st.error());
  if (ema) {
    auto e = read_safetensors(dir / "ema.safetensors");
    if (!e) return std::unexpected(e.error());
    if (auto st = nets::load_state_tensors(*ema, e->tensors, (dir / "ema.safetensors").string()); !st)
      return std::unexpected(st.error());
  }
  try {
    // Onto the training device: a checkpoint written on one device resumes on another.
    torch::load(opt, (dir / "optimizer.pt").string(), device);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidData, "cannot read optimiser state in " + dir.string() + ": " + e.what());
  }
  return c;
}

std::string format_duration(double s) {
  char buf[32];
  const int t = static_cast<int>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

Result<RunSetup> prepare_run(const TrainConfig& cfg, const TrainOptions& opt) {
  std::error_code ec;
  std::filesystem::create_directories(opt.out_dir, ec);
  if (ec) return fail(ErrorCode::kIoError, "cannot create run folder " + opt.out_dir.string() + ": " + ec.message());
  RunSetup r;
  r.checkpoint_dir = opt.out_dir / "checkpoint";
  if (std::filesystem::exists(r.checkpoint_dir / "state.json") && !opt.resume)
    return fail(ErrorCode::kAlreadyExists, opt.out_dir.string() +
                                               " already holds a training run; pass --resume to continue it or choose another --out");
  if (opt.device == "cuda" && !torch::cuda::is_available())
    return fail(ErrorCode::kUnsupported, "--device cuda requested but this LibTorch has no usable CUDA device; use --device cpu");
  r.device = torch::Device(opt.device);
  auto precision = resolve_precision(cfg.amp, opt.device);
  if (!precision) return std::unexpected(precision.error());
  r.precision = *precision;
  if (r.device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  return r;
}

TrainResult partial_result(const TrainOptions& opt, const Checkpoint& ck, Clock::time_point start) {
  TrainResult partial;
  partial.bundle_dir = opt.out_dir / "bundle";
  partial.val_metrics = ck.best_val;
  partial.best_epoch = ck.best_epoch + 1;
  partial.seconds = seconds_since(start);
  partial.completed = false;
  return partial;
}

Error interrupted(int64_t epoch, const std::filesystem::path& ckpt_dir) {
  return Error(ErrorCode::kCancelled, "training interrupted during epoch " + std::to_string(epoch + 1) +
                                          "; the checkpoint of the last completed epoch is kept in " + ckpt_dir.string() +
                                          "; continue with --resume");
}

Status check_finite_loss(double lv, int64_t epoch, int64_t batch, const std::filesystem::path& ckpt_dir) {
  if (std::isfinite(lv)) return ok();
  return fail(ErrorCode::kInvalidData,
              "the training loss became " + std::string(std::isnan(lv) ? "NaN" : "infinite") + " at epoch " +
                  std::to_string(epoch + 1) + ", batch " + std::to_string(batch + 1) +
                  "; training stopped and the last good checkpoint is kept in " + ckpt_dir.string() +
                  "; lower train.lr or enable train.grad_clip");
}

void backward_and_step(AmpContext& amp, const at::Tensor& loss, nets::Net& net, torch::optim::Optimizer& optimizer,
                       double grad_clip) {
  amp.scale(loss).backward();
  if (amp.unscale_and_check(net.parameters())) {
    if (grad_clip > 0) torch::nn::utils::clip_grad_norm_(net.parameters(), grad_clip);
    optimizer.step();
  }
  amp.update();
}

bool use_channels_last(const std::string& setting, const torch::Device& device, int64_t spatial_dims) {
  if (setting == "off" || spatial_dims != 2) return false;
  return setting == "on" || device.is_cpu();
}

int apply_winograd(const std::string& setting, nets::Net& net, const torch::Device& device, int64_t spatial_dims,
                   Precision precision) {
  if (setting == "off" || !device.is_cpu() || spatial_dims != 2 || precision != Precision::kFloat32) return 0;
  return nets::use_winograd(net, true);
}

bool stop_early(const TrainConfig& config, const Checkpoint& checkpoint) {
  if (config.early_stopping_patience <= 0 || checkpoint.epochs_without_improvement < config.early_stopping_patience)
    return false;
  log_info("early stopping: no improvement of validation " + config.select_metric + " for " +
           std::to_string(config.early_stopping_patience) + " epochs");
  return true;
}

Result<nets::LoadedBundle> reload_selected_bundle(const std::filesystem::path& out_dir,
                                                  const nets::NetRegistry& registry, const torch::Device& device) {
  auto bundle = nets::load_bundle(out_dir / "bundle", registry);
  if (!bundle) return std::unexpected(bundle.error().with_context("reloading the selected bundle"));
  bundle->net->to(device);
  return bundle;
}

}  // namespace lucent::train::internal
