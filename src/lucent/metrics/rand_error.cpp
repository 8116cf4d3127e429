#include "lucent/metrics/rand_error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "lucent/metrics/internal/label_map.h"

namespace lucent::metrics {
namespace {

using Counts = std::unordered_map<uint64_t, int64_t>;

// Σ c² exactly (a 2^31-voxel segment squares to 2^62; sums of such need 128 bits), minus n.
// Exact integers keep P, T and S free of cancellation when the scores are close to 1.
double pairs_of(const Counts& counts, int64_t n) {
  unsigned __int128 sum = 0;
  for (const auto& [_, c] : counts) sum += static_cast<unsigned __int128>(c) * static_cast<unsigned __int128>(c);
  return static_cast<double>(sum - static_cast<unsigned __int128>(n));
}

// Entropy (nats) of the distribution counts / n: log n − Σ c log c / n.
double entropy(const Counts& counts, int64_t n) {
  long double s = 0;
  for (const auto& [_, c] : counts) s += static_cast<long double>(c) * std::log(static_cast<long double>(c));
  const auto nn = static_cast<long double>(n);
  return static_cast<double>(std::max<long double>(0, std::log(nn) - s / nn));
}

uint64_t id_key(int32_t id) { return static_cast<uint32_t>(id); }
uint64_t pair_key(int32_t t, int32_t p) { return (id_key(t) << 32) | id_key(p); }

Status check_grid_length(std::size_t n, const VoxelGrid& grid) {
  if (grid.spatial_dims != 2 && grid.spatial_dims != 3)
    return fail(ErrorCode::kInvalidArgument, "spatial_dims must be 2 or 3, got " + std::to_string(grid.spatial_dims));
  for (int64_t s : grid.size_zyx)
    if (s < 1) return fail(ErrorCode::kInvalidArgument, "grid size must be >= 1 along every axis");
  if (static_cast<int64_t>(n) != grid.voxels())
    return fail(ErrorCode::kInvalidArgument, "the map has " + std::to_string(n) + " voxels but the grid " +
                                                 std::to_string(grid.voxels()));
  return ok();
}

}  // namespace

const std::vector<std::string>& rand_metric_names() {
  static const std::vector<std::string> names{"rand_error", "rand_split", "rand_merge",
                                              "info_score", "info_split", "info_merge"};
  return names;
}

const MetricValue& rand_metric(const RandScores& s, const std::string& name) {
  if (name == "rand_error") return s.rand_error;
  if (name == "rand_split") return s.rand_split;
  if (name == "rand_merge") return s.rand_merge;
  if (name == "info_score") return s.info_score;
  if (name == "info_split") return s.info_split;
  return s.info_merge;
}

Result<RandScores> rand_scores(std::span<const int32_t> pred, std::span<const int32_t> truth) {
  if (pred.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, "segment maps differ in size: prediction has " + std::to_string(pred.size()) +
                                                 " voxels, truth " + std::to_string(truth.size()));
  // One pass; runs of the same (true, predicted) pair, common in segment maps, cost one lookup.
  Counts joint, t_sizes, p_sizes;
  int64_t n = 0, pred_zero = 0, run = 0;
  int32_t run_t = 0, run_p = 0;
  const auto flush = [&] {
    if (run == 0) return;
    joint[pair_key(run_t, run_p)] += run;
    t_sizes[id_key(run_t)] += run;
    p_sizes[id_key(run_p)] += run;
    run = 0;
  };
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const int32_t t = truth[i];
    if (t == 0) continue;
    const int32_t p = pred[i];
    ++n;
    pred_zero += p == 0;
    if (run > 0 && (t != run_t || p != run_p)) flush();
    run_t = t, run_p = p;
    ++run;
  }
  flush();

  RandScores s;
  s.foreground_voxels = n;
  s.truth_segments = static_cast<int64_t>(t_sizes.size());
  s.pred_segments = static_cast<int64_t>(p_sizes.size());
  s.pred_background_voxels = pred_zero;
  if (n == 0) {
    const std::string why = "the truth has no foreground (non-zero) voxel: the foreground-restricted scores are undefined";
    for (MetricValue* v : {&s.rand_error, &s.rand_split, &s.rand_merge, &s.info_score, &s.info_split, &s.info_merge})
      *v = MetricValue::undefined(why);
    return s;
  }
  const double pp = pairs_of(joint, n), tt = pairs_of(t_sizes, n), ss = pairs_of(p_sizes, n);
  s.rand_split = ratio(pp, tt, "every true segment is a single voxel: no voxel pair shares a true segment");
  s.rand_merge = ratio(pp, ss, "every predicted segment on the truth foreground is a single voxel");
  const MetricValue f = ratio(2 * pp, tt + ss, "every true and every predicted segment is a single voxel");
  s.rand_error = f ? MetricValue::of(1.0 - *f.value) : f;

