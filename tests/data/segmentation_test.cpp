// Segmentation data: image/mask pairing from folders and manifests, union of several masks,
// label remapping, ROI, the checks that name bad cases, and the patch sampler — on small
// generated PNGs, and on the real DRIVE layout when the shared data are present.
#include "lucent/data/segmentation.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "lucent/io/image_io.h"
#include "support/test_support.h"

namespace lucent::data {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

void write_png(const fs::path& path, const at::Tensor& hw_or_chw) {
  fs::create_directories(path.parent_path());
  Image img;
  img.data = hw_or_chw.dim() == 2 ? hw_or_chw.unsqueeze(0) : hw_or_chw;
  img.data = img.data.to(at::kByte).contiguous();
  img.geometry.spatial_dims = 2;
  ASSERT_TRUE(io::write_image(img, path)) << path;
}

at::Tensor square_mask(int64_t h, int64_t w, int64_t y0, int64_t y1, int64_t x0, int64_t x1, int value) {
  auto m = at::zeros({h, w}, at::kByte);
  m.slice(0, y0, y1).slice(1, x0, x1).fill_(value);
  return m;
}

transforms::Pipeline empty_pipeline() {
  transforms::TransformRegistry reg;
  transforms::register_builtin_transforms(reg);
  return *transforms::Pipeline::from_json(nlohmann::json::array(), reg);
}

TEST(SegFolder, PairsImagesWithMasksByStemAndUnitesSeveralMasks) {
  TempDir tmp;
  // BUSI layout: masks beside the images, `_mask` and `_mask_1`.
  write_png(tmp / "benign" / "a (1).png", at::full({16, 20}, 100, at::kByte));
  write_png(tmp / "benign" / "a (1)_mask.png", square_mask(16, 20, 2, 6, 2, 6, 255));
  write_png(tmp / "benign" / "a (1)_mask_1.png", square_mask(16, 20, 10, 14, 10, 14, 255));
  write_png(tmp / "benign" / "a (2).png", at::full({16, 20}, 50, at::kByte));
  write_png(tmp / "benign" / "a (2)_mask.png", at::zeros({16, 20}, at::kByte));
  auto cases = scan_seg_folder(tmp.path(), {.images = ".", .masks = ".", .mask_suffix = "_mask"});
  ASSERT_TRUE(cases) << cases.error().message();
  ASSERT_EQ(cases->cases.size(), 2u);
  EXPECT_EQ(cases->cases[0].id, "benign/a (1)");
  ASSERT_EQ(cases->cases[0].masks.size(), 2u);
  EXPECT_EQ(cases->cases[1].masks.size(), 1u);

  Rng rng(0);
  auto loaded = load_seg_cases(cases->cases, {.num_classes = 2, .remap = {{255, 1}}}, empty_pipeline(), rng);
  ASSERT_TRUE(loaded) << loaded.error().message();
  const auto& s = (*loaded)[0];
  EXPECT_EQ(s.labels.sum().item<int64_t>(), 32);  // two 4x4 squares, union
  EXPECT_EQ(s.labels[3][3].item<int64_t>(), 1);
  EXPECT_EQ(s.labels[12][12].item<int64_t>(), 1);
  EXPECT_EQ(s.labels[8][8].item<int64_t>(), 0);
  EXPECT_EQ((*loaded)[1].labels.sum().item<int64_t>(), 0);  // an empty mask is a valid case
  EXPECT_EQ(s.image.sizes(), (at::IntArrayRef{1, 16, 20}));
}

TEST(SegFolder, SeparateFoldersAndRemapSwapsLabelsAtOnce) {
  TempDir tmp;
  // ISBI style: 0 = membrane (the foreground we want), 255 = cell interior.
  auto label = at::full({8, 8}, 255, at::kByte);
  label.select(0, 4).fill_(0);
  write_png(tmp / "image" / "0.png", at::full({8, 8}, 7, at::kByte));
  write_png(tmp / "label" / "0.png", label);
  auto cases = scan_seg_folder(tmp.path(), {.images = "image", .masks = "label"});
  ASSERT_TRUE(cases) << cases.error().message();
  std::vector<SegProblem> problems;
  auto s = load_seg_case(cases->cases[0], {.num_classes = 2, .remap = {{0, 1}, {255, 0}}}, problems);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->labels.sum().item<int64_t>(), 8);
  EXPECT_EQ(s->labels[4][0].item<int64_t>(), 1);
  EXPECT_EQ(s->labels[0][0].item<int64_t>(), 0);
}

