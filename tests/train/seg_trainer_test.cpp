// Segmentation training: a 2-epoch smoke run on small crops of real DRIVE images that writes
// a segmentation bundle and test metrics, resume rules, the evaluation's definitions on a
// hand-checked case, the multi-class evaluation through the sliding window's sink against the
// full probability output, the recipe checks, and recipes that list their cases
// (data.kind seg_cases), and infer.threshold: auto (chosen on validation, stored in the bundle).
#include "lucent/train/seg_trainer.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "lucent/core/config.h"
#include "lucent/infer/segmenter.h"
#include "lucent/infer/sliding_window.h"
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
  std::string text = recipe(make_drive_crops(tmp.path()));
  const std::string infer_line = "infer: {overlap: 0.25";
  text.replace(text.find(infer_line), infer_line.size(),
               "infer: {postprocess: [{name: keep_largest_components, keep: 5}], overlap: 0.25");
  auto cfg = parse(text);
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
  EXPECT_EQ(inf["postprocess"], nlohmann::json::parse(R"([{"name": "keep_largest_components", "keep": 5}])"));
  auto seg = infer::Segmenter::open({r->bundle_dir}, env.nets, env.tfs);  // predict runs the same steps
  ASSERT_TRUE(seg) << seg.error().message();
  ASSERT_EQ((*seg)->settings().postprocess.size(), 1u);
  EXPECT_EQ((*seg)->settings().postprocess[0].options.keep, 5);
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

// A "net" whose foreground probability is the input itself: logits (0, logit(p)).
struct ProbabilityIsTheInput : nets::Net {
  at::Tensor forward(const at::Tensor& x) override {
    auto p = x.clamp(1e-6, 1 - 1e-6);
    return at::cat({at::zeros_like(p), at::log(p / (1 - p))}, 1);
  }
};

