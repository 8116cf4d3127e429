// Mixed precision and the CUDA path of the trainer. The CUDA tests skip (with the reason) where
// LibTorch has no usable GPU; bench/gpu/run.sh runs them on the GPU machine.
#include "lucent/train/amp.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lucent/core/config.h"
#include "lucent/core/safetensors.h"
#include "lucent/nets/bundle.h"
#include "lucent/train/trainer.h"
#include "support/test_support.h"

namespace lucent::train {
namespace {
namespace fs = std::filesystem;

#define LUCENT_REQUIRE_CUDA()                                                                        \
  do {                                                                                               \
    if (!torch::cuda::is_available())                                                                \
      GTEST_SKIP() << "no CUDA device in this LibTorch; the GPU checks run in bench/gpu/run.sh";     \
  } while (0)

TEST(Amp, Float16IsRefusedOnTheCpuWithTheKeyNamed) {
  auto p = resolve_precision("fp16", "cpu");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(p.error().message().find("train.amp"), std::string::npos) << p.error().message();
  EXPECT_NE(p.error().message().find("bf16"), std::string::npos) << p.error().message();  // the next step
  EXPECT_EQ(*resolve_precision("off", "cpu"), Precision::kFloat32);
  EXPECT_EQ(*resolve_precision("bf16", "cpu"), Precision::kBFloat16);
  EXPECT_EQ(*resolve_precision("auto", "cpu"),
            cpu_has_bf16_instructions() ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_FALSE(resolve_precision("fp8", "cuda"));
  EXPECT_FALSE(resolve_precision("fp8", "cpu"));
}

TEST(Amp, CpuAutocastRunsConvolutionsInBfloat16AndRestoresTheState) {
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3));
  auto x = at::randn({2, 1, 8, 8});
  AmpContext amp(Precision::kBFloat16, at::kCPU);
  {
    auto scope = amp.autocast();
    EXPECT_EQ(conv->forward(x).scalar_type(), at::kBFloat16);
    {
      auto inner = amp.autocast();  // nesting keeps it on
      EXPECT_EQ(conv->forward(x).scalar_type(), at::kBFloat16);
    }
    EXPECT_EQ(conv->forward(x).scalar_type(), at::kBFloat16);
  }
  EXPECT_EQ(conv->forward(x).scalar_type(), at::kFloat);  // scope ended: float32 again
  EXPECT_EQ(amp.scale(at::tensor({2.0})).item<double>(), 2.0);  // bf16 needs no loss scaling
}

TEST(Amp, Float32ContextChangesNothing) {
  AmpContext amp(Precision::kFloat32, at::kCPU);
  auto loss = at::tensor({2.5});
  EXPECT_TRUE(at::equal(amp.scale(loss), loss));
  auto w = torch::ones({3}, torch::TensorOptions().requires_grad(true));
  (w * std::numeric_limits<float>::infinity()).sum().backward();
  EXPECT_TRUE(amp.unscale_and_check({w}));  // no scaler: nothing checked, nothing skipped
  EXPECT_EQ(amp.current_scale(), 1.0);
  EXPECT_TRUE(amp.state().empty());
}

TEST(AmpCuda, AutocastRunsConvolutionsInTheLowerPrecisionAndRestoresTheState) {
  LUCENT_REQUIRE_CUDA();
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3));
  conv->to(torch::kCUDA);
  auto x = at::randn({2, 1, 8, 8}, at::kCUDA);
  for (auto [precision, dtype] : {std::pair{Precision::kBFloat16, at::kBFloat16}, std::pair{Precision::kFloat16, at::kHalf}}) {
    AmpContext amp(precision, at::kCUDA);
    {
      auto scope = amp.autocast();
      EXPECT_EQ(conv->forward(x).scalar_type(), dtype);
    }
    EXPECT_EQ(conv->forward(x).scalar_type(), at::kFloat);  // scope ended: float32 again
  }
}

TEST(AmpCuda, Float16ScalerSkipsOverflowingStepsAndBacksOff) {
  LUCENT_REQUIRE_CUDA();
  AmpContext amp(Precision::kFloat16, at::kCUDA);
  EXPECT_EQ(amp.current_scale(), 65536.0);
  auto w = torch::ones({4}, torch::TensorOptions().device(torch::kCUDA).requires_grad(true));
  amp.scale((w * 3).sum()).backward();
  ASSERT_TRUE(amp.unscale_and_check({w}));
  EXPECT_TRUE(at::allclose(w.grad().cpu(), at::full({4}, 3.0f)));  // unscaled back to the true gradient
  amp.update();
  EXPECT_EQ(amp.current_scale(), 65536.0);  // grows only after 2000 finite steps
  w.grad().zero_();
  amp.scale((w * std::numeric_limits<float>::infinity()).sum()).backward();
  EXPECT_FALSE(amp.unscale_and_check({w}));
  amp.update();
  EXPECT_EQ(amp.current_scale(), 32768.0);
  EXPECT_EQ(amp.skipped_steps(), 1);
  AmpContext other(Precision::kFloat16, at::kCUDA);
  other.restore(amp.state());
  EXPECT_EQ(other.current_scale(), 32768.0);
}

