#include "lucent/infer/segmenter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "lucent/nets/bundle.h"

#include "support/test_support.h"

namespace lucent::infer {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// Tiny U-Nets (depth 1, width 4, batch norm) saved as real bundles. Their weights are set by
// hand so that the output is known exactly:
//  kThreshold: one identity path (centre taps of enc0 → dec0's skip half → head) and head
//              logits (0, 10·x − 5): label 1 exactly where the image is 1 (image values 0/1);
//  kConstant:  every weight 0, head bias (0, c): the same probabilities everywhere.
enum class Weights { kThreshold, kConstant };

struct BundleSpec {
  int dims = 2;
  int64_t in_channels = 1;
  int64_t outputs = 2;
  Weights weights = Weights::kThreshold;
  double constant = 2.0;
  json preprocess = json::array();
  json inference = json::object();
  std::string task = "segmentation";
};

void set_centre(const at::Tensor& w, int64_t out, int64_t in, double v) {
  at::Tensor k = w[out][in];
  k.view(-1)[k.numel() / 2] = v;
}

fs::path write_bundle(const fs::path& dir, const BundleSpec& spec) {
  nets::NetRegistry registry;
  nets::register_builtin_nets(registry);
  nets::BundleManifest m;
  m.architecture = {.name = "unet", .spatial_dims = spec.dims, .in_channels = spec.in_channels,
                    .num_outputs = spec.outputs, .options = {{"depth", "1"}, {"width", "4"}, {"norm", "batch"}}};
  m.task = spec.task;
  m.preprocess = spec.preprocess;
  m.input_size = spec.dims == 2 ? std::vector<int64_t>{16, 16} : std::vector<int64_t>{8, 8, 8};
  for (int64_t k = 0; k < spec.outputs; ++k) m.labels.push_back(k == 0 ? "background" : "organ_" + std::to_string(k));
  json inf = {{"patch_size", m.input_size}, {"overlap", 0.5}, {"blend", "gaussian"}, {"batch_size", 2},
              {"flip_tta", false}, {"activation", "softmax"}, {"threshold", 0.5}, {"num_classes", spec.outputs},
              {"postprocess", json::array()}};
  inf.update(spec.inference);
  m.training = {{"inference", inf}};
  auto net = registry.create(m.architecture);
  EXPECT_TRUE(net) << net.error().to_string();
  {
    torch::NoGradGuard guard;
    auto params = (*net)->named_parameters();
    for (auto& p : params) {
      const std::string& n = p.key();
      if (n.ends_with("conv.weight") || n.starts_with("up") || n.starts_with("head")) p.value().zero_();
    }
    if (spec.weights == Weights::kThreshold) {
      set_centre(params["enc0.conv1.conv.weight"], 0, 0, 1.0);
      set_centre(params["enc0.conv2.conv.weight"], 0, 0, 1.0);
      set_centre(params["dec0.conv1.conv.weight"], 0, 4, 1.0);  // [upsampled (4), skip (4)]: skip channel 0
      set_centre(params["dec0.conv2.conv.weight"], 0, 0, 1.0);
      params["head0.weight"][1][0].fill_(10.0);
      params["head0.bias"][1].fill_(-5.0);
    } else {
      params["head0.bias"][1].fill_(spec.constant);
    }
  }
  (*net)->eval();
  EXPECT_TRUE(nets::save_bundle(dir, **net, m));
  return dir;
}

struct Registries {
  nets::NetRegistry nets;
  transforms::TransformRegistry tfs;
  Registries() {
    nets::register_builtin_nets(nets);
    transforms::register_builtin_transforms(tfs);
  }
};

Result<std::unique_ptr<Segmenter>> open(const std::vector<fs::path>& bundles, SegmenterOptions o = {}) {
  static Registries r;
  return Segmenter::open(bundles, r.nets, r.tfs, o);
}

// Anisotropic spacing, a non-zero origin and an oblique (rotated) direction.
Geometry odd_geometry(int dims) {
  Geometry g;
  g.spatial_dims = dims;
  g.origin_lps = {12.5, -40.0, 7.25};
  g.spacing_mm = {0.5, 2.0, dims == 3 ? 3.0 : 1.0};
  const double c = std::cos(0.3), s = std::sin(0.3);
  g.direction = {c, -s, 0, s, c, 0, 0, 0, 1};
  return g;
}

Image binary_image(std::vector<int64_t> spatial, int dims) {
  spatial.insert(spatial.begin(), 1);
  return Image{at::zeros(spatial, at::kFloat), odd_geometry(dims), {}};
}

TEST(Segmenter, TwoDOutputsKeepTheInputGeometryAndLabelTheMask) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {})});
  ASSERT_TRUE(s) << s.error().to_string();
  Image img = binary_image({37, 53}, 2);
  img.data[0].slice(0, 10, 20).slice(1, 5, 30) = 1;  // 10 × 25 pixels
  auto r = (*s)->segment(img);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->labels.sizes(), (std::vector<int64_t>{37, 53}));
  EXPECT_EQ(r->labels.scalar_type(), at::kByte);
  EXPECT_EQ(r->probabilities.sizes(), (std::vector<int64_t>{2, 37, 53}));
  EXPECT_TRUE(r->geometry.is_close(img.geometry));
  EXPECT_TRUE(torch::equal(r->labels, (img.data[0] > 0.5).to(at::kByte)));
  EXPECT_LT((r->probabilities.sum(0) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_FALSE(r->resampled);
  ASSERT_EQ(r->volumes.size(), 1u);
  EXPECT_EQ(r->volumes[0].label, 1);
  EXPECT_EQ(r->volumes[0].voxels, 250);
  EXPECT_DOUBLE_EQ(r->volumes[0].volume_mm3, 250 * 0.5 * 2.0);  // area in mm² for 2-D
  EXPECT_EQ((*s)->label_name(1), "organ_1");
  EXPECT_EQ((*s)->label_name(0), "background");
}

TEST(Segmenter, ThreeDOutputsKeepTheInputGeometryAndVolumesAreVoxelsTimesSpacing) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {.dims = 3})}, {.flip_tta = true});
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_TRUE((*s)->settings().flip_tta);
  Image img = binary_image({11, 21, 19}, 3);
  img.data[0].slice(0, 2, 7).slice(1, 3, 9).slice(2, 4, 14) = 1;  // 5 × 6 × 10 voxels
  auto r = (*s)->segment(img);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->labels.sizes(), (std::vector<int64_t>{11, 21, 19}));
  EXPECT_EQ(r->probabilities.sizes(), (std::vector<int64_t>{2, 11, 21, 19}));
  EXPECT_TRUE(r->geometry.is_close(img.geometry));
  EXPECT_TRUE(torch::equal(r->labels, (img.data[0] > 0.5).to(at::kByte)));
  ASSERT_EQ(r->volumes.size(), 1u);
  EXPECT_EQ(r->volumes[0].voxels, 300);
  EXPECT_NEAR(r->volumes[0].volume_mm3, 300 * 0.5 * 2.0 * 3.0, 1e-9);
  EXPECT_NEAR(r->volumes[0].volume_ml, 0.9, 1e-12);
}

