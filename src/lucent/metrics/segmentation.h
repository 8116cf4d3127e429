// Segmentation metrics of a predicted mask against the truth, per class label, in 2-D and 3-D,
// with physical (possibly anisotropic) voxel spacing: Dice, IoU, sensitivity, precision,
// Hausdorff 95 %, average symmetric surface distance and normalised surface Dice.
//
//   VoxelGrid grid = voxel_grid(truth_image);                       // size and spacing, ZYX
//   auto per_label = label_map_scores(pred_image, truth_image, {1, 2}, {.nsd_tolerance_mm = 2});
//   for (const auto& [label, s] : *per_label) use(label, s.dice, s.hd95);
//
// Definitions (docs/metrics.md, "Segmentation and image-quality metrics"), chosen to agree
// with MONAI 1.x (DiceMetric / MeanIoU with ignore_empty=False, compute_hausdorff_distance
// with percentile=95, compute_average_surface_distance with symmetric=True,
// compute_surface_dice with use_subvoxels=False):
//  - Overlap: Dice = 2|P∩T| / (|P|+|T|), IoU = |P∩T| / |P∪T|, sensitivity = |P∩T| / |T|,
//    precision = |P∩T| / |P|.
//  - Surface of a mask = its voxels with at least one face neighbour (4 in 2-D, 6 in 3-D)
//    outside the mask or outside the image (scipy binary_erosion ^ mask, as MONAI).
//  - Surface distances = for each surface voxel of one mask, the Euclidean distance in mm
//    (voxel centres, spacing applied) to the nearest surface voxel of the other; computed by an
//    exact separable Euclidean distance transform (Felzenszwalb & Huttenlocher 2012), O(N).
//  - HD95: by default the larger of the two directed 95th percentiles (MONAI and DeepMind
//    surface-distance); HausdorffPooling::kUnion takes the 95th percentile of both directed
//    sets pooled (medpy's hd95). Percentiles interpolate linearly (NumPy's default).
//  - ASSD: mean of both directed sets pooled (MONAI symmetric=True).
//  - NSD at tolerance τ: (#{d(P→T) ≤ τ} + #{d(T→P) ≤ τ}) / (|∂P| + |∂T|) (Nikolov et al. 2021
//    with boundary voxels as equally weighted surface elements, as MONAI).
// Empty masks (MONAI's conventions): both empty — Dice = IoU = 1; sensitivity, precision,
// HD95, ASSD and NSD undefined. Truth empty, prediction not — Dice = IoU = 0, precision = 0,
// NSD = 0, sensitivity, HD95 and ASSD undefined. Prediction empty, truth not — Dice = IoU =
// sensitivity = NSD = 0, precision, HD95 and ASSD undefined. Undefined values carry a reason.
//
// Memory: distances are computed on the bounding box of P ∪ T only (8 bytes per voxel of it,
// plus 1 byte per voxel per mask). Work is split over LibTorch's intra-op threads.
// Errors: kInvalidArgument for mismatched sizes or options (negative tolerance, percentile
// outside [0, 100]); kInvalidData for a label map that is not one channel of integer values.
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/image.h"
#include "lucent/metrics/metric_value.h"

namespace lucent::metrics {

// A regular voxel grid stored Z, Y, X with X fastest (the tensor order of lucent::Image).
// A 2-D grid has size_zyx[0] == 1 and no neighbours along Z.
struct VoxelGrid {
  int spatial_dims = 3;
  std::array<int64_t, 3> size_zyx{1, 1, 1};
  std::array<double, 3> spacing_zyx_mm{1.0, 1.0, 1.0};
  [[nodiscard]] int64_t voxels() const { return size_zyx[0] * size_zyx[1] * size_zyx[2]; }
};

// The grid of an image's spatial axes (geometry spacing is i, j, k = X, Y, Z).
[[nodiscard]] VoxelGrid voxel_grid(const Image& image);

enum class HausdorffPooling {
  kMaxOfDirected,  // max(P95(d(P→T)), P95(d(T→P))): MONAI, DeepMind surface-distance
  kUnion,          // P95(d(P→T) ∪ d(T→P)): medpy.metric.binary.hd95
};

struct SegmentationOptions {
  double nsd_tolerance_mm = 1.0;
  double hausdorff_percentile = 95.0;
  HausdorffPooling pooling = HausdorffPooling::kMaxOfDirected;
};

struct SegmentationScores {
  int64_t truth_voxels = 0;
  int64_t pred_voxels = 0;
  int64_t overlap_voxels = 0;
  int64_t truth_surface_voxels = 0;
  int64_t pred_surface_voxels = 0;
  MetricValue dice, iou, sensitivity, precision, hd95, assd, nsd;
};

// Names of the metrics in presentation order, and the value of one by name.
[[nodiscard]] const std::vector<std::string>& segmentation_metric_names();  // dice iou ... nsd
[[nodiscard]] const MetricValue& segmentation_metric(const SegmentationScores& s, const std::string& name);

// Binary masks (non-zero = inside), each grid.voxels() long.
[[nodiscard]] Result<SegmentationScores> segmentation_scores(std::span<const uint8_t> pred,
                                                             std::span<const uint8_t> truth, const VoxelGrid& grid,
                                                             const SegmentationOptions& options = {});

struct LabelScores {
  int64_t label = 0;
  SegmentationScores scores;
};

// Label maps (one value per voxel, each grid.voxels() long); one result per entry of
// `labels`, in that order, or per non-zero label of either map (ascending) when `labels` is
// empty. A label present in neither map gets the both-empty values.
[[nodiscard]] Result<std::vector<LabelScores>> label_map_scores(std::span<const int32_t> pred,
                                                                std::span<const int32_t> truth,
                                                                const VoxelGrid& grid,
                                                                const std::vector<int64_t>& labels,
                                                                const SegmentationOptions& options = {});

// The same on images: one channel each, whole-number values within the int32 range (any
// integer or float dtype), same spatial size; the truth's spacing is used. Geometry agreement
// beyond size is the caller's check (the CLI compares full geometry). kInvalidData names
// "prediction" or "truth" and what is wrong.
[[nodiscard]] Result<std::vector<LabelScores>> label_map_scores(const Image& pred, const Image& truth,
                                                                const std::vector<int64_t>& labels,
                                                                const SegmentationOptions& options = {});

// The scores of a label absent from both maps (Dice = IoU = 1, the rest undefined).
[[nodiscard]] SegmentationScores scores_of_empty_masks();

// Sorted distinct non-zero labels of the maps.
[[nodiscard]] std::vector<int64_t> nonzero_labels(std::span<const int32_t> a, std::span<const int32_t> b);

// Building blocks, exposed for tests and other metrics.
// 1 for each voxel of `mask` that has a face neighbour outside the mask or the grid.
[[nodiscard]] std::vector<uint8_t> surface_voxels(std::span<const uint8_t> mask, const VoxelGrid& grid);
// Squared Euclidean distance (mm²) from every voxel centre to the nearest voxel whose feature
// is non-zero; +infinity everywhere when there is none. Exact (no chamfer approximation).
[[nodiscard]] std::vector<double> squared_distance_transform(std::span<const uint8_t> features,
                                                             const VoxelGrid& grid);

}  // namespace lucent::metrics
