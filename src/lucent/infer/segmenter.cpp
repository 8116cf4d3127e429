#include "lucent/infer/segmenter.h"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "lucent/core/atomic_file.h"
#include "lucent/core/rng.h"
#include "lucent/infer/internal/json_value.h"

namespace lucent::infer {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using internal::value_of;

std::string shape_text(at::IntArrayRef sizes) {
  std::string s;
  for (auto v : sizes) {
    if (!s.empty()) s += 'x';
    s += std::to_string(v);
  }
  return s;
}

std::unexpected<Error> invalid(const std::string& what) { return fail(ErrorCode::kInvalidArgument, what); }

bool is_identity(const transforms::GridChange& c, const std::vector<int64_t>& shape) {
  if (c.shape != shape) return false;
  for (double f : c.spacing_factor)
    if (f != 1.0) return false;
  for (double s : c.origin_shift)
    if (s != 0.0) return false;
  return true;
}

// Probabilities (K, s...) on the preprocessed grid → (K, in_shape...) on the input grid, linear
// along each axis (the grid change is axis-aligned). Input voxels more than half a voxel outside
// the preprocessed grid (cropped away) get background probability 1.
at::Tensor to_input_grid(at::Tensor y, const transforms::GridChange& c, const std::vector<int64_t>& in_shape) {
  const auto dims = static_cast<int64_t>(in_shape.size());
  at::Tensor outside = at::zeros(in_shape, at::kBool);
  for (int64_t a = 0; a < dims; ++a) {
    const auto ua = static_cast<std::size_t>(a);
    const int64_t n_src = y.size(1 + a), n_dst = in_shape[ua];
    const double factor = ua < c.spacing_factor.size() ? c.spacing_factor[ua] : 1.0;
    const double shift = ua < c.origin_shift.size() ? c.origin_shift[ua] : 0.0;
    const at::Tensor pos = (at::arange(n_dst, at::kDouble) - shift) / factor;
    std::vector<int64_t> view(static_cast<std::size_t>(dims), 1);
    view[ua] = n_dst;
    outside = outside | ((pos < -0.5) | (pos > static_cast<double>(n_src) - 0.5)).view(view);
    const at::Tensor p = pos.clamp(0, static_cast<double>(n_src - 1));
    const at::Tensor i0 = p.floor().to(at::kLong), i1 = (i0 + 1).clamp_max(n_src - 1);
    std::vector<int64_t> wview(static_cast<std::size_t>(dims + 1), 1);
    wview[ua + 1] = n_dst;
    const at::Tensor w = (p - i0.to(at::kDouble)).to(at::kFloat).view(wview);
    y = y.index_select(1 + a, i0) * (1 - w) + y.index_select(1 + a, i1) * w;
  }
  y = y.contiguous();
  if (outside.any().item<bool>()) {
    y.masked_fill_(outside.unsqueeze(0), 0.0);
    if (y.size(0) >= 2) y[0].masked_fill_(outside, 1.0);
  }
  return y;
}

std::string dims_name(int d) { return std::to_string(d) + "-D"; }

std::string channels_hint(int64_t c) { return c == 1 ? ": greyscale" : c == 3 ? ": RGB" : ""; }

}  // namespace