TEST(SegTrainer, EvaluationPoolsPixelsInsideTheRoi) {
  ProbabilityIsTheInput net;
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

// The declared post-processing steps run on each label map before it is scored, as in
// lucent predict: keeping the largest component removes a stray foreground pixel.
TEST(SegTrainer, EvaluationAppliesTheDeclaredPostprocessing) {
  ProbabilityIsTheInput net;
  data::SegSample s;
  s.id = "blobs";
  s.image = at::full({1, 6, 6}, 0.1f);
  s.image.slice(1, 0, 2).slice(2, 0, 2).fill_(0.9f);  // a 2x2 lesion
  s.image[0][4][4] = 0.9f;                           // and one stray pixel
  s.labels = at::zeros({6, 6}, at::kLong);
  s.labels.slice(0, 0, 2).slice(1, 0, 2).fill_(1);
  s.roi = at::ones({6, 6}, at::kBool);
  s.geometry.spatial_dims = 2;
  SegEvalOptions o{.patch_size = {6, 6}, .overlap = 0.0, .blend = "constant"};
  auto plain = evaluate_segmentation(net, {s}, 2, o);
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_NEAR((*plain)["dice"].get<double>(), 8.0 / 9.0, 1e-9);  // TP 4, FP 1
  auto steps = infer::parse_postprocess(nlohmann::json::parse(R"([{"name": "keep_largest_components", "keep": 1}])"),
                                        "test");
  ASSERT_TRUE(steps) << steps.error().message();
  o.postprocess = *steps;
  auto cleaned = evaluate_segmentation(net, {s}, 2, o);
  ASSERT_TRUE(cleaned) << cleaned.error().message();
  EXPECT_NEAR((*cleaned)["dice"].get<double>(), 1.0, 1e-9);
}

// ISBI-style: class 1 = membrane. Truth: a vertical membrane at column 2 of a 3x5 image (two
// cells of 6 pixels); the prediction misses its middle pixel (p = 0.2), so its cells are one.
// On the 12 true-interior pixels: P = 72 - 12 = 60 = T, S = 144 - 12 = 132 (rand_error.h).
TEST(SegTrainer, EvaluationReportsTheRandErrorOfTheRegionsBetweenBoundaries) {
  ProbabilityIsTheInput net;
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

// ---- data.kind seg_cases ----

Result<TrainConfig> parse_under(const std::string& text, const fs::path& data_root) {
  auto j = parse_yaml(text, "cases.yaml");
  if (!j) return std::unexpected(j.error());
  return parse_train_config(*j, "cases.yaml", data_root, data_root / "no-such-recipe-folder");
}

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

std::string cases_recipe(const std::string& cases) {
  return "task: segmentation\ndata:\n  kind: seg_cases\n  num_classes: 3\n  cases:\n" + cases +
         "model: {name: unet}\ntrain: {patch_size: [8, 8, 8]}\n";
}

TEST(SegTrainConfig, SegCasesResolveUnderTheDataRootAndKeepTheirSplits) {
  test::TempDir tmp;
  touch(tmp / "vol/t1.nii.gz");
  touch(tmp / "vol/atlas.nii.gz");
  touch(tmp / "vol/extra.nii.gz");
  touch(tmp / "vol/brain.nii.gz");
  // The same volume as a training case and as a validation case (distinct ids): allowed.
  auto c = parse_under(cases_recipe("    - {id: a_train, image: vol/t1.nii.gz, mask: vol/atlas.nii.gz, split: train}\n"
                                    "    - {id: a_val, image: vol/t1.nii.gz, mask: [vol/atlas.nii.gz, vol/extra.nii.gz],\n"
                                    "       roi: vol/brain.nii.gz, patient_id: colin, split: val}\n"),
                       tmp.path());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->data.kind, "seg_cases");
  ASSERT_EQ(c->seg.cases.size(), 2u);
  const auto& tr = c->seg.cases[0];
  const auto& va = c->seg.cases[1];
  EXPECT_EQ(tr.id, "a_train");
  EXPECT_EQ(tr.split, "train");
  EXPECT_EQ(tr.patient, "a_train");  // default: the id
  EXPECT_TRUE(tr.image.is_absolute());
  EXPECT_EQ(tr.image, fs::absolute(tmp / "vol/t1.nii.gz"));
  EXPECT_TRUE(tr.roi.empty());
  EXPECT_EQ(va.split, "val");
  EXPECT_EQ(va.patient, "colin");
  ASSERT_EQ(va.masks.size(), 2u);
  EXPECT_EQ(va.masks[1], fs::absolute(tmp / "vol/extra.nii.gz"));
  EXPECT_EQ(va.roi, fs::absolute(tmp / "vol/brain.nii.gz"));
  EXPECT_EQ(c->data.path, fs::absolute(tmp / "vol"));  // messages and the bundle name this folder
}

TEST(SegTrainConfig, BadSegCasesAreAllListedNamingEachCase) {
  test::TempDir tmp;
  touch(tmp / "t1.nii.gz");
  touch(tmp / "atlas.nii.gz");
  auto bad = parse_under(cases_recipe("    - {id: a, image: t1.nii.gz, mask: atlas.nii.gz, split: train, lable: 3}\n"
                                      "    - {id: b, image: t1.nii.gz, mask: atlas.nii.gz, split: validation}\n"
                                      "    - {id: c, image: t1.nii.gz, mask: atlas.nii.gz}\n"
                                      "    - {id: a, image: t1.nii.gz, mask: atlas.nii.gz, split: val}\n"),
                         tmp.path());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  const std::string m = bad.error().message();
  EXPECT_NE(m.find("4 problem(s) in data.cases"), std::string::npos) << m;
  EXPECT_NE(m.find("data.cases[0] (id 'a'): unknown key 'lable'"), std::string::npos) << m;
  EXPECT_NE(m.find("data.cases[1] (id 'b'): split is 'validation', expected train, val or test"), std::string::npos) << m;
  EXPECT_NE(m.find("data.cases[2] (id 'c'): 'split' is missing"), std::string::npos) << m;
  EXPECT_NE(m.find("data.cases[3] (id 'a'): the id 'a' is used by an earlier case"), std::string::npos) << m;

  auto missing = parse_under(cases_recipe("    - {id: a, image: t1.nii.gz, mask: atlas.nii.gz, split: train}\n"
                                          "    - {id: b, image: t1.nii.gz, mask: gone/aal.nii.gz, split: val}\n"),
                             tmp.path());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("data.cases[1] (id 'b'): mask gone/aal.nii.gz not found under " +
                                           tmp.path().string()),
            std::string::npos)
      << missing.error().message();

  auto no_image = parse_under(cases_recipe("    - {id: a, mask: atlas.nii.gz, split: train}\n"), tmp.path());
  ASSERT_FALSE(no_image);
  EXPECT_NE(no_image.error().message().find("(id 'a'): 'image' is missing"), std::string::npos) << no_image.error().message();

  // One patient in two splits is leakage; distinct patient ids (or the default, the id) are not.
  auto leak = parse_under(cases_recipe("    - {id: a, image: t1.nii.gz, mask: atlas.nii.gz, patient_id: p1, split: train}\n"
                                       "    - {id: b, image: t1.nii.gz, mask: atlas.nii.gz, patient_id: p1, split: val}\n"),
                          tmp.path());
  ASSERT_FALSE(leak);
  EXPECT_NE(leak.error().message().find("patient_id 'p1' is in both train and val"), std::string::npos)
      << leak.error().message();

  auto empty = parse_under("task: segmentation\ndata: {kind: seg_cases, cases: []}\n", tmp.path());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("needs data.cases"), std::string::npos) << empty.error().message();
  auto path_given = parse_under("task: segmentation\ndata: {kind: seg_cases, path: ., cases: "
                                "[{id: a, image: t1.nii.gz, mask: atlas.nii.gz, split: train}]}\n",
                                tmp.path());
  ASSERT_FALSE(path_given);
  EXPECT_NE(path_given.error().message().find("do not apply to data.kind seg_cases"), std::string::npos)
      << path_given.error().message();
  // data.cases belongs to seg_cases only.
  auto stray = parse_under("task: segmentation\ndata: {kind: seg_manifest, path: t1.nii.gz, cases: []}\n", tmp.path());
  ASSERT_FALSE(stray);
  EXPECT_NE(stray.error().message().find("data.cases"), std::string::npos) << stray.error().message();
}

