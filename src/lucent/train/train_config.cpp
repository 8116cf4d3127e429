#include "lucent/train/train_config.h"

#include <cmath>
#include <map>
#include <set>

#include "lucent/core/config.h"
#include "lucent/infer/postprocess.h"

namespace lucent::train {
namespace fs = std::filesystem;

namespace {

// A data path as given in the recipe: absolute, or under data_root ($LUCENT_DATA), or next to
// the recipe. Empty when it exists nowhere.
fs::path resolve_data_path(const std::string& given, const fs::path& data_root, const fs::path& config_dir) {
  const fs::path p(given);
  if (p.is_absolute()) return fs::exists(p) ? p : fs::path();
  if (fs::exists(data_root / p)) return fs::absolute(data_root / p);
  if (fs::exists(config_dir / p)) return fs::absolute(config_dir / p);
  return {};
}

// data.cases of a seg_cases recipe: a list of {id, image, mask, split[, roi, patient_id]}.
// Every problem of every case is collected so that one run lists them all.
Result<std::vector<data::SegCase>> parse_seg_cases(const nlohmann::json& list, const std::string& source,
                                                   const fs::path& data_root, const fs::path& config_dir) {
  const std::string fix = "; each case is {id, image, mask, split: train | val | test} with optional roi and patient_id";
  if (!list.is_array() || list.empty())
    return fail(ErrorCode::kInvalidArgument, source + ": data.kind seg_cases needs data.cases, a non-empty list of cases" + fix);
  static const std::set<std::string> known = {"id", "image", "mask", "split", "roi", "patient_id"};
  std::vector<data::SegCase> cases;
  std::vector<std::string> problems;
  bool missing_file = false;
  std::set<std::string> ids;
  std::map<std::string, std::string> split_of_patient;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& j = list[i];
    std::string where = "data.cases[" + std::to_string(i) + "]";
    if (!j.is_object()) {
      problems.push_back(where + " is " + j.dump() + ", expected a mapping" + fix);
      continue;
    }
    if (j.contains("id") && j["id"].is_string()) where += " (id '" + j["id"].get<std::string>() + "')";
    const std::size_t before = problems.size();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!known.count(it.key())) problems.push_back(where + ": unknown key '" + it.key() + "'" + fix);
    auto text = [&](const char* key, bool required) -> std::string {
      if (!j.contains(key)) {
        if (required) problems.push_back(where + ": '" + key + "' is missing" + fix);
        return {};
      }
      if (!j[key].is_string() || j[key].get<std::string>().empty()) {
        problems.push_back(where + ": '" + key + "' must be a non-empty string, found " + j[key].dump());
        return {};
      }
      return j[key].get<std::string>();
    };
    data::SegCase c;
    c.id = text("id", true);
    c.split = text("split", true);
    c.patient = text("patient_id", false);
    if (c.patient.empty()) c.patient = c.id;
    if (!c.split.empty() && c.split != "train" && c.split != "val" && c.split != "test")
      problems.push_back(where + ": split is '" + c.split + "', expected train, val or test");
    auto file = [&](const std::string& key, const std::string& given) {
      fs::path p = resolve_data_path(given, data_root, config_dir);
      if (p.empty()) {
        missing_file = true;
        problems.push_back(where + ": " + key + " " + given + " not found" +
                           (fs::path(given).is_absolute() ? std::string()
                                                          : " under " + data_root.string() + " (LUCENT_DATA) or " +
                                                                config_dir.string()) +
                           "; fetch it with `lucent data fetch` or fix the path");
      }
      return p;
    };
    if (const std::string image = text("image", true); !image.empty()) c.image = file("image", image);
    if (!j.contains("mask")) {
      problems.push_back(where + ": 'mask' is missing" + fix);
    } else {
      const auto& m = j["mask"];
      std::vector<std::string> given;
      if (m.is_string()) given.push_back(m.get<std::string>());
      else if (m.is_array())
        for (const auto& e : m)
          if (e.is_string()) given.push_back(e.get<std::string>());
      if (given.empty() || (m.is_array() && given.size() != m.size()))
        problems.push_back(where + ": 'mask' must be a path or a list of paths, found " + m.dump());
      for (const auto& g : given)
        if (!g.empty()) c.masks.push_back(file("mask", g));
    }
    if (const std::string roi = text("roi", false); !roi.empty()) c.roi = file("roi", roi);
    if (!c.id.empty() && !ids.insert(c.id).second)
      problems.push_back(where + ": the id '" + c.id + "' is used by an earlier case; ids must be unique");
    if (problems.size() == before && !c.split.empty()) {
      auto [it, fresh] = split_of_patient.emplace(c.patient, c.split);
      if (!fresh && it->second != c.split)
        problems.push_back(where + ": patient_id '" + c.patient + "' is in both " + it->second + " and " + c.split +
                           "; a patient's cases must share one split (or give the cases distinct patient ids "
                           "when they are not the same patient)");
    }
    if (problems.size() == before) cases.push_back(std::move(c));
  }
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += "\n  " + p;
    return fail(missing_file ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument,
                source + ": " + std::to_string(problems.size()) + " problem(s) in data.cases:" + text);
  }
  return cases;
}

}  // namespace

