// Value checks computed by hand, and the error messages of malformed declarations.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "lucent/transforms/transform.h"

namespace lucent::transforms {
namespace {

using nlohmann::json;

std::unique_ptr<Transform> make(const json& decl) {
  TransformRegistry r;
  register_builtin_transforms(r);
  auto t = r.create(decl);
  EXPECT_TRUE(t) << (t ? "" : t.error().to_string());
  return t ? std::move(*t) : nullptr;
}

Batch run(const json& decl, Batch b, uint64_t seed = 5) {
  auto t = make(decl);
  Rng rng(seed);
  auto st = t->apply(b, rng);
  EXPECT_TRUE(st) << (st ? "" : st.error().to_string());
  return b;
}

at::Tensor t2x2(std::initializer_list<float> v) { return at::tensor(std::vector<float>(v)).reshape({1, 1, 2, 2}); }

void expect_near(const at::Tensor& a, const at::Tensor& b, double tol) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LE((a - b).abs().max().item<double>(), tol) << a << "\nvs\n" << b;
}

TEST(ScaleIntensity, MapsTheInputRangeLinearlyAndClipsOnRequest) {
  auto x = at::tensor({0.f, 127.5f, 255.f, 510.f}).reshape({1, 1, 1, 4});
  auto y = run({{"name", "scale_intensity"}, {"in_min", 0}, {"in_max", 255}, {"out_min", -1}, {"out_max", 1}}, {x, {}});
  expect_near(y.images, at::tensor({-1.f, 0.f, 1.f, 3.f}).reshape({1, 1, 1, 4}), 1e-6);
  auto c = run({{"name", "scale_intensity"}, {"in_min", 0}, {"in_max", 255}, {"clip", true}}, {x, {}});
  expect_near(c.images, at::tensor({0.f, 0.5f, 1.f, 1.f}).reshape({1, 1, 1, 4}), 1e-6);
}

TEST(Normalize, SubtractsAndDividesPerChannel) {
  auto x = at::tensor({3.f, 5.f, 10.f, 2.f}).reshape({1, 2, 1, 2});
  auto y = run({{"name", "normalize"}, {"mean", {1, 2}}, {"std", {2, 4}}}, {x, {}});
  expect_near(y.images, at::tensor({1.f, 2.f, 2.f, 0.f}).reshape({1, 2, 1, 2}), 1e-6);
  auto one = run({{"name", "normalize"}, {"mean", 1}, {"std", 2}}, {x, {}});
  expect_near(one.images, (x - 1) / 2, 1e-6);

  auto t = make({{"name", "normalize"}, {"mean", {1, 2, 3}}, {"std", 1}});
  Batch b{x, {}};
  Rng rng(1);
  auto st = t->apply(b, rng);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("one per channel"), std::string::npos) << st.error().message();
}

TEST(Window, MapsCenterAndWidthToZeroOneAndClips) {
  auto x = at::tensor({-1000.f, -160.f, 40.f, 240.f, 1000.f}).reshape({1, 1, 1, 5});
  auto y = run({{"name", "window"}, {"center", 40}, {"width", 400}}, {x, {}});
  expect_near(y.images, at::tensor({0.f, 0.f, 0.5f, 1.f, 1.f}).reshape({1, 1, 1, 5}), 1e-6);
}

TEST(ZScore, GivesZeroMeanUnitStdPerImageAndChannel) {
  auto x = at::rand({3, 2, 8, 8}) * at::tensor({1.f, 50.f}).reshape({1, 2, 1, 1}) + 7;
  auto y = run({{"name", "zscore"}}, {x, {}}).images.reshape({3, 2, -1});
  expect_near(y.mean(-1), at::zeros({3, 2}), 1e-5);
  expect_near(y.std(-1, /*unbiased=*/false), at::ones({3, 2}), 1e-4);

  auto whole = run({{"name", "zscore"}, {"per_channel", false}}, {x, {}}).images.reshape({3, -1});
  expect_near(whole.mean(-1), at::zeros({3}), 1e-5);
  expect_near(whole.std(-1, false), at::ones({3}), 1e-4);

  // nonzero: statistics over the non-zero voxels only; background stays 0.
  auto fg = at::tensor({0.f, 0.f, 2.f, 4.f}).reshape({1, 1, 2, 2});
  expect_near(run({{"name", "zscore"}, {"nonzero", true}}, {fg, {}}).images, t2x2({0, 0, -1, 1}), 1e-6);
}

