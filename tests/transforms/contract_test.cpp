// Contract tests: every registered transform, 2-D and 3-D, with and without masks.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "lucent/transforms/transform.h"

namespace lucent::transforms {
namespace {

using nlohmann::json;

// One valid declaration per registered transform. A transform registered without an entry
// here fails EveryRegisteredTransformHasAContractCase.
struct Case {
  json decl2d;
  json decl3d;                        // null: same as decl2d
  bool random = false;
  bool spatial = false;               // moves masks with the image
  std::vector<int64_t> size2d, size3d;  // output spatial shape when the grid changes
  int64_t channels = 0;               // output channel count when it changes
};

const std::map<std::string, Case>& cases() {
  static const std::map<std::string, Case> table = {
      {"scale_intensity", {{{"name", "scale_intensity"}, {"in_min", 0}, {"in_max", 255}}, nullptr}},
      {"normalize", {{{"name", "normalize"}, {"mean", 0.5}, {"std", 0.25}}, nullptr}},
      {"zscore", {{{"name", "zscore"}}, nullptr}},
      {"percentile_clip", {{{"name", "percentile_clip"}, {"lower", 1}, {"upper", 99}}, nullptr}},
      {"window", {{{"name", "window"}, {"center", 40}, {"width", 400}}, nullptr}},
      {"resize",
       {{{"name", "resize"}, {"size", {12, 20}}}, {{"name", "resize"}, {"size", {6, 12, 20}}}, false, true,
        {12, 20}, {6, 12, 20}}},
      {"pad_crop",
       {{{"name", "pad_crop"}, {"size", {20, 12}}}, {{"name", "pad_crop"}, {"size", {10, 20, 12}}}, false, true,
        {20, 12}, {10, 20, 12}}},
      {"to_channels", {{{"name", "to_channels"}, {"channels", 3}}, nullptr, false, false, {}, {}, 3}},
      {"flip",
       {{{"name", "flip"}, {"axes", {"x", "y"}}, {"p", 0.5}}, {{"name", "flip"}, {"axes", {"x", "y", "z"}}, {"p", 0.5}},
        true, true}},
      {"rot90", {{{"name", "rot90"}, {"p", 1.0}}, nullptr, true, true}},
      {"affine",
       {{{"name", "affine"}, {"rotate_deg", 20}, {"scale", {0.9, 1.1}}, {"shear_deg", 5}, {"translate_frac", 0.1}, {"p", 1.0}},
        nullptr, true, true}},
      {"elastic", {{{"name", "elastic"}, {"alpha", 2}, {"sigma", 4}, {"p", 1.0}}, nullptr, true, true}},
      {"brightness_contrast",
       {{{"name", "brightness_contrast"}, {"brightness", 0.2}, {"contrast", {0.8, 1.2}}, {"p", 1.0}}, nullptr, true}},
      {"gamma", {{{"name", "gamma"}, {"range", {0.7, 1.5}}, {"p", 1.0}}, nullptr, true}},
      {"gaussian_noise", {{{"name", "gaussian_noise"}, {"std", 0.1}, {"p", 1.0}}, nullptr, true}},
      {"gaussian_blur", {{{"name", "gaussian_blur"}, {"sigma", {0.5, 1.5}}, {"p", 1.0}}, nullptr, true}},
      {"random_erasing", {{{"name", "random_erasing"}, {"p", 1.0}}, nullptr, true}},
  };
  return table;
}

TransformRegistry builtin() {
  TransformRegistry r;
  register_builtin_transforms(r);
  return r;
}

// 8 samples of 1 channel, square y-x planes (rot90), a label mask with values {0, 1, 2}.
Batch make_batch(int dims, at::ScalarType mask_type) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  std::vector<int64_t> spatial = dims == 2 ? std::vector<int64_t>{16, 16} : std::vector<int64_t>{8, 16, 16};
  std::vector<int64_t> shape{8, 1};
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  Batch b;
  b.images = at::rand(shape, gen, at::kFloat) * 100 + 10;
  auto m = at::zeros(shape, at::kFloat);
  auto core = m.narrow(-2, 4, 8);
  if (dims == 3) core = core.narrow(2, 2, 4);
  core.narrow(-1, 4, 4).fill_(1);
  core.narrow(-1, 8, 4).fill_(2);
  b.masks = m.to(mask_type);
  return b;
}

struct Variant {
  int dims;
  at::ScalarType mask_type;
};
const Variant kVariants[] = {{2, at::kByte}, {3, at::kFloat}, {2, at::kLong}};

const json& decl_for(const Case& c, int dims) { return dims == 3 && !c.decl3d.is_null() ? c.decl3d : c.decl2d; }

TEST(TransformContract, EveryRegisteredTransformHasAContractCase) {
  const auto r = builtin();
  ASSERT_FALSE(r.names().empty());
  for (const auto& name : r.names()) EXPECT_TRUE(cases().count(name)) << "no contract case for transform " << name;
  for (const auto& [name, c] : cases()) {
    const auto names = r.names();
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name << " is not registered";
  }
}

TEST(TransformContract, NameRandomnessAndJsonRoundTrip) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    for (int dims : {2, 3}) {
      auto t = r.create(decl_for(c, dims));
      ASSERT_TRUE(t) << t.error().to_string();
      EXPECT_EQ((*t)->name(), name);
      EXPECT_EQ((*t)->is_random(), c.random) << name;
      const json j = (*t)->to_json();
      EXPECT_EQ(j.at("name"), name);
      // Every declared parameter keeps its value; defaults are filled in.
      for (const auto& [k, v] : decl_for(c, dims).items()) EXPECT_EQ(j.at(k), v) << name << "." << k;
      auto again = r.create(j);
      ASSERT_TRUE(again) << name << ": " << again.error().to_string();
      EXPECT_EQ((*again)->to_json(), j) << name;
    }
  }
}

