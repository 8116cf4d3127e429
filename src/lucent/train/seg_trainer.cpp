#include "lucent/train/seg_trainer.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "lucent/core/atomic_file.h"
#include "lucent/core/hash.h"
#include "lucent/core/log.h"
#include "lucent/core/threads.h"
#include "lucent/infer/postprocess.h"
#include "lucent/infer/sliding_window.h"
#include "lucent/metrics/classification.h"
#include "lucent/metrics/rand_error.h"
#include "lucent/metrics/segmentation.h"
#include "lucent/metrics/threshold_select.h"
#include "lucent/nets/bundle.h"
#include "lucent/nets/unet.h"
#include "lucent/train/amp.h"
#include "lucent/train/internal/common.h"
#include "lucent/train/seg_losses.h"

namespace lucent::train {
namespace fs = std::filesystem;
using namespace internal;  // NOLINT: shared loop helpers

namespace {

struct SegData {
  std::vector<data::SegSample> train, val, test;
  nlohmann::json info;
};

Result<SegData> load_seg_data(const TrainConfig& cfg, const transforms::Pipeline& preprocess, const fs::path& out_dir) {
  const auto& s = cfg.seg;
  Result<data::SegCaseList> cases = cfg.data.kind == "seg_cases"      ? Result<data::SegCaseList>(data::SegCaseList{s.cases, "data.cases"})
                                    : cfg.data.kind == "drive"        ? data::scan_drive(cfg.data.path)
                                    : cfg.data.kind == "seg_manifest" ? data::read_seg_manifest(cfg.data.path)
                                                                      : data::scan_seg_folder(cfg.data.path,
                                                                                              {.images = s.images,
                                                                                               .masks = s.masks,
                                                                                               .mask_suffix = s.mask_suffix,
                                                                                               .roi = s.roi,
                                                                                               .roi_suffix = s.roi_suffix});
  if (!cases) return std::unexpected(cases.error());
  auto split = data::split_seg_cases(std::move(*cases), {.val_fraction = cfg.data.val_fraction,
                                                         .test_fraction = cfg.data.test_fraction,
                                                         .val_count = s.val_count,
                                                         .seed = cfg.data.split_seed.value_or(cfg.seed)});
  if (!split) return std::unexpected(split.error());
  const fs::path split_file = out_dir / "split.csv";
  if (auto st = data::write_seg_manifest(*split, split_file); !st) return std::unexpected(st.error());
  auto hash = sha256_file(split_file);
  if (!hash) return std::unexpected(hash.error());
  SegData d;
  Rng rng(cfg.seed);
  // Every case of every split read and checked at once, so that one error lists all problems.
  auto loaded = data::load_seg_cases(split->cases, {.num_classes = s.num_classes, .remap = s.remap}, preprocess, rng);
  if (!loaded) return std::unexpected(loaded.error().with_context(cfg.data.path.string()));
  for (std::size_t i = 0; i < loaded->size(); ++i) {
    const std::string& part = split->cases[i].split;
    auto& slot = part == "train" ? d.train : part == "val" ? d.val : d.test;
    slot.push_back(std::move((*loaded)[i]));
  }
  if (d.train.empty() || d.val.empty())
    return fail(ErrorCode::kInvalidData, cfg.data.path.string() + ": segmentation training needs training and validation cases");
  d.info = {{"path", cfg.data.path.filename().string()}, {"kind", cfg.data.kind}, {"split_file", "split.csv"},
            {"split_sha256", *hash}, {"train", d.train.size()}, {"val", d.val.size()}, {"test", d.test.size()}};
  return d;
}

// Loss over the deep-supervision outputs (weights 1, 1/2, 1/4, … normalised, as nnU-Net),
// each against the labels subsampled to its resolution (nearest).
Result<at::Tensor> deep_loss(const std::vector<at::Tensor>& outs, const at::Tensor& labels, SegLossKind kind,
                             const SegLossOptions& lo) {
  at::Tensor total;
  double wsum = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    at::Tensor target = labels;
    const int64_t step = int64_t{1} << i;
    if (step > 1)
      for (int64_t d = 1; d < labels.dim(); ++d) target = target.slice(d, 0, c10::nullopt, step);
    auto l = segmentation_loss(kind, outs[i], target, lo);
    if (!l) return std::unexpected(l.error());
    const double w = 1.0 / static_cast<double>(step);
    total = total.defined() ? total + w * *l : w * *l;
    wsum += w;
  }
  return total / wsum;
}

nlohmann::json inference_json(const TrainConfig& cfg, const std::vector<int64_t>& patch) {
  const auto& s = cfg.seg;
  return {{"patch_size", patch},      {"overlap", s.overlap},
          {"blend", s.blend},         {"batch_size", s.infer_batch_size},
          {"flip_tta", s.flip_tta},   {"activation", "softmax"},
          {"threshold", s.threshold}, {"num_classes", s.num_classes},
          {"postprocess", s.postprocess}};
}

// The metrics module's grid of a (Y, X) or (Z, Y, X) mask with the sample's spacing (i, j, k).
metrics::VoxelGrid grid_of(const at::Tensor& mask, const Geometry& geometry) {
  metrics::VoxelGrid grid;
  grid.spatial_dims = static_cast<int>(mask.dim());
  const auto& sp_ijk = geometry.spacing_mm;
  if (mask.dim() == 2) {
    grid.size_zyx = {1, mask.size(0), mask.size(1)};
    grid.spacing_zyx_mm = {1.0, sp_ijk[1], sp_ijk[0]};
  } else {
    grid.size_zyx = {mask.size(0), mask.size(1), mask.size(2)};
    grid.spacing_zyx_mm = {sp_ijk[2], sp_ijk[1], sp_ijk[0]};
  }
  return grid;
}

// Segment agreement inside the ROI (SegEvalOptions::rand_error): the face-connected regions of
// class 0 ("boundary") or of the foreground ("objects") in prediction and truth.
Result<metrics::RandScores> rand_of_case(const at::Tensor& pred, const at::Tensor& truth, const at::Tensor& roi,
                                         const Geometry& geometry, const std::string& mode) {
  const bool boundary = mode == "boundary";
  const at::Tensor pl = pred.to(at::kLong);
  const at::Tensor p_in = ((boundary ? pl == 0 : pl >= 1) & roi).to(at::kByte).contiguous();
  const at::Tensor t_in = ((boundary ? truth == 0 : truth >= 1) & roi).to(at::kByte).contiguous();
  const metrics::VoxelGrid grid = grid_of(p_in, geometry);
  const auto n = static_cast<std::size_t>(p_in.numel());
  auto ps = metrics::connected_segments({p_in.data_ptr<uint8_t>(), n}, grid);
  if (!ps) return std::unexpected(ps.error());
  auto ts = metrics::connected_segments({t_in.data_ptr<uint8_t>(), n}, grid);
  if (!ts) return std::unexpected(ts.error());
  return metrics::rand_scores(*ps, *ts);
}

// evaluate_segmentation; binary, with `threshold_pixels`: also the foreground probabilities
// of every pixel inside the ROI binned by their true class, to choose a threshold on.
Result<nlohmann::json> evaluate(nets::Net& net, const std::vector<data::SegSample>& samples, int64_t num_classes,
                                const SegEvalOptions& o, metrics::ThresholdHistogram* threshold_pixels) {
  infer::SlidingWindowOptions w;
  w.patch_size = o.patch_size;
  w.overlap = o.overlap;
  w.blending = o.blend == "constant" ? infer::Blending::kConstant : infer::Blending::kGaussian;
  w.batch_size = o.batch_size;
  w.flip_tta = o.flip_tta;
  w.device = o.device;
  const auto t_eval = Clock::now();
  const bool binary = num_classes == 2;
  const int64_t classes = std::max<int64_t>(num_classes, 2);
  std::vector<int64_t> tp(classes, 0), fp(classes, 0), fn(classes, 0), truth_count(classes, 0);
  int64_t correct = 0, pixels = 0, buffer_bytes = 0;
  double inference_seconds = 0;
  std::vector<double> scores;
  std::vector<int> truth_bits;
  std::vector<double> case_dice;
  std::vector<metrics::RandScores> case_rand;
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& s : samples) {
    // Binary: the probabilities are kept (the threshold and the AUC need them). Multi-class: only
    // the argmax label map (uint8) is kept, written slab by slab through the sliding window's
    // sink, so no (K, ...) float volume is ever allocated (117 AAL classes on a 181x217x181 MR:
    // 3.3 GB avoided).
    at::Tensor probs, pred;
    Result<infer::SlidingWindowResult> r = infer::SlidingWindowResult{};
    if (binary) {
      r = infer::sliding_window(net, s.image, w);
      if (r) {
        probs = r->output;  // (2, ...)
        pred = (probs[1] >= o.threshold).to(at::kByte);
      }
    } else {
      pred = at::empty(s.labels.sizes(), at::kByte);
      r = infer::sliding_window(net, s.image, w, [&pred](int64_t first, const at::Tensor& rows) -> Status {
        pred.narrow(0, first, rows.size(1)).copy_(rows.argmax(0));
        return ok();
      });
    }
    if (!r) return std::unexpected(r.error().with_context("segmenting case " + s.id));
    buffer_bytes = std::max(buffer_bytes, r->buffer_bytes);
    inference_seconds += r->seconds;
    if (auto changed = infer::apply_postprocess(pred, o.postprocess, s.geometry.spacing_mm); !changed)
      return std::unexpected(changed.error().with_context("post-processing case " + s.id));
    const at::Tensor roi = s.roi;
    const at::Tensor truth = s.labels.masked_fill(roi.logical_not(), 0);
    const at::Tensor p_in = pred.to(at::kLong).masked_select(roi), t_in = s.labels.masked_select(roi);
    // The confusion counts of every class in one pass: bincount of truth·K + prediction
    // (labels inside the ROI lie in 0..K-1, checked when the case was loaded).
    {
      const at::Tensor conf = at::bincount(t_in * classes + p_in, {}, classes * classes).narrow(0, 0, classes * classes);
      const at::Tensor m = conf.reshape({classes, classes}).contiguous();  // [truth][pred]
      const at::Tensor diag = m.diagonal().contiguous(), rows = m.sum(1).contiguous(), cols = m.sum(0).contiguous();
      const auto* d = diag.data_ptr<int64_t>();
      const auto* tr = rows.data_ptr<int64_t>();
      const auto* pc = cols.data_ptr<int64_t>();
      for (int64_t k = 0; k < classes; ++k) {
        correct += d[k];
        truth_count[k] += tr[k];
        tp[k] += d[k];
        fp[k] += pc[k] - d[k];
        fn[k] += tr[k] - d[k];
      }
    }
    pixels += p_in.numel();
    if (binary && threshold_pixels) {
      const at::Tensor p1 = probs[1].to(at::kFloat).contiguous();
      const at::Tensor t1 = (s.labels == 1).to(at::kByte).contiguous(), in = roi.to(at::kByte).contiguous();
      const auto n = static_cast<std::size_t>(p1.numel());
      auto st = threshold_pixels->add({p1.data_ptr<float>(), n}, {t1.data_ptr<uint8_t>(), n},
                                      {in.data_ptr<uint8_t>(), n});
      if (!st) return std::unexpected(st.error().with_context("case " + s.id));
    }
    if (binary && o.with_auc) {
      const at::Tensor sc = probs[1].masked_select(roi).to(at::kDouble).contiguous();
      const at::Tensor tb = (t_in == 1).to(at::kInt).contiguous();
      scores.insert(scores.end(), sc.data_ptr<double>(), sc.data_ptr<double>() + sc.numel());
      truth_bits.insert(truth_bits.end(), tb.data_ptr<int>(), tb.data_ptr<int>() + tb.numel());
    }
    // Per-case Dice (foreground = label ≥ 1) inside the ROI, with HD95 from the metrics module.
    const at::Tensor pm = ((pred.to(at::kLong) >= 1) & roi).to(at::kByte).contiguous();
    const at::Tensor tm = ((truth >= 1)).to(at::kByte).contiguous();
    const int64_t inter = (pm & tm).sum().item<int64_t>(), sp = pm.sum().item<int64_t>(), st = tm.sum().item<int64_t>();
    const double dice = sp + st == 0 ? 1.0 : 2.0 * static_cast<double>(inter) / static_cast<double>(sp + st);
    case_dice.push_back(dice);
    if (o.rand_error != "off") {
      auto rs = rand_of_case(pred, truth, roi, s.geometry, o.rand_error);
      if (!rs) return std::unexpected(rs.error().with_context("Rand error of case " + s.id));
      case_rand.push_back(*rs);
    }
    if (o.per_case) {
      nlohmann::json c = {{"id", s.id}, {"dice", dice}};
      const metrics::VoxelGrid grid = grid_of(pm, s.geometry);
      auto sc = metrics::segmentation_scores({pm.data_ptr<uint8_t>(), static_cast<std::size_t>(pm.numel())},
                                             {tm.data_ptr<uint8_t>(), static_cast<std::size_t>(tm.numel())}, grid);
      if (sc && sc->hd95.value) c["hd95"] = *sc->hd95.value;
      if (o.rand_error != "off") {
        const auto& rs = case_rand.back();
        for (const auto& name : metrics::rand_metric_names()) {
          const auto& v = metrics::rand_metric(rs, name);
          c[name] = v ? nlohmann::json(*v.value) : nlohmann::json(nullptr);
          if (!v) c[name + "_reason"] = v.reason;
        }
        c["truth_segments"] = rs.truth_segments;
        c["pred_segments"] = rs.pred_segments;
      }
      cases.push_back(c);
    }
  }
  nlohmann::json out;
  double dice_sum = 0, present_sum = 0;
  int64_t present = 0;
  nlohmann::json per_class = nlohmann::json::object();
  for (int64_t k = 1; k < classes; ++k) {
    const int64_t den = 2 * tp[k] + fp[k] + fn[k];
    const double d = den == 0 ? 1.0 : 2.0 * static_cast<double>(tp[k]) / static_cast<double>(den);
    per_class[std::to_string(k)] = d;
    dice_sum += d;
    if (truth_count[k] > 0) present_sum += d, ++present;
  }
  out["dice"] = dice_sum / static_cast<double>(classes - 1);
  out["classes_present"] = present;
  out["dice_mean_present"] = present ? present_sum / static_cast<double>(present) : 0.0;
  out["buffer_bytes"] = buffer_bytes;
  out["peak_rss_bytes"] = infer::process_peak_rss_bytes();
  out["inference_seconds"] = inference_seconds;
  out["seconds"] = seconds_since(t_eval);  // inference + scoring
  out["accuracy"] = pixels ? static_cast<double>(correct) / static_cast<double>(pixels) : 0.0;
  out["pixels"] = pixels;
  out["cases"] = samples.size();
  double mean_case = 0;
  for (double d : case_dice) mean_case += d;
  out["dice_mean_per_case"] = case_dice.empty() ? 0.0 : mean_case / static_cast<double>(case_dice.size());
  if (binary) {
    const double tpos = static_cast<double>(tp[1]), tn = static_cast<double>(pixels - tp[1] - fp[1] - fn[1]);
    out["sensitivity"] = tp[1] + fn[1] ? tpos / static_cast<double>(tp[1] + fn[1]) : 0.0;
    out["specificity"] = tn + static_cast<double>(fp[1]) > 0 ? tn / (tn + static_cast<double>(fp[1])) : 0.0;
    // ISBI 2012's pixel error: 1 - accuracy.
    out["pixel_error"] = 1.0 - out["accuracy"].get<double>();
    out["threshold"] = o.threshold;
    if (o.with_auc) {
      auto auc = metrics::binary_auc(scores, truth_bits);
      if (auc) out["auc"] = *auc;
    }
  } else {
    out["dice_per_class"] = per_class;
  }
  if (o.rand_error != "off") {
    for (const auto& name : metrics::rand_metric_names()) {
      double sum = 0;
      int64_t defined = 0;
      std::string why = "no cases";
      for (const auto& rs : case_rand) {
        const auto& v = metrics::rand_metric(rs, name);
        if (v) sum += *v.value, ++defined;
        else why = v.reason;
      }
      out[name] = defined ? nlohmann::json(sum / static_cast<double>(defined)) : nlohmann::json(nullptr);
      if (!defined) out[name + "_reason"] = why;
      if (name == "rand_error") out["rand_cases"] = defined;
    }
  }
  if (o.per_case) out["per_case"] = cases;
  return out;
}

