#include "lucent/train/trainer.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <numbers>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "lucent/core/log.h"
#include "lucent/core/safetensors.h"
#include "lucent/core/threads.h"
#include "lucent/data/manifest.h"
#include "lucent/metrics/classification.h"
#include "lucent/nets/bundle.h"
#include "lucent/train/amp.h"
#include "lucent/train/internal/common.h"

namespace lucent::train {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

using namespace internal;  // NOLINT: the shared loop helpers (learning_rate, checkpoints, …)
constexpr int64_t kBatchNormImages = 4096;  // images that re-estimate the EMA model's batch-norm statistics

// Loss for one target set; `y` int64 (B, L).
at::Tensor loss_for(const at::Tensor& logits, const at::Tensor& y, Task task, const LossConfig& l,
                    const at::Tensor& class_weights) {
  if (task == Task::kMultilabel || l.name == "bce") {
    auto target = y.to(logits.scalar_type());
    if (task != Task::kMultilabel) target = F::one_hot(y.select(1, 0), logits.size(1)).to(logits.scalar_type());
    if (l.label_smoothing > 0) target = target * (1 - l.label_smoothing) + 0.5 * l.label_smoothing;
    auto bce = F::binary_cross_entropy_with_logits(
        logits, target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    if (l.name == "focal") {
      auto p = torch::sigmoid(logits);
      auto pt = p * target + (1 - p) * (1 - target);
      bce = bce * (1 - pt).pow(l.focal_gamma);
    }
    return bce.mean();
  }
  const auto target = y.select(1, 0);
  auto opts = F::CrossEntropyFuncOptions().label_smoothing(l.label_smoothing);
  if (class_weights.defined()) opts = opts.weight(class_weights);
  if (l.name == "focal") {
    auto ce = F::cross_entropy(logits, target, opts.reduction(torch::kNone));
    auto pt = torch::softmax(logits, 1).gather(1, target.unsqueeze(1)).squeeze(1);
    return (ce * (1 - pt).pow(l.focal_gamma)).mean();
  }
  return F::cross_entropy(logits, target, opts);
}

struct LoadedData {
  std::unique_ptr<data::TensorDataset> train, val, test;  // preprocessed
  std::vector<std::string> labels;                          // one name per output
  nlohmann::json info;                                      // provenance for the bundle
};

// The three splits, preprocessed once. MedMNIST: the official splits. Manifests and image
// folders: every image checked first (all problems listed), the split column used when every
// row has one, otherwise a seeded patient-level stratified split; either way the split as used
// is written to RUN/split.csv and its SHA-256 recorded.
Result<LoadedData> load_data(const TrainConfig& cfg, const transforms::Pipeline& preprocess, const fs::path& out_dir) {
  LoadedData d;
  Rng pre_rng(cfg.seed);
  if (cfg.data.kind == "medmnist") {
    std::unique_ptr<data::TensorDataset>* slots[] = {&d.train, &d.val, &d.test};
    const char* names[] = {"train", "val", "test"};
    std::optional<Task> task = cfg.data.task;
    for (int i = 0; i < 3; ++i) {
      auto ds = data::load_medmnist(cfg.data.path, names[i], task);
      if (!ds) return std::unexpected(ds.error());
      task = (*ds)->task();
      if (auto st = (*ds)->preprocess(preprocess, pre_rng); !st)
        return std::unexpected(st.error().with_context("preprocessing the " + std::string(names[i]) + " split"));
      *slots[i] = std::move(*ds);
    }
    auto hash = sha256_file(cfg.data.path);
    if (!hash) return std::unexpected(hash.error());
    d.labels = cfg.data.labels;
    d.info = {{"path", cfg.data.path.filename().string()}, {"sha256", *hash}};
  } else {
    auto m = cfg.data.kind == "manifest" ? data::read_manifest(cfg.data.path)
                                         : data::scan_image_folder(cfg.data.path, cfg.data.exclude);
    if (!m) return std::unexpected(m.error());
    d.labels = cfg.data.labels;
    if (d.labels.empty()) {
      std::set<std::string> found;
      for (const auto& e : m->entries) found.insert(e.label);
      d.labels.assign(found.begin(), found.end());
    }
    const Task task = cfg.data.task.value_or(d.labels.size() == 2 ? Task::kBinary : Task::kMulticlass);
    const bool presplit = std::all_of(m->entries.begin(), m->entries.end(), [](const auto& e) { return !e.split.empty(); });
    if (!presplit) {
      auto s = data::split_by_patient(std::move(*m), {.val_fraction = cfg.data.val_fraction,
                                                      .test_fraction = cfg.data.test_fraction,
                                                      .seed = cfg.data.split_seed.value_or(cfg.seed)});
      if (!s) return std::unexpected(s.error());
      m = std::move(s);
    }
    auto report = data::check_manifest(*m, {.labels = d.labels, .multilabel = task == Task::kMultilabel, .channels = 0, .size = {}});
    if (!report.problems.empty()) {
      std::string list;
      for (std::size_t i = 0; i < std::min<std::size_t>(report.problems.size(), 20); ++i)
        list += "\n  " + report.problems[i].id + ": " + report.problems[i].what;
      if (report.problems.size() > 20) list += "\n  … and " + std::to_string(report.problems.size() - 20) + " more";
      return fail(ErrorCode::kInvalidData, cfg.data.path.string() + ": " + std::to_string(report.problems.size()) +
                                               " problem(s) in the dataset; fix them (or drop the cases) and train again — "
                                               "`lucent data check` lists them all:" + list);
    }
    const fs::path split_file = out_dir / "split.csv";
    if (auto st = data::write_manifest(*m, split_file); !st) return std::unexpected(st.error());
    auto hash = sha256_file(split_file);
    if (!hash) return std::unexpected(hash.error());
    std::unique_ptr<data::TensorDataset>* slots[] = {&d.train, &d.val, &d.test};
    const char* names[] = {"train", "val", "test"};
    for (int i = 0; i < 3; ++i) {
      auto ds = data::load_manifest_split(*m, names[i], d.labels, task, preprocess, pre_rng);
      if (!ds) return std::unexpected(ds.error());
      *slots[i] = std::move(*ds);
    }
    d.info = {{"path", cfg.data.path.filename().string()}, {"kind", cfg.data.kind}, {"split_file", "split.csv"},
              {"split_sha256", *hash}, {"presplit", presplit},
              {"patients", report.patients}, {"class_counts", report.counts}};
  }
  d.info["train"] = d.train->size();
  d.info["val"] = d.val->size();
  d.info["test"] = d.test->size();
  return d;
}

}  // namespace

// Batch-norm statistics for the weight average. The EMA of the running mean/variance belongs
// to the individual weights along the trajectory, not to their average: averaged convolution
// weights give smaller activations than those statistics expect, and with a few hundred steps
// the EMA model's outputs collapsed towards one class (PneumoniaMNIST, EMA 0.99: validation
// accuracy stuck at the majority rate while AUC rose). As for SWA, the statistics are estimated
// again for the averaged weights: cumulative averages over up to `max_images` training images
// (preprocessed, not augmented), in train mode without gradients. Deterministic.
void recompute_batch_norm(nets::Net& net, const data::TensorDataset& train, int64_t batch_size, int64_t max_images,
                          const std::string& device) {
  torch::NoGradGuard guard;
  std::vector<std::function<void()>> restore;
  auto prepare = [&restore](auto* bn) {
    if (!bn) return;
    const auto momentum = bn->options.momentum();
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
    restore.emplace_back([bn, momentum] { bn->options.momentum(momentum); });
  };
  for (const auto& m : net.modules(/*include_self=*/false)) {
    prepare(dynamic_cast<torch::nn::BatchNorm1dImpl*>(m.get()));
    prepare(dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get()));
    prepare(dynamic_cast<torch::nn::BatchNorm3dImpl*>(m.get()));
  }
  if (restore.empty()) return;
  net.train();
  const int64_t n = std::min(train.size(), max_images);
  for (int64_t start = 0; start < n; start += batch_size)
    (void)net.forward(train.images().slice(0, start, std::min(n, start + batch_size)).to(at::kFloat).to(torch::Device(device)));
  net.eval();
  for (auto& r : restore) r();
}