// A 3-D multi-class run on synthetic NIfTI volumes where, as in the brain recipe, one volume is
// both the training case and the validation case.
TEST(SegTrainer, OneVolumeListedAsTrainingAndValidationCaseTrainsIn3D) {
  Env env;
  test::TempDir tmp;
  at::manual_seed(3);
  Image img, lab;
  img.geometry.spatial_dims = lab.geometry.spatial_dims = 3;
  lab.data = at::zeros({1, 16, 24, 16}, at::kByte);
  lab.data.slice(1, 2, 14).slice(2, 2, 12).fill_(1);
  lab.data.slice(1, 2, 14).slice(2, 12, 22).fill_(2);
  lab.data.slice(1, 6, 10).slice(2, 8, 16).slice(3, 4, 12).fill_(3);
  img.data = (lab.data.to(at::kFloat) * 40 + at::rand({1, 16, 24, 16}) * 20).to(at::kByte);
  ASSERT_TRUE(io::write_image(img, tmp / "t1.nii.gz"));
  ASSERT_TRUE(io::write_image(lab, tmp / "lab.nii.gz"));
  auto cfg = parse_under(R"(
name: one-volume
task: segmentation
data:
  kind: seg_cases
  num_classes: 4
  cases:
    - {id: v_train, image: t1.nii.gz, mask: lab.nii.gz, split: train}
    - {id: v_val, image: t1.nii.gz, mask: lab.nii.gz, split: val}
model: {name: unet, options: {depth: 2, width: 4, norm: batch}}
pipeline: {preprocess: [{name: zscore, nonzero: true}]}
train: {epochs: 1, batch_size: 2, patch_size: [8, 8, 8], patches_per_image: 4, lr: 0.01, schedule: constant}
infer: {patch_size: [8, 16, 8], overlap: 0.25, batch_size: 1}
)",
                         tmp.path());
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto r = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(r) << r.error().message();
  const auto& v = r->val_metrics;
  EXPECT_EQ(v["pixels"].get<int64_t>(), 16 * 24 * 16) << v.dump();
  EXPECT_EQ(v["classes_present"].get<int64_t>(), 3);
  EXPECT_EQ(v["dice_per_class"].size(), 3u);
  // Slab accumulator (K + 1)·patch_z·Y·X + weights + one window in and out, no output volume.
  const int64_t slab = 5 * 8 * 24 * 16, window = 8 * 16 * 8;
  EXPECT_EQ(v["buffer_bytes"].get<int64_t>(), 4 * (slab + window + window + 4 * window)) << v.dump();
  EXPECT_GT(v["peak_rss_bytes"].get<int64_t>(), 0);
  std::ifstream split(tmp / "run" / "split.csv");
  std::string text((std::istreambuf_iterator<char>(split)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("v_train"), std::string::npos) << text;
  EXPECT_NE(text.find("v_val"), std::string::npos) << text;
}

