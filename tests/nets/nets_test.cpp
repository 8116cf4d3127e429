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

// torchvision's parameter counts for ImageNet-shaped models (3 input channels, 1000 classes,
// standard stem): an independent check that each architecture is the published one.
TEST(Nets, ParameterCountsMatchTorchvision) {
  const NetRegistry r = builtin();
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"resnet18", 11689512}, {"resnet34", 21797672}, {"resnet50", 25557032}, {"densenet121", 7978856}};
  for (const auto& [name, count] : expected) {
    auto net = r.create({.name = name, .spatial_dims = 2, .in_channels = 3, .num_outputs = 1000,
                         .options = {{"stem", "standard"}}});
    ASSERT_TRUE(net) << net.error().to_string();
    EXPECT_EQ((*net)->parameter_count(), count) << name;
  }
}

TEST(Nets, EveryNetGivesLogitsOfTheRightShapeIn2DAnd3D) {
  const NetRegistry r = builtin();
  for (const auto& name : r.names()) {
    for (int dims : {2, 3}) {
      auto net = r.create({.name = name, .spatial_dims = dims, .in_channels = 1, .num_outputs = 3,
                           .options = {{"width", "8"}}});
      if (!net && name.starts_with("densenet"))
        net = r.create({.name = name, .spatial_dims = dims, .in_channels = 1, .num_outputs = 3,
                        .options = {{"growth", "4"}}});
      ASSERT_TRUE(net) << name << ": " << net.error().to_string();
      if (std::dynamic_pointer_cast<SegmentationNet>(*net)) continue;  // per-voxel logits: tests/nets/unet_test.cpp
      auto x = dims == 2 ? torch::randn({2, 1, 28, 28}) : torch::randn({2, 1, 16, 16, 16});
      auto y = (*net)->forward(x);
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3})) << name << " " << dims << "-D";
    }
  }
}

TEST(Nets, GradientsMatchFiniteDifferences) {
  const NetRegistry r = builtin();
  for (const auto& name : r.names()) {
    torch::manual_seed(0);
    std::map<std::string, std::string> opts = name.starts_with("densenet")
                                                  ? std::map<std::string, std::string>{{"growth", "4"}}
                                                  : std::map<std::string, std::string>{{"width", "4"}};
    auto net = r.create({.name = name, .spatial_dims = 2, .in_channels = 1, .num_outputs = 2, .options = opts});
    ASSERT_TRUE(net);
    if (std::dynamic_pointer_cast<SegmentationNet>(*net)) continue;  // tests/nets/unet_test.cpp
    (*net)->to(torch::kDouble);
    (*net)->eval();  // batch-norm running statistics: a fixed, differentiable function
    auto x = torch::randn({1, 1, 12, 12}, torch::kDouble).requires_grad_(true);
    auto loss = (*net)->forward(x).pow(2).sum();
    loss.backward();
    auto analytic = x.grad().clone();
    torch::NoGradGuard guard;
    const double eps = 1e-6;
    for (int64_t idx : {0, 17, 77, 143}) {
      auto xp = x.detach().clone();
      auto xm = x.detach().clone();
      xp.view(-1)[idx] += eps;
      xm.view(-1)[idx] -= eps;
      const double numeric =
          ((*net)->forward(xp).pow(2).sum().item<double>() - (*net)->forward(xm).pow(2).sum().item<double>()) /
          (2 * eps);
      EXPECT_NEAR(analytic.view(-1)[idx].item<double>(), numeric, 1e-5 + 1e-4 * std::abs(numeric)) << name;
    }
    for (const auto& p : (*net)->parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  }
}

TEST(NetRegistry, UnknownNameListsTheKnownOnes) {
  auto net = builtin().create({.name = "resnet19"});
  ASSERT_FALSE(net);
  EXPECT_EQ(net.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(net.error().message().find("resnet18"), std::string::npos);
}

TEST(NetRegistry, UnknownOrMalformedOptionIsRejectedByName) {
  auto a = builtin().create({.name = "resnet18", .options = {{"depth", "3"}}});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(a.error().message().find("depth"), std::string::npos);
  auto b = builtin().create({.name = "resnet18", .options = {{"width", "wide"}}});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("width"), std::string::npos);
  auto c = builtin().create({.name = "resnet18", .spatial_dims = 4});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lucent::nets
