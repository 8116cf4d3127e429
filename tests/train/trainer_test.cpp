#include "lucent/train/trainer.h"

#include <ATen/Parallel.h>
#include <fstream>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lucent/core/config.h"
#include "lucent/core/safetensors.h"
#include "lucent/nets/bundle.h"
#include "support/test_support.h"

namespace lucent::train {
namespace {
namespace fs = std::filesystem;

constexpr const char* kRecipe = R"(
name: breast-smoke
seed: 3
data: {kind: medmnist, path: medmnist/breastmnist.npz, labels: [malignant, benign_or_normal]}
model: {name: resnet10, options: {width: 8}}
pipeline:
  preprocess:
    - {name: scale_intensity, in_min: 0, in_max: 255}
  augment:
    - {name: flip, axes: [x], p: 0.5}
    - {name: affine, rotate_deg: 10, p: 0.5}
train: {epochs: 2, batch_size: 32, lr: 0.002, optimizer: adamw, schedule: cosine, max_batches_per_epoch: 3,
        ema_decay: 0.9, mixup_alpha: 0.2}
)";

struct Env {
  nets::NetRegistry nets;
  transforms::TransformRegistry tfs;
  Env() {
    nets::register_builtin_nets(nets);
    transforms::register_builtin_transforms(tfs);
    at::set_num_threads(1);  // bit-identical reruns need the same reduction order
  }
  Result<TrainConfig> config(const std::string& extra = "") {
    auto j = parse_yaml(std::string(kRecipe) + extra, "smoke.yaml");
    if (!j) return std::unexpected(j.error());
    return parse_train_config(*j, "smoke.yaml", test::data_dir(), ".");
  }
};

// The run's log.jsonl, one object per epoch.
std::vector<nlohmann::json> log_lines(const fs::path& run) {
  std::ifstream log(run / "log.jsonl");
  std::vector<nlohmann::json> epochs;
  for (std::string line; std::getline(log, line);) epochs.push_back(nlohmann::json::parse(line));
  return epochs;
}

std::map<std::string, at::Tensor> weights(const fs::path& bundle) {
  return read_safetensors(bundle / "weights.safetensors")->tensors;
}

// Regression: the EMA model evaluated with averaged batch-norm statistics collapsed to the
// majority class; its statistics are now estimated again for its own weights.
TEST(Trainer, BatchNormStatisticsAreReestimatedForTheCurrentWeights) {
  Env env;
  nets::NetSpec spec;
  spec.name = "resnet10";
  spec.spatial_dims = 2;
  spec.in_channels = 1;
  spec.num_outputs = 2;
  spec.options = {{"width", "8"}, {"stem", "small"}};
  at::manual_seed(0);
  auto net = env.nets.create(spec);
  ASSERT_TRUE(net) << net.error().message();
  auto images = at::randn({64, 1, 12, 12}) * 3 + 2;
  data::TensorDataset ds(images, at::zeros({64, 1}, at::kLong), Task::kBinary, 2);
  torch::nn::Conv2dImpl* conv = nullptr;
  torch::nn::BatchNorm2dImpl* bn = nullptr;
  for (const auto& m : (*net)->modules(false)) {
    if (!conv) conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get());
    if (!bn) bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get());
  }
  ASSERT_TRUE(conv && bn);
  (*net)->train();
  recompute_batch_norm(**net, ds, 16, 48, "cpu");
  EXPECT_FALSE((*net)->is_training());
  ASSERT_TRUE(bn->options.momentum().has_value());
  EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.1);
  // The stem's batch norm sees the stem convolution's output: 3 batches of 16 of the first 48
  // images, averaged with equal weights.
  torch::NoGradGuard g;
  at::Tensor mean = at::zeros({8}), var = at::zeros({8});
  for (int b = 0; b < 3; ++b) {
    auto y = conv->forward(images.slice(0, 16 * b, 16 * (b + 1)));
    mean += y.mean({0, 2, 3}) / 3;
    var += y.var({0, 2, 3}, /*unbiased=*/true) / 3;
  }
  EXPECT_TRUE(at::allclose(bn->running_mean, mean, 1e-4, 1e-5)) << bn->running_mean << mean;
  EXPECT_TRUE(at::allclose(bn->running_var, var, 1e-4, 1e-5)) << bn->running_var << var;
}