TEST(Segmenter, ImageSmallerThanThePatchKeepsItsSize) {
  test::TempDir dir;
  auto s2 = open({write_bundle(dir / "b2", {})});
  auto s3 = open({write_bundle(dir / "b3", {.dims = 3})});
  ASSERT_TRUE(s2 && s3);
  Image a = binary_image({5, 7}, 2);
  a.data[0][2][3] = 1;
  auto r2 = (*s2)->segment(a);
  ASSERT_TRUE(r2) << r2.error().to_string();
  EXPECT_EQ(r2->labels.sizes(), (std::vector<int64_t>{5, 7}));
  EXPECT_TRUE(torch::equal(r2->labels, (a.data[0] > 0.5).to(at::kByte)));
  Image b = binary_image({3, 6, 5}, 3);
  auto r3 = (*s3)->segment(b);
  ASSERT_TRUE(r3) << r3.error().to_string();
  EXPECT_EQ(r3->labels.sizes(), (std::vector<int64_t>{3, 6, 5}));
  EXPECT_EQ(r3->probabilities.sizes(), (std::vector<int64_t>{2, 3, 6, 5}));
}

TEST(Segmenter, DeclaredPostprocessingIsApplied) {
  test::TempDir dir;
  // A ring (12 × 12 with a 4 × 4 hole), a 36-pixel square and a 4-pixel speck.
  Image img = binary_image({40, 40}, 2);
  auto x = img.data[0];
  x.slice(0, 2, 14).slice(1, 2, 14) = 1;
  x.slice(0, 6, 10).slice(1, 6, 10) = 0;
  x.slice(0, 20, 26).slice(1, 20, 26) = 1;
  x.slice(0, 35, 37).slice(1, 35, 37) = 1;
  auto plain = open({write_bundle(dir / "plain", {})});
  ASSERT_TRUE(plain);
  auto raw = (*plain)->segment(img);
  ASSERT_TRUE(raw);
  EXPECT_TRUE(torch::equal(raw->labels, (x > 0.5).to(at::kByte)));

  const json steps = json::parse(R"([{"name": "remove_small_components", "min_voxels": 5},
                                     "fill_holes", {"name": "keep_largest_components", "keep": 1}])");
  auto s = open({write_bundle(dir / "post", {.inference = {{"postprocess", steps}}})});
  ASSERT_TRUE(s) << s.error().to_string();
  ASSERT_EQ((*s)->settings().postprocess.size(), 3u);
  auto r = (*s)->segment(img);
  ASSERT_TRUE(r) << r.error().to_string();
  at::Tensor want = at::zeros({40, 40}, at::kByte);
  want.slice(0, 2, 14).slice(1, 2, 14) = 1;
  EXPECT_TRUE(torch::equal(r->labels, want));
  EXPECT_EQ(r->postprocess_changed_voxels, 4 + 16 + 36);
  EXPECT_EQ(r->volumes[0].voxels, 144);
}