TEST(PercentileClip, ClipsAtPercentilesAndRescales) {
  auto x = at::arange(0, 101, at::kFloat).reshape({1, 1, 1, 101});
  auto y = run({{"name", "percentile_clip"}, {"lower", 10}, {"upper", 90}}, {x, {}});
  expect_near(y.images, (x.clamp(10, 90) - 10) / 80, 1e-6);
  auto raw = run({{"name", "percentile_clip"}, {"lower", 10}, {"upper", 90}, {"rescale", false}}, {x, {}});
  expect_near(raw.images, x.clamp(10, 90), 1e-5);
  // Linear interpolation between order statistics, like numpy: 4 values, 50th percentile = 2.5.
  auto four = at::tensor({4.f, 1.f, 3.f, 2.f}).reshape({1, 1, 2, 2});
  auto half = run({{"name", "percentile_clip"}, {"lower", 0}, {"upper", 50}, {"rescale", false}}, {four, {}});
  expect_near(half.images, t2x2({2.5f, 1, 2.5f, 2}), 1e-6);
}

TEST(Flip, MirrorsImagesAndMasksAlongTheChosenAxes) {
  Batch b{t2x2({1, 2, 3, 4}), t2x2({1, 0, 0, 0}).to(at::kLong)};
  auto x = run({{"name", "flip"}, {"axes", {"x"}}, {"p", 1.0}}, b);
  expect_near(x.images, t2x2({2, 1, 4, 3}), 0);
  EXPECT_TRUE(at::equal(x.masks, t2x2({0, 1, 0, 0}).to(at::kLong)));
  auto y = run({{"name", "flip"}, {"axes", {"y"}}, {"p", 1.0}}, b);
  expect_near(y.images, t2x2({3, 4, 1, 2}), 0);
  auto none = run({{"name", "flip"}, {"axes", {"x", "y"}}, {"p", 0.0}}, b);
  expect_near(none.images, b.images, 0);
  // z in a 3-D batch: slices reverse.
  auto vol = at::arange(0, 2, at::kFloat).reshape({1, 1, 2, 1, 1});
  auto z = run({{"name", "flip"}, {"axes", {"z"}}, {"p", 1.0}}, {vol, {}});
  expect_near(z.images, vol.flip({2}), 0);
}

TEST(Flip, RejectsTheZAxisForA2DBatch) {
  auto t = make({{"name", "flip"}, {"axes", {"z"}}});
  Batch b{t2x2({1, 2, 3, 4}), {}};
  Rng rng(1);
  auto st = t->apply(b, rng);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("2-D"), std::string::npos) << st.error().message();
}

TEST(Rot90, RotatesA2x2ByOneTwoOrThreeQuarterTurns) {
  // Quarter turns from y towards x, written out by hand for [[1, 2], [3, 4]].
  const std::vector<std::vector<float>> turns = {{2, 4, 1, 3}, {4, 3, 2, 1}, {3, 1, 4, 2}};
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Batch b{t2x2({1, 2, 3, 4}), t2x2({1, 2, 3, 4}).to(at::kByte)};
    auto out = run({{"name", "rot90"}, {"p", 1.0}}, b, seed);
    int match = -1;
    for (int k = 0; k < 3; ++k)
      if (at::equal(out.images, at::tensor(turns[static_cast<size_t>(k)]).reshape({1, 1, 2, 2}))) match = k;
    ASSERT_GE(match, 0) << "not a quarter turn: " << out.images;
    EXPECT_TRUE(at::equal(out.masks.to(at::kFloat), out.images));
    seen.insert(match);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(Rot90, RejectsNonSquarePlanesWithAClearMessage) {
  auto t = make({{"name", "rot90"}});
  Batch b{at::zeros({1, 1, 4, 6}), {}};
  Rng rng(1);
  auto st = t->apply(b, rng);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("square"), std::string::npos) << st.error().message();
}

TEST(Affine, ZeroRotationUnitScaleIsTheIdentityIn2DAnd3D) {
  for (auto shape : {std::vector<int64_t>{3, 2, 9, 14}, std::vector<int64_t>{2, 1, 5, 7, 6}}) {
    Batch b{at::rand(shape), (at::rand(shape) * 3).floor().narrow(1, 0, 1).to(at::kLong)};
    auto out = run({{"name", "affine"}, {"rotate_deg", 0}, {"scale", {1, 1}}}, b);
    expect_near(out.images, b.images, 1e-5);
    EXPECT_TRUE(at::equal(out.masks, b.masks));
  }
}

