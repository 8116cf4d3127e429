#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lucent/nets/net.h"
#include "lucent/nets/unet.h"

namespace lucent::nets {
namespace {

NetRegistry builtin() {
  NetRegistry r;
  register_builtin_nets(r);
  return r;
}

std::shared_ptr<SegmentationNet> make(const std::string& name, int dims, std::map<std::string, std::string> options,
                                      int64_t in = 1, int64_t out = 3) {
  auto net = builtin().create(
      {.name = name, .spatial_dims = dims, .in_channels = in, .num_outputs = out, .options = std::move(options)});
  EXPECT_TRUE(net) << (net ? "" : net.error().to_string());
  if (!net) return nullptr;
  return std::dynamic_pointer_cast<SegmentationNet>(*net);
}

TEST(UNet, OutputHasTheInputSizeIn2DAnd3DForEveryVariant) {
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> variants = {
      {"unet", {{"depth", "3"}, {"width", "4"}}},
      {"unet", {{"depth", "2"}, {"width", "4"}, {"norm", "batch"}, {"residual", "true"}}},
      {"unet", {{"depth", "2"}, {"width", "8"}, {"norm", "group"}, {"groups", "4"}, {"downsample", "maxpool"}}},
      {"resenc_unet", {{"depth", "3"}, {"width", "4"}}},
  };
  for (const auto& [name, opts] : variants) {
    for (int dims : {2, 3}) {
      torch::manual_seed(0);
      auto net = make(name, dims, opts, 2, 3);
      ASSERT_TRUE(net);
      const auto x = dims == 2 ? torch::randn({2, 2, 24, 16}) : torch::randn({1, 2, 8, 16, 24});
      for (bool train : {true, false}) {
        net->train(train);
        const auto y = net->forward(x);
        std::vector<int64_t> want(x.sizes().begin(), x.sizes().end());
        want[1] = 3;
        EXPECT_EQ(y.sizes(), at::IntArrayRef(want)) << name << " " << dims << "-D";
        EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
      }
    }
  }
}

// Hand count for depth 2, width 8, batch norm, 1 → 2 channels (3x3 convs without bias, norm
// weight + bias, transposed 2x2 convs and the 1x1 head with bias):
//   enc0 (1→8, 8→8) 72+16+576+16 = 680;  enc1 (8→16, 16→16) 1152+32+2304+32 = 3520;
//   enc2 (16→32, 32→32) 4608+64+9216+64 = 13952;  up1 32·16·4+16 = 2064;
//   dec1 (32→16, 16→16) 4608+32+2304+32 = 6976;  up0 16·8·4+8 = 520;
//   dec0 (16→8, 8→8) 1152+16+576+16 = 1760;  head0 8·2+2 = 18;  total 29490.
// The PyTorch peer (bench/seg_peer) builds the same layers and prints the same count.
TEST(UNet, ParameterCountMatchesTheHandCount) {
  auto net = make("unet", 2, {{"depth", "2"}, {"width", "8"}, {"norm", "batch"}}, 1, 2);
  ASSERT_TRUE(net);
  EXPECT_EQ(net->parameter_count(), 29490);
  // 3-D: every 3x3 kernel becomes 3x3x3 and every 2x2 becomes 2x2x2.
  auto net3 = make("unet", 3, {{"depth", "2"}, {"width", "8"}, {"norm", "batch"}}, 1, 2);
  ASSERT_TRUE(net3);
  const int64_t convs = (1 * 8 + 8 * 8 + 8 * 16 + 16 * 16 + 16 * 32 + 32 * 32 + 32 * 16 + 16 * 16 + 16 * 8 + 8 * 8);
  const int64_t norms = 2 * (8 + 8 + 16 + 16 + 32 + 32 + 16 + 16 + 8 + 8);
  const int64_t ups = 32 * 16 * 8 + 16 + 16 * 8 * 8 + 8;
  EXPECT_EQ(net3->parameter_count(), convs * 27 + norms + ups + 18);
  // Deep supervision adds one head per lower decoder stage: 16·2+2.
  auto ds = make("unet", 2, {{"depth", "2"}, {"width", "8"}, {"norm", "batch"}, {"deep_supervision", "true"}}, 1, 2);
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->parameter_count(), 29490 + 34);
}

TEST(UNet, ResEncParameterCountMatchesTheHandCount) {
  // depth 1, width 4, blocks 1,2, instance norm, 1 → 2: stem 1·4·9+8 = 44;
  // enc0_0 (4→4) 2·(144+8) = 304; enc1_0 (4→8, stride 2, 1x1 skip) 288+16+576+16+32+16 = 944;
  // enc1_1 (8→8) 2·(576+16) = 1184; up0 8·4·4+4 = 132; dec0 (8→4) 288+8 = 296; head0 4·2+2 = 10.
  auto net = make("resenc_unet", 2, {{"depth", "1"}, {"width", "4"}, {"blocks", "1,2"}}, 1, 2);
  ASSERT_TRUE(net);
  EXPECT_EQ(net->parameter_count(), 44 + 304 + 944 + 1184 + 132 + 296 + 10);
}

TEST(UNet, GradientsAreFiniteAndReachTheFirstLayer) {
  for (const std::string name : {"unet", "resenc_unet"}) {
    for (int dims : {2, 3}) {
      torch::manual_seed(1);
      auto net = make(name, dims, {{"depth", "2"}, {"width", "4"}}, 1, 2);
      ASSERT_TRUE(net);
      net->train();
      const auto x = dims == 2 ? torch::randn({2, 1, 16, 16}) : torch::randn({2, 1, 8, 8, 8});
      const auto target = (x > 0).squeeze(1).to(torch::kLong);
      torch::nn::functional::cross_entropy(net->forward(x), target).backward();
      const auto first = name == "unet" ? "enc0.conv1.conv.weight" : "stem.conv.weight";
      const auto* w = net->named_parameters().find(first);
      ASSERT_NE(w, nullptr) << name << " has no " << first;
      ASSERT_TRUE(w->grad().defined());
      EXPECT_TRUE(torch::isfinite(w->grad()).all().item<bool>()) << name;
      EXPECT_GT(w->grad().abs().sum().item<double>(), 0.0) << name << " " << dims << "-D";
      for (const auto& p : net->named_parameters()) EXPECT_TRUE(p.value().grad().defined()) << name << " " << p.key();
    }
  }
}

TEST(UNet, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  auto net = make("unet", 2, {{"depth", "2"}, {"width", "4"}, {"norm", "batch"}, {"residual", "true"}}, 1, 2);
  ASSERT_TRUE(net);
  net->to(torch::kDouble);
  net->eval();  // folded batch norm path
  auto x = torch::randn({1, 1, 8, 8}, torch::kDouble).requires_grad_(true);
  net->forward(x).pow(2).sum().backward();
  const auto analytic = x.grad().clone();
  torch::NoGradGuard guard;
  const double eps = 1e-6;
  for (int64_t idx : {0, 9, 37, 63}) {
    auto xp = x.detach().clone(), xm = x.detach().clone();
    xp.view(-1)[idx] += eps;
    xm.view(-1)[idx] -= eps;
    const double numeric =
        (net->forward(xp).pow(2).sum().item<double>() - net->forward(xm).pow(2).sum().item<double>()) / (2 * eps);
    EXPECT_NEAR(analytic.view(-1)[idx].item<double>(), numeric, 1e-5 + 1e-4 * std::abs(numeric));
  }
}

TEST(UNet, FoldedBatchNormInEvalEqualsTheUnfoldedLayers) {
  torch::manual_seed(3);
  auto net = make("unet", 3, {{"depth", "2"}, {"width", "4"}, {"norm", "batch"}}, 1, 2);
  ASSERT_TRUE(net);
  torch::NoGradGuard guard;
  net->train();
  for (int i = 0; i < 3; ++i) net->forward(torch::randn({2, 1, 8, 8, 8}) * 3 + 1);  // non-trivial running stats
  net->eval();
  const auto x = torch::randn({1, 1, 8, 8, 8});
  const auto folded = net->forward(x);
  // The same computation without folding: F.batch_norm with the running statistics, via a
  // training-mode module whose momentum-0 update leaves the statistics unchanged is not
  // available, so compare against double precision instead (folding is exact in real numbers).
  net->to(torch::kDouble);
  const auto reference = net->forward(x.to(torch::kDouble)).to(torch::kFloat);
  EXPECT_LT((folded - reference).abs().max().item<double>(), 1e-4);
}

TEST(UNet, DeepSupervisionGivesOneOutputPerDecoderStageInTrainingOnly) {
  for (const std::string name : {"unet", "resenc_unet"}) {
    auto net = make(name, 3, {{"depth", "3"}, {"width", "4"}, {"deep_supervision", "true"}}, 1, 2);
    ASSERT_TRUE(net);
    EXPECT_TRUE(net->deep_supervision());
    const auto x = torch::randn({1, 1, 16, 16, 8});
    net->train();
    const auto outs = net->forward_deep(x);
    ASSERT_EQ(outs.size(), 3u);
    EXPECT_EQ(outs[0].sizes(), (std::vector<int64_t>{1, 2, 16, 16, 8}));
    EXPECT_EQ(outs[1].sizes(), (std::vector<int64_t>{1, 2, 8, 8, 4}));
    EXPECT_EQ(outs[2].sizes(), (std::vector<int64_t>{1, 2, 4, 4, 2}));
    net->eval();
    const auto eval_outs = net->forward_deep(x);
    ASSERT_EQ(eval_outs.size(), 1u);
    EXPECT_TRUE(torch::allclose(eval_outs[0], net->forward(x)));
  }
}

TEST(UNet, InputSizeNotAMultipleOf2PowDepthNamesSizeAndMultiple) {
  auto net = make("unet", 2, {{"depth", "3"}, {"width", "4"}}, 1, 2);
  ASSERT_TRUE(net);
  EXPECT_EQ(net->size_multiple(), 8);
  try {
    net->forward(torch::randn({1, 1, 28, 32}));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("multiple of 8"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 1, 28, 32]"), std::string::npos) << m;
    EXPECT_NE(m.find("pad to (32, 32)"), std::string::npos) << m;
  }
  EXPECT_THROW(net->forward(torch::randn({1, 2, 32, 32})), std::invalid_argument);  // channels
}

TEST(UNet, BadOptionsAreRejectedByName) {
  const NetRegistry r = builtin();
  const std::vector<std::tuple<std::string, std::map<std::string, std::string>, std::string>> cases = {
      {"unet", {{"depth", "0"}}, "depth must be in 1..7"},
      {"unet", {{"depth", "9"}}, "got 9"},
      {"unet", {{"width", "0"}}, "width must be in 1..1024"},
      {"unet", {{"norm", "layer"}}, "expected one of: instance, batch, group"},
      {"unet", {{"norm", "group"}, {"width", "12"}, {"groups", "8"}}, "not divisible by groups=8"},
      {"unet", {{"residual", "yes"}}, "option residual is 'yes'"},
      {"unet", {{"blocks", "1,2"}}, "unknown option 'blocks'"},
      {"unet", {{"max_width", "8"}, {"width", "16"}}, "max_width 8 is below width 16"},
      {"resenc_unet", {{"depth", "3"}, {"blocks", "1,2"}}, "depth 3 needs 4"},
      {"resenc_unet", {{"blocks", "1,x,3"}}, "option blocks must list integers"},
      {"resenc_unet", {{"residual", "true"}}, "unknown option 'residual'"},
  };
  for (const auto& [name, opts, fragment] : cases) {
    auto net = r.create({.name = name, .spatial_dims = 2, .in_channels = 1, .num_outputs = 2, .options = opts});
    ASSERT_FALSE(net) << name << " accepted a bad option set (" << fragment << ")";
    EXPECT_EQ(net.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(net.error().message().find(fragment), std::string::npos) << net.error().message();
  }
}

}  // namespace
}  // namespace lucent::nets