TEST(TransformContract, SameSeedSameOutputAndDocumentedShape) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    for (const auto& v : kVariants) {
      SCOPED_TRACE(name + " " + std::to_string(v.dims) + "-D");
      auto t = r.create(decl_for(c, v.dims));
      ASSERT_TRUE(t);
      const Batch input = make_batch(v.dims, v.mask_type);
      const auto images_before = input.images.clone();
      const auto masks_before = input.masks.clone();
      Batch a = input, b = input;
      Rng ra(5), rb(5);
      ASSERT_TRUE((*t)->apply(a, ra)) << (*t)->apply(a, ra).error().to_string();
      ASSERT_TRUE((*t)->apply(b, rb));
      EXPECT_TRUE(at::equal(a.images, b.images));
      EXPECT_TRUE(at::equal(a.masks, b.masks));
      // Inputs are never modified in place (a batch may share storage with a cache).
      EXPECT_TRUE(at::equal(input.images, images_before));
      EXPECT_TRUE(at::equal(input.masks, masks_before));

      EXPECT_EQ(a.images.scalar_type(), at::kFloat);
      EXPECT_EQ(a.masks.scalar_type(), v.mask_type);
      auto expected = input.images.sizes().vec();
      const auto& size = v.dims == 2 ? c.size2d : c.size3d;
      if (!size.empty()) std::copy(size.begin(), size.end(), expected.begin() + 2);
      if (c.channels) expected[1] = c.channels;
      EXPECT_EQ(a.images.sizes().vec(), expected);
      auto expected_mask = expected;
      expected_mask[1] = 1;
      EXPECT_EQ(a.masks.sizes().vec(), expected_mask);
      EXPECT_TRUE(at::isfinite(a.images).all().item<bool>());
    }
  }
}