// infer.threshold: auto — the selected net segments the validation images and the threshold
// maximising infer.threshold_metric over their pooled ROI pixels is chosen (never on test).
Result<metrics::ThresholdChoice> choose_validation_threshold(nets::Net& net, const std::vector<data::SegSample>& val,
                                                             const SegConfig& sc, SegEvalOptions o) {
  auto metric = metrics::parse_threshold_metric(sc.threshold_metric);
  if (!metric) return std::unexpected(metric.error().with_context("infer.threshold_metric"));
  o.with_auc = false;
  o.per_case = false;
  o.rand_error = "off";
  metrics::ThresholdHistogram pixels;
  auto v = evaluate(net, val, sc.num_classes, o, &pixels);
  if (!v) return std::unexpected(v.error());
  return metrics::choose_threshold(pixels, *metric);
}

}  // namespace

Result<nlohmann::json> evaluate_segmentation(nets::Net& net, const std::vector<data::SegSample>& samples,
                                             int64_t num_classes, const SegEvalOptions& o) {
  return evaluate(net, samples, num_classes, o, nullptr);
}

Result<TrainResult> run_segmentation_training(const TrainConfig& cfg, const TrainOptions& opt,
                                              const nets::NetRegistry& net_registry,
                                              const transforms::TransformRegistry& tf_registry) {
  const auto t_start = Clock::now();
  auto setup = prepare_run(cfg, opt);
  if (!setup) return std::unexpected(setup.error());
  const fs::path ckpt_dir = setup->checkpoint_dir;
  const torch::Device device = setup->device;
  AmpContext amp(setup->precision, setup->device.type());
  const auto& sc = cfg.seg;

  auto preprocess = transforms::Pipeline::from_json(cfg.preprocess, tf_registry);
  if (!preprocess) return std::unexpected(preprocess.error().with_context("pipeline.preprocess"));
  auto augment = transforms::Pipeline::from_json(cfg.augment, tf_registry);
  if (!augment) return std::unexpected(augment.error().with_context("pipeline.augment"));
  auto data = load_seg_data(cfg, *preprocess, opt.out_dir);
  if (!data) return std::unexpected(data.error());
  const auto& train_set = data->train;
  const int dims = static_cast<int>(train_set[0].labels.dim());
  if (static_cast<int>(sc.patch_size.size()) != dims)
    return fail(ErrorCode::kInvalidArgument, "train.patch_size has " + std::to_string(sc.patch_size.size()) +
                                                 " entries but the images are " + std::to_string(dims) + "-D");
  auto sampler = data::PatchSampler::create(train_set, {.patch_size = sc.patch_size, .pos_fraction = sc.pos_fraction}, cfg.seed);
  if (!sampler) return std::unexpected(sampler.error());

  nets::NetSpec spec = cfg.model;
  spec.spatial_dims = dims;
  spec.in_channels = train_set[0].image.size(0);
  spec.num_outputs = sc.num_classes;
  at::manual_seed(static_cast<uint64_t>(cfg.seed));
  auto net = net_registry.create(spec);
  if (!net) return std::unexpected(net.error());
  auto* seg_net = dynamic_cast<nets::SegmentationNet*>(net->get());
  if (!seg_net)
    return fail(ErrorCode::kInvalidArgument, "model.name '" + spec.name + "' is not a segmentation network; use unet or resenc_unet");
  for (auto p : sc.patch_size)
    if (p % seg_net->size_multiple() != 0)
      return fail(ErrorCode::kInvalidArgument, "train.patch_size entries must be multiples of " +
                                                   std::to_string(seg_net->size_multiple()) + " for " + spec.name +
                                                   " (2^depth); got " + std::to_string(p));
  (*net)->to(device);
  auto optimizer = make_optimizer(cfg.optim, (*net)->parameters());
  auto loss_kind = parse_seg_loss(sc.loss);
  if (!loss_kind) return std::unexpected(loss_kind.error());
  // Background left out of the Dice average, as nnU-Net's Dice + CE (the CE term covers it).
  SegLossOptions loss_opts;
  loss_opts.ignore_label = data::kIgnoreLabel;
  loss_opts.include_background = false;
  loss_opts.batch_dice = sc.batch_dice;
  loss_opts.tversky_alpha = sc.tversky_alpha;
  loss_opts.tversky_beta = sc.tversky_beta;
  loss_opts.focal_gamma = cfg.loss.focal_gamma;

  Checkpoint ck;
  if (opt.resume && fs::exists(ckpt_dir / "state.json")) {
    auto loaded = load_checkpoint(ckpt_dir, **net, nullptr, *optimizer, cfg.source, device);
    if (!loaded) return std::unexpected(loaded.error());
    ck = *loaded;
    amp.restore(ck.amp_scaler);
    log_info("resuming " + opt.out_dir.string() + " at epoch " + std::to_string(ck.next_epoch + 1));
  }
  if (auto st = write_file_atomically(opt.out_dir / "config.json", cfg.source.dump(2) + "\n"); !st)
    return std::unexpected(st.error());

  // Inference patch: the training patch, or infer.patch_size from the recipe (a larger window
  // is cheaper per pixel and sees more context; the net is fully convolutional).
  const std::vector<int64_t> infer_patch = sc.infer_patch_size.empty() ? sc.patch_size : sc.infer_patch_size;
  for (auto p : infer_patch)
    if (p % seg_net->size_multiple() != 0)
      return fail(ErrorCode::kInvalidArgument, "infer.patch_size entries must be multiples of " +
                                                   std::to_string(seg_net->size_multiple()) + "; got " + std::to_string(p));
  auto postprocess = infer::parse_postprocess(sc.postprocess, "infer.postprocess");  // checked with the recipe
  if (!postprocess) return std::unexpected(postprocess.error());
  SegEvalOptions eval{.patch_size = infer_patch,
                      .overlap = sc.overlap,
                      .blend = sc.blend,
                      .batch_size = sc.infer_batch_size,
                      .flip_tta = sc.flip_tta,
                      .threshold = sc.threshold,
                      .postprocess = *postprocess,
                      .with_auc = true,
                      .per_case = false,
                      .rand_error = sc.rand_error,
                      .device = opt.device};

  nets::BundleManifest manifest;
  manifest.architecture = spec;
  manifest.preprocess = cfg.preprocess;
  manifest.input_size = infer_patch;
  manifest.task = "segmentation";
  for (int64_t k = 0; k < spec.num_outputs; ++k) manifest.labels.push_back(k == 0 ? "background" : "label_" + std::to_string(k));
  manifest.training = {{"recipe", cfg.name},
                       {"seed", cfg.seed},
                       {"config", cfg.source},
                       {"data", data->info},
                       {"inference", inference_json(cfg, infer_patch)},
                       {"versions", {{"lucent", "0.1.0"}, {"libtorch", TORCH_VERSION}}},
                       {"device", opt.device},
                       {"precision", precision_name(setup->precision)}};

  const int64_t patches_per_epoch = static_cast<int64_t>(train_set.size()) * sc.patches_per_image;
  int64_t batches = (patches_per_epoch + cfg.batch_size - 1) / cfg.batch_size;
  if (cfg.max_batches_per_epoch > 0) batches = std::min(batches, cfg.max_batches_per_epoch);
  const bool tty = isatty(STDERR_FILENO) && !opt.quiet;
  std::ofstream log(opt.out_dir / "log.jsonl", std::ios::app);
  const int64_t val_every = sc.val_every;

  const int64_t first_epoch = ck.next_epoch;
  for (int64_t epoch = ck.next_epoch; epoch < cfg.epochs; ++epoch) {
    if (opt.max_epochs_this_run > 0 && epoch - first_epoch >= opt.max_epochs_this_run)
      return partial_result(opt, ck, t_start);
    release_kept_tensor_buffers();  // what evaluation kept would sit beside the steps' buffers (core/threads.h)
    const auto t_epoch = Clock::now();
    (*net)->train();
    at::manual_seed(cfg.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    double loss_sum = 0;
    int64_t seen = 0, positive = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (opt.interrupt && opt.interrupt->load()) return std::unexpected(interrupted(epoch, ckpt_dir));
      const int64_t n = std::min(cfg.batch_size, patches_per_epoch - b * cfg.batch_size);
      auto pb = sampler->sample(epoch, b, std::max<int64_t>(n, 1));
      positive += pb.positive;
      transforms::Batch tb{pb.images, pb.labels.unsqueeze(1).to(at::kFloat)};
      if (!augment->empty()) {
        Rng aug_rng = Rng(cfg.seed).fork(0x5e9ULL + static_cast<uint64_t>(epoch) * 1000003ULL + static_cast<uint64_t>(b));
        if (auto st = augment->apply(tb, aug_rng); !st) return std::unexpected(st.error().with_context("pipeline.augment"));
      }
      at::Tensor x = tb.images.to(device);
      at::Tensor y = tb.masks.squeeze(1).round().to(at::kLong).to(device);
      const double lr = learning_rate(cfg.optim, static_cast<double>(epoch) + static_cast<double>(b) / batches, cfg.epochs);
      set_lr(*optimizer, lr);
      optimizer->zero_grad();
      Result<at::Tensor> loss = at::Tensor();
      {
        auto autocast = amp.autocast();
        auto outs = seg_net->forward_deep(x);
        loss = deep_loss(outs, y, *loss_kind, loss_opts);
      }
      if (!loss) return std::unexpected(loss.error().with_context("training loss"));
      const double lv = loss->item<double>();
      if (auto st = check_finite_loss(lv, epoch, b, ckpt_dir); !st) return std::unexpected(st.error());
      backward_and_step(amp, *loss, **net, *optimizer, cfg.grad_clip);
      ++ck.step;
      loss_sum += lv * static_cast<double>(x.size(0));
      seen += x.size(0);
      if (tty) {
        const double el = seconds_since(t_epoch);
        std::fprintf(stderr, "\repoch %lld/%lld  %lld/%lld  loss %.4f  %.1f patches/s  ETA %s   ",
                     static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs), static_cast<long long>(b + 1),
                     static_cast<long long>(batches), loss_sum / seen, seen / el,
                     format_duration(el / (b + 1) * (batches - b - 1)).c_str());
      }
    }
    if (tty) std::fprintf(stderr, "\r%*s\r", 100, "");
    const double train_seconds = seconds_since(t_epoch);
    const bool last = epoch + 1 == cfg.epochs;
    nlohmann::json val = nlohmann::json::object();
    bool improved = false;
    if ((epoch + 1) % val_every == 0 || last) {
      release_kept_tensor_buffers();  // the sliding window reuses that memory (core/threads.h)
      auto v = evaluate_segmentation(**net, data->val, sc.num_classes, eval);
      if (!v) return std::unexpected(v.error().with_context("validation"));
      val = *v;
      const double value = cfg.select_metric == "loss" ? -loss_sum / std::max<int64_t>(seen, 1) : val["dice"].get<double>();
      improved = value > ck.best_value;
      if (improved) {
        ck.best_value = value;
        ck.best_epoch = epoch;
        ck.best_val = val;
        ck.epochs_without_improvement = 0;
        manifest.metrics = {{"val", val}, {"epoch", epoch + 1}};
        (*net)->to(torch::kCPU);
        Status st = nets::save_bundle(opt.out_dir / "bundle", **net, manifest);
        (*net)->to(device);
        if (!st) return std::unexpected(st.error());
      } else {
        ck.epochs_without_improvement += val_every;
      }
    }
    ck.next_epoch = epoch + 1;
    ck.amp_scaler = amp.state();
    if (auto st = save_checkpoint(ckpt_dir, **net, nullptr, *optimizer, ck, cfg.source); !st) return std::unexpected(st.error());
    nlohmann::json line = {{"epoch", epoch + 1},
                           {"loss", loss_sum / std::max<int64_t>(seen, 1)},
                           {"lr", learning_rate(cfg.optim, static_cast<double>(epoch + 1) - 1e-9, cfg.epochs)},
                           {"val", val},
                           {"best_epoch", ck.best_epoch + 1},
                           {"positive_fraction", seen ? static_cast<double>(positive) / static_cast<double>(seen) : 0.0},
                           {"patches_per_s", seen / std::max(train_seconds, 1e-9)},
                           {"epoch_s", seconds_since(t_epoch)}};
    log << line.dump() << "\n" << std::flush;
    if (!opt.quiet) {
      if (val.contains("dice"))
        std::printf("epoch %3lld/%lld  loss %.4f  val dice %.4f auc %.4f %s %5.1f patches/s  %.1fs\n",
                    static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs), line["loss"].get<double>(),
                    val["dice"].get<double>(), val.value("auc", 0.0), improved ? "*" : " ",
                    line["patches_per_s"].get<double>(), line["epoch_s"].get<double>());
      else
        std::printf("epoch %3lld/%lld  loss %.4f  %5.1f patches/s  %.1fs\n", static_cast<long long>(epoch + 1),
                    static_cast<long long>(cfg.epochs), line["loss"].get<double>(), line["patches_per_s"].get<double>(),
                    line["epoch_s"].get<double>());
      std::fflush(stdout);
    }
    if (stop_early(cfg, ck)) break;
  }

  auto bundle = reload_selected_bundle(opt.out_dir, net_registry, device);  // tested as deployed
  if (!bundle) return std::unexpected(bundle.error());
  // The threshold: fixed by the recipe, or chosen now on the validation images and then used
  // unchanged for test and stored in the bundle for predict.
  nlohmann::json threshold = nlohmann::json::object();
  if (sc.num_classes == 2) threshold = {{"chosen", sc.threshold}, {"selected_on", "config"}};
  if (sc.threshold_auto) {
    auto c = choose_validation_threshold(*bundle->net, data->val, sc, eval);
    if (!c) return std::unexpected(c.error().with_context("choosing infer.threshold (auto) on the validation images"));
    eval.threshold = c->threshold;
    threshold = {{"chosen", c->threshold},     {"metric", sc.threshold_metric},   {"selected_on", "validation"},
                 {"val_at_0_5", c->value_at_half}, {"val_at_chosen", c->value}, {"pixels", c->pixels},
                 {"foreground_pixels", c->foreground}};
    manifest.training["inference"]["threshold"] = c->threshold;
    manifest.training["inference"]["threshold_selection"] = threshold;
    char line[200];
    std::snprintf(line, sizeof line,
                  "infer.threshold auto: %.2f chosen on %lld validation pixels (%s %.4f; %.4f at 0.5)", c->threshold,
                  static_cast<long long>(c->pixels), sc.threshold_metric.c_str(), c->value, c->value_at_half);
    log_info(line);
    if (c->foreground == 0)
      log_warn("infer.threshold auto: the validation images have no foreground pixels inside their ROI; the chosen "
               "threshold only avoids false positives");
  }
  nlohmann::json test = nlohmann::json::object();
  if (!data->test.empty()) {
    eval.per_case = true;
    auto t = evaluate_segmentation(*bundle->net, data->test, sc.num_classes, eval);
    if (!t) return std::unexpected(t.error().with_context("test"));
    test = *t;
  }
  TrainResult result;
  result.bundle_dir = opt.out_dir / "bundle";
  result.test_metrics = test;
  result.val_metrics = ck.best_val;
  result.best_epoch = ck.best_epoch + 1;
  result.seconds = seconds_since(t_start);
  nlohmann::json test_summary = test;
  test_summary.erase("per_case");
  manifest.metrics = {{"val", ck.best_val}, {"test", test_summary}, {"epoch", ck.best_epoch + 1}};
  if (!threshold.empty()) manifest.metrics["threshold"] = threshold;
  bundle->net->to(torch::kCPU);
  if (auto st = nets::save_bundle(result.bundle_dir, *bundle->net, manifest); !st) return std::unexpected(st.error());
  nlohmann::json metrics = {{"recipe", cfg.name},         {"task", "segmentation"},
                            {"seed", cfg.seed},           {"best_epoch", result.best_epoch},
                            {"val", ck.best_val},         {"test", test},
                            {"train_seconds", result.seconds},
                            {"definitions", "pooled over every test pixel inside the ROI / field of view; "
                                            "dice = 2TP/(2TP+FP+FN) at threshold.chosen (infer.threshold, or with "
                                            "auto the one chosen on the validation images; val is scored during "
                                            "training at 0.5 then); auc = pixel ROC AUC of the foreground "
                                            "probability; per_case: Dice and HD95 (mm) per image"}};
  if (!threshold.empty()) metrics["threshold"] = threshold;
  if (auto st = write_file_atomically(opt.out_dir / "metrics.json", metrics.dump(2) + "\n"); !st)
    return std::unexpected(st.error());
  return result;
}

}  // namespace lucent::train