TEST(SegFolder, ImageWithoutMaskIsNamed) {
  TempDir tmp;
  write_png(tmp / "images" / "x.png", at::zeros({8, 8}, at::kByte));
  auto cases = scan_seg_folder(tmp.path(), {});
  ASSERT_FALSE(cases);
  EXPECT_EQ(cases.error().code(), ErrorCode::kNotFound);  // no masks/ folder
  fs::create_directories(tmp / "masks");
  cases = scan_seg_folder(tmp.path(), {});
  ASSERT_FALSE(cases);
  EXPECT_EQ(cases.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(cases.error().message().find("x.png"), std::string::npos) << cases.error().message();
}

TEST(SegCheck, RefusesMaskOfAnotherSizeNamingBothFiles) {
  TempDir tmp;
  write_png(tmp / "images" / "a.png", at::zeros({10, 12}, at::kByte));
  write_png(tmp / "masks" / "a.png", at::zeros({10, 11}, at::kByte));
  write_png(tmp / "images" / "b.png", at::zeros({10, 12}, at::kByte));
  write_png(tmp / "masks" / "b.png", at::full({10, 12}, 7, at::kByte));
  auto cases = scan_seg_folder(tmp.path(), {});
  ASSERT_TRUE(cases) << cases.error().message();
  Rng rng(0);
  auto loaded = load_seg_cases(cases->cases, {.num_classes = 2}, empty_pipeline(), rng);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidData);
  const std::string msg = loaded.error().message();
  EXPECT_NE(msg.find("2 problem(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find((tmp / "images" / "a.png").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find((tmp / "masks" / "a.png").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("10x12"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10x11"), std::string::npos) << msg;
  // The unexpected label is named with the fix.
  EXPECT_NE(msg.find("value(s) 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("data.remap"), std::string::npos) << msg;
}

TEST(SegCheck, UnreadableFileIsNamed) {
  TempDir tmp;
  fs::create_directories(tmp / "images");
  std::ofstream(tmp / "images" / "a.png") << "not a png";
  write_png(tmp / "masks" / "a.png", at::zeros({4, 4}, at::kByte));
  auto cases = scan_seg_folder(tmp.path(), {});
  ASSERT_TRUE(cases);
  Rng rng(0);
  auto loaded = load_seg_cases(cases->cases, {}, empty_pipeline(), rng);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message().find("cannot read image"), std::string::npos) << loaded.error().message();
  EXPECT_NE(loaded.error().message().find("a.png"), std::string::npos);
}

TEST(SegManifest, ReadsColumnsRoiAndSplitAndIgnoresOutsideRoi) {
  TempDir tmp;
  write_png(tmp / "i.png", at::full({6, 6}, 10, at::kByte));
  write_png(tmp / "m1.png", square_mask(6, 6, 0, 6, 0, 3, 1));
  write_png(tmp / "m2.png", square_mask(6, 6, 0, 1, 0, 6, 1));
  write_png(tmp / "roi.png", square_mask(6, 6, 0, 6, 0, 5, 255));
  std::ofstream(tmp / "seg.csv") << "image,mask,roi,patient_id,split\ni.png,m1.png;m2.png,roi.png,P1,train\n";
  auto cases = read_seg_manifest(tmp / "seg.csv");
  ASSERT_TRUE(cases) << cases.error().message();
  ASSERT_EQ(cases->cases.size(), 1u);
  EXPECT_EQ(cases->cases[0].patient, "P1");
  EXPECT_EQ(cases->cases[0].split, "train");
  std::vector<SegProblem> problems;
  auto s = load_seg_case(cases->cases[0], {}, problems);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->labels[0][5].item<int64_t>(), kIgnoreLabel);  // outside the ROI
  EXPECT_EQ(s->labels[0][4].item<int64_t>(), 1);             // from m2 (union)
  EXPECT_EQ(s->labels[3][1].item<int64_t>(), 1);             // from m1
  EXPECT_EQ(s->labels[3][4].item<int64_t>(), 0);
  EXPECT_EQ(s->roi.sum().item<int64_t>(), 30);

  std::ofstream(tmp / "bad.csv") << "path,label\na.png,x\n";
  auto bad = read_seg_manifest(tmp / "bad.csv");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("`image` and `mask`"), std::string::npos);
}

TEST(SegSplit, SeededExactValidationCountFromTrainingCases) {
  SegCaseList list;
  for (int i = 0; i < 20; ++i) list.cases.push_back({.id = std::to_string(i), .patient = std::to_string(i), .split = "train"});
  for (int i = 20; i < 25; ++i) list.cases.push_back({.id = std::to_string(i), .patient = std::to_string(i), .split = "test"});
  auto a = split_seg_cases(list, {.val_count = 4, .seed = 3});
  auto b = split_seg_cases(list, {.val_count = 4, .seed = 3});
  ASSERT_TRUE(a && b);
  int val = 0, test = 0;
  for (std::size_t i = 0; i < a->cases.size(); ++i) {
    EXPECT_EQ(a->cases[i].split, b->cases[i].split);
    val += a->cases[i].split == "val";
    test += a->cases[i].split == "test";
  }
  EXPECT_EQ(val, 4);
  EXPECT_EQ(test, 5);
  auto too_many = split_seg_cases(list, {.val_count = 20, .seed = 3});
  ASSERT_FALSE(too_many);
}