TEST(Affine, RotationAboutTheCentreKeepsACentredBlobInPlace) {
  // Any angle in [-180, 180] with unit scale: the blob's centre of mass and mass stay put.
  auto x = at::zeros({1, 1, 15, 15});
  x.narrow(2, 5, 5).narrow(3, 5, 5).fill_(1);
  auto out = run({{"name", "affine"}, {"rotate_deg", 180}}, {x, {}});
  auto w = out.images[0][0];
  auto ys = at::arange(15, at::kFloat).reshape({15, 1}), xs = at::arange(15, at::kFloat).reshape({1, 15});
  EXPECT_NEAR(((w * ys).sum() / w.sum()).item<double>(), 7.0, 1e-3);
  EXPECT_NEAR(((w * xs).sum() / w.sum()).item<double>(), 7.0, 1e-3);
  EXPECT_NEAR(w.sum().item<double>(), 25.0, 1.0);
}

TEST(Affine, ScaleAboveOneEnlargesTheContent) {
  auto x = at::zeros({1, 1, 32, 32});
  x.narrow(2, 12, 8).narrow(3, 12, 8).fill_(1);
  auto out = run({{"name", "affine"}, {"scale", {2, 2}}}, {x, x.to(at::kLong)});
  EXPECT_NEAR(out.images.sum().item<double>(), 256.0, 8.0);
  EXPECT_EQ(out.masks.sum().item<int64_t>(), 256);
  auto vol = at::zeros({1, 1, 16, 16, 16});
  vol.narrow(2, 6, 4).narrow(3, 6, 4).narrow(4, 6, 4).fill_(1);
  EXPECT_NEAR(run({{"name", "affine"}, {"scale", {0.5, 0.5}}}, {vol, {}}).images.sum().item<double>(), 8.0, 1.0);
}

TEST(GaussianBlur, ImpulseResponseIsTheNormalisedGaussian) {
  auto x = at::zeros({1, 1, 9, 9});
  x[0][0][4][4] = 1;
  auto out = run({{"name", "gaussian_blur"}, {"sigma", {1, 1}}}, {x, {}}).images[0][0];
  auto t = at::arange(-4, 5, at::kDouble);
  auto g = at::exp(-0.5 * t * t);
  g = g / at::exp(-0.5 * at::arange(-3, 4, at::kDouble).square()).sum();  // radius 3 sigma
  g.narrow(0, 0, 1).zero_();
  g.narrow(0, 8, 1).zero_();
  expect_near(out.to(at::kDouble), at::outer(g, g), 1e-6);
  // Per-sample sigmas: every impulse response keeps unit mass and is symmetric.
  auto many = at::zeros({5, 2, 17, 17, 17});
  many.select(2, 8).select(2, 8).select(2, 8).fill_(1);
  auto blurred = run({{"name", "gaussian_blur"}, {"sigma", {0.3, 2.0}}}, {many, {}}).images;
  expect_near(blurred.sum({2, 3, 4}), at::ones({5, 2}), 1e-4);
  expect_near(blurred, blurred.flip({2}), 1e-6);
  expect_near(blurred, blurred.transpose(3, 4), 1e-6);
  EXPECT_GT((blurred.select(1, 0).amax({1, 2, 3}).max() - blurred.select(1, 0).amax({1, 2, 3}).min()).item<double>(), 1e-3)
      << "samples should get different sigmas";
}

TEST(Elastic, ZeroDisplacementIsTheIdentity) {
  Batch b{at::rand({2, 1, 12, 12}), {}};
  auto out = run({{"name", "elastic"}, {"alpha", 0}, {"sigma", 3}}, b);
  expect_near(out.images, b.images, 0);
}

TEST(Elastic, DisplacementStaysWithinAlpha) {
  // A linear ramp along x moves by at most alpha voxels, so values change by at most alpha.
  auto ramp = at::arange(32, at::kFloat).reshape({1, 1, 1, 32}).expand({1, 1, 32, 32}).contiguous();
  auto out = run({{"name", "elastic"}, {"alpha", 2}, {"sigma", 4}}, {ramp, {}});
  auto inner = (out.images - ramp).narrow(3, 3, 26);
  EXPECT_LE(inner.abs().max().item<double>(), 2.0 + 1e-4);
  EXPECT_GT(inner.abs().max().item<double>(), 0.5);
}