TEST(AmpCuda, ResNetOnTheGpuMatchesTheCpu) {
  LUCENT_REQUIRE_CUDA();
  nets::NetRegistry registry;
  nets::register_builtin_nets(registry);
  nets::NetSpec spec;
  spec.name = "resnet18";
  spec.spatial_dims = 2;
  spec.in_channels = 1;
  spec.num_outputs = 3;
  spec.options = {{"width", "16"}, {"stem", "small"}};
  at::manual_seed(0);
  auto net = registry.create(spec);
  ASSERT_TRUE(net);
  (*net)->eval();
  auto x = at::randn({4, 1, 28, 28});
  torch::NoGradGuard g;
  auto cpu = (*net)->forward(x);
  const bool tf32 = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(false);  // compare true float32 arithmetic
  (*net)->to(torch::kCUDA);
  auto gpu = (*net)->forward(x.to(torch::kCUDA)).cpu();
  at::globalContext().setAllowTF32CuDNN(tf32);
  EXPECT_TRUE(at::allclose(cpu, gpu, 1e-4, 1e-4)) << (cpu - gpu).abs().max();
}

constexpr const char* kRecipe = R"(
name: cuda-smoke
seed: 5
data: {kind: medmnist, path: medmnist/breastmnist.npz}
model: {name: resnet10, options: {width: 8}}
pipeline:
  preprocess:
    - {name: scale_intensity, in_min: 0, in_max: 255}
  augment:
    - {name: flip, axes: [x], p: 0.5}
train: {epochs: 2, batch_size: 32, lr: 0.002, optimizer: adamw, schedule: cosine, max_batches_per_epoch: 4,
        ema_decay: 0.9}
)";

TEST(AmpCuda, TrainsWithEachPrecisionResumesAndTheBundleRunsOnTheCpu) {
  LUCENT_REQUIRE_CUDA();
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  for (const char* amp : {"off", "bf16", "fp16"}) {
    SCOPED_TRACE(amp);
    test::TempDir dir;
    auto j = parse_yaml(kRecipe, "cuda.yaml");
    ASSERT_TRUE(j);
    (*j)["train"]["amp"] = amp;
    auto cfg = parse_train_config(*j, "cuda.yaml", test::data_dir(), ".");
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    // One epoch, stop, resume on the GPU (optimiser state and loss scale reloaded there).
    auto first = run_training(*cfg, {.out_dir = dir / "run", .device = "cuda", .quiet = true, .max_epochs_this_run = 1},
                              nets, tfs);
    ASSERT_TRUE(first) << first.error().to_string();
    auto r = run_training(*cfg, {.out_dir = dir / "run", .device = "cuda", .resume = true, .quiet = true}, nets, tfs);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(r->completed);
    const double auc = r->test_metrics["auc"];
    EXPECT_TRUE(std::isfinite(auc));
    auto b = nets::load_bundle(dir / "run" / "bundle", nets);  // CPU tensors
    ASSERT_TRUE(b) << b.error().to_string();
    EXPECT_EQ(b->manifest.training["device"], "cuda");
    EXPECT_EQ(b->manifest.training["precision"], std::string(amp) == "off" ? "fp32" : amp);
    auto test_set = data::load_medmnist(cfg->data.path, "test");
    ASSERT_TRUE(test_set);
    auto pre = transforms::Pipeline::from_json(b->manifest.preprocess, tfs);
    Rng rng(0);
    ASSERT_TRUE((*test_set)->preprocess(*pre, rng));
    auto again = score(predict_probabilities(*b->net, **test_set, Task::kBinary, 64, 1.0, "cpu"), **test_set,
                       Task::kBinary);
    ASSERT_TRUE(again);
    // float32 on the CPU vs TF32 convolutions on the GPU: near-tied scores may swap places.
    EXPECT_NEAR((*again)["auc"].get<double>(), auc, 1e-2);
  }
}

// bf16 on the CPU: channels-last weights, a resumed run identical to an uninterrupted one, and a
// bundle (stored contiguous, float32) that reproduces the run's test score in float32.
TEST(Amp, TrainsInBfloat16OnTheCpuDeterministicallyAndResumes) {
  LUCENT_REQUIRE_DATA("medmnist/breastmnist.npz");
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  auto j = parse_yaml(kRecipe, "cpu-bf16.yaml");
  ASSERT_TRUE(j);
  (*j)["train"]["amp"] = "bf16";
  auto cfg = parse_train_config(*j, "cpu-bf16.yaml", test::data_dir(), ".");
  ASSERT_TRUE(cfg) << cfg.error().to_string();
  test::TempDir dir;
  auto whole = run_training(*cfg, {.out_dir = dir / "whole", .device = "cpu", .quiet = true}, nets, tfs);
  ASSERT_TRUE(whole) << whole.error().to_string();
  auto first = run_training(*cfg, {.out_dir = dir / "split", .device = "cpu", .quiet = true, .max_epochs_this_run = 1},
                            nets, tfs);
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_FALSE(first->completed);
  auto resumed = run_training(*cfg, {.out_dir = dir / "split", .device = "cpu", .resume = true, .quiet = true}, nets, tfs);
  ASSERT_TRUE(resumed) << resumed.error().to_string();
  EXPECT_EQ(whole->test_metrics["auc"].get<double>(), resumed->test_metrics["auc"].get<double>());
  auto a = read_safetensors(dir / "whole" / "bundle" / "weights.safetensors");
  auto b = read_safetensors(dir / "split" / "bundle" / "weights.safetensors");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  for (const auto& [name, t] : a->tensors) {
    if (t.is_floating_point()) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;  // not the Long batch counters
    EXPECT_TRUE(t.is_contiguous()) << name;
    EXPECT_TRUE(at::equal(t, b->tensors.at(name))) << name;
  }
  auto bundle = nets::load_bundle(dir / "whole" / "bundle", nets);
  ASSERT_TRUE(bundle) << bundle.error().to_string();
  EXPECT_EQ(bundle->manifest.training["precision"], "bf16");
  EXPECT_EQ(bundle->manifest.training["channels_last"], true);
}

}  // namespace
}  // namespace lucent::train