// K > 2 keeps only the argmax label map (sink); the scores must equal those computed from the
// full (K, Z, Y, X) probability output, class by class.
TEST(SegTrainer, MultiClassEvaluationThroughTheSinkEqualsTheFullOutput) {
  struct RandomConv : nets::Net {
    at::Tensor w = at::randn({5, 1, 3, 3, 3}), b = at::randn({5});
    at::Tensor forward(const at::Tensor& x) override { return at::conv3d(x, w, b, 1, 1); }
  };
  at::manual_seed(11);
  RandomConv net;
  const int64_t K = 5;
  data::SegSample s;
  s.id = "random";
  s.image = at::randn({1, 13, 18, 11});
  at::Tensor labels = at::randint(0, K - 1, {13, 18, 11}, at::kLong);  // class 4 never true
  s.roi = at::rand({13, 18, 11}) > 0.2;
  s.labels = labels.masked_fill(s.roi.logical_not(), data::kIgnoreLabel);
  s.geometry.spatial_dims = 3;
  SegEvalOptions o{.patch_size = {8, 8, 8}, .overlap = 0.5, .blend = "gaussian", .batch_size = 2};
  auto r = evaluate_segmentation(net, {s}, K, o);
  ASSERT_TRUE(r) << r.error().message();

  infer::SlidingWindowOptions w{.patch_size = {8, 8, 8}, .overlap = 0.5, .batch_size = 2};
  auto full = infer::sliding_window(net, s.image, w);
  ASSERT_TRUE(full) << full.error().message();
  const at::Tensor pred = full->output.argmax(0).masked_select(s.roi), truth = labels.masked_select(s.roi);
  double sum = 0, present_sum = 0;
  int present = 0;
  for (int64_t k = 1; k < K; ++k) {
    const auto pk = pred == k, tk = truth == k;
    const int64_t tp = (pk & tk).sum().item<int64_t>(), ps = pk.sum().item<int64_t>(), ts = tk.sum().item<int64_t>();
    const double d = ps + ts == 0 ? 1.0 : 2.0 * static_cast<double>(tp) / static_cast<double>(ps + ts);
    EXPECT_NEAR((*r)["dice_per_class"][std::to_string(k)].get<double>(), d, 1e-12) << k;
    sum += d;
    if (ts > 0) present_sum += d, ++present;
  }
  EXPECT_NEAR((*r)["dice"].get<double>(), sum / (K - 1), 1e-12);
  EXPECT_EQ((*r)["classes_present"].get<int>(), 3);
  EXPECT_EQ(present, 3);
  EXPECT_NEAR((*r)["dice_mean_present"].get<double>(), present_sum / present, 1e-12);
  EXPECT_NEAR((*r)["accuracy"].get<double>(),
              static_cast<double>((pred == truth).sum().item<int64_t>()) / static_cast<double>(truth.numel()), 1e-12);
  EXPECT_EQ((*r)["pixels"].get<int64_t>(), truth.numel());
  // The sink run allocated everything the full run did except the K·Z·Y·X float output.
  EXPECT_EQ(full->buffer_bytes - (*r)["buffer_bytes"].get<int64_t>(), K * 13 * 18 * 11 * 4);
}