TEST(Segmenter, EnsembleAveragesTheMembersProbabilities) {
  test::TempDir dir;
  const auto a = write_bundle(dir / "a", {});
  const auto b = write_bundle(dir / "b", {.weights = Weights::kConstant, .constant = 2.0});
  Image img = binary_image({20, 24}, 2);
  img.data[0].slice(0, 4, 12).slice(1, 3, 9) = 1;
  auto sa = open({a}), sb = open({b}), sab = open({a, b});
  ASSERT_TRUE(sa && sb && sab);
  auto ra = (*sa)->segment(img), rb = (*sb)->segment(img), rab = (*sab)->segment(img);
  ASSERT_TRUE(ra && rb && rab);
  EXPECT_NEAR(rb->probabilities[1][0][0].item<double>(), 1.0 / (1.0 + std::exp(-2.0)), 1e-5);
  EXPECT_LT((rab->probabilities - (ra->probabilities + rb->probabilities) / 2).abs().max().item<double>(), 1e-6);
  EXPECT_EQ((*sab)->bundle_ids().size(), 2u);
}

TEST(Segmenter, EnsembleOfDifferentClassCountsIsRefused) {
  test::TempDir dir;
  const auto a = write_bundle(dir / "a", {});
  const auto c = write_bundle(dir / "c", {.outputs = 3});
  auto s = open({a, c});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("same num_classes"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find((dir / "c").string()), std::string::npos);
}

TEST(Segmenter, ClassificationBundleIsRefusedNamingTheTask) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "seg", {}), write_bundle(dir / "cls", {.task = "binary"})});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("task \"binary\""), std::string::npos) << s.error().message();
  EXPECT_TRUE(*is_segmentation_bundle(dir / "seg"));
  EXPECT_FALSE(*is_segmentation_bundle(dir / "cls"));
  EXPECT_EQ(is_segmentation_bundle(dir / "missing").error().code(), ErrorCode::kNotFound);
}

TEST(Segmenter, WrongChannelCountIsRefusedWithBothCounts) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {})});
  ASSERT_TRUE(s);
  Image rgb{at::zeros({3, 16, 16}), odd_geometry(2), {}};
  auto r = (*s)->segment(rgb);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("3 channel(s)"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("expects 1"), std::string::npos) << r.error().message();
}

TEST(Segmenter, DimensionMismatchesAreRefusedAndOneSliceVolumesAccepted) {
  test::TempDir dir;
  auto s3 = open({write_bundle(dir / "b3", {.dims = 3})});
  auto s2 = open({write_bundle(dir / "b2", {})});
  ASSERT_TRUE(s3 && s2);
  auto r = (*s3)->segment(binary_image({16, 16}, 2));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("segments 3-D volumes"), std::string::npos) << r.error().message();
  auto many = (*s2)->segment(binary_image({4, 16, 16}, 3));
  ASSERT_FALSE(many);
  EXPECT_NE(many.error().message().find("3-D volume (4x16x16"), std::string::npos) << many.error().message();
  Image one = binary_image({1, 12, 10}, 3);
  one.data[0][0].slice(0, 2, 6).slice(1, 1, 4) = 1;
  auto r1 = (*s2)->segment(one);
  ASSERT_TRUE(r1) << r1.error().to_string();
  EXPECT_EQ(r1->labels.sizes(), (std::vector<int64_t>{1, 12, 10}));
  EXPECT_EQ(r1->probabilities.sizes(), (std::vector<int64_t>{2, 1, 12, 10}));
  EXPECT_EQ(r1->volumes[0].voxels, 12);
  EXPECT_NEAR(r1->volumes[0].volume_mm3, 12 * 0.5 * 2.0 * 3.0, 1e-9);  // a slice of thickness 3 mm
}