  const double h_t = entropy(t_sizes, n), h_s = entropy(p_sizes, n), h_ts = entropy(joint, n);
  const double mi = std::clamp(h_t + h_s - h_ts, 0.0, std::min(h_t, h_s));
  // The entropies of one-segment maps are 0 up to rounding; an exact test on counts says so.
  const bool one_t = t_sizes.size() == 1, one_s = p_sizes.size() == 1;
  s.info_split = one_s ? MetricValue::undefined("the prediction is one segment over the truth foreground (entropy 0)")
                       : MetricValue::of(mi / h_s);
  s.info_merge = one_t ? MetricValue::undefined("the truth is one segment (entropy 0)") : MetricValue::of(mi / h_t);
  s.info_score = one_s && one_t ? MetricValue::undefined("truth and prediction are both one segment (entropy 0)")
                                : MetricValue::of(2 * mi / (h_s + h_t));
  return s;
}

Result<std::vector<int32_t>> connected_segments(std::span<const uint8_t> inside, const VoxelGrid& grid) {
  if (auto st = check_grid_length(inside.size(), grid); !st) return std::unexpected(st.error());
  const auto [nz, ny, nx] = grid.size_zyx;
  const int64_t plane = nx * ny;
  std::vector<int32_t> ids(inside.size(), 0);
  std::vector<int64_t> stack;
  int32_t next = 0;
  for (int64_t start = 0; start < static_cast<int64_t>(inside.size()); ++start) {
    if (!inside[start] || ids[start]) continue;
    if (next == std::numeric_limits<int32_t>::max())
      return fail(ErrorCode::kInvalidArgument, "more than 2^31 - 1 connected segments; ids are int32");
    const int32_t id = ++next;
    ids[start] = id;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      const int64_t x = i % nx, y = (i / nx) % ny, z = i / plane;
      const auto visit = [&](int64_t j) {
        if (inside[j] && !ids[j]) {
          ids[j] = id;
          stack.push_back(j);
        }
      };
      if (x > 0) visit(i - 1);
      if (x + 1 < nx) visit(i + 1);
      if (y > 0) visit(i - nx);
      if (y + 1 < ny) visit(i + nx);
      if (z > 0) visit(i - plane);
      if (z + 1 < nz) visit(i + plane);
    }
  }
  return ids;
}

Result<std::vector<int32_t>> segments_of(std::span<const int32_t> map, const VoxelGrid& grid, SegmentSource source) {
  if (auto st = check_grid_length(map.size(), grid); !st) return std::unexpected(st.error());
  if (source == SegmentSource::kLabels) return std::vector<int32_t>(map.begin(), map.end());
  const bool interior_is_nonzero = source == SegmentSource::kInterior;
  std::vector<uint8_t> inside(map.size());
  for (std::size_t i = 0; i < map.size(); ++i) inside[i] = (map[i] != 0) == interior_is_nonzero ? 1 : 0;
  return connected_segments(inside, grid);
}

Result<RandScores> rand_scores(const Image& pred, const Image& truth, SegmentSource pred_source,
                               SegmentSource truth_source) {
  const VoxelGrid grid = voxel_grid(truth);
  const VoxelGrid pgrid = voxel_grid(pred);
  if (pgrid.size_zyx != grid.size_zyx || pred.spatial_dims() != truth.spatial_dims())
    return fail(ErrorCode::kInvalidArgument,
                "prediction and truth sizes differ: prediction " + std::to_string(pgrid.voxels()) + " voxels (" +
                    std::to_string(pred.spatial_dims()) + "-D), truth " + std::to_string(grid.voxels()) + " (" +
                    std::to_string(truth.spatial_dims()) + "-D); resample the prediction onto the truth grid");
  auto p = internal::label_tensor(pred, "prediction");
  if (!p) return std::unexpected(p.error());
  auto t = internal::label_tensor(truth, "truth");
  if (!t) return std::unexpected(t.error());
  const auto n = static_cast<std::size_t>(grid.voxels());
  auto ps = segments_of({p->data_ptr<int32_t>(), n}, grid, pred_source);
  if (!ps) return std::unexpected(ps.error().with_context("prediction"));
  auto ts = segments_of({t->data_ptr<int32_t>(), n}, grid, truth_source);
  if (!ts) return std::unexpected(ts.error().with_context("truth"));
  return rand_scores(*ps, *ts);
}

}  // namespace lucent::metrics