at::Tensor predict_probabilities(nets::Net& net, const data::TensorDataset& dataset, Task task, int64_t batch_size,
                                 double temperature, const std::string& device) {
  torch::NoGradGuard guard;
  net.eval();
  const torch::Device dev(device);
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < dataset.size(); start += batch_size) {
    auto x = dataset.images().slice(0, start, std::min(dataset.size(), start + batch_size)).to(at::kFloat).to(dev);
    auto logits = net.forward(x).to(at::kDouble) / temperature;
    parts.push_back((task == Task::kMultilabel ? torch::sigmoid(logits) : torch::softmax(logits, 1)).cpu());
  }
  return torch::cat(parts, 0);
}

Result<nlohmann::json> score(const at::Tensor& probs, const data::TensorDataset& dataset, Task task) {
  const auto p = probs.contiguous();
  const auto y = dataset.labels().contiguous();
  std::vector<std::vector<double>> pv(static_cast<std::size_t>(p.size(0)));
  std::vector<std::vector<int>> yv(static_cast<std::size_t>(y.size(0)));
  auto pa = p.accessor<double, 2>();
  auto ya = y.accessor<int64_t, 2>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    for (int64_t k = 0; k < p.size(1); ++k) pv[i].push_back(pa[i][k]);
    for (int64_t k = 0; k < y.size(1); ++k) yv[i].push_back(static_cast<int>(ya[i][k]));
  }
  auto auc = metrics::roc_auc(pv, yv, task);
  if (!auc) return std::unexpected(auc.error());
  auto acc = metrics::accuracy(pv, yv, task);
  if (!acc) return std::unexpected(acc.error());
  return nlohmann::json{{"auc", *auc}, {"acc", *acc}, {"n", p.size(0)}};
}