Result<TrainConfig> parse_train_config(const nlohmann::json& config, const std::string& source,
                                       const fs::path& data_root, const fs::path& config_dir) {
  ConfigReader r(config, source);
  TrainConfig c;
  c.source = config;
  c.name = r.string("name", "run");
  c.seed = static_cast<uint64_t>(r.integer("seed", 0, 0));
  r.integer("threads", 0, 0);  // consumed by the CLI
  r.string("device", "cpu", {"cpu", "cuda"});

  c.task_kind = r.string("task", "classification", {"classification", "segmentation"});
  const bool seg = c.task_kind == "segmentation";
  if (seg) {
    c.data.kind = r.string("data.kind", "seg_folder", {"seg_folder", "seg_manifest", "drive", "seg_cases"});
    if (c.data.kind == "seg_cases") {
      if (r.has("data.path") || r.has("data.split"))
        return fail(ErrorCode::kInvalidArgument, source + ": data.path and data.split do not apply to data.kind seg_cases; "
                                                          "give each case's files and split under data.cases");
      auto cases = parse_seg_cases(r.raw("data.cases", nlohmann::json()), source, data_root, config_dir);
      if (!cases) return std::unexpected(cases.error());
      c.seg.cases = std::move(*cases);
    }
    auto& s = c.seg;
    s.num_classes = r.integer("data.num_classes", 2, 2, 254);
    if (auto remap = r.raw("data.remap", nlohmann::json::object()); remap.is_object()) {
      for (auto it = remap.begin(); it != remap.end(); ++it) {
        try {
          s.remap[std::stoll(it.key())] = it->get<int64_t>();
        } catch (const std::exception&) {
          return fail(ErrorCode::kInvalidArgument, source + ": data.remap maps whole numbers to labels, e.g. {255: 1}; got " +
                                                       it.key() + ": " + it->dump());
        }
      }
    } else {
      return fail(ErrorCode::kInvalidArgument, source + ": data.remap must be a mapping such as {255: 1}");
    }
    s.images = r.string("data.images", "images");
    s.masks = r.string("data.masks", s.images == "images" ? "masks" : s.images);
    s.mask_suffix = r.string("data.mask_suffix", "");
    s.roi = r.string("data.roi", "");
    s.roi_suffix = r.string("data.roi_suffix", "");
    s.val_count = r.integer("data.split.val_count", 0, 0);
    const auto patch = r.numbers("train.patch_size", {64, 64});
    s.patch_size.assign(patch.begin(), patch.end());
    for (double p : patch)
      if (p < 1 || p != std::floor(p) || p > 4096)
        return fail(ErrorCode::kInvalidArgument, source + ": train.patch_size entries must be whole numbers in 1..4096");
    if (s.patch_size.size() != 2 && s.patch_size.size() != 3)
      return fail(ErrorCode::kInvalidArgument, source + ": train.patch_size has 2 (Y, X) or 3 (Z, Y, X) entries");
    s.patches_per_image = r.integer("train.patches_per_image", 64, 1, 100000);
    s.pos_fraction = r.number("train.pos_fraction", 0.5, 0.0, 1.0);
    s.batch_dice = r.boolean("train.batch_dice", false);
    s.tversky_alpha = r.number("train.tversky_alpha", 0.5, 0.0, 1.0);
    s.tversky_beta = r.number("train.tversky_beta", 0.5, 0.0, 1.0);
    s.val_every = r.integer("train.val_every", 1, 1);
    s.rand_error = r.string("train.rand_error", "off", {"off", "boundary", "objects"});
    const auto ipatch = r.numbers("infer.patch_size", patch);
    s.infer_patch_size.assign(ipatch.begin(), ipatch.end());
    if (s.infer_patch_size.size() != s.patch_size.size())
      return fail(ErrorCode::kInvalidArgument, source + ": infer.patch_size needs as many entries as train.patch_size");
    s.overlap = r.number("infer.overlap", 0.5, 0.0, 0.95);
    s.blend = r.string("infer.blend", "gaussian", {"gaussian", "constant"});
    s.infer_batch_size = r.integer("infer.batch_size", 4, 1, 1024);
    s.flip_tta = r.boolean("infer.flip_tta", false);
    // A number strictly between 0 and 1, or auto (chosen on the validation images after training).
    if (const auto thr = r.raw("infer.threshold", 0.5); thr.is_string() && thr.get<std::string>() == "auto") {
      s.threshold_auto = true;
    } else if (thr.is_number() && thr.get<double>() > 0.0 && thr.get<double>() < 1.0) {
      s.threshold = thr.get<double>();
    } else {
      return fail(ErrorCode::kInvalidArgument,
                  source + ": infer.threshold is " + thr.dump() +
                      ", expected a number in (0, 1) or auto (chosen on the validation images)");
    }
    s.threshold_metric = r.string("infer.threshold_metric", "dice", {"dice", "accuracy"});
    if (s.threshold_auto && s.num_classes != 2)
      return fail(ErrorCode::kInvalidArgument,
                  source + ": infer.threshold: auto chooses the foreground threshold of a binary segmentation, but "
                           "data.num_classes is " + std::to_string(s.num_classes) +
                           " (multi-class labels are the argmax of the probabilities); remove infer.threshold");
    const int64_t min_component_voxels = r.integer("infer.min_component_voxels", 0, 0);
    if (min_component_voxels > 0)
      s.postprocess.push_back({{"name", "remove_small_components"}, {"min_voxels", min_component_voxels}});
    const auto steps = r.raw("infer.postprocess", nlohmann::json::array());
    if (auto parsed = infer::parse_postprocess(steps, source + ": infer.postprocess"); !parsed)
      return std::unexpected(parsed.error());
    for (const auto& step : steps) s.postprocess.push_back(step);
  } else {
    c.data.kind = r.string("data.kind", "medmnist", {"medmnist", "manifest", "image_folder"});
  }
  const std::string path = r.string("data.path", "");
  const std::string task = r.string("data.task", "auto", {"auto", "binary", "multiclass", "ordinal", "multilabel"});
  if (task != "auto") c.data.task = *parse_task(task);
  if (auto labels = r.raw("data.labels", nlohmann::json::array()); labels.is_array()) {
    for (const auto& l : labels) {
      if (l.is_string()) c.data.labels.push_back(l.get<std::string>());
    }
  }

  if (auto ex = r.raw("data.exclude", nlohmann::json::array()); ex.is_array()) {
    for (const auto& e : ex)
      if (e.is_string()) c.data.exclude.push_back(e.get<std::string>());
  }
  c.data.val_fraction = r.number("data.split.val", 0.15, 0.0, 0.9);
  c.data.test_fraction = r.number("data.split.test", 0.15, 0.0, 0.9);
  if (r.has("data.split.seed")) c.data.split_seed = static_cast<uint64_t>(r.integer("data.split.seed", 0, 0));

  c.model.name = r.string("model.name", "resnet18");
  const auto options = r.raw("model.options", nlohmann::json::object());
  if (!options.is_object())
    return fail(ErrorCode::kInvalidArgument, source + ": model.options must be a mapping");
  for (auto it = options.begin(); it != options.end(); ++it)
    c.model.options[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();

  c.preprocess = r.raw("pipeline.preprocess", nlohmann::json::array());
  c.augment = r.raw("pipeline.augment", nlohmann::json::array());
  if (!c.preprocess.is_array() || !c.augment.is_array())
    return fail(ErrorCode::kInvalidArgument, source + ": pipeline.preprocess and pipeline.augment must be lists");

  c.epochs = r.integer("train.epochs", 100, 1, 100000);
  c.batch_size = r.integer("train.batch_size", 128, 1, 65536);
  c.eval_batch_size = r.integer("train.eval_batch_size", 512, 1, 65536);
  auto& o = c.optim;
  o.optimizer = r.string("train.optimizer", "adam", {"sgd", "adam", "adamw"});
  o.lr = r.number("train.lr", 1e-3, 1e-12, 100.0);
  o.weight_decay = r.number("train.weight_decay", 0.0, 0.0, 1.0);
  o.momentum = r.number("train.momentum", 0.9, 0.0, 0.9999);
  o.nesterov = r.boolean("train.nesterov", true);
  o.schedule = r.string("train.schedule", "multistep", {"constant", "multistep", "cosine", "onecycle"});
  o.milestones = r.numbers("train.milestones", {0.5, 0.75});
  o.gamma = r.number("train.gamma", 0.1, 0.0, 1.0);
  o.warmup_epochs = r.number("train.warmup_epochs", 0.0, 0.0);
  o.final_lr_fraction = r.number("train.final_lr_fraction", 0.0, 0.0, 1.0);
  auto& l = c.loss;
  if (seg) {
    c.seg.loss = r.string("train.loss", "dice_ce", {"dice_ce", "dice", "focal", "tversky"});
    l.name = c.seg.loss;
  } else {
    l.name = r.string("train.loss", "auto", {"auto", "cross_entropy", "bce", "focal"});
  }
  l.label_smoothing = r.number("train.label_smoothing", 0.0, 0.0, 0.5);
  l.class_weights = r.string("train.class_weights", "none", {"none", "balanced"});
  l.focal_gamma = r.number("train.focal_gamma", 2.0, 0.0, 10.0);
  c.grad_clip = r.number("train.grad_clip", 0.0, 0.0);
  c.ema_decay = r.number("train.ema_decay", 0.0, 0.0, 0.99999);
  c.mixup_alpha = r.number("train.mixup_alpha", 0.0, 0.0, 10.0);
  c.cutmix_alpha = r.number("train.cutmix_alpha", 0.0, 0.0, 10.0);
  c.early_stopping_patience = r.integer("train.early_stopping_patience", 0, 0);
  c.select_metric = seg ? r.string("train.select_metric", "dice", {"dice", "loss"})
                        : r.string("train.select_metric", "auc", {"auc", "acc", "loss"});
  c.max_batches_per_epoch = r.integer("train.max_batches_per_epoch", 0, 0);
  c.amp = r.string("train.amp", "off", {"off", "bf16", "fp16", "auto"});
  c.channels_last = r.string("train.channels_last", "auto", {"auto", "on", "off"});
  c.winograd = r.string("train.winograd", "auto", {"auto", "off"});
  if (auto st = r.finish(); !st) return std::unexpected(st.error());

  for (double m : o.milestones)
    if (m <= 0 || m >= 1)
      return fail(ErrorCode::kInvalidArgument,
                  source + ": train.milestones are fractions of the epochs and must lie in (0, 1)");
  if (o.warmup_epochs >= static_cast<double>(c.epochs))
    return fail(ErrorCode::kInvalidArgument, source + ": train.warmup_epochs must be shorter than train.epochs");
  if (c.data.val_fraction + c.data.test_fraction >= 1)
    return fail(ErrorCode::kInvalidArgument, source + ": data.split.val + data.split.test must be below 1");
  if (c.data.kind == "medmnist" && (!c.data.exclude.empty() || r.has("data.split")))
    return fail(ErrorCode::kInvalidArgument, source + ": data.exclude and data.split apply to manifest and image_folder data; "
                                                      "MedMNIST has official splits");
  if (c.data.kind == "seg_cases") {
    c.data.path = c.seg.cases.front().image.parent_path();
    return c;
  }
  if (path.empty()) return fail(ErrorCode::kInvalidArgument, source + ": data.path is required");
  fs::path p(path);
  if (p.is_relative()) {
    if (fs::exists(data_root / p)) p = data_root / p;
    else if (fs::exists(config_dir / p)) p = config_dir / p;
    else
      return fail(ErrorCode::kNotFound, source + ": data.path " + path + " not found under " + data_root.string() +
                                            " (LUCENT_DATA) or " + config_dir.string() +
                                            "; fetch it with `lucent data fetch` or fix the path");
  }
  if (!fs::exists(p)) return fail(ErrorCode::kNotFound, source + ": data.path " + p.string() + " does not exist");
  c.data.path = fs::absolute(p);
  return c;
}

}  // namespace lucent::train