// infer.threshold: auto picks the threshold on the validation images after training, uses it
// for test, and stores it in the bundle that `lucent predict` (infer::Segmenter) runs.
TEST(SegTrainer, AutoThresholdIsChosenOnValidationUsedForTestAndStoredInTheBundle) {
  LUCENT_REQUIRE_DATA("drive/training/images");
  Env env;
  test::TempDir tmp;
  std::string text = recipe(make_drive_crops(tmp.path()));
  const std::string infer_line = "infer: {overlap: 0.25";
  text.replace(text.find(infer_line), infer_line.size(),
               "infer: {threshold: auto, threshold_metric: dice, overlap: 0.25");
  auto cfg = parse(text);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->seg.threshold_auto);
  EXPECT_EQ(cfg->seg.threshold_metric, "dice");
  auto r = run_segmentation_training(*cfg, {.out_dir = tmp / "run", .quiet = true}, env.nets, env.tfs);
  ASSERT_TRUE(r) << r.error().message();

  std::ifstream in(tmp / "run" / "metrics.json");
  const auto metrics = nlohmann::json::parse(in);
  ASSERT_TRUE(metrics.contains("threshold")) << metrics.dump();
  const auto& t = metrics["threshold"];
  EXPECT_EQ(t["selected_on"], "validation");
  EXPECT_EQ(t["metric"], "dice");
  const double chosen = t["chosen"].get<double>();
  EXPECT_GE(chosen, 0.01);
  EXPECT_LE(chosen, 0.99);
  EXPECT_NEAR(chosen * 100, std::round(chosen * 100), 1e-9);  // on the 0.01 grid
  EXPECT_GE(t["val_at_chosen"].get<double>(), t["val_at_0_5"].get<double>());
  // The selected net's validation Dice at 0.5 is the one recorded when it was selected.
  EXPECT_NEAR(t["val_at_0_5"].get<double>(), r->val_metrics["dice"].get<double>(), 1e-9) << r->val_metrics.dump();
  EXPECT_EQ(t["pixels"].get<int64_t>(), r->val_metrics["pixels"].get<int64_t>());
  // Test is scored at the chosen threshold.
  EXPECT_EQ(r->test_metrics["threshold"].get<double>(), chosen);
  EXPECT_EQ(metrics["test"]["threshold"].get<double>(), chosen);

  auto b = nets::load_bundle(r->bundle_dir, env.nets);  // hashes verified
  ASSERT_TRUE(b) << b.error().message();
  const auto& inf = b->manifest.training["inference"];
  EXPECT_EQ(inf["threshold"].get<double>(), chosen);
  EXPECT_EQ(inf["threshold_selection"]["selected_on"], "validation");
  EXPECT_EQ(b->manifest.metrics["threshold"]["chosen"].get<double>(), chosen);

  // predict's segmenter reads the bundle's threshold and labels p[1] >= it.
  auto seg = infer::Segmenter::open({r->bundle_dir}, env.nets, env.tfs);
  ASSERT_TRUE(seg) << seg.error().message();
  EXPECT_EQ((*seg)->settings().threshold, chosen);
  auto img = io::read_image(tmp / "25.png");
  ASSERT_TRUE(img) << img.error().message();
  auto out = (*seg)->segment(*img);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_TRUE(at::equal(out->labels, (out->probabilities[1] >= chosen).to(at::kByte)));
}