namespace lucent::nets {
namespace {

// Eval mode without autograd takes the inference fast path (fused instance norm + LeakyReLU,
// transposed convolution as one matrix product into the concatenation buffer, convolutions
// through oneDNN, 1x1 heads as matrix products, one-sample batches as plain products); with
// autograd enabled the same net runs LibTorch's own layers. Both must agree, for one sample and
// for a batch.
TEST(UNet, InferenceFastPathEqualsLibTorchLayers) {
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> variants = {
      {"unet", {{"depth", "3"}, {"width", "4"}}},
      {"unet", {{"depth", "2"}, {"width", "4"}, {"residual", "true"}, {"downsample", "maxpool"}}},
      {"unet", {{"depth", "2"}, {"width", "8"}, {"norm", "group"}, {"groups", "4"}}},
      {"unet", {{"depth", "2"}, {"width", "12"}, {"norm", "batch"}}},
      {"resenc_unet", {{"depth", "2"}, {"width", "4"}}},
  };
  for (const auto& [name, opts] : variants) {
    for (int dims : {2, 3}) {
      torch::manual_seed(5);
      auto net = make(name, dims, opts, 2, 3);
      ASSERT_TRUE(net);
      net->eval();
      // Non-trivial affine parameters so the fused kernel's gamma/beta handling is exercised.
      {
        torch::NoGradGuard g;
        for (auto& p : net->named_parameters())
          if (p.key().find("norm") != std::string::npos || p.key().find("up") == 0) p.value().uniform_(-1.5, 1.5);
      }
      for (int64_t n : {1, 2}) {
        const auto x = dims == 2 ? torch::randn({n, 2, 32, 24}) * 3 + 1 : torch::randn({n, 2, 8, 16, 8}) * 3 + 1;
        const auto reference = net->forward(x).detach();  // autograd on: LibTorch layers
        torch::NoGradGuard guard;
        const auto fast = net->forward(x);
        ASSERT_EQ(fast.sizes(), reference.sizes()) << name << " " << dims << "-D, batch " << n;
        const double scale = reference.abs().max().item<double>();
        EXPECT_LT((fast - reference).abs().max().item<double>(), 1e-5 * std::max(1.0, scale))
            << name << " " << dims << "-D, batch " << n;
      }
    }
  }
}

}  // namespace
}  // namespace lucent::nets