Result<TrainResult> run_training(const TrainConfig& cfg, const TrainOptions& opt, const nets::NetRegistry& net_registry,
                                 const transforms::TransformRegistry& tf_registry) {
  const auto t_start = Clock::now();
  auto setup = prepare_run(cfg, opt);
  if (!setup) return std::unexpected(setup.error());
  const fs::path ckpt_dir = setup->checkpoint_dir;
  const torch::Device device = setup->device;
  AmpContext amp(setup->precision, setup->device.type());

  auto preprocess = transforms::Pipeline::from_json(cfg.preprocess, tf_registry);
  if (!preprocess) return std::unexpected(preprocess.error().with_context("pipeline.preprocess"));
  auto augment = transforms::Pipeline::from_json(cfg.augment, tf_registry);
  if (!augment) return std::unexpected(augment.error().with_context("pipeline.augment"));
  auto data = load_data(cfg, *preprocess, opt.out_dir);
  if (!data) return std::unexpected(data.error());
  auto& train_set = data->train;
  auto& val_set = data->val;
  auto& test_set = data->test;
  const Task task = train_set->task();
  const int64_t outputs = train_set->num_classes();

  // Model (and its EMA twin).
  nets::NetSpec spec = cfg.model;
  spec.spatial_dims = train_set->spatial_dims();
  spec.in_channels = train_set->channels();
  spec.num_outputs = outputs;
  at::manual_seed(static_cast<uint64_t>(cfg.seed));
  auto net = net_registry.create(spec);
  if (!net) return std::unexpected(net.error());
  std::shared_ptr<nets::Net> ema;
  if (cfg.ema_decay > 0) {
    auto e = net_registry.create(spec);
    if (!e) return std::unexpected(e.error());
    ema = *e;
    torch::NoGradGuard g;
    auto src = nets::state_tensors(**net);
    auto dst = nets::state_tensors(*ema);
    for (std::size_t i = 0; i < src.size(); ++i) dst[i].second.copy_(src[i].second);
  }
  (*net)->to(device);
  if (ema) ema->to(device);
  const bool channels_last = use_channels_last(cfg.channels_last, device, spec.spatial_dims);
  if (channels_last) nets::to_channels_last(**net);
  // The EMA twin is never trained; its batch-norm pass (train mode, no gradients, evaluation
  // batches) keeps LibTorch's convolution and so needs no Winograd kernels or scratch space of its own.
  const int winograd = apply_winograd(cfg.winograd, **net, device, spec.spatial_dims, setup->precision);
  auto optimizer = make_optimizer(cfg.optim, (*net)->parameters());

  at::Tensor class_weights;
  if (cfg.loss.class_weights == "balanced" && task != Task::kMultilabel) {
    auto counts = train_set->class_counts();
    std::vector<float> w;
    const double n = static_cast<double>(train_set->size());
    for (auto c : counts) w.push_back(c > 0 ? static_cast<float>(n / (static_cast<double>(counts.size()) * c)) : 0.f);
    class_weights = torch::tensor(w).to(device);
  }

  Checkpoint ck;
  if (opt.resume && fs::exists(ckpt_dir / "state.json")) {
    auto loaded = load_checkpoint(ckpt_dir, **net, ema.get(), *optimizer, cfg.source, device);
    if (!loaded) return std::unexpected(loaded.error());
    ck = *loaded;
    amp.restore(ck.amp_scaler);
    log_info("resuming " + opt.out_dir.string() + " at epoch " + std::to_string(ck.next_epoch + 1));
  }
  if (auto st = write_file_atomically(opt.out_dir / "config.json", cfg.source.dump(2) + "\n"); !st)
    return std::unexpected(st.error());


  nets::BundleManifest manifest;
  manifest.architecture = spec;
  manifest.preprocess = cfg.preprocess;
  manifest.input_size = train_set->spatial_size();
  manifest.task = task_name(task);
  manifest.labels = data->labels;
  if (manifest.labels.size() != static_cast<std::size_t>(outputs)) {
    manifest.labels.clear();
    for (int64_t k = 0; k < outputs; ++k) manifest.labels.push_back("class_" + std::to_string(k));
  }
  manifest.training = {{"recipe", cfg.name},
                       {"seed", cfg.seed},
                       {"config", cfg.source},
                       {"data", data->info},
                       {"versions", {{"lucent", "0.1.0"}, {"libtorch", TORCH_VERSION}}},
                       {"device", opt.device},
                       {"precision", precision_name(setup->precision)},
                       {"channels_last", channels_last},
                       {"winograd_convolutions", winograd}};

  data::DataLoader loader(*train_set, *augment, {.batch_size = cfg.batch_size, .shuffle = true, .drop_last = false},
                          cfg.seed);
  int64_t batches = loader.batches_per_epoch();
  if (cfg.max_batches_per_epoch > 0) batches = std::min(batches, cfg.max_batches_per_epoch);
  const bool tty = isatty(STDERR_FILENO) && !opt.quiet;
  std::ofstream log(opt.out_dir / "log.jsonl", std::ios::app);

  const int64_t first_epoch = ck.next_epoch;
  for (int64_t epoch = ck.next_epoch; epoch < cfg.epochs; ++epoch) {
    if (opt.max_epochs_this_run > 0 && epoch - first_epoch >= opt.max_epochs_this_run)
      return partial_result(opt, ck, t_start);
    release_kept_tensor_buffers();  // what evaluation kept would sit beside the steps' buffers (core/threads.h)
    const auto t_epoch = Clock::now();
    (*net)->train();
    at::manual_seed(cfg.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    loader.start_epoch(epoch);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (opt.interrupt && opt.interrupt->load()) return std::unexpected(interrupted(epoch, ckpt_dir));
      auto item = loader.next();
      if (!item) break;
      if (!*item) return std::unexpected(item->error());
      // Pinned host memory lets the copy to the GPU run asynchronously.
      at::Tensor x = device.is_cuda() ? (*item)->images.pin_memory().to(device, /*non_blocking=*/true)
                                      : (*item)->images;
      at::Tensor y = device.is_cuda() ? (*item)->labels.pin_memory().to(device, /*non_blocking=*/true)
                                      : (*item)->labels;
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const double lr = learning_rate(cfg.optim, static_cast<double>(epoch) + static_cast<double>(b) / batches, cfg.epochs);
      set_lr(*optimizer, lr);
      // Mixup / CutMix: convex combination of two targets, seeded per batch.
      Rng mix_rng = Rng(cfg.seed).fork(static_cast<uint64_t>(epoch) * 7919ULL + static_cast<uint64_t>(b) + 11);
      double lam = 1.0;
      at::Tensor perm;
      const bool use_cutmix = cfg.cutmix_alpha > 0 && (cfg.mixup_alpha <= 0 || mix_rng.bernoulli(0.5));
      const double alpha = use_cutmix ? cfg.cutmix_alpha : cfg.mixup_alpha;
      if (alpha > 0) {
        std::gamma_distribution<double> ga(alpha, 1.0);
        std::mt19937_64 eng(mix_rng.integer(0, INT64_MAX));
        const double g1 = ga(eng), g2 = ga(eng);
        lam = g1 / (g1 + g2);
        perm = at::randperm(x.size(0), mix_rng.generator()).to(device);
        if (use_cutmix) {
          const int64_t h = x.size(-2), w = x.size(-1);
          const double r = std::sqrt(1 - lam);
          const int64_t ch = static_cast<int64_t>(h * r), cw = static_cast<int64_t>(w * r);
          const int64_t cy = mix_rng.integer(0, h - 1), cx = mix_rng.integer(0, w - 1);
          const int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, h), y1 = std::clamp<int64_t>(cy + ch / 2, 0, h);
          const int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, w), x1 = std::clamp<int64_t>(cx + cw / 2, 0, w);
          auto mixed = x.clone();
          mixed.narrow(-2, y0, y1 - y0).narrow(-1, x0, x1 - x0)
              .copy_(x.index_select(0, perm).narrow(-2, y0, y1 - y0).narrow(-1, x0, x1 - x0));
          x = mixed;
          lam = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
        } else {
          x = lam * x + (1 - lam) * x.index_select(0, perm);
        }
      }
      optimizer->zero_grad();
      at::Tensor loss;
      {
        auto autocast = amp.autocast();  // no-op in float32
        at::Tensor logits = (*net)->forward(x);
        loss = loss_for(logits, y, task, cfg.loss, class_weights);
        if (perm.defined())
          loss = lam * loss + (1 - lam) * loss_for(logits, y.index_select(0, perm), task, cfg.loss, class_weights);
      }
      const double lv = loss.item<double>();
      if (auto st = check_finite_loss(lv, epoch, b, ckpt_dir); !st) return std::unexpected(st.error());
      backward_and_step(amp, loss, **net, *optimizer, cfg.grad_clip);
      ++ck.step;
      if (ema) {
        torch::NoGradGuard g;
        auto src = nets::state_tensors(**net);
        auto dst = nets::state_tensors(*ema);
        for (std::size_t i = 0; i < src.size(); ++i) {
          if (dst[i].second.is_floating_point()) dst[i].second.mul_(cfg.ema_decay).add_(src[i].second, 1 - cfg.ema_decay);
          else dst[i].second.copy_(src[i].second);
        }
      }
      loss_sum += lv * static_cast<double>(x.size(0));
      seen += x.size(0);
      if (tty) {
        const double el = seconds_since(t_epoch);
        const int width = 24, done = static_cast<int>(width * (b + 1) / batches);
        std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f %.0f img/s ETA %s   ",
                     static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs),
                     std::string(done, '#').c_str(), std::string(width - done, '.').c_str(),
                     static_cast<long long>(b + 1), static_cast<long long>(batches), loss_sum / seen, seen / el,
                     format_duration(el / (b + 1) * (batches - b - 1)).c_str());
      }
    }
    if (tty) std::fprintf(stderr, "\r%*s\r", 100, "");
    const double train_seconds = seconds_since(t_epoch);
    release_kept_tensor_buffers();  // evaluation reuses that memory (core/threads.h)

    nets::Net& eval_net = ema ? *ema : **net;
    if (ema) recompute_batch_norm(*ema, *train_set, cfg.eval_batch_size, kBatchNormImages, opt.device);
    auto val_probs = predict_probabilities(eval_net, *val_set, task, cfg.eval_batch_size, 1.0, opt.device);
    auto val = score(val_probs, *val_set, task);
    if (!val) return std::unexpected(val.error().with_context("validation"));
    const double value = cfg.select_metric == "loss" ? -loss_sum / std::max<int64_t>(seen, 1) : (*val)[cfg.select_metric].get<double>();
    const bool improved = value > ck.best_value;
    if (improved) {
      ck.best_value = value;
      ck.best_epoch = epoch;
      ck.best_val = *val;
      ck.epochs_without_improvement = 0;
      manifest.metrics = {{"val", *val}, {"epoch", epoch + 1}};
      eval_net.to(torch::kCPU);
      Status st = nets::save_bundle(opt.out_dir / "bundle", eval_net, manifest);
      eval_net.to(device);
      if (!st) return std::unexpected(st.error());
    } else {
      ++ck.epochs_without_improvement;
    }
    ck.next_epoch = epoch + 1;
    ck.amp_scaler = amp.state();
    if (auto st = save_checkpoint(ckpt_dir, **net, ema.get(), *optimizer, ck, cfg.source); !st)
      return std::unexpected(st.error());
    nlohmann::json line = {{"epoch", epoch + 1},
                                 {"loss", loss_sum / std::max<int64_t>(seen, 1)},
                                 {"lr", learning_rate(cfg.optim, static_cast<double>(epoch + 1) - 1e-9, cfg.epochs)},
                                 {"val", *val},
                                 {"best_epoch", ck.best_epoch + 1},
                                 {"images_per_s", seen / std::max(train_seconds, 1e-9)},
                                 {"epoch_s", seconds_since(t_epoch)}};
    if (amp.precision() == Precision::kFloat16)
      line["amp"] = {{"loss_scale", amp.current_scale()}, {"skipped_steps", amp.skipped_steps()}};
    log << line.dump() << "\n" << std::flush;
    if (!opt.quiet) {
      std::printf("epoch %3lld/%lld  loss %.4f  val auc %.4f acc %.4f  %s %6.0f img/s  %.1fs\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs), line["loss"].get<double>(),
                  (*val)["auc"].get<double>(), (*val)["acc"].get<double>(), improved ? "*" : " ",
                  line["images_per_s"].get<double>(), line["epoch_s"].get<double>());
      std::fflush(stdout);
    }
    if (stop_early(cfg, ck)) break;
  }

  auto bundle = reload_selected_bundle(opt.out_dir, net_registry, device);  // tested as deployed
  if (!bundle) return std::unexpected(bundle.error());
  auto test_probs = predict_probabilities(*bundle->net, *test_set, task, cfg.eval_batch_size, 1.0, opt.device);
  auto test = score(test_probs, *test_set, task);
  if (!test) return std::unexpected(test.error().with_context("test"));
  TrainResult result;
  result.bundle_dir = opt.out_dir / "bundle";
  result.test_metrics = *test;
  result.val_metrics = ck.best_val;
  result.best_epoch = ck.best_epoch + 1;
  result.seconds = seconds_since(t_start);
  manifest.metrics = {{"val", ck.best_val}, {"test", *test}, {"epoch", ck.best_epoch + 1}};
  bundle->net->to(torch::kCPU);
  if (auto st = nets::save_bundle(result.bundle_dir, *bundle->net, manifest); !st) return std::unexpected(st.error());
  const nlohmann::json metrics = {{"recipe", cfg.name}, {"task", task_name(task)}, {"seed", cfg.seed},
                                  {"best_epoch", result.best_epoch}, {"val", ck.best_val}, {"test", *test},
                                  {"train_seconds", result.seconds}};
  if (auto st = write_file_atomically(opt.out_dir / "metrics.json", metrics.dump(2) + "\n"); !st)
    return std::unexpected(st.error());
  return result;
}

}  // namespace lucent::train