Result<SegmentationSettings> segmentation_settings(const nets::BundleManifest& m) {
  if (m.task != "segmentation")
    return invalid("the bundle's task is \"" + m.task + "\", not \"segmentation\"");
  SegmentationSettings s;
  const int64_t k = m.architecture.num_outputs;
  s.num_classes = k == 1 ? 2 : k;
  const json inf = m.training.is_object() && m.training.contains("inference") ? m.training.at("inference") : json::object();
  const std::string where = "training.inference";
  if (!inf.is_object()) return invalid(where + " must be an object, got " + std::string(inf.type_name()));
  auto patch = value_of<std::vector<int64_t>>(inf, "patch_size", where, m.input_size);
  auto overlap = value_of<double>(inf, "overlap", where, s.overlap);
  auto blend = value_of<std::string>(inf, "blend", where, "gaussian");
  auto batch = value_of<int64_t>(inf, "batch_size", where, s.batch_size);
  auto tta = value_of<bool>(inf, "flip_tta", where, s.flip_tta);
  auto act = value_of<std::string>(inf, "activation", where, k == 1 ? "sigmoid" : "softmax");
  auto thr = value_of<double>(inf, "threshold", where, s.threshold);
  auto classes = value_of<int64_t>(inf, "num_classes", where, s.num_classes);
  for (const Error* e : {patch ? nullptr : &patch.error(), overlap ? nullptr : &overlap.error(),
                         blend ? nullptr : &blend.error(), batch ? nullptr : &batch.error(), tta ? nullptr : &tta.error(),
                         act ? nullptr : &act.error(), thr ? nullptr : &thr.error(), classes ? nullptr : &classes.error()})
    if (e) return std::unexpected(*e);
  if (patch->size() != static_cast<std::size_t>(m.architecture.spatial_dims))
    return invalid(where + ".patch_size has " + std::to_string(patch->size()) + " entries (or is missing, and input_size too) but the net is " +
                   dims_name(m.architecture.spatial_dims) + "; give one size per spatial axis");
  for (auto p : *patch)
    if (p < 1) return invalid(where + ".patch_size entries must be ≥ 1, got " + shape_text(*patch));
  if (*overlap < 0 || *overlap >= 1) return invalid(where + ".overlap must lie in [0, 1), got " + std::to_string(*overlap));
  if (*blend != "gaussian" && *blend != "constant")
    return invalid(where + ".blend must be gaussian or constant, got \"" + *blend + "\"");
  if (*batch < 1) return invalid(where + ".batch_size must be ≥ 1, got " + std::to_string(*batch));
  if (*act == "none")
    return invalid(where + ".activation is \"none\" (logits, not probabilities); prediction needs softmax or sigmoid");
  if (*act != "softmax" && *act != "sigmoid")
    return invalid(where + ".activation must be softmax or sigmoid, got \"" + *act + "\"");
  if (*thr < 0 || *thr > 1) return invalid(where + ".threshold must lie in [0, 1], got " + std::to_string(*thr));
  const bool fits = k == 1 ? *classes == 2 || *classes == 1 : *classes == k;
  if (!fits)
    return invalid(where + ".num_classes is " + std::to_string(*classes) + " but the net has " + std::to_string(k) +
                   " output channel(s); they must agree (1 output = 2 labels with a threshold)");
  if (k > 256) return invalid("the net has " + std::to_string(k) + " output channels; label maps hold at most 256 labels");
  s.patch_size = *patch;
  s.overlap = *overlap;
  s.blending = *blend == "constant" ? Blending::kConstant : Blending::kGaussian;
  s.batch_size = *batch;
  s.flip_tta = *tta;
  s.activation = *act == "sigmoid" ? Activation::kSigmoid : Activation::kSoftmax;
  s.threshold = *thr;
  s.num_classes = std::max<int64_t>(*classes, 2);
  if (inf.contains("postprocess") && !inf.at("postprocess").is_null()) {
    auto steps = parse_postprocess(inf.at("postprocess"), where + ".postprocess");
    if (!steps) return std::unexpected(steps.error());
    s.postprocess = std::move(*steps);
  }
  return s;
}

Result<bool> is_segmentation_bundle(const fs::path& bundle_dir) {
  auto text = read_file(bundle_dir / "bundle.json");
  if (!text) return std::unexpected(text.error());
  const json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCode::kInvalidData, (bundle_dir / "bundle.json").string() + " is not a JSON object");
  return j.contains("task") && j.at("task").is_string() && j.at("task").get<std::string>() == "segmentation";
}

