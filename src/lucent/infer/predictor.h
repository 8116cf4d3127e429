// Running bundles on images: the bundle's own preprocessing, optional flip test-time
// augmentation, ensembles of several bundles.
//
//   auto p = lucent::infer::Predictor::open({"runs/a/bundle", "runs/b/bundle"}, nets, transforms);
//   auto probs = (*p)->predict_batch(images);      // float32 (N, C, ...) raw images
//   auto one = (*p)->predict_image(image);         // a lucent::Image of any size
//
// Images go through the bundle's declared preprocess pipeline (the same one used in
// training), so a prediction sees exactly what the model saw. An ensemble averages the
// probabilities of its members; members must agree on task and outputs (kInvalidArgument).
// Thread-safety: predict_* may be called from one thread at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/image.h"
#include "lucent/core/task.h"
#include "lucent/nets/bundle.h"
#include "lucent/transforms/transform.h"

namespace lucent::infer {

struct PredictOptions {
  bool tta = false;          // average over flips along each spatial axis
  int64_t batch_size = 256;
  std::string device = "cpu";
  // 2-D nets on the CPU run channels-last (weights converted once, each batch on the way in):
  // oneDNN then skips a reorder around every convolution. Not applied to TorchScript bundles.
  bool channels_last = true;
};

class Predictor {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Predictor>> open(const std::vector<std::filesystem::path>& bundles,
                                                               const nets::NetRegistry& nets,
                                                               const transforms::TransformRegistry& transforms,
                                                               PredictOptions options = {});
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  // Raw images (N, C, [Z,] Y, X) of one size → probabilities float64 (N, K).
  [[nodiscard]] Result<at::Tensor> predict_batch(const at::Tensor& images);
  // One image of any size → probabilities (K).
  [[nodiscard]] Result<at::Tensor> predict_image(const Image& image);

  [[nodiscard]] Task task() const { return task_; }
  [[nodiscard]] const std::vector<std::string>& labels() const { return labels_; }
  [[nodiscard]] const std::vector<std::string>& bundle_ids() const { return bundle_ids_; }
  [[nodiscard]] int64_t in_channels() const { return members_.front().bundle.manifest.architecture.in_channels; }
  // Whether the first member runs channels-last (PredictOptions::channels_last).
  [[nodiscard]] bool channels_last() const { return members_.front().channels_last; }

 private:
  struct Member {
    nets::LoadedBundle bundle;
    transforms::Pipeline preprocess;
    bool channels_last = false;
  };
  Predictor() = default;
  at::Tensor run_member(Member& m, const at::Tensor& x);

  std::vector<Member> members_;
  Task task_ = Task::kBinary;
  std::vector<std::string> labels_;
  std::vector<std::string> bundle_ids_;
  PredictOptions options_;
};

}  // namespace lucent::infer
