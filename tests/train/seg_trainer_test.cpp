// Segmentation training: a 2-epoch smoke run on small crops of real DRIVE images that writes
// a segmentation bundle and test metrics, resume rules, the evaluation's definitions on a
// hand-checked case, and the recipe checks.
#include "lucent/train/seg_trainer.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "lucent/core/config.h"
#include "lucent/io/image_io.h"
#include "lucent/nets/bundle.h"
#include "support/test_support.h"

namespace lucent::train {
namespace {
namespace fs = std::filesystem;

struct Env {
  nets::NetRegistry nets;
  transforms::TransformRegistry tfs;
  Env() {
    nets::register_builtin_nets(nets);
    transforms::register_builtin_transforms(tfs);
    at::set_num_threads(1);
  }
};

// Six 96x96 crops of DRIVE training images (image, 1st-observer mask, FOV mask) as PNGs and a
// manifest: 4 train, 1 val, 1 test.
fs::path make_drive_crops(const fs::path& dir) {
  const fs::path drive = test::data_dir() / "drive" / "training";
  std::ofstream csv(dir / "seg.csv");
  csv << "image,mask,roi,split\n";
  const char* splits[] = {"train", "train", "train", "train", "val", "test"};
  for (int i = 0; i < 6; ++i) {
    const std::string id = std::to_string(21 + i);
    auto img = io::read_image(drive / "images" / (id + "_training.tif"));
    auto man = io::read_image(drive / "1st_manual" / (id + "_manual1.gif"));
    auto fov = io::read_image(drive / "mask" / (id + "_training_mask.gif"));
    EXPECT_TRUE(img && man && fov);
    auto crop = [](Image im) {
      im.data = im.data.slice(1, 250, 346).slice(2, 60, 156).to(at::kByte).contiguous();
      if (im.data.size(0) > 3) im.data = im.data.slice(0, 0, 3).contiguous();
      return im;
    };
    EXPECT_TRUE(io::write_image(crop(*img), dir / (id + ".png")));
    auto m = crop(*man);
    m.data = m.data.slice(0, 0, 1).contiguous();
    EXPECT_TRUE(io::write_image(m, dir / (id + "_m.png")));
    auto f = crop(*fov);
    f.data = f.data.slice(0, 0, 1).contiguous();
    EXPECT_TRUE(io::write_image(f, dir / (id + "_fov.png")));
    csv << id << ".png," << id << "_m.png," << id << "_fov.png," << splits[i] << "\n";
  }
  return dir / "seg.csv";
}

std::string recipe(const fs::path& manifest) {
  return R"(
name: drive-smoke
task: segmentation
seed: 1
data: {kind: seg_manifest, path: )" +
         manifest.string() + R"(, num_classes: 2, remap: {255: 1}}
model: {name: unet, options: {depth: 2, width: 4, norm: batch}}
pipeline:
  preprocess:
    - {name: zscore}
  augment:
    - {name: flip, axes: [x, y], p: 0.5}
train: {epochs: 2, batch_size: 4, lr: 0.003, schedule: cosine, patch_size: [32, 32], patches_per_image: 4,
        pos_fraction: 0.5, loss: dice_ce}
infer: {overlap: 0.25, patch_size: [48, 48]}
)";
}

Result<TrainConfig> parse(const std::string& text) {
  auto j = parse_yaml(text, "seg.yaml");
  if (!j) return std::unexpected(j.error());
  return parse_train_config(*j, "seg.yaml", test::data_dir(), ".");
}

TEST(SegTrainer, SmokeTrainingOnDriveCropsWritesABundleAndTestMetrics) {
  LUCENT_REQUIRE_DATA("drive/training/images");
  Env env;
  test::TempDir tmp;
  auto cfg = parse(recipe(make_drive_crops(tmp.path())));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->task_kind, "segmentation");
  auto r = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->completed);
  EXPECT_TRUE(fs::exists(tmp / "run" / "split.csv"));
  EXPECT_TRUE(fs::exists(tmp / "run" / "metrics.json"));
  for (const char* k : {"dice", "auc", "accuracy", "sensitivity", "specificity", "pixel_error"})
    EXPECT_TRUE(r->test_metrics.contains(k)) << k << " in " << r->test_metrics.dump();
  const double dice = r->test_metrics["dice"].get<double>(), acc = r->test_metrics["accuracy"].get<double>();
  EXPECT_GE(dice, 0.0);
  EXPECT_LE(dice, 1.0);
  EXPECT_GT(acc, 0.0);
  ASSERT_EQ(r->test_metrics["per_case"].size(), 1u);
  auto b = nets::load_bundle(r->bundle_dir, env.nets);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->manifest.task, "segmentation");
  EXPECT_EQ(b->manifest.architecture.name, "unet");
  EXPECT_EQ(b->manifest.architecture.in_channels, 3);
  const auto& inf = b->manifest.training["inference"];
  EXPECT_EQ(inf["patch_size"], nlohmann::json::array({48, 48}));
  EXPECT_EQ(inf["overlap"].get<double>(), 0.25);
  EXPECT_EQ(b->manifest.metrics["test"]["dice"].get<double>(), dice);
  // The log has one line per epoch.
  std::ifstream log(tmp / "run" / "log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 2);

  // A second run into the same folder without --resume is refused.
  auto again = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TEST(SegTrainer, StopAfterOneEpochThenResumeFinishesTheRun) {
  LUCENT_REQUIRE_DATA("drive/training/images");
  Env env;
  test::TempDir tmp;
  auto cfg = parse(recipe(make_drive_crops(tmp.path())));
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto first = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true, .max_epochs_this_run = 1},
                                         env.nets, env.tfs);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first->completed);
  EXPECT_TRUE(fs::exists(tmp / "run" / "checkpoint" / "state.json"));
  auto rest = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .resume = true, .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_TRUE(rest->completed);
  std::ifstream log(tmp / "run" / "log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 2);  // epoch 1 from the first run, epoch 2 after resuming
  // A changed recipe cannot resume this run.
  cfg->source["train"]["lr"] = 0.01;
  auto changed = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .resume = true, .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(changed.error().message().find("recipe differs"), std::string::npos) << changed.error().message();
}