Result<std::unique_ptr<Segmenter>> Segmenter::open(const std::vector<fs::path>& bundles, const nets::NetRegistry& nets,
                                                   const transforms::TransformRegistry& transforms,
                                                   SegmenterOptions options) {
  if (bundles.empty()) return invalid("no segmentation bundle given");
  if (options.device != "cpu") {
    try {
      const torch::Device dev(options.device);
      if (dev.is_cuda() && !torch::cuda::is_available())
        return fail(ErrorCode::kUnsupported, "--device " + options.device +
                                                 " was requested but no CUDA GPU is available to this build; use --device cpu");
    } catch (const std::exception&) {
      return invalid("device '" + options.device + "' is not a device (cpu, cuda, cuda:N)");
    }
  }
  std::unique_ptr<Segmenter> s(new Segmenter());
  s->options_ = options;
  for (const auto& dir : bundles) {
    const std::string name = "bundle " + dir.string();
    auto b = nets::load_bundle(dir, nets);
    if (!b) return std::unexpected(b.error());
    if (b->manifest.task != "segmentation")
      return invalid(name + " has task \"" + b->manifest.task +
                     "\"; segmentation bundles cannot be combined with other tasks — run them separately");
    auto settings = segmentation_settings(b->manifest);
    if (!settings) return std::unexpected(settings.error().with_context(name));
    if (options.flip_tta) settings->flip_tta = true;
    auto pre = transforms::Pipeline::from_json(b->manifest.preprocess, transforms);
    if (!pre) return std::unexpected(pre.error().with_context(name + " preprocess"));
    const auto& arch = b->manifest.architecture;
    if (s->members_.empty()) {
      s->settings_ = *settings;
      s->spatial_dims_ = arch.spatial_dims;
      s->output_channels_ = arch.num_outputs;
    } else {
      const auto& first = s->members_.front();
      if (settings->num_classes != s->settings_.num_classes || arch.num_outputs != s->output_channels_)
        return invalid(name + " segments " + std::to_string(settings->num_classes) + " labels (" +
                       std::to_string(arch.num_outputs) + " outputs) but " + first.dir.string() + " segments " +
                       std::to_string(s->settings_.num_classes) + " (" + std::to_string(s->output_channels_) +
                       "); an ensemble needs members with the same num_classes");
      if (settings->activation != s->settings_.activation)
        return invalid(name + " and " + first.dir.string() +
                       " use different activations (softmax vs sigmoid); an ensemble averages comparable probabilities only");
      if (arch.spatial_dims != s->spatial_dims_)
        return invalid(name + " is " + dims_name(arch.spatial_dims) + " but " + first.dir.string() + " is " +
                       dims_name(s->spatial_dims_) + "; an ensemble needs members of the same dimensionality");
    }
    if (options.device != "cpu") {
      try {
        b->net->to(torch::Device(options.device));
      } catch (const std::exception& e) {
        return fail(ErrorCode::kInternal, name + ": moving the net to " + options.device + " failed: " + e.what());
      }
    }
    s->bundle_ids_.push_back(b->sha256);
    s->members_.push_back({dir, std::move(*b), std::move(*pre), std::move(*settings)});
  }
  return s;
}

int64_t Segmenter::in_channels() const { return members_.front().bundle.manifest.architecture.in_channels; }

std::string Segmenter::label_name(int64_t label) const {
  if (label == 0) return "background";
  const auto& names = members_.front().bundle.manifest.labels;
  const int64_t index = output_channels_ == 1 ? label - 1 : label;
  if (index >= 0 && index < static_cast<int64_t>(names.size()) && !names[static_cast<std::size_t>(index)].empty())
    return names[static_cast<std::size_t>(index)];
  return "label_" + std::to_string(label);
}

