// Transforms: the declared image pipeline, identical in training, prediction and evaluation.
//
// A pipeline is data — a JSON/YAML list of steps — built by one factory:
//
//   preprocess:                      # deterministic; runs everywhere (train, predict, evaluate)
//     - {name: scale_intensity, in_min: 0, in_max: 255, out_min: 0, out_max: 1}
//     - {name: resize, size: [28, 28]}
//   augment:                         # random; training only
//     - {name: flip, axes: [x], p: 0.5}
//     - {name: affine, rotate_deg: 15, scale: [0.9, 1.1], translate_frac: 0.1, p: 0.8}
//
//   auto pipeline = lucent::transforms::Pipeline::from_json(steps_json, registry);
//   lucent::transforms::Batch batch{images};          // float32 (N, C, [Z,] Y, X)
//   auto st = pipeline->apply(batch, rng);
//
// Transforms work on whole batches (one kernel call for N images, per-sample random
// parameters) for 2-D (N, C, Y, X) and 3-D (N, C, Z, Y, X) float tensors. When `masks` is
// defined (segmentation labels, (N, 1, ...) integer or float), spatial transforms move it
// identically with nearest-neighbour sampling and intensity transforms leave it alone.
// Randomness comes only from the Rng passed in: same seed, same output. Batches normally live on
// the CPU; CUDA tensors also work (random fields are drawn with the Rng's CPU generator and
// moved), but only the CPU path is tested here.
// Spatial transforms that change the grid (resize, crop/pad) state their effect on geometry
// through `grid_change()` (and docs/transforms.md); every other transform keeps the grid:
//
//   auto change = pipeline->grid_change({z, y, x});          // before or after applying it
//   image.geometry = apply_grid_change(image.geometry, *change);
// Errors: kInvalidArgument for an unknown transform name (the known ones are listed), an
// unknown/malformed/missing parameter (transform and key named), or a batch that is not float32
// rank 4/5, is empty, has masks of another shape, or breaks a transform's own condition (e.g.
// rot90 on non-square planes); kInternal, naming the transform, if LibTorch throws. Transforms are immutable after construction: apply() is
// thread-safe given distinct Batch and Rng objects.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/geometry.h"
#include "lucent/core/rng.h"

namespace lucent::transforms {

struct Batch {
  at::Tensor images;  // float32, (N, C, Y, X) or (N, C, Z, Y, X)
  at::Tensor masks;   // optional, same spatial shape, (N, 1, ...)
};

// What a transform does to the voxel grid, per spatial axis in tensor order, (y, x) or (z, y, x):
// output voxel n along an axis lies at continuous input index `origin_shift + n * spacing_factor`
// (voxel centres), so spacing_out = spacing_in * spacing_factor.
struct GridChange {
  std::vector<int64_t> shape;          // output spatial shape
  std::vector<double> spacing_factor;  // 1 when the spacing is kept
  std::vector<double> origin_shift;    // input index of output voxel 0; 0 when the origin is kept
};

// The geometry of the output grid. `change` has 2 axes for a 2-D geometry, 3 for 3-D.
[[nodiscard]] Geometry apply_grid_change(const Geometry& geometry, const GridChange& change);

class Transform {
 public:
  virtual ~Transform() = default;
  [[nodiscard]] virtual std::string name() const = 0;
  // True for augmentations (random), false for deterministic preprocessing.
  [[nodiscard]] virtual bool is_random() const = 0;
  [[nodiscard]] virtual Status apply(Batch& batch, Rng& rng) const = 0;
  // The declaration this transform was built from (round-trips through from_json).
  [[nodiscard]] virtual nlohmann::json to_json() const = 0;
  // The grid change for an input of spatial shape `spatial_shape` (yx or zyx). The default is
  // no change; resize and pad_crop override it. kInvalidArgument when the rank does not fit.
  [[nodiscard]] virtual Result<GridChange> grid_change(const std::vector<int64_t>& spatial_shape) const;
};

using TransformFactory = std::function<Result<std::unique_ptr<Transform>>(const nlohmann::json& params)>;

class TransformRegistry {
 public:
  [[nodiscard]] Status add(const std::string& name, TransformFactory factory);
  // `step` is an object with "name" and the transform's parameters.
  [[nodiscard]] Result<std::unique_ptr<Transform>> create(const nlohmann::json& step) const;
  [[nodiscard]] std::vector<std::string> names() const;

 private:
  std::map<std::string, TransformFactory> factories_;
};

// Every built-in transform (see transforms.md in docs/ for parameters).
void register_builtin_transforms(TransformRegistry& registry);

class Pipeline {
 public:
  // `steps`: JSON array of step objects (may be empty).
  [[nodiscard]] static Result<Pipeline> from_json(const nlohmann::json& steps, const TransformRegistry& registry);
  [[nodiscard]] Status apply(Batch& batch, Rng& rng) const;
  [[nodiscard]] nlohmann::json to_json() const;
  // The steps' grid changes composed, for an input of spatial shape `spatial_shape`.
  [[nodiscard]] Result<GridChange> grid_change(const std::vector<int64_t>& spatial_shape) const;
  [[nodiscard]] bool empty() const { return steps_.empty(); }

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
};

}  // namespace lucent::transforms