// infer.postprocess takes the bundle's step list (checked when the recipe is read);
// infer.min_component_voxels is a shorthand that runs first.
TEST(SegTrainConfig, PostprocessStepsAreCheckedAndMinComponentVoxelsRunsFirst) {
  test::TempDir tmp;
  touch(tmp / "seg.csv");
  auto with = [&](const std::string& infer) {
    return parse_under("task: segmentation\ndata: {kind: seg_manifest, path: seg.csv}\ninfer: {" + infer + "}\n",
                       tmp.path());
  };
  auto none = with("overlap: 0.5");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->seg.postprocess.empty());
  auto both = with("min_component_voxels: 20, postprocess: [{name: keep_largest_components, keep: 2}, fill_holes]");
  ASSERT_TRUE(both) << both.error().message();
  ASSERT_EQ(both->seg.postprocess.size(), 3u) << both->seg.postprocess.dump();
  EXPECT_EQ(both->seg.postprocess[0]["name"], "remove_small_components");
  EXPECT_EQ(both->seg.postprocess[0]["min_voxels"].get<int64_t>(), 20);
  EXPECT_EQ(both->seg.postprocess[1]["name"], "keep_largest_components");
  EXPECT_EQ(both->seg.postprocess[2], "fill_holes");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"postprocess: fill_holes", "infer.postprocess must be a list of steps"},
      {"postprocess: [{name: shrink}]", "infer.postprocess[0]: unknown post-processing step \"shrink\""},
      {"postprocess: [fill_holes, {name: keep_largest_components, keep: 0}]", "infer.postprocess[1].keep must be ≥ 1"},
      {"postprocess: [{name: fill_holes, radius: 2}]", "unknown key \"radius\""},
      {"postprocess: [remove_small_components]", "needs min_voxels or min_volume_mm3 > 0"},
  };
  for (const auto& [infer, fragment] : bad) {
    auto r = with(infer);
    ASSERT_FALSE(r) << infer;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
  }
}

TEST(SegTrainConfig, ThresholdIsANumberBetweenZeroAndOneOrAutoForBinaryOnly) {
  test::TempDir tmp;
  touch(tmp / "seg.csv");
  auto with = [&](const std::string& data, const std::string& infer) {
    return parse_under(
        "task: segmentation\ndata: {kind: seg_manifest, path: seg.csv" + data + "}\ninfer: {" + infer + "}\n",
        tmp.path());
  };
  auto fixed = with("", "threshold: 0.4");
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_FALSE(fixed->seg.threshold_auto);
  EXPECT_DOUBLE_EQ(fixed->seg.threshold, 0.4);
  EXPECT_EQ(fixed->seg.threshold_metric, "dice");
  auto defaults = with("", "overlap: 0.5");
  ASSERT_TRUE(defaults) << defaults.error().message();
  EXPECT_FALSE(defaults->seg.threshold_auto);
  EXPECT_DOUBLE_EQ(defaults->seg.threshold, 0.5);
  auto autom = with("", "threshold: auto, threshold_metric: accuracy");
  ASSERT_TRUE(autom) << autom.error().message();
  EXPECT_TRUE(autom->seg.threshold_auto);
  EXPECT_EQ(autom->seg.threshold_metric, "accuracy");
  EXPECT_DOUBLE_EQ(autom->seg.threshold, 0.5);  // used by validation until the choice

  for (const std::string bad : {"1.5", "0", "1", "-0.2", "banana", "[0.5]", "Auto"}) {
    auto r = with("", "threshold: " + bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("infer.threshold is "), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("expected a number in (0, 1) or auto"), std::string::npos)
        << r.error().message();
  }
  auto bad_metric = with("", "threshold: auto, threshold_metric: foo");
  ASSERT_FALSE(bad_metric);
  EXPECT_EQ(bad_metric.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad_metric.error().message().find("infer.threshold_metric is 'foo', expected one of: dice, accuracy"),
            std::string::npos)
      << bad_metric.error().message();
  auto multi = with(", num_classes: 3", "threshold: auto");
  ASSERT_FALSE(multi);
  EXPECT_EQ(multi.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(multi.error().message().find("infer.threshold: auto chooses the foreground threshold of a binary"),
            std::string::npos)
      << multi.error().message();
  EXPECT_NE(multi.error().message().find("data.num_classes is 3"), std::string::npos) << multi.error().message();
  // Classification recipes have no infer section.
  auto stray = parse_under("data: {kind: medmnist, path: seg.csv}\ninfer: {threshold: auto}\n", tmp.path());
  ASSERT_FALSE(stray);
  EXPECT_NE(stray.error().message().find("infer.threshold"), std::string::npos) << stray.error().message();
}

}  // namespace
}  // namespace lucent::train
