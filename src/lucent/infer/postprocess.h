// Post-processing of segmentation outputs: probabilities → label map, connected-component
// clean-up, hole filling, and per-structure volumes from the voxel spacing.
//
//   auto labels = lucent::infer::labels_from_probabilities(probs);          // (K, ...) → (...)
//   lucent::infer::keep_largest_components(*labels, {.keep = 1});           // per class
//   lucent::infer::remove_small_components(*labels, {.min_volume_mm3 = 20, .spacing_mm = {1, 1, 2}});
//   lucent::infer::fill_holes(*labels);
//   auto volumes = lucent::infer::structure_volumes(*labels, image.geometry.spacing_mm);
//
// Label maps are integer tensors (Y, X) or (Z, Y, X) on the CPU, 0 = background; the clean-up
// functions modify them in place. Connectivity: kFull (default) = 8-connected in 2-D,
// 26-connected in 3-D (diagonal neighbours join a component, as scipy.ndimage with a full
// structure and nnU-Net's "largest component" step); kFace = 4 / 6-connected. Holes are
// background (0) regions that do not touch the image border, found with the complementary
// connectivity (face connectivity for a full-connected foreground), and are filled only when
// every voxel around them belongs to one class (a hole bordering two classes is left alone).
// Spacing is per index axis (i, j, k) = (X, Y, Z) in mm, as in Geometry::spacing_mm.
// Errors: kInvalidArgument (shape, dtype, options, naming the value). Thread-safety: pure
// functions of their arguments.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::infer {

enum class Connectivity { kFull, kFace };

struct LabelOptions {
  double threshold = 0.5;  // single-channel (sigmoid) probabilities: label 1 where p >= threshold
};

// (K, ...) probabilities → labels (...): argmax over K (K ≥ 2), or the threshold (K = 1).
// uint8 when K ≤ 256, int32 otherwise.
[[nodiscard]] Result<at::Tensor> labels_from_probabilities(const at::Tensor& probabilities,
                                                           const LabelOptions& options = {});

struct ComponentOptions {
  std::vector<int64_t> classes;  // labels to process; empty = every non-zero label present
  Connectivity connectivity = Connectivity::kFull;
  int64_t keep = 1;              // keep_largest_components: components kept per class
  int64_t min_voxels = 0;        // remove_small_components: smaller components become 0
  double min_volume_mm3 = 0;     // … or smaller than this volume (needs spacing_mm)
  std::array<double, 3> spacing_mm{1, 1, 1};  // (i, j, k) = (X, Y, Z)
};

// Per class, keeps the `keep` largest components (ties: the first in scan order) and sets
// the others to 0. Returns the number of voxels changed.
[[nodiscard]] Result<int64_t> keep_largest_components(at::Tensor& labels, const ComponentOptions& options = {});
// Per class, sets components under min_voxels voxels or under min_volume_mm3 to 0.
[[nodiscard]] Result<int64_t> remove_small_components(at::Tensor& labels, const ComponentOptions& options);
// Per class, fills enclosed background holes (see above). `connectivity` is the foreground's.
[[nodiscard]] Result<int64_t> fill_holes(at::Tensor& labels, const ComponentOptions& options = {});

// One declared post-processing step: a bundle's training.inference.postprocess entry or a
// recipe's infer.postprocess entry (the same form). The spacing in `options` is filled per image.
struct PostprocessStep {
  std::string name;  // remove_small_components | keep_largest_components | fill_holes
  ComponentOptions options;
};
// A list of steps, each a step name or an object {"name": …, and the step's keys:
// remove_small_components min_voxels / min_volume_mm3 (one > 0); keep_largest_components keep
// (≥ 1); every step classes (list of labels) and connectivity (full | face)}. kInvalidArgument
// naming `where`[i] and the key for an unknown step or key, a wrong type or value.
[[nodiscard]] Result<std::vector<PostprocessStep>> parse_postprocess(const nlohmann::json& steps,
                                                                     const std::string& where);
// Runs the steps in order on `labels` (in place) with the image's spacing; returns the number
// of voxels changed. Errors name the step.
[[nodiscard]] Result<int64_t> apply_postprocess(at::Tensor& labels, const std::vector<PostprocessStep>& steps,
                                                const std::array<double, 3>& spacing_mm);

struct StructureVolume {
  int64_t label = 0;
  int64_t voxels = 0;
  double volume_mm3 = 0;
  double volume_ml = 0;  // mm³ / 1000
};
// Every label from 1 to max(labels) (or to num_labels - 1 when given, so absent structures are
// listed with 0), in label order. 2-D images give areas in mm² in volume_mm3 (k spacing unused).
[[nodiscard]] Result<std::vector<StructureVolume>> structure_volumes(const at::Tensor& labels,
                                                                     const std::array<double, 3>& spacing_mm,
                                                                     int64_t num_labels = 0);

// Connected components of a boolean mask: int32 ids (0 = outside the mask, 1..n in scan
// order) and the voxel count of each (sizes[0] unused).
struct Components {
  at::Tensor ids;
  std::vector<int64_t> sizes;
};
[[nodiscard]] Result<Components> connected_components(const at::Tensor& mask,
                                                      Connectivity connectivity = Connectivity::kFull);

}  // namespace lucent::infer