TEST(Resize, ConstantImageStaysConstant) {
  for (auto mode : {"linear", "nearest"}) {
    auto a = run({{"name", "resize"}, {"size", {7, 33}}, {"mode", mode}}, {at::full({2, 3, 16, 16}, 4.25f), {}});
    EXPECT_EQ(a.images.sizes(), (at::IntArrayRef{2, 3, 7, 33}));
    expect_near(a.images, at::full({2, 3, 7, 33}, 4.25f), 1e-5);
    auto v = run({{"name", "resize"}, {"size", {3, 20, 5}}, {"mode", mode}}, {at::full({1, 1, 6, 10, 10}, -2.f), {}});
    expect_near(v.images, at::full({1, 1, 3, 20, 5}, -2.f), 1e-5);
  }
}

TEST(Resize, NearestPicksTheVoxelWhoseCentreIsNearest) {
  auto x = at::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({1, 1, 1, 6});
  // 6 -> 3: output centres at input coordinates 1, 3, 5 (in half-voxel units) -> voxels 1, 3, 5.
  auto down = run({{"name", "resize"}, {"size", {1, 3}}, {"mode", "nearest"}}, {x, x.to(at::kLong)});
  expect_near(down.images, at::tensor({2.f, 4.f, 6.f}).reshape({1, 1, 1, 3}), 0);
  EXPECT_TRUE(at::equal(down.masks, at::tensor({2, 4, 6}, at::kLong).reshape({1, 1, 1, 3})));
  auto linear = run({{"name", "resize"}, {"size", {1, 3}}}, {x, x.to(at::kLong)});
  expect_near(linear.images, at::tensor({1.5f, 3.5f, 5.5f}).reshape({1, 1, 1, 3}), 1e-6);
  EXPECT_TRUE(at::equal(linear.masks, down.masks)) << "masks always resize with nearest";
}

TEST(PadCrop, CentersPadsWithZerosAndCrops) {
  auto x = at::arange(1, 31, at::kFloat).reshape({1, 1, 5, 6});
  auto m = at::ones({1, 1, 5, 6}, at::kLong);
  auto out = run({{"name", "pad_crop"}, {"size", {7, 4}}}, {x, m});
  ASSERT_EQ(out.images.sizes(), (at::IntArrayRef{1, 1, 7, 4}));
  // y: 5 -> 7 pads one row each side; x: 6 -> 4 keeps columns 1..4.
  expect_near(out.images.narrow(2, 1, 5), x.narrow(3, 1, 4), 0);
  EXPECT_EQ(out.images.select(2, 0).abs().sum().item<float>(), 0.f);
  EXPECT_EQ(out.images.select(2, 6).abs().sum().item<float>(), 0.f);
  EXPECT_EQ(out.masks.sum().item<int64_t>(), 20);
  auto odd = run({{"name", "pad_crop"}, {"size", {2, 2, 3}}}, {at::ones({1, 1, 1, 4, 1}), {}});
  EXPECT_EQ(odd.images.sizes(), (at::IntArrayRef{1, 1, 2, 2, 3}));
  EXPECT_EQ(odd.images.sum().item<float>(), 2.f);
}

TEST(ToChannels, RepeatsGreyAndAveragesColour) {
  auto grey = at::rand({2, 1, 4, 4});
  auto rgb = run({{"name", "to_channels"}, {"channels", 3}}, {grey, {}}).images;
  ASSERT_EQ(rgb.size(1), 3);
  for (int c = 0; c < 3; ++c) expect_near(rgb.narrow(1, c, 1), grey, 0);
  auto back = run({{"name", "to_channels"}, {"channels", 1}}, {rgb * at::tensor({0.f, 1.f, 2.f}).reshape({1, 3, 1, 1}), {}});
  expect_near(back.images, grey, 1e-6);
}