TEST(TransformContract, DifferentSeedsDifferForRandomTransforms) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    if (!c.random) continue;
    for (int dims : {2, 3}) {
      SCOPED_TRACE(name + " " + std::to_string(dims) + "-D");
      auto t = r.create(decl_for(c, dims));
      ASSERT_TRUE(t);
      Batch a = make_batch(dims, at::kLong), b = a;
      Rng ra(5), rb(6);
      ASSERT_TRUE((*t)->apply(a, ra));
      ASSERT_TRUE((*t)->apply(b, rb));
      EXPECT_FALSE(at::equal(a.images, b.images));
    }
  }
}

TEST(TransformContract, MasksKeepTheirLabelsUnderSpatialAndAreUntouchedByIntensityTransforms) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    for (const auto& v : kVariants) {
      SCOPED_TRACE(name + " " + std::to_string(v.dims) + "-D");
      auto t = r.create(decl_for(c, v.dims));
      ASSERT_TRUE(t);
      const Batch input = make_batch(v.dims, v.mask_type);
      Batch out = input;
      Rng rng(11);
      ASSERT_TRUE((*t)->apply(out, rng));
      if (!c.spatial) {
        EXPECT_TRUE(at::equal(out.masks, input.masks));
        continue;
      }
      auto m = out.masks.to(at::kDouble);
      EXPECT_TRUE(at::equal(m, m.round())) << "non-integer labels";
      auto labels = std::get<0>(at::_unique(m));
      std::set<double> found;
      for (int64_t i = 0; i < labels.numel(); ++i) found.insert(labels[i].item<double>());
      EXPECT_EQ(found, (std::set<double>{0, 1, 2}));
    }
  }
}

TEST(TransformContract, SpatialTransformsMoveMasksWithTheImage) {
  // Images that equal their masks must still agree with them after a spatial transform, except
  // on label edges where the image is interpolated.
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    if (!c.spatial) continue;
    for (int dims : {2, 3}) {
      SCOPED_TRACE(name + " " + std::to_string(dims) + "-D");
      auto t = r.create(decl_for(c, dims));
      ASSERT_TRUE(t);
      Batch b = make_batch(dims, at::kLong);
      b.images = b.masks.to(at::kFloat);
      Rng rng(21);
      ASSERT_TRUE((*t)->apply(b, rng));
      // Interpolated values exactly halfway between two labels (0.5, 1.5: common when a size
      // halves or doubles) round either way depending on the last bit of the kernel's
      // arithmetic, which differs between LibTorch builds; they count as neither.
      const auto halfway = (b.images - b.images.floor() - 0.5).abs() < 1e-4;
      const auto differ = (b.images.round().to(at::kLong) != b.masks).logical_and(halfway.logical_not());
      EXPECT_LT(differ.to(at::kDouble).mean().item<double>(), 0.06);
      // Away from label edges (every neighbour has the same label) they agree exactly.
      auto m = b.masks.to(at::kFloat);
      auto hi = dims == 2 ? at::max_pool2d(m, 3, 1, 1) : at::max_pool3d(m, 3, 1, 1);
      auto lo = dims == 2 ? -at::max_pool2d(-m, 3, 1, 1) : -at::max_pool3d(-m, 3, 1, 1);
      const auto interior = hi == lo;
      EXPECT_EQ((differ & interior).sum().item<int64_t>(), 0);
      EXPECT_GT(interior.to(at::kDouble).mean().item<double>(), 0.5);
    }
  }
}

