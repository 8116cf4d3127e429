#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "lucent/nets/internal/layers.h"
#include "lucent/nets/internal/winograd.h"
#include "lucent/nets/net.h"

namespace lucent::nets {
namespace {

#define SKIP_WITHOUT_WINOGRAD()                                                                    \
  if (!winograd_available())                                                                      \
  GTEST_SKIP() << "no oneDNN Winograd kernel here (a build without libdnnl-dev, or a CPU without " \
                  "AVX-512)"

// Largest difference relative to the reference's largest magnitude.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

struct Grads {
  at::Tensor y, gx, gw;
};

// Output and gradients of sum(conv(x, w) * g) with `conv` either Winograd or LibTorch's.
Grads run(bool winograd, const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& g) {
  at::Tensor x = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
  at::Tensor w = w0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
  at::Tensor y = winograd ? internal::winograd_conv2d(x, w) : at::conv2d(x, w, {}, 1, 1);
  (y * g).sum().backward();
  return {y.detach(), x.grad(), w.grad()};
}

TEST(Winograd, OutputAndBothGradientsMatchLibTorchsConvolution) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(0);
  for (bool channels_last : {false, true}) {
    const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    // Odd sizes: partial 4x4 output tiles at the right and bottom edges.
    at::Tensor x = torch::randn({3, 16, 9, 7}).contiguous(format);
    at::Tensor w = (torch::randn({32, 16, 3, 3}) * 0.1).contiguous(format);
    at::Tensor g = torch::randn({3, 32, 9, 7});
    const Grads want = run(false, x, w, g), got = run(true, x, w, g);
    SCOPED_TRACE(channels_last ? "channels-last" : "contiguous");
    EXPECT_LT(relative_error(got.y, want.y), 1e-5);
    EXPECT_LT(relative_error(got.gx, want.gx), 1e-5);
    EXPECT_LT(relative_error(got.gw, want.gw), 1e-5);
    EXPECT_EQ(got.y.is_contiguous(format), true);
    EXPECT_EQ(got.gw.sizes(), w.sizes());
    // Not bit-identical: if it were, the test would not show that Winograd ran.
    EXPECT_GT((got.y - want.y).abs().max().item<double>(), 0.0);
  }
}

TEST(Winograd, WorksWithoutGradientsAndForWeightsOnly) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(1);
  at::Tensor x = torch::randn({2, 16, 8, 8});
  at::Tensor w = torch::randn({16, 16, 3, 3}) * 0.1;
  at::Tensor want = at::conv2d(x, w, {}, 1, 1);
  {
    torch::NoGradGuard no_grad;
    EXPECT_LT(relative_error(internal::winograd_conv2d(x, w), want), 1e-5);
  }
  at::Tensor wg = w.clone().requires_grad_(true);
  internal::winograd_conv2d(x, wg).sum().backward();  // x needs no gradient (a first layer)
  at::Tensor wr = w.clone().requires_grad_(true);
  at::conv2d(x, wr, {}, 1, 1).sum().backward();
  EXPECT_LT(relative_error(wg.grad(), wr.grad()), 1e-5);
}