Result<at::Tensor> Segmenter::run_member(Member& m, const Image& image) {
  const std::string name = "bundle " + m.dir.string();
  const at::Tensor data = image.data;
  const std::vector<int64_t> in_shape(data.sizes().begin() + 1, data.sizes().end());
  transforms::GridChange change;
  bool resample = false;
  if (!m.preprocess.empty()) {
    auto gc = m.preprocess.grid_change(in_shape);
    if (!gc) return std::unexpected(gc.error().with_context(name + " preprocess"));
    change = *gc;
    resample = !is_identity(change, in_shape);
  }
  transforms::Batch batch{data.unsqueeze(0).to(at::kFloat).contiguous(), {}};
  Rng unused(0);  // the preprocess pipeline is deterministic
  if (auto st = m.preprocess.apply(batch, unused); !st) return std::unexpected(st.error().with_context(name + " preprocess"));
  const int64_t want = m.bundle.manifest.architecture.in_channels;
  if (batch.images.size(1) != want) {
    const std::string after = batch.images.size(1) != data.size(0)
                                  ? " (" + std::to_string(batch.images.size(1)) + " after the bundle's preprocess)"
                                  : "";
    return invalid("the image has " + std::to_string(data.size(0)) + " channel(s)" + after + " but " + name + " expects " +
                   std::to_string(want) + "; give images like the ones it was trained on (" + std::to_string(want) +
                   channels_hint(want) + "), or use a bundle trained on " + std::to_string(data.size(0)) +
                   "-channel images");
  }
  const at::Tensor x = batch.images[0].contiguous();
  const auto& st = m.settings;
  SlidingWindowOptions w{.patch_size = st.patch_size,
                         .overlap = st.overlap,
                         .blending = st.blending,
                         .batch_size = st.batch_size,
                         .flip_tta = st.flip_tta,
                         .activation = st.activation,
                         .max_buffer_bytes = options_.max_buffer_bytes,
                         .device = options_.device};
  auto r = sliding_window(*m.bundle.net, x, w);
  if (!r) return std::unexpected(r.error().with_context(name));
  at::Tensor out = r->output.to(at::kFloat);
  if (resample) {
    if (std::vector<int64_t>(x.sizes().begin() + 1, x.sizes().end()) != change.shape)
      return fail(ErrorCode::kInternal, name + ": the preprocess produced " + shape_text(x.sizes().slice(1)) +
                                            " but its declared grid change is " + shape_text(change.shape));
    out = to_input_grid(out, change, in_shape);
  }
  return out;
}

Result<Segmentation> Segmenter::segment(const Image& image) {
  if (!image.data.defined() || image.data.numel() == 0 || image.data.dim() < 3 || image.data.dim() > 4)
    return invalid("the image is empty or not (C, Y, X) / (C, Z, Y, X)");
  const int image_dims = static_cast<int>(image.data.dim()) - 1;
  Image work = image;
  bool one_slice = false;
  if (spatial_dims_ == 3 && image_dims == 2)
    return invalid("the bundle segments 3-D volumes (patch " + shape_text(settings_.patch_size) +
                   ", Z×Y×X) but the image is 2-D (" + shape_text(image.data.sizes().slice(1)) +
                   ", Y×X); give it a 3-D volume (NIfTI, NRRD, MetaImage or a DICOM series folder) or use a 2-D bundle");
  if (spatial_dims_ == 2 && image_dims == 3) {
    if (image.data.size(1) != 1)
      return invalid("the bundle segments 2-D images but the image is a 3-D volume (" +
                     shape_text(image.data.sizes().slice(1)) +
                     ", Z×Y×X); give it 2-D images (one slice each) or use a 3-D bundle");
    one_slice = true;
    work.data = image.data.select(1, 0);
  }
  at::Tensor probs;
  for (auto& m : members_) {
    auto p = run_member(m, work);
    if (!p) return std::unexpected(p.error());
    probs = probs.defined() ? probs + *p : *p;
  }
  if (members_.size() > 1) probs = probs / static_cast<double>(members_.size());
  probs = probs.contiguous();

  at::Tensor labels;
  const double thr = settings_.threshold;
  if (output_channels_ == 1) labels = (probs[0] >= thr).to(at::kByte);
  else if (output_channels_ == 2) labels = (probs[1] >= thr).to(at::kByte);
  else labels = probs.argmax(0).to(at::kByte);
  labels = labels.contiguous();

  Segmentation out;
  out.geometry = image.geometry;
  out.resampled = false;
  for (const auto& m : members_) {
    const std::vector<int64_t> in_shape(work.data.sizes().begin() + 1, work.data.sizes().end());
    if (!m.preprocess.empty()) {
      auto gc = m.preprocess.grid_change(in_shape);
      if (gc && !is_identity(*gc, in_shape)) out.resampled = true;
    }
  }
  auto changed = apply_postprocess(labels, settings_.postprocess, image.geometry.spacing_mm);
  if (!changed) return std::unexpected(changed.error());
  out.postprocess_changed_voxels += *changed;
  if (one_slice) {
    labels = labels.unsqueeze(0);
    probs = probs.unsqueeze(1);
  }
  auto volumes = structure_volumes(labels, image.geometry.spacing_mm, settings_.num_classes);
  if (!volumes) return std::unexpected(volumes.error());
  out.labels = labels.contiguous();
  out.probabilities = probs.contiguous();
  out.volumes = std::move(*volumes);
  return out;
}

