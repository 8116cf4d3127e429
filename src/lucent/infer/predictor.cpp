#include "lucent/infer/predictor.h"

#include <torch/torch.h>

#include "lucent/nets/torchscript.h"

namespace lucent::infer {

Result<std::unique_ptr<Predictor>> Predictor::open(const std::vector<std::filesystem::path>& bundles,
                                                   const nets::NetRegistry& nets,
                                                   const transforms::TransformRegistry& transforms,
                                                   PredictOptions options) {
  if (bundles.empty()) return fail(ErrorCode::kInvalidArgument, "no bundle given");
  std::unique_ptr<Predictor> p(new Predictor());
  p->options_ = options;
  for (const auto& dir : bundles) {
    auto b = nets::load_bundle(dir, nets);
    if (!b) return std::unexpected(b.error());
    auto task = parse_task(b->manifest.task);
    if (!task) return std::unexpected(task.error().with_context("bundle " + dir.string()));
    auto pre = transforms::Pipeline::from_json(b->manifest.preprocess, transforms);
    if (!pre) return std::unexpected(pre.error().with_context("bundle " + dir.string() + " preprocess"));
    if (p->members_.empty()) {
      p->task_ = *task;
      p->labels_ = b->manifest.labels;
    } else if (*task != p->task_ || b->manifest.labels != p->labels_) {
      return fail(ErrorCode::kInvalidArgument, "bundle " + dir.string() + " predicts " + b->manifest.task + " with " +
                                                   std::to_string(b->manifest.labels.size()) +
                                                   " outputs; an ensemble needs members with the same task and labels");
    }
    if (options.device != "cpu") b->net->to(torch::Device(options.device));
    const bool channels_last = options.channels_last && options.device == "cpu" &&
                               b->manifest.architecture.spatial_dims == 2 &&
                               b->manifest.architecture.name != nets::kTorchScriptArchitecture;
    if (channels_last) nets::to_channels_last(*b->net);
    p->bundle_ids_.push_back(b->sha256);
    p->members_.push_back({std::move(*b), std::move(*pre), channels_last});
  }
  return p;
}

at::Tensor Predictor::run_member(Member& m, const at::Tensor& x) {
  auto probs = [&](const at::Tensor& in) {
    const at::Tensor batch = m.channels_last ? in.contiguous(at::MemoryFormat::ChannelsLast) : in;
    auto logits = m.bundle.net->forward(batch).to(at::kDouble) / m.bundle.manifest.temperature;
    return task_ == Task::kMultilabel ? torch::sigmoid(logits) : torch::softmax(logits, 1);
  };
  at::Tensor sum = probs(x);
  if (!options_.tta) return sum;
  int count = 1;
  for (int64_t axis = 2; axis < x.dim(); ++axis) {
    sum = sum + probs(x.flip({axis}));
    ++count;
  }
  return sum / count;
}

Result<at::Tensor> Predictor::predict_batch(const at::Tensor& images) {
  torch::NoGradGuard guard;
  const torch::Device dev(options_.device);
  at::Tensor total;
  for (auto& m : members_) {
    std::vector<at::Tensor> parts;
    for (int64_t start = 0; start < images.size(0); start += options_.batch_size) {
      transforms::Batch b{images.slice(0, start, std::min(images.size(0), start + options_.batch_size)).to(at::kFloat), {}};
      Rng unused(0);
      if (auto st = m.preprocess.apply(b, unused); !st) return std::unexpected(st.error().with_context("preprocessing"));
      const auto& want = m.bundle.manifest.input_size;
      std::vector<int64_t> got(b.images.sizes().begin() + 2, b.images.sizes().end());
      if (b.images.size(1) != m.bundle.manifest.architecture.in_channels || (!want.empty() && got != want))
        return fail(ErrorCode::kInvalidArgument,
                    "after preprocessing the input is " + c10::str(b.images.sizes()) + " but the model expects " +
                        std::to_string(m.bundle.manifest.architecture.in_channels) + " channel(s) of size " +
                        c10::str(at::IntArrayRef(want)) + "; the bundle's preprocess should resize (and convert channels)");
      try {
        parts.push_back(run_member(m, b.images.to(dev)).cpu());
      } catch (const std::exception& e) {
        return fail(ErrorCode::kInternal, std::string("model forward failed: ") + e.what());
      }
    }
    at::Tensor p = torch::cat(parts, 0);
    total = total.defined() ? total + p : p;
  }
  return total / static_cast<double>(members_.size());
}

Result<at::Tensor> Predictor::predict_image(const Image& image) {
  if (!image.data.defined()) return fail(ErrorCode::kInvalidArgument, "empty image");
  auto r = predict_batch(image.data.unsqueeze(0));
  if (!r) return r;
  return (*r)[0];
}

}  // namespace lucent::infer