TEST(SegTrainer, EvaluationPoolsPixelsInsideTheRoi) {
  // A "net" whose foreground probability is the input itself: logits (0, logit(p)).
  struct Identity : nets::Net {
    at::Tensor forward(const at::Tensor& x) override {
      auto p = x.clamp(1e-6, 1 - 1e-6);
      return at::cat({at::zeros_like(p), at::log(p / (1 - p))}, 1);
    }
  } net;
  data::SegSample s;
  s.id = "a";
  s.image = at::tensor({0.9f, 0.8f, 0.2f, 0.6f, 0.1f, 0.7f, 0.3f, 0.9f}).reshape({1, 2, 4});
  s.labels = at::tensor(std::vector<int64_t>{1, 1, 0, 0, 0, data::kIgnoreLabel, 1, data::kIgnoreLabel}).reshape({2, 4});
  s.roi = s.labels != data::kIgnoreLabel;
  s.geometry.spatial_dims = 2;
  auto r = evaluate_segmentation(net, {s}, 2, {.patch_size = {2, 4}, .overlap = 0.0, .blend = "constant"});
  ASSERT_TRUE(r) << r.error().message();
  // Inside the ROI: p = .9 .8 .2 .6 .1 .3 ; truth 1 1 0 0 0 1 ; pred 1 1 0 1 0 0
  // TP 2, FP 1, FN 1, TN 2 → Dice 4/6, accuracy 4/6; AUC: positives {.9,.8,.3} vs negatives {.2,.6,.1}: 8/9.
  EXPECT_NEAR((*r)["dice"].get<double>(), 4.0 / 6.0, 1e-9);
  EXPECT_NEAR((*r)["accuracy"].get<double>(), 4.0 / 6.0, 1e-9);
  EXPECT_NEAR((*r)["auc"].get<double>(), 8.0 / 9.0, 1e-9);
  EXPECT_EQ((*r)["pixels"].get<int64_t>(), 6);
  EXPECT_NEAR((*r)["sensitivity"].get<double>(), 2.0 / 3.0, 1e-9);
  EXPECT_NEAR((*r)["specificity"].get<double>(), 2.0 / 3.0, 1e-9);
}

