#include "lucent/nets/bundle.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "lucent/core/safetensors.h"

#include "support/test_support.h"

namespace lucent::nets {
namespace {

struct Fixture {
  NetRegistry registry;
  BundleManifest manifest;
  std::shared_ptr<Net> net;
  Fixture() {
    register_builtin_nets(registry);
    manifest.architecture = {.name = "resnet10", .spatial_dims = 2, .in_channels = 1, .num_outputs = 2,
                             .options = {{"width", "8"}}};
    manifest.input_size = {28, 28};
    manifest.task = "binary";
    manifest.labels = {"normal", "pneumonia"};
    manifest.preprocess = nlohmann::json::parse(R"([{"name":"scale_intensity","in_min":0,"in_max":255}])");
    torch::manual_seed(3);
    net = *registry.create(manifest.architecture);
    // Non-trivial batch-norm statistics, so buffers are checked too.
    net->train();
    net->forward(torch::randn({8, 1, 28, 28}) * 3 + 1);
    net->eval();
  }
};

TEST(Bundle, SaveThenLoadGivesTheSameOutputs) {
  test::TempDir dir;
  Fixture f;
  ASSERT_TRUE(save_bundle(dir / "bundle", *f.net, f.manifest));
  auto b = load_bundle(dir / "bundle", f.registry);
  ASSERT_TRUE(b) << b.error().to_string();
  auto x = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(b->net->forward(x), f.net->forward(x)));
  EXPECT_EQ(b->manifest.labels, f.manifest.labels);
  EXPECT_EQ(b->manifest.preprocess, f.manifest.preprocess);
  EXPECT_EQ(b->sha256.size(), 64u);
  for (const char* name : {"weights.safetensors", "bundle.json", "model_card.md", "SHA256SUMS"})
    EXPECT_TRUE(std::filesystem::exists(dir / "bundle" / name)) << name;
}

TEST(Bundle, RefusesATamperedFile) {
  test::TempDir dir;
  Fixture f;
  ASSERT_TRUE(save_bundle(dir / "bundle", *f.net, f.manifest));
  {
    std::fstream w(dir / "bundle" / "weights.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    w.seekp(-4, std::ios::end);
    w.write("\x01\x02\x03\x04", 4);
  }
  auto b = load_bundle(dir / "bundle", f.registry);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(b.error().message().find("weights.safetensors does not match"), std::string::npos);
}

TEST(Bundle, RefusesWeightsOfAnotherArchitecture) {
  test::TempDir dir;
  Fixture f;
  ASSERT_TRUE(save_bundle(dir / "bundle", *f.net, f.manifest));
  Fixture g;
  g.manifest.architecture.options["width"] = "16";
  auto wider = *g.registry.create(g.manifest.architecture);
  auto st = load_state_tensors(*wider, read_safetensors(dir / "bundle" / "weights.safetensors")->tensors, "w");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(st.error().message().find("shape"), std::string::npos);
}

TEST(Bundle, MissingFolderIsNotFound) {
  Fixture f;
  auto b = load_bundle("/nonexistent/bundle", f.registry);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace lucent::nets
