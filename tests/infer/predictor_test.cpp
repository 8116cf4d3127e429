#include "lucent/infer/predictor.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lucent/nets/bundle.h"
#include "support/test_support.h"

namespace lucent::infer {
namespace {

// A resnet10 bundle with non-trivial batch-norm statistics, saved to `dir`.
void write_bundle(const std::filesystem::path& dir, const nets::NetRegistry& registry) {
  nets::BundleManifest manifest;
  manifest.architecture = {.name = "resnet10", .spatial_dims = 2, .in_channels = 1, .num_outputs = 3,
                           .options = {{"width", "8"}}};
  manifest.input_size = {28, 28};
  manifest.task = "multiclass";
  manifest.labels = {"a", "b", "c"};
  manifest.preprocess = nlohmann::json::parse(R"([{"name":"scale_intensity","in_min":0,"in_max":255}])");
  torch::manual_seed(5);
  auto net = *registry.create(manifest.architecture);
  net->train();
  net->forward(torch::randn({8, 1, 28, 28}) * 2 + 1);
  net->eval();
  ASSERT_TRUE(nets::save_bundle(dir, *net, manifest));
}

// Channels-last prediction (the CPU default for 2-D nets) gives the probabilities of the plain
// NCHW path, with and without flip test-time augmentation.
TEST(Predictor, ChannelsLastGivesTheSameProbabilitiesAsNchw) {
  test::TempDir dir;
  nets::NetRegistry nets;
  nets::register_builtin_nets(nets);
  transforms::TransformRegistry tfs;
  transforms::register_builtin_transforms(tfs);
  write_bundle(dir / "bundle", nets);
  torch::manual_seed(6);
  const at::Tensor images = torch::rand({10, 1, 28, 28}) * 255;
  for (bool tta : {false, true}) {
    auto cl = Predictor::open({dir / "bundle"}, nets, tfs, {.tta = tta, .batch_size = 4, .channels_last = true});
    auto plain = Predictor::open({dir / "bundle"}, nets, tfs, {.tta = tta, .batch_size = 4, .channels_last = false});
    ASSERT_TRUE(cl && plain);
    EXPECT_TRUE((*cl)->channels_last());
    EXPECT_FALSE((*plain)->channels_last());
    auto a = (*cl)->predict_batch(images);
    auto b = (*plain)->predict_batch(images);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->sizes(), (std::vector<int64_t>{10, 3}));
    EXPECT_LT((*a - *b).abs().max().item<double>(), 1e-5) << "tta " << tta;
    EXPECT_NEAR(a->sum(1).mean().item<double>(), 1.0, 1e-9);
    EXPECT_GT((*a - a->mean(0)).abs().max().item<double>(), 1e-4) << "the inputs should give different outputs";
  }
}

}  // namespace
}  // namespace lucent::infer