// ISBI-style: class 1 = membrane. Truth: a vertical membrane at column 2 of a 3x5 image (two
// cells of 6 pixels); the prediction misses its middle pixel (p = 0.2), so its cells are one.
// On the 12 true-interior pixels: P = 72 - 12 = 60 = T, S = 144 - 12 = 132 (rand_error.h).
TEST(SegTrainer, EvaluationReportsTheRandErrorOfTheRegionsBetweenBoundaries) {
  struct Identity : nets::Net {
    at::Tensor forward(const at::Tensor& x) override {
      auto p = x.clamp(1e-6, 1 - 1e-6);
      return at::cat({at::zeros_like(p), at::log(p / (1 - p))}, 1);
    }
  } net;
  data::SegSample s;
  s.id = "cells";
  s.image = at::full({1, 3, 5}, 0.1f);
  s.image.select(2, 2).fill_(0.9f);
  s.image[0][1][2] = 0.2f;
  s.labels = at::zeros({3, 5}, at::kLong);
  s.labels.select(1, 2).fill_(1);
  s.roi = at::ones({3, 5}, at::kBool);
  s.geometry.spatial_dims = 2;
  SegEvalOptions o{.patch_size = {3, 5}, .overlap = 0.0, .blend = "constant", .per_case = true, .rand_error = "boundary"};
  auto r = evaluate_segmentation(net, {s}, 2, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NEAR((*r)["rand_error"].get<double>(), 1.0 - 120.0 / 192.0, 1e-9) << r->dump();
  EXPECT_NEAR((*r)["rand_split"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR((*r)["rand_merge"].get<double>(), 60.0 / 132.0, 1e-9);
  EXPECT_EQ((*r)["rand_cases"].get<int64_t>(), 1);
  const auto& c = (*r)["per_case"][0];
  EXPECT_NEAR(c["rand_error"].get<double>(), 1.0 - 120.0 / 192.0, 1e-9);
  EXPECT_EQ(c["truth_segments"].get<int64_t>(), 2);
  EXPECT_EQ(c["pred_segments"].get<int64_t>(), 1);
  EXPECT_TRUE(c["info_split"].is_null());  // one predicted segment: H(S) = 0
  EXPECT_NE(c["info_split_reason"].get<std::string>().find("one segment"), std::string::npos);
  // "objects": the membrane pixels are the segments (3 true in one column, 2 predicted pieces).
  o.rand_error = "objects";
  auto obj = evaluate_segmentation(net, {s}, 2, o);
  ASSERT_TRUE(obj) << obj.error().message();
  // Truth: one segment of 3; prediction on it: ids a, 0, b → n_ij = 1, 1, 1: P = 0, T = 6,
  // S = 0: split 0, error 1.
  EXPECT_NEAR((*obj)["rand_error"].get<double>(), 1.0, 1e-9) << obj->dump();
  EXPECT_NEAR((*obj)["rand_split"].get<double>(), 0.0, 1e-9);
  // Off by default: no Rand keys.
  auto off = evaluate_segmentation(net, {s}, 2, {.patch_size = {3, 5}, .overlap = 0.0, .blend = "constant"});
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->contains("rand_error"));
}

TEST(SegTrainConfig, SegmentationKeysAreCheckedAndClassificationRecipesStayStrict) {
  LUCENT_REQUIRE_DATA("drive");
  auto ok = parse("task: segmentation\ndata: {kind: drive, path: drive, split: {val_count: 4}}\nmodel: {name: unet}\n"
                  "train: {patch_size: [64, 64], loss: tversky}\ninfer: {overlap: 0.5, blend: constant}\n");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->seg.val_count, 4);
  EXPECT_EQ(ok->seg.loss, "tversky");
  EXPECT_EQ(ok->seg.blend, "constant");
  EXPECT_EQ(ok->select_metric, "dice");
  EXPECT_EQ(ok->seg.rand_error, "off");
  auto rand = parse("task: segmentation\ndata: {kind: drive, path: drive}\ntrain: {rand_error: boundary}\n");
  ASSERT_TRUE(rand) << rand.error().message();
  EXPECT_EQ(rand->seg.rand_error, "boundary");
  auto bad_rand = parse("task: segmentation\ndata: {kind: drive, path: drive}\ntrain: {rand_error: membranes}\n");
  ASSERT_FALSE(bad_rand);
  EXPECT_NE(bad_rand.error().message().find("train.rand_error"), std::string::npos) << bad_rand.error().message();
  auto bad_loss = parse("task: segmentation\ndata: {kind: drive, path: drive}\ntrain: {loss: cross_entropy}\n");
  ASSERT_FALSE(bad_loss);
  EXPECT_NE(bad_loss.error().message().find("train.loss"), std::string::npos) << bad_loss.error().message();
  auto bad_patch = parse("task: segmentation\ndata: {kind: drive, path: drive}\ntrain: {patch_size: [64]}\n");
  ASSERT_FALSE(bad_patch);
  EXPECT_NE(bad_patch.error().message().find("patch_size"), std::string::npos);
  // Segmentation keys in a classification recipe are unknown keys.
  auto stray = parse("data: {kind: medmnist, path: drive}\ntrain: {patch_size: [64, 64]}\n");
  ASSERT_FALSE(stray);
  EXPECT_NE(stray.error().message().find("train.patch_size"), std::string::npos) << stray.error().message();
  auto stray_rand = parse("data: {kind: medmnist, path: drive}\ntrain: {rand_error: boundary}\n");
  ASSERT_FALSE(stray_rand);
  EXPECT_NE(stray_rand.error().message().find("train.rand_error"), std::string::npos) << stray_rand.error().message();
}

TEST(SegTrainer, MaskOfAnotherSizeStopsTrainingNamingBothFiles) {
  Env env;
  test::TempDir tmp;
  auto write = [&](const std::string& name, int64_t h, int64_t w) {
    Image im;
    im.data = at::zeros({1, h, w}, at::kByte);
    im.geometry.spatial_dims = 2;
    ASSERT_TRUE(io::write_image(im, tmp / name));
  };
  for (int i = 0; i < 3; ++i) {
    write("i" + std::to_string(i) + ".png", 32, 32);
    write("m" + std::to_string(i) + ".png", 32, i == 1 ? 30 : 32);
  }
  std::ofstream(tmp / "seg.csv") << "image,mask,split\ni0.png,m0.png,train\ni1.png,m1.png,train\ni2.png,m2.png,val\n";
  auto cfg = parse("task: segmentation\ndata: {kind: seg_manifest, path: " + (tmp / "seg.csv").string() +
                   "}\nmodel: {name: unet, options: {depth: 2, width: 4}}\ntrain: {epochs: 1, patch_size: [16, 16]}\n");
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto r = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(r.error().message().find("i1.png"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("m1.png"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("32x30"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace lucent::train