TEST(Winograd, FewInputChannelsAsInAGreyOrColourStem) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(2);
  for (int64_t channels : {1, 3}) {
    at::Tensor x = torch::randn({4, channels, 28, 28}).contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor w = torch::randn({32, channels, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor g = torch::randn({4, 32, 28, 28});
    const Grads want = run(false, x, w, g), got = run(true, x, w, g);
    EXPECT_LT(relative_error(got.y, want.y), 1e-5) << channels;
    EXPECT_LT(relative_error(got.gx, want.gx), 1e-5) << channels;
    EXPECT_LT(relative_error(got.gw, want.gw), 1e-5) << channels;
  }
}

// The ResNet's gradients against a float64 reference, with batch norm in eval mode (a fixed
// affine map) and the convolutions in training mode (Winograd serves training passes only). With
// batch statistics, a batch of 8 amplifies float32 rounding into ~0.5 % gradient differences for
// LibTorch's own convolution too.
TEST(Winograd, ResNetGradientsMatchAFloat64ReferenceAndOnlyStrideOneConvolutionsSwitch) {
  SKIP_WITHOUT_WINOGRAD();
  NetRegistry r;
  register_builtin_nets(r);
  auto run_net = [&](bool winograd, bool train, at::ScalarType dtype) {
    torch::manual_seed(3);
    auto net = r.create({.name = "resnet18", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2,
                         .options = {{"width", "16"}}});
    EXPECT_TRUE(net);
    (*net)->to(dtype);
    to_channels_last(**net);
    // Small stem (1) + layer1 (4) + the stride-1 convolutions of layers 2-4 (3 each); the
    // stride-2 and 1x1 ones stay LibTorch's.
    EXPECT_EQ(use_winograd(**net, winograd), winograd ? 14 : 0);
    (*net)->train(train);
    for (auto& m : (*net)->modules())
      if (auto conv = std::dynamic_pointer_cast<internal::LucentConv2dImpl>(m)) conv->train(true);
    at::Tensor x = torch::randn({8, 1, 28, 28}).to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor y = torch::tensor({0, 1, 1, 0, 1, 0, 0, 1});
    at::Tensor loss = torch::cross_entropy_loss((*net)->forward(x), y);
    loss.backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : (*net)->parameters()) grads.push_back(p.grad().to(at::kDouble));
    return std::make_pair(loss.item<double>(), grads);
  };
  const auto [loss64, grads64] = run_net(false, false, at::kDouble);
  const auto [loss, grads] = run_net(true, false, at::kFloat);
  const auto [loss32, grads32] = run_net(false, false, at::kFloat);
  EXPECT_NEAR(loss, loss64, 1e-5);
  ASSERT_EQ(grads.size(), grads64.size());
  for (std::size_t i = 0; i < grads.size(); ++i) EXPECT_LT(relative_error(grads[i], grads64[i]), 1e-4) << i;
  EXPECT_FALSE(at::equal(grads[0], grads32[0]));  // Winograd did run
  // Evaluation keeps LibTorch's convolution: eval-mode outputs are identical.
  auto eval_logits = [&](bool winograd) {
    torch::manual_seed(3);
    auto net = r.create({.name = "resnet18", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2,
                         .options = {{"width", "16"}}});
    (void)use_winograd(**net, winograd);
    (*net)->eval();
    torch::NoGradGuard no_grad;
    return (*net)->forward(torch::randn({4, 1, 28, 28}));
  };
  EXPECT_TRUE(at::equal(eval_logits(true), eval_logits(false)));
  // Training mode: the loss (batch statistics) agrees with LibTorch's convolution.
  EXPECT_NEAR(run_net(true, true, at::kFloat).first, run_net(false, true, at::kFloat).first, 1e-5);
}

// Each call brings its own scratch space, so calls from several threads do not interfere.
TEST(Winograd, ConcurrentCallsFromTwoThreadsGiveLibTorchsResults) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(4);
  std::vector<at::Tensor> xs, ws, gs;
  for (int t = 0; t < 2; ++t) {
    xs.push_back(torch::randn({4, 16, 12, 12}).contiguous(at::MemoryFormat::ChannelsLast));
    ws.push_back(torch::randn({16, 16, 3, 3}) * 0.1);
    gs.push_back(torch::randn({4, 16, 12, 12}));
  }
  std::vector<double> worst(2, 0.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      const Grads want = run(false, xs[t], ws[t], gs[t]);
      for (int i = 0; i < 10; ++i) {
        const Grads got = run(true, xs[t], ws[t], gs[t]);
        worst[t] = std::max({worst[t], relative_error(got.y, want.y), relative_error(got.gx, want.gx),
                             relative_error(got.gw, want.gw)});
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LT(worst[0], 1e-5);
  EXPECT_LT(worst[1], 1e-5);
}

TEST(Winograd, CloneOfAConvolutionIsADeepCopyThatKeepsTheSetting) {
  auto conv = std::make_shared<internal::LucentConv2dImpl>(torch::nn::Conv2dOptions(16, 16, 3).padding(1).bias(false));
  const bool on = conv->set_winograd(true);
  EXPECT_EQ(on, winograd_available());
  auto copy = std::dynamic_pointer_cast<internal::LucentConv2dImpl>(conv->clone());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(at::equal(copy->weight, conv->weight));
  EXPECT_NE(copy->weight.data_ptr(), conv->weight.data_ptr());
  at::Tensor x = torch::randn({1, 16, 8, 8});
  EXPECT_TRUE(at::allclose(copy->forward(x), conv->forward(x)));
  // A strided convolution is never switched.
  auto strided = std::make_shared<internal::LucentConv2dImpl>(
      torch::nn::Conv2dOptions(16, 16, 3).stride(2).padding(1).bias(false));
  EXPECT_FALSE(strided->set_winograd(true));
}

}  // namespace
}  // namespace lucent::nets