TEST(TransformContract, BatchOfWrongRankOrTypeIsRejectedByEveryTransform) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    auto t = r.create(c.decl2d);
    ASSERT_TRUE(t);
    Rng rng(1);
    Status st;
    for (auto shape : {std::vector<int64_t>{16, 16}, std::vector<int64_t>{1, 16, 16},
                       std::vector<int64_t>{1, 1, 1, 4, 4, 4}}) {
      Batch b{at::zeros(shape, at::kFloat), {}};
      st = (*t)->apply(b, rng);
      ASSERT_FALSE(st) << name;
      EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument) << name;
      EXPECT_NE(st.error().message().find("rank"), std::string::npos) << st.error().message();
      EXPECT_NE(st.error().message().find(name), std::string::npos) << st.error().message();
    }
    Batch empty{at::zeros({0, 1, 16, 16}, at::kFloat), {}};
    st = (*t)->apply(empty, rng);
    ASSERT_FALSE(st) << name;
    EXPECT_NE(st.error().message().find("empty batch"), std::string::npos) << st.error().message();
    Batch doubles{at::zeros({1, 1, 16, 16}, at::kDouble), {}};
    st = (*t)->apply(doubles, rng);
    ASSERT_FALSE(st) << name;
    EXPECT_NE(st.error().message().find("float32"), std::string::npos) << st.error().message();
    Batch mismatched{at::zeros({2, 1, 16, 16}, at::kFloat), at::zeros({2, 1, 8, 16}, at::kLong)};
    st = (*t)->apply(mismatched, rng);
    ASSERT_FALSE(st) << name;
    EXPECT_NE(st.error().message().find("masks"), std::string::npos) << st.error().message();
  }
}

TEST(TransformContract, UnknownParameterIsNamedForEveryTransform) {
  const auto r = builtin();
  for (const auto& [name, c] : cases()) {
    json decl = c.decl2d;
    decl["no_such_key"] = 1;
    auto t = r.create(decl);
    ASSERT_FALSE(t) << name;
    EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(t.error().message().find("'" + name + "'"), std::string::npos) << t.error().message();
    EXPECT_NE(t.error().message().find("no_such_key"), std::string::npos) << t.error().message();
  }
}

TEST(Pipeline, CopiesShareStepsAndRoundTripThroughJson) {
  const auto r = builtin();
  json steps = json::array();
  for (const auto& [name, c] : cases())
    if (name != "resize" && name != "pad_crop") steps.push_back(c.decl2d);
  auto p = Pipeline::from_json(steps, r);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_FALSE(p->empty());
  const Pipeline copy = *p;
  Batch a = make_batch(2, at::kLong), b = a;
  Rng ra(3), rb(3);
  ASSERT_TRUE(p->apply(a, ra));
  ASSERT_TRUE(copy.apply(b, rb));
  EXPECT_TRUE(at::equal(a.images, b.images));
  EXPECT_TRUE(at::equal(a.masks, b.masks));
  auto again = Pipeline::from_json(p->to_json(), r);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->to_json(), p->to_json());
  EXPECT_EQ(p->to_json().size(), steps.size());
}

TEST(Pipeline, EmptyPipelineLeavesTheBatchAlone) {
  const auto r = builtin();
  auto p = Pipeline::from_json(json::array(), r);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->empty());
  Batch b = make_batch(3, at::kLong);
  const auto before = b.images;
  Rng rng(1);
  ASSERT_TRUE(p->apply(b, rng));
  EXPECT_TRUE(at::equal(b.images, before));
}

TEST(Pipeline, ErrorsNameTheFailingStep) {
  const auto r = builtin();
  auto p = Pipeline::from_json(json::parse(R"([{"name": "zscore"}, {"name": "flip", "axis": ["x"]}])"), r);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(p.error().message().find("pipeline step 1"), std::string::npos) << p.error().message();
  EXPECT_NE(p.error().message().find("'axis'"), std::string::npos) << p.error().message();

  auto not_list = Pipeline::from_json(json{{"name", "zscore"}}, r);
  ASSERT_FALSE(not_list);
  EXPECT_NE(not_list.error().message().find("array"), std::string::npos) << not_list.error().message();

  auto resize = Pipeline::from_json(json::parse(R"([{"name": "resize", "size": [4, 4, 4]}])"), r);
  ASSERT_TRUE(resize);
  Batch b{at::zeros({1, 1, 8, 8}), {}};
  Rng rng(1);
  auto st = resize->apply(b, rng);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find("pipeline step 0: transform 'resize'"), std::string::npos)
      << st.error().message();
}

}  // namespace
}  // namespace lucent::transforms