TEST(Trainer, TrainsAndWritesABundleThatReproducesItsTestMetrics) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  test::TempDir dir;
  Env env;
  auto cfg = env.config();
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  auto r = run_training(*cfg, {.out_dir = dir / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->completed);
  for (const char* f : {"bundle/bundle.json", "metrics.json", "log.jsonl", "config.json", "checkpoint/state.json"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  const double auc = r->test_metrics["auc"];
  EXPECT_GE(auc, 0.0);
  EXPECT_LE(auc, 1.0);
  EXPECT_EQ(r->test_metrics["n"], 156);  // the official BreastMNIST test split
  // The bundle alone (its preprocess + weights) reproduces the test metrics.
  auto b = nets::load_bundle(dir / "run" / "bundle", env.nets);
  ASSERT_TRUE(b) << b.error().to_string();
  auto test_set = data::load_medmnist(cfg->data.path, "test");
  auto pre = transforms::Pipeline::from_json(b->manifest.preprocess, env.tfs);
  Rng rng(0);
  ASSERT_TRUE((*test_set)->preprocess(*pre, rng));
  auto again = score(predict_probabilities(*b->net, **test_set, Task::kBinary, 64, 1.0, "cpu"), **test_set, Task::kBinary);
  EXPECT_DOUBLE_EQ((*again)["auc"].get<double>(), auc);
  EXPECT_EQ(b->manifest.labels, (std::vector<std::string>{"malignant", "benign_or_normal"}));
  EXPECT_EQ(b->manifest.training["data"]["sha256"].get<std::string>().size(), 64u);
}

TEST(Trainer, ResumeAfterAnInterruptionGivesIdenticalWeights) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  test::TempDir dir;
  Env env;
  auto cfg = env.config();
  ASSERT_TRUE(cfg);
  ASSERT_TRUE(run_training(*cfg, {.out_dir = dir / "straight", .quiet = true}, env.nets, env.tfs));
  auto first = run_training(*cfg, {.out_dir = dir / "split", .quiet = true, .max_epochs_this_run = 1}, env.nets, env.tfs);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->completed);
  auto again = run_training(*cfg, {.out_dir = dir / "split", .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  auto resumed = run_training(*cfg, {.out_dir = dir / "split", .resume = true, .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(resumed) << resumed.error().to_string();
  auto a = read_safetensors(dir / "straight" / "checkpoint" / "model.safetensors")->tensors;
  auto b = read_safetensors(dir / "split" / "checkpoint" / "model.safetensors")->tensors;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_EQ(resumed->test_metrics, run_training(*cfg, {.out_dir = dir / "straight", .resume = true, .quiet = true},
                                                env.nets, env.tfs)->test_metrics);
}

TEST(Trainer, ResumeWithADifferentRecipeIsRefused) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  test::TempDir dir;
  Env env;
  ASSERT_TRUE(run_training(*env.config(), {.out_dir = dir / "run", .quiet = true, .max_epochs_this_run = 1}, env.nets, env.tfs));
  auto other = env.config("seed: 4\n");
  auto r = run_training(*other, {.out_dir = dir / "run", .resume = true, .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("recipe differs"), std::string::npos);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  test::TempDir dir;
  Env env;
  auto cfg = env.config();
  ASSERT_TRUE(cfg);
  ASSERT_TRUE(run_training(*cfg, {.out_dir = dir / "run", .quiet = true, .max_epochs_this_run = 1}, env.nets, env.tfs));
  const auto before = read_safetensors(dir / "run" / "checkpoint" / "model.safetensors")->tensors;
  // Poison the weights in memory via an absurd learning rate on resume: the loss explodes.
  auto poisoned = *cfg;
  poisoned.optim.lr = 1e30;
  poisoned.source = cfg->source;  // same recipe hash so the resume is accepted
  poisoned.mixup_alpha = 0;
  auto r = run_training(poisoned, {.out_dir = dir / "run", .resume = true, .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("last good checkpoint"), std::string::npos);
  const auto after = read_safetensors(dir / "run" / "checkpoint" / "model.safetensors")->tensors;
  for (const auto& [name, t] : before) EXPECT_TRUE(torch::equal(t, after.at(name))) << name;
}

// train.early_stopping_patience: the run ends after `patience` epochs in a row without a better
// validation metric, and the bundle holds the best epoch's model. A near-zero learning rate
// keeps the weights still, so validation stops improving early; whatever the exact epoch, the
// log must end at the first epoch that makes the count reach the patience.
TEST(Trainer, EarlyStoppingEndsTheRunAfterPatienceEpochsWithoutImprovement) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  test::TempDir dir;
  Env env;
  auto cfg = env.config();
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  cfg->epochs = 8;
  cfg->early_stopping_patience = 2;
  cfg->optim.lr = 1e-12;
  cfg->optim.schedule = "constant";
  cfg->ema_decay = 0;
  cfg->mixup_alpha = 0;
  auto r = run_training(*cfg, {.out_dir = dir / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(r) << r.error().to_string();
  const std::vector<nlohmann::json> epochs = log_lines(dir / "run");
  ASSERT_FALSE(epochs.empty());
  int64_t expected_last = cfg->epochs, without = 0;
  for (const auto& e : epochs) {
    without = e["best_epoch"] == e["epoch"] ? 0 : without + 1;
    if (without == cfg->early_stopping_patience) {
      expected_last = e["epoch"].get<int64_t>();
      break;
    }
  }
  EXPECT_EQ(epochs.back()["epoch"].get<int64_t>(), expected_last);
  EXPECT_LT(expected_last, cfg->epochs) << "validation kept improving with lr 1e-12; the test no longer stops early";
  auto b = nets::load_bundle(dir / "run" / "bundle", env.nets);
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(b->manifest.metrics["epoch"], epochs.back()["best_epoch"]) << b->manifest.metrics.dump();
}

// One epoch of the test recipe (BreastMNIST) for each value of a train.* setting: what the
// bundle's training metadata records under `recorded` and the epoch's loss, per value.
struct SettingRun {
  nlohmann::json recorded;
  double loss = 0;
};
std::map<std::string, SettingRun> one_epoch_per_value(std::string TrainConfig::*setting,
                                                      const std::vector<std::string>& values,
                                                      const std::string& recorded) {
  test::TempDir dir;
  Env env;
  auto cfg = env.config();
  EXPECT_TRUE(cfg) << cfg.error().to_string();
  EXPECT_EQ((*cfg).*setting, "auto");  // the default
  cfg->epochs = 1;
  std::map<std::string, SettingRun> out;
  for (const auto& value : values) {
    (*cfg).*setting = value;
    EXPECT_TRUE(run_training(*cfg, {.out_dir = dir / value, .quiet = true}, env.nets, env.tfs));
    auto b = nets::load_bundle(dir / value / "bundle", env.nets);
    EXPECT_TRUE(b) << b.error().to_string();
    if (!b) continue;
    out[value] = {b->manifest.training[recorded], log_lines(dir / value).back()["loss"].get<double>()};
  }
  return out;
}

// On the CPU, 2-D training runs channels-last by default (train.channels_last: auto); `off`
// keeps NCHW. Only the memory layout differs, so both runs see the same losses up to rounding.
TEST(Trainer, ChannelsLastIsTheCpuDefaultAndMatchesContiguousTraining) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  auto runs = one_epoch_per_value(&TrainConfig::channels_last, {"auto", "off"}, "channels_last");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs["auto"].recorded, true);
  EXPECT_EQ(runs["off"].recorded, false);
  ASSERT_GT(runs["off"].loss, 0.0);
  EXPECT_NEAR(runs["auto"].loss, runs["off"].loss, 1e-3 * runs["off"].loss);
}

// On the CPU, 2-D float32 training runs its 3x3 stride-1 convolutions through oneDNN's Winograd
// kernels where this build and CPU have them (train.winograd: auto); `off` keeps LibTorch's.
// Only the rounding differs, so both runs see the same losses to ~1e-3.
TEST(Trainer, WinogradIsTheCpuDefaultAndTrainsLikeLibTorchsConvolution) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  auto runs = one_epoch_per_value(&TrainConfig::winograd, {"auto", "off"}, "winograd_convolutions");
  ASSERT_EQ(runs.size(), 2u);
  // The test recipe's ResNet-10 (small stem): the stem, layer1's two and one in each later stage.
  EXPECT_EQ(runs["auto"].recorded, nets::winograd_available() ? 6 : 0);
  EXPECT_EQ(runs["off"].recorded, 0);
  ASSERT_GT(runs["off"].loss, 0.0);
  EXPECT_NEAR(runs["auto"].loss, runs["off"].loss, 1e-3 * runs["off"].loss);
}

TEST(TrainConfig, BadRecipesAreRefusedWithTheKeyNamed) {
  Env env;
  auto unknown = env.config("trian: {epochs: 3}\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("trian"), std::string::npos);
  auto j = *parse_yaml(std::string(kRecipe), "x.yaml");
  j["train"]["epochs"] = "three";
  auto wrong_type = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(wrong_type);
  EXPECT_NE(wrong_type.error().message().find("train.epochs must be an integer"), std::string::npos);
  j["train"]["epochs"] = 0;
  auto impossible = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(impossible);
  EXPECT_NE(impossible.error().message().find("train.epochs is 0"), std::string::npos);
  j["train"]["epochs"] = 2;
  j["train"]["channels_last"] = "yes";
  auto bad_layout = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(bad_layout);
  EXPECT_NE(bad_layout.error().message().find("train.channels_last"), std::string::npos) << bad_layout.error().message();
  j["train"].erase("channels_last");
  j["train"]["winograd"] = "on";  // auto | off only: "on" could not be honoured on every machine
  auto bad_algorithm = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(bad_algorithm);
  EXPECT_NE(bad_algorithm.error().message().find("train.winograd"), std::string::npos)
      << bad_algorithm.error().message();
  j["train"].erase("winograd");
  j["data"]["path"] = "medmnist/nosuchmnist.npz";
  auto missing = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  j["data"]["path"] = "medmnist/breastmnist.npz";
  j["data"]["split"] = {{"val", 0.2}, {"test", 0.2}};
  auto split_on_medmnist = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(split_on_medmnist);
  EXPECT_NE(split_on_medmnist.error().message().find("MedMNIST has official splits"), std::string::npos);
  j["data"]["kind"] = "image_folder";
  j["data"]["split"] = {{"val", 0.5}, {"test", 0.5}};
  auto no_training_left = parse_train_config(j, "x.yaml", test::data_dir(), ".");
  ASSERT_FALSE(no_training_left);
  EXPECT_NE(no_training_left.error().message().find("data.split.val + data.split.test must be below 1"), std::string::npos);
}

}  // namespace
}  // namespace lucent::train