std::vector<SegSample> synthetic_samples() {
  std::vector<SegSample> v;
  for (int i = 0; i < 3; ++i) {
    SegSample s;
    s.id = std::to_string(i);
    s.image = at::arange(40 * 50, at::kFloat).reshape({1, 40, 50});
    s.labels = at::zeros({40, 50}, at::kLong);
    s.labels.slice(0, 10, 12).slice(1, 20, 23).fill_(1);  // 6 foreground pixels: 0.3 %
    s.roi = at::ones({40, 50}, at::kBool);
    v.push_back(s);
  }
  return v;
}

TEST(PatchSampler, PositiveRatioFollowsPosFraction) {
  auto samples = synthetic_samples();
  auto sampler = PatchSampler::create(samples, {.patch_size = {8, 8}, .pos_fraction = 0.7}, 5);
  ASSERT_TRUE(sampler) << sampler.error().message();
  int64_t with_fg = 0, total = 0;
  for (int64_t b = 0; b < 50; ++b) {
    auto batch = sampler->sample(0, b, 20);
    EXPECT_EQ(batch.images.sizes(), (at::IntArrayRef{20, 1, 8, 8}));
    EXPECT_EQ(batch.labels.sizes(), (at::IntArrayRef{20, 8, 8}));
    for (int64_t i = 0; i < 20; ++i) with_fg += (batch.labels[i] == 1).any().item<bool>();
    total += 20;
  }
  const double frac = static_cast<double>(with_fg) / static_cast<double>(total);
  // Centred on foreground 70 % of the time; random centres hit the tiny object rarely.
  EXPECT_GT(frac, 0.65);
  EXPECT_LT(frac, 0.80);
  auto none = PatchSampler::create(samples, {.patch_size = {8, 8}, .pos_fraction = 0.0}, 5);
  int64_t fg0 = 0;
  for (int64_t b = 0; b < 20; ++b) {
    auto batch = none->sample(0, b, 20);
    for (int64_t i = 0; i < 20; ++i) fg0 += (batch.labels[i] == 1).any().item<bool>();
  }
  EXPECT_LT(static_cast<double>(fg0) / 400.0, 0.15);
}

TEST(PatchSampler, DeterministicUnderSeedAndPadsAtTheBorder) {
  auto samples = synthetic_samples();
  auto s1 = PatchSampler::create(samples, {.patch_size = {16, 16}, .pos_fraction = 0.5}, 9);
  auto s2 = PatchSampler::create(samples, {.patch_size = {16, 16}, .pos_fraction = 0.5}, 9);
  auto s3 = PatchSampler::create(samples, {.patch_size = {16, 16}, .pos_fraction = 0.5}, 10);
  auto a = s1->sample(2, 7, 8), b = s2->sample(2, 7, 8), c = s3->sample(2, 7, 8);
  EXPECT_TRUE(a.images.equal(b.images));
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_FALSE(a.images.equal(c.images));
  EXPECT_FALSE(a.images.equal(s1->sample(2, 8, 8).images));
  // A patch larger than the image: padded with kIgnoreLabel, never out of bounds.
  auto big = PatchSampler::create(samples, {.patch_size = {64, 64}, .pos_fraction = 0.0}, 1);
  auto p = big->sample(0, 0, 4);
  EXPECT_TRUE((p.labels == kIgnoreLabel).any().item<bool>());
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t inside = (p.labels[i] != kIgnoreLabel).sum().item<int64_t>();
    EXPECT_GT(inside, 0);
    EXPECT_LE(inside, 40 * 50);
    // Copied pixels keep their values: the image is arange, so inside values are distinct.
    EXPECT_EQ(std::get<0>(at::_unique(p.images[i].masked_select(p.labels[i].unsqueeze(0) != kIgnoreLabel))).numel(), inside);
  }
  auto wrong = PatchSampler::create(samples, {.patch_size = {8, 8, 8}}, 1);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Drive, ScansTheRealLayoutWithFieldOfViewMasks) {
  LUCENT_REQUIRE_DATA("drive/training/images");
  auto cases = scan_drive(test::data_dir() / "drive");
  ASSERT_TRUE(cases) << cases.error().message();
  ASSERT_EQ(cases->cases.size(), 40u);
  int train = 0;
  for (const auto& c : cases->cases) train += c.split == "train";
  EXPECT_EQ(train, 20);
  std::vector<SegProblem> problems;
  auto s = load_seg_case(cases->cases[0], {.num_classes = 2, .remap = {{255, 1}}}, problems);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->image.size(0), 3);
  EXPECT_EQ(s->labels.size(0), 584);
  EXPECT_EQ(s->labels.size(1), 565);
  const double fov = s->roi.to(at::kDouble).mean().item<double>();
  EXPECT_GT(fov, 0.6);
  EXPECT_LT(fov, 0.8);
  const double vessels = (s->labels == 1).sum().item<double>() / s->roi.sum().item<double>();
  EXPECT_GT(vessels, 0.05);  // about 12 % of the FOV are vessels
  EXPECT_LT(vessels, 0.25);
}

}  // namespace
}  // namespace lucent::data
