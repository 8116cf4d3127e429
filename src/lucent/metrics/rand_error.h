// Segment-agreement scores of a predicted segmentation (many objects, each an id) against the
// true one, restricted to the truth's foreground: the adapted Rand error and the information
// theoretic scores of the ISBI 2012 / SNEMI3D EM challenges (Arganda-Carreras et al., Front.
// Neuroanat. 9:142, 2015). They count pairs of voxels (Rand) or bits (information) on which
// the two segmentations disagree about "same object?", so a one-voxel gap in a membrane that
// merges two cells costs as much as the cells' size, which Dice on the membrane pixels hides.
//
//   auto truth_ids = segments_of(truth_map, grid, SegmentSource::kInterior);   // 255 = cell
//   auto pred_ids = segments_of(pred_map, grid, SegmentSource::kBoundary);     // 1 = membrane
//   auto s = rand_scores(*pred_ids, *truth_ids);
//   if (s->rand_error) use(*s->rand_error.value, *s->rand_split.value, *s->rand_merge.value);
//
// Definitions (docs/metrics.md, "Segment agreement"). Only voxels whose TRUE id is non-zero
// count (n of them); there, n_ij = voxels with true id i and predicted id j (predicted id 0 is
// an ordinary segment: all predicted-background voxels inside the true foreground form one
// segment), t_i = Σ_j n_ij (true segment sizes), s_j = Σ_i n_ij (predicted segment sizes):
//  - Rand, over ordered pairs of distinct voxels (scikit-image's adapted_rand_error, which
//    subtracts n from every sum of squares; the paper's normalised form keeps self-pairs):
//      P = Σ n_ij² − n,  T = Σ t_i² − n,  S = Σ s_j² − n
//      rand_split = P / T   (1 = no true object split; skimage's returned "precision")
//      rand_merge = P / S   (1 = no two true objects merged; skimage's "recall")
//      rand_error = 1 − 2P / (T + S) = 1 − F-score of split and merge = skimage's `are`
//    (α = 0.5); V_rand of the challenge = 1 − rand_error.
//  - Information (natural logs; the ratios do not depend on the base): H(T), H(S), H(T,S) the
//    entropies of t/n, s/n, n_ij/n; I = H(T) + H(S) − H(T,S) (clamped to ≥ 0 against rounding);
//      info_split = I / H(S),  info_merge = I / H(T),  info_score = 2I / (H(S) + H(T)) = V_info.
// Undefined (a reason, never NaN): everything when the truth has no foreground voxel;
// rand_split when T = 0 (every true segment is one voxel), rand_merge when S = 0,
// rand_error when T + S = 0; info_split when H(S) = 0 (one predicted segment over the whole
// foreground), info_merge when H(T) = 0, info_score when both are 0.
// Cost: O(n) expected time (hash tables of the marginals and of the non-zero n_ij), memory
// proportional to the number of distinct (true, predicted) pairs. Pure functions; thread-safe.
// Errors: kInvalidArgument for maps of different sizes or a bad grid; kInvalidData for an image
// that is not one channel of whole numbers (as label_map_scores).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/image.h"
#include "lucent/metrics/metric_value.h"
#include "lucent/metrics/segmentation.h"

namespace lucent::metrics {

struct RandScores {
  int64_t foreground_voxels = 0;    // n: voxels whose true id is non-zero
  int64_t truth_segments = 0;       // distinct non-zero true ids
  int64_t pred_segments = 0;        // distinct predicted ids on the foreground (0 included)
  int64_t pred_background_voxels = 0;  // foreground voxels whose predicted id is 0
  MetricValue rand_error, rand_split, rand_merge;
  MetricValue info_score, info_split, info_merge;
};

// Names in presentation order, and the value of one by name.
[[nodiscard]] const std::vector<std::string>& rand_metric_names();  // rand_error ... info_merge
[[nodiscard]] const MetricValue& rand_metric(const RandScores& s, const std::string& name);

// Segment-id maps of the same length (any layout: the scores ignore geometry).
[[nodiscard]] Result<RandScores> rand_scores(std::span<const int32_t> pred, std::span<const int32_t> truth);

// How a map becomes segment ids.
enum class SegmentSource {
  kLabels,    // the values are segment ids already; 0 = background (no object)
  kBoundary,  // non-zero marks boundaries (membranes); segments = components of the zero voxels
  kInterior,  // non-zero marks object interiors; segments = components of the non-zero voxels
};

// Components are face-connected (4 neighbours in 2-D, 6 in 3-D: a one-voxel-thick boundary
// separates two regions even where it runs diagonally), numbered 1, 2, ... in the raster order
// of their first voxel (X fastest); every other voxel is 0. Same as scipy.ndimage.label with
// its default structure. kInvalidArgument when the mask's length is not grid.voxels().
[[nodiscard]] Result<std::vector<int32_t>> connected_segments(std::span<const uint8_t> inside, const VoxelGrid& grid);
[[nodiscard]] Result<std::vector<int32_t>> segments_of(std::span<const int32_t> map, const VoxelGrid& grid,
                                                       SegmentSource source);

// The same on images: one channel of whole numbers each (as label_map_scores), same spatial
// size; each map is turned into segments as its source says, then scored.
[[nodiscard]] Result<RandScores> rand_scores(const Image& pred, const Image& truth, SegmentSource pred_source,
                                             SegmentSource truth_source);

}  // namespace lucent::metrics