TEST(IntensityAugmentations, KeepTheirDocumentedInvariants) {
  auto x = at::rand({4, 1, 10, 10}) * 200 - 50;
  // gamma keeps each image's minimum and maximum.
  auto g = run({{"name", "gamma"}, {"range", {0.5, 2.0}}}, {x, {}}).images.reshape({4, -1});
  expect_near(std::get<0>(g.min(1)), std::get<0>(x.reshape({4, -1}).min(1)), 1e-3);
  expect_near(std::get<0>(g.max(1)), std::get<0>(x.reshape({4, -1}).max(1)), 1e-3);
  // a constant image stays constant under blur (replicate padding).
  auto blur = run({{"name", "gaussian_blur"}, {"sigma", {0.5, 3}}}, {at::full({3, 2, 9, 9}, 3.f), {}});
  expect_near(blur.images, at::full({3, 2, 9, 9}, 3.f), 1e-5);
  auto blur3 = run({{"name", "gaussian_blur"}, {"sigma", {1, 1}}}, {at::full({1, 1, 5, 9, 9}, 3.f), {}});
  expect_near(blur3.images, at::full({1, 1, 5, 9, 9}, 3.f), 1e-5);
  // p = 0 leaves the batch unchanged; contrast 1 and brightness 0 too.
  expect_near(run({{"name", "gaussian_noise"}, {"std", 1}, {"p", 0.0}}, {x, {}}).images, x, 0);
  expect_near(run({{"name", "brightness_contrast"}, {"brightness", 0}, {"contrast", {1, 1}}}, {x, {}}).images, x, 1e-4);
  // brightness only: a per-image shift within +-brightness.
  auto shift = run({{"name", "brightness_contrast"}, {"brightness", 0.5}, {"contrast", {1, 1}}}, {x, {}}).images - x;
  auto per = shift.reshape({4, -1});
  EXPECT_LE((per.amax(1) - per.amin(1)).abs().max().item<double>(), 1e-4);
  EXPECT_LE(per.abs().max().item<double>(), 0.5 + 1e-4);
}

TEST(RandomErasing, ErasesOneBoxOfTheDeclaredAreaWithTheValue) {
  auto x = at::ones({6, 2, 20, 20});
  auto out = run({{"name", "random_erasing"}, {"p", 1.0}, {"area", {0.1, 0.2}}, {"value", -7}}, {x, {}}).images;
  for (int64_t i = 0; i < 6; ++i) {
    auto erased = (out[i] == -7).to(at::kFloat);
    EXPECT_TRUE(at::equal(erased[0], erased[1])) << "all channels share the box";
    const double frac = erased[0].mean().item<double>();
    EXPECT_GT(frac, 0.05);
    EXPECT_LT(frac, 0.3);
  }
}

TEST(TransformErrors, UnknownTransformListsTheKnownOnes) {
  TransformRegistry r;
  register_builtin_transforms(r);
  auto t = r.create({{"name", "sharpen"}});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
  const auto& msg = t.error().message();
  EXPECT_NE(msg.find("unknown transform 'sharpen'"), std::string::npos) << msg;
  for (const auto& name : r.names()) EXPECT_NE(msg.find(name), std::string::npos) << name;
  EXPECT_FALSE(r.create(json{{"p", 1}}));
  EXPECT_FALSE(r.create(json::array()));
  EXPECT_EQ(r.add("flip", [](const json&) -> Result<std::unique_ptr<Transform>> { return nullptr; }).error().code(),
            ErrorCode::kAlreadyExists);
}

TEST(TransformErrors, WrongTypesMissingAndOutOfRangeParametersAreNamed) {
  TransformRegistry r;
  register_builtin_transforms(r);
  struct Bad {
    const char* decl;
    const char* fragment;
  };
  const Bad bad[] = {
      {R"({"name": "window", "center": "40", "width": 400})", "'center' must be a number"},
      {R"({"name": "window", "center": 40})", "'width' is required"},
      {R"({"name": "window", "center": 40, "width": 0})", "'width' must be > 0"},
      {R"({"name": "scale_intensity", "in_min": 1, "in_max": 1})", "'in_max'"},
      {R"({"name": "zscore", "nonzero": 1})", "'nonzero' must be true or false"},
      {R"({"name": "flip", "axes": ["w"]})", "'axes' entries must be drawn from: x, y, z"},
      {R"({"name": "flip", "axes": "x"})", "'axes' must be a list"},
      {R"({"name": "flip", "p": 1.5})", "'p' must be a probability"},
      {R"({"name": "resize", "size": [28, 28], "mode": "cubic"})", "'mode' must be one of: linear, nearest"},
      {R"({"name": "resize", "size": [28]})", "'size' needs 2"},
      {R"({"name": "resize", "size": [28.5, 28]})", "'size' must be a non-empty list of integers"},
      {R"({"name": "affine", "scale": [1.2, 0.8]})", "'scale' must be [lo, hi]"},
      {R"({"name": "affine", "scale": 1.1})", "'scale' must be a list of two numbers"},
      {R"({"name": "affine", "rotate_deg": [10, 10]})", "'rotate_deg'"},
      {R"({"name": "affine", "padding": "reflect"})", "'padding' must be one of: zeros, border"},
      {R"({"name": "normalize", "mean": 0, "std": [1, 0]})", "'std' must be > 0"},
      {R"({"name": "to_channels", "channels": 2})", "'channels' must be 1 or 3"},
      {R"({"name": "gamma", "range": [0, 2]})", "'range' must be > 0"},
      {R"({"name": "flip", "axis": ["x"]})", "'axis' is not a parameter of this transform; accepted: axes, p"},
  };
  for (const auto& b : bad) {
    auto t = r.create(json::parse(b.decl));
    ASSERT_FALSE(t) << b.decl;
    EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument) << b.decl;
    EXPECT_NE(t.error().message().find(b.fragment), std::string::npos) << b.decl << " -> " << t.error().message();
    const std::string name = json::parse(b.decl).at("name");
    EXPECT_NE(t.error().message().find("transform '" + name + "'"), std::string::npos) << t.error().message();
  }
}

}  // namespace
}  // namespace lucent::transforms