std::array<uint8_t, 3> label_colour(int64_t label) {
  static constexpr std::array<std::array<uint8_t, 3>, 10> kPalette{{{255, 0, 0},
                                                                    {0, 255, 0},
                                                                    {0, 0, 255},
                                                                    {255, 255, 0},
                                                                    {0, 255, 255},
                                                                    {255, 0, 255},
                                                                    {255, 128, 0},
                                                                    {128, 0, 255},
                                                                    {0, 128, 255},
                                                                    {128, 255, 0}}};
  if (label <= 0) return {0, 0, 0};
  return kPalette[static_cast<std::size_t>((label - 1) % 10)];
}

Result<at::Tensor> overlay_rgb(const at::Tensor& image_in, const at::Tensor& labels_in, double fill_alpha) {
  at::Tensor image = image_in, labels = labels_in;
  if (image.defined() && image.dim() == 4 && image.size(1) == 1) image = image.select(1, 0);
  if (labels.defined() && labels.dim() == 3 && labels.size(0) == 1) labels = labels.select(0, 0);
  if (!image.defined() || image.dim() != 3 || image.size(0) < 1 || !labels.defined() || labels.dim() != 2 ||
      image.size(1) != labels.size(0) || image.size(2) != labels.size(1))
    return invalid("overlay needs a 2-D image (C, Y, X) and labels (Y, X) of the same size, got " +
                   (image.defined() ? shape_text(image.sizes()) : std::string("none")) + " and " +
                   (labels.defined() ? shape_text(labels.sizes()) : std::string("none")));
  if (fill_alpha < 0 || fill_alpha > 1) return invalid("overlay fill_alpha must lie in [0, 1]");
  const int64_t c = image.size(0), ny = image.size(1), nx = image.size(2);
  at::Tensor base = (c == 3 || c == 4) ? image.slice(0, 0, 3) : image.slice(0, 0, 1).expand({3, ny, nx});
  at::Tensor f = base.to(at::kDouble);
  if (image.scalar_type() != at::kByte) {
    const double lo = f.min().item<double>(), hi = f.max().item<double>();
    f = hi > lo && std::isfinite(lo) && std::isfinite(hi) ? (f - lo) * (255.0 / (hi - lo)) : at::zeros_like(f);
    f = at::nan_to_num(f, 0.0, 255.0, 0.0);
  }
  const at::Tensor lab = labels.to(at::kLong);
  at::Tensor palette = at::zeros({11, 3}, at::kDouble);
  for (int64_t k = 1; k <= 10; ++k) {
    const auto rgb = label_colour(k);
    for (int64_t ch = 0; ch < 3; ++ch) palette[k][ch] = static_cast<double>(rgb[static_cast<std::size_t>(ch)]);
  }
  const at::Tensor fg = lab > 0;
  const at::Tensor idx = at::where(fg, at::remainder(lab - 1, 10) + 1, at::zeros_like(lab));
  const at::Tensor colour = palette.index_select(0, idx.reshape({-1})).view({ny, nx, 3}).permute({2, 0, 1});
  at::Tensor edge = at::zeros({ny, nx}, at::kBool);
  if (nx > 1) {
    const at::Tensor d = lab.slice(1, 1) != lab.slice(1, 0, nx - 1);
    edge.slice(1, 1).bitwise_or_(d);
    edge.slice(1, 0, nx - 1).bitwise_or_(d);
  }
  if (ny > 1) {
    const at::Tensor d = lab.slice(0, 1) != lab.slice(0, 0, ny - 1);
    edge.slice(0, 1).bitwise_or_(d);
    edge.slice(0, 0, ny - 1).bitwise_or_(d);
  }
  const at::Tensor alpha =
      at::where(fg & edge, at::ones({}, at::kDouble), at::where(fg, at::full({}, fill_alpha, at::kDouble), at::zeros({}, at::kDouble)));
  const at::Tensor out = f * (1 - alpha) + colour * alpha;
  return out.round().clamp(0, 255).to(at::kByte).contiguous();
}

}  // namespace lucent::infer