TEST(Segmenter, ResizingPreprocessIsMappedBackToTheInputGrid) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {.preprocess = json::parse(R"([{"name": "resize", "size": [16, 16]}])")})});
  ASSERT_TRUE(s) << s.error().to_string();
  Image img = binary_image({32, 24}, 2);
  img.data[0].slice(0, 8, 24).slice(1, 6, 18) = 1;
  auto r = (*s)->segment(img);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->resampled);
  EXPECT_EQ(r->labels.sizes(), (std::vector<int64_t>{32, 24}));
  EXPECT_EQ(r->probabilities.sizes(), (std::vector<int64_t>{2, 32, 24}));
  EXPECT_TRUE(r->geometry.is_close(img.geometry));
  const auto agree = (r->labels == (img.data[0] > 0.5).to(at::kByte)).sum().item<int64_t>();
  EXPECT_GE(agree, 32 * 24 * 95 / 100);
  EXPECT_EQ(r->labels[16][12].item<int>(), 1);
  EXPECT_EQ(r->labels[0][0].item<int>(), 0);
}

TEST(Segmenter, CroppingPreprocessGivesBackgroundWhereTheModelSawNothing) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {.preprocess = json::parse(R"([{"name": "pad_crop", "size": [16, 16]}])")})});
  ASSERT_TRUE(s) << s.error().to_string();
  Image img = binary_image({24, 20}, 2);
  img.data.fill_(1);  // everything foreground: only the cropped-away border becomes background
  auto r = (*s)->segment(img);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->labels.sizes(), (std::vector<int64_t>{24, 20}));
  // Crop keeps rows 4..19 and columns 2..17.
  EXPECT_EQ(r->labels.slice(0, 4, 20).slice(1, 2, 18).min().item<int>(), 1);
  EXPECT_EQ(r->labels[0][0].item<int>(), 0);
  EXPECT_FLOAT_EQ(r->probabilities[0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(r->volumes[0].voxels, 16 * 16);
}

TEST(Segmenter, UnknownPostprocessStepIsRefusedByName) {
  test::TempDir dir;
  auto s = open({write_bundle(dir / "b", {.inference = {{"postprocess", json::array({"smooth"})}}})});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("unknown post-processing step \"smooth\""), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("fill_holes"), std::string::npos);
}

TEST(Segmenter, SettingsDefaultToTheInputSizeWithoutInferenceBlock) {
  nets::BundleManifest m;
  m.architecture = {.name = "unet", .spatial_dims = 2, .in_channels = 1, .num_outputs = 3};
  m.task = "segmentation";
  m.input_size = {64, 48};
  auto s = segmentation_settings(m);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->patch_size, (std::vector<int64_t>{64, 48}));
  EXPECT_EQ(s->num_classes, 3);
  EXPECT_EQ(s->activation, Activation::kSoftmax);
  m.training = {{"inference", {{"overlap", "half"}}}};
  auto bad = segmentation_settings(m);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("training.inference.overlap"), std::string::npos) << bad.error().message();
}

TEST(SegmenterOverlay, FillsWithAlphaAndDrawsContoursInTheLabelColour) {
  const at::Tensor grey = at::full({1, 12, 12}, 100, at::kByte);
  at::Tensor labels = at::zeros({12, 12}, at::kByte);
  labels.slice(0, 3, 8).slice(1, 3, 8) = 2;
  auto o = overlay_rgb(grey, labels);
  ASSERT_TRUE(o) << o.error().to_string();
  EXPECT_EQ(o->sizes(), (std::vector<int64_t>{3, 12, 12}));
  EXPECT_EQ(o->scalar_type(), at::kByte);
  auto px = [&](int y, int x) {
    return std::array<int, 3>{(*o)[0][y][x].item<int>(), (*o)[1][y][x].item<int>(), (*o)[2][y][x].item<int>()};
  };
  EXPECT_EQ(px(0, 0), (std::array<int, 3>{100, 100, 100}));  // background: the image
  EXPECT_EQ(px(3, 3), (std::array<int, 3>{0, 255, 0}));      // contour: label 2 = green
  EXPECT_EQ(px(5, 5), (std::array<int, 3>{60, 162, 60}));    // inside: 0.6 · 100 + 0.4 · colour
  EXPECT_EQ(label_colour(1), (std::array<uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(label_colour(11), label_colour(1));
  auto bad = overlay_rgb(grey, at::zeros({5, 5}, at::kByte));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lucent::infer