namespace lucent::transforms {
namespace {

Pipeline pipeline(const json& steps) {
  TransformRegistry r;
  register_builtin_transforms(r);
  auto p = Pipeline::from_json(steps, r);
  EXPECT_TRUE(p) << (p ? "" : p.error().to_string());
  return p ? *p : Pipeline{};
}

TEST(GridChange, ResizeScalesTheSpacingAndKeepsTheExtent) {
  auto c = make({{"name", "resize"}, {"size", {2, 3}}})->grid_change({4, 6});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(c->spacing_factor, (std::vector<double>{2, 2}));
  EXPECT_EQ(c->origin_shift, (std::vector<double>{0.5, 0.5}));
  Geometry g;
  g.spatial_dims = 2;
  g.origin_lps = {10, 20, 0};
  g.spacing_mm = {0.5, 2, 1};
  const Geometry out = apply_grid_change(g, *c);
  EXPECT_DOUBLE_EQ(out.spacing_mm[0], 1.0);
  EXPECT_DOUBLE_EQ(out.spacing_mm[1], 4.0);
  // The first voxel's outer edge stays where the input's was: 10 - 0.25 along x, 20 - 1 along y.
  EXPECT_DOUBLE_EQ(out.origin_lps[0] - out.spacing_mm[0] / 2, 9.75);
  EXPECT_DOUBLE_EQ(out.origin_lps[1] - out.spacing_mm[1] / 2, 19.0);
}

TEST(GridChange, PadCropShiftsTheOriginAndAugmentationsKeepTheGrid) {
  auto c = make({{"name", "pad_crop"}, {"size", {7, 4}}})->grid_change({5, 6});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->origin_shift, (std::vector<double>{-1, 1}));
  EXPECT_EQ(c->spacing_factor, (std::vector<double>{1, 1}));
  auto same = make({{"name", "affine"}, {"rotate_deg", 10}})->grid_change({3, 5, 6});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->shape, (std::vector<int64_t>{3, 5, 6}));
  EXPECT_EQ(same->origin_shift, (std::vector<double>{0, 0, 0}));
  auto wrong = make({{"name", "resize"}, {"size", {2, 3}}})->grid_change({4, 6, 8});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
}

TEST(GridChange, PipelineComposesStepsConsistentlyWithTheVoxels) {
  const auto p = pipeline(json::parse(R"([{"name": "pad_crop", "size": [8, 8]},
                                           {"name": "resize", "size": [4, 4]},
                                           {"name": "flip", "p": 0.0}])"));
  auto c = p.grid_change({6, 10});
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->shape, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(c->spacing_factor, (std::vector<double>{2, 2}));
  EXPECT_EQ(c->origin_shift, (std::vector<double>{-0.5, 1.5}));
  // A ramp holding its own x index: output voxel n must hold origin_shift + n * factor.
  auto ramp = at::arange(10, at::kFloat).reshape({1, 1, 1, 10}).expand({1, 1, 6, 10}).contiguous();
  Batch b{ramp, {}};
  Rng rng(1);
  ASSERT_TRUE(p.apply(b, rng));
  auto row = b.images[0][0][1];
  for (int64_t n = 0; n < 4; ++n) EXPECT_NEAR(row[n].item<double>(), 1.5 + 2.0 * static_cast<double>(n), 1e-5);
}

}  // namespace
}  // namespace lucent::transforms
