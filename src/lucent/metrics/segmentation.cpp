#include "lucent/metrics/segmentation.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "lucent/metrics/bootstrap.h"
#include "lucent/metrics/internal/label_map.h"

namespace lucent::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Felzenszwalb & Huttenlocher (2012) lower envelope of parabolas: d[q] = min_p ((q-p)·s)² + f[p]
// over the sites p with finite f. Work arrays: v (n ints), z (n + 1 doubles).
void distance_1d(const double* f, int64_t n, double s, double* d, int64_t* v, double* z) {
  int64_t k = -1;
  for (int64_t q = 0; q < n; ++q) {
    if (!std::isfinite(f[q])) continue;
    const double xq = static_cast<double>(q) * s;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -kInf;
      z[1] = kInf;
      continue;
    }
    double cut = 0;
    while (true) {
      const double xv = static_cast<double>(v[k]) * s;
      cut = ((f[q] + xq * xq) - (f[v[k]] + xv * xv)) / (2.0 * (xq - xv));
      if (cut > z[k]) break;  // always true at k == 0 (z[0] = -inf, cut finite)
      --k;
    }
    ++k;
    v[k] = q;
    z[k] = cut;
    z[k + 1] = kInf;
  }
  if (k < 0) {
    for (int64_t q = 0; q < n; ++q) d[q] = kInf;
    return;
  }
  int64_t j = 0;
  for (int64_t q = 0; q < n; ++q) {
    const double xq = static_cast<double>(q) * s;
    while (z[j + 1] < xq) ++j;
    const double dx = xq - static_cast<double>(v[j]) * s;
    d[q] = dx * dx + f[v[j]];
  }
}

// One pass of the separable transform along `axis` (0 = Z, 1 = Y, 2 = X) of a ZYX buffer.
void distance_pass(std::vector<double>& g, const VoxelGrid& grid, int axis) {
  const auto& n = grid.size_zyx;
  const int64_t len = n[axis];
  if (len <= 1) return;
  const std::array<int64_t, 3> stride{n[1] * n[2], n[2], 1};
  const int a = axis == 0 ? 1 : 0;
  const int b = axis == 2 ? 1 : 2;
  const int64_t lines = n[a] * n[b];
  const double s = grid.spacing_zyx_mm[axis];
  at::parallel_for(0, lines, std::max<int64_t>(1, 4096 / len), [&](int64_t begin, int64_t end) {
    std::vector<double> f(len), d(len), z(len + 1);
    std::vector<int64_t> v(len);
    for (int64_t line = begin; line < end; ++line) {
      const int64_t base = (line / n[b]) * stride[a] + (line % n[b]) * stride[b];
      for (int64_t q = 0; q < len; ++q) f[q] = g[base + q * stride[axis]];
      distance_1d(f.data(), len, s, d.data(), v.data(), z.data());
      for (int64_t q = 0; q < len; ++q) g[base + q * stride[axis]] = d[q];
    }
  });
}

struct Box {
  std::array<int64_t, 3> lo{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::max()};
  std::array<int64_t, 3> hi{-1, -1, -1};  // inclusive
  [[nodiscard]] bool empty() const { return hi[0] < 0; }
  void add(int64_t z, int64_t y, int64_t x) {
    lo[0] = std::min(lo[0], z), lo[1] = std::min(lo[1], y), lo[2] = std::min(lo[2], x);
    hi[0] = std::max(hi[0], z), hi[1] = std::max(hi[1], y), hi[2] = std::max(hi[2], x);
  }
  void merge(const Box& o) {
    for (int i = 0; i < 3; ++i) lo[i] = std::min(lo[i], o.lo[i]), hi[i] = std::max(hi[i], o.hi[i]);
  }
};

struct VoxelCounts {
  int64_t pred = 0, truth = 0, overlap = 0;
  Box box;  // of pred ∪ truth
};

// Overlap metrics from voxel counts (MONAI ignore_empty=False conventions; see the header).
void overlap_metrics(const VoxelCounts& c, SegmentationScores& s) {
  s.pred_voxels = c.pred;
  s.truth_voxels = c.truth;
  s.overlap_voxels = c.overlap;
  const double p = static_cast<double>(c.pred), t = static_cast<double>(c.truth);
  const double o = static_cast<double>(c.overlap);
  if (c.pred == 0 && c.truth == 0) {
    s.dice = MetricValue::of(1.0);
    s.iou = MetricValue::of(1.0);
  } else {
    s.dice = MetricValue::of(2.0 * o / (p + t));
    s.iou = MetricValue::of(o / (p + t - o));
  }
  s.sensitivity = ratio(o, t, "the truth mask is empty (no true voxels)");
  s.precision = ratio(o, p, "the predicted mask is empty (no predicted voxels)");
}

double percentile(std::vector<double> sorted_copy, double pct) {
  std::sort(sorted_copy.begin(), sorted_copy.end());
  return sorted_quantile(sorted_copy, pct / 100.0);
}

// HD95, ASSD and NSD when at least one mask has no surface (is empty).
void surface_metrics_without_surface(bool pred_empty, bool truth_empty, SegmentationScores& s) {
  const std::string why = pred_empty && truth_empty ? "both masks are empty: no surface to measure"
                          : truth_empty ? "the truth mask is empty: distance to it is undefined"
                                        : "the predicted mask is empty: distance to it is undefined";
  s.hd95 = MetricValue::undefined(why);
  s.assd = MetricValue::undefined(why);
  s.nsd = pred_empty && truth_empty ? MetricValue::undefined(why) : MetricValue::of(0.0);
}

// Distances between the surfaces of two cropped masks (`grid` is the crop's grid).
void surface_metrics(std::span<const uint8_t> pred, std::span<const uint8_t> truth, const VoxelGrid& grid,
                     const SegmentationOptions& opt, SegmentationScores& s) {
  const std::vector<uint8_t> sp = surface_voxels(pred, grid);
  const std::vector<uint8_t> st = surface_voxels(truth, grid);
  const auto count = [](const std::vector<uint8_t>& m) { return static_cast<int64_t>(std::count(m.begin(), m.end(), 1)); };
  s.pred_surface_voxels = count(sp);
  s.truth_surface_voxels = count(st);
  if (s.pred_surface_voxels == 0 || s.truth_surface_voxels == 0) {
    surface_metrics_without_surface(s.pred_surface_voxels == 0, s.truth_surface_voxels == 0, s);
    return;
  }
  // Directed distances: from each surface voxel of `from` to the nearest of `to`'s surface.
  const auto directed = [&](const std::vector<uint8_t>& from, const std::vector<uint8_t>& to) {
    std::vector<double> g = squared_distance_transform(to, grid);
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(std::count(from.begin(), from.end(), 1)));
    for (std::size_t i = 0; i < from.size(); ++i)
      if (from[i]) out.push_back(std::sqrt(g[i]));
    return out;
  };
  const std::vector<double> d_pt = directed(sp, st);
  const std::vector<double> d_tp = directed(st, sp);
  std::vector<double> both;
  both.reserve(d_pt.size() + d_tp.size());
  both.insert(both.end(), d_pt.begin(), d_pt.end());
  both.insert(both.end(), d_tp.begin(), d_tp.end());
  const double pct = opt.hausdorff_percentile;
  s.hd95 = MetricValue::of(opt.pooling == HausdorffPooling::kUnion
                               ? percentile(both, pct)
                               : std::max(percentile(d_pt, pct), percentile(d_tp, pct)));
  double sum = 0;
  int64_t within = 0;
  for (double d : both) {
    sum += d;
    if (d <= opt.nsd_tolerance_mm) ++within;
  }
  s.assd = MetricValue::of(sum / static_cast<double>(both.size()));
  s.nsd = MetricValue::of(static_cast<double>(within) / static_cast<double>(both.size()));
}

Status check_options(const SegmentationOptions& o) {
  if (!(o.nsd_tolerance_mm >= 0) || !std::isfinite(o.nsd_tolerance_mm))
    return fail(ErrorCode::kInvalidArgument, "NSD tolerance must be a finite number of mm >= 0, got " +
                                                 std::to_string(o.nsd_tolerance_mm));
  if (!(o.hausdorff_percentile >= 0 && o.hausdorff_percentile <= 100))
    return fail(ErrorCode::kInvalidArgument, "Hausdorff percentile must be in [0, 100], got " +
                                                 std::to_string(o.hausdorff_percentile));
  return ok();
}

Status check_grid(const VoxelGrid& g, std::size_t pred_n, std::size_t truth_n) {
  if (g.spatial_dims != 2 && g.spatial_dims != 3)
    return fail(ErrorCode::kInvalidArgument, "spatial_dims must be 2 or 3, got " + std::to_string(g.spatial_dims));
  if (g.spatial_dims == 2 && g.size_zyx[0] != 1)
    return fail(ErrorCode::kInvalidArgument, "a 2-D grid must have Z size 1, got " + std::to_string(g.size_zyx[0]));
  for (int a = 0; a < 3; ++a) {
    if (g.size_zyx[a] < 1) return fail(ErrorCode::kInvalidArgument, "grid size must be >= 1 along every axis");
    if (!(g.spacing_zyx_mm[a] > 0) || !std::isfinite(g.spacing_zyx_mm[a]))
      return fail(ErrorCode::kInvalidArgument, "voxel spacing must be positive and finite, got " +
                                                   std::to_string(g.spacing_zyx_mm[a]) + " mm");
  }
  const auto n = static_cast<std::size_t>(g.voxels());
  if (pred_n != n || truth_n != n)
    return fail(ErrorCode::kInvalidArgument, "mask sizes differ from the grid: prediction has " +
                                                 std::to_string(pred_n) + " voxels, truth " + std::to_string(truth_n) +
                                                 ", grid " + std::to_string(n));
  return ok();
}

VoxelGrid crop_grid(const VoxelGrid& g, const Box& b) {
  VoxelGrid c = g;
  for (int a = 0; a < 3; ++a) c.size_zyx[a] = b.hi[a] - b.lo[a] + 1;
  return c;
}

// Cropped binary masks of `inside(index)` for the voxels of box b.
template <typename Inside>
std::vector<uint8_t> crop_mask(const VoxelGrid& g, const Box& b, Inside inside) {
  const VoxelGrid c = crop_grid(g, b);
  std::vector<uint8_t> m(static_cast<std::size_t>(c.voxels()));
  std::size_t o = 0;
  for (int64_t z = b.lo[0]; z <= b.hi[0]; ++z)
    for (int64_t y = b.lo[1]; y <= b.hi[1]; ++y) {
      const int64_t row = (z * g.size_zyx[1] + y) * g.size_zyx[2];
      for (int64_t x = b.lo[2]; x <= b.hi[2]; ++x) m[o++] = inside(row + x) ? 1 : 0;
    }
  return m;
}

SegmentationScores scores_in_box(const VoxelCounts& c, const VoxelGrid& g, const SegmentationOptions& opt,
                                 const std::vector<uint8_t>& pred_crop, const std::vector<uint8_t>& truth_crop) {
  SegmentationScores s;
  overlap_metrics(c, s);
  if (c.box.empty()) {
    surface_metrics_without_surface(true, true, s);
    return s;
  }
  surface_metrics(pred_crop, truth_crop, crop_grid(g, c.box), opt, s);
  return s;
}

}  // namespace

VoxelGrid voxel_grid(const Image& image) {
  VoxelGrid g;
  g.spatial_dims = image.spatial_dims();
  const auto ijk = image.size_ijk();
  g.size_zyx = {image.spatial_dims() == 2 ? 1 : ijk[2], ijk[1], ijk[0]};
  g.spacing_zyx_mm = {image.spatial_dims() == 2 ? 1.0 : image.geometry.spacing_mm[2], image.geometry.spacing_mm[1],
                      image.geometry.spacing_mm[0]};
  return g;
}

const std::vector<std::string>& segmentation_metric_names() {
  static const std::vector<std::string> names{"dice", "iou", "sensitivity", "precision", "hd95", "assd", "nsd"};
  return names;
}

const MetricValue& segmentation_metric(const SegmentationScores& s, const std::string& name) {
  if (name == "dice") return s.dice;
  if (name == "iou") return s.iou;
  if (name == "sensitivity") return s.sensitivity;
  if (name == "precision") return s.precision;
  if (name == "hd95") return s.hd95;
  if (name == "assd") return s.assd;
  return s.nsd;
}

std::vector<uint8_t> surface_voxels(std::span<const uint8_t> mask, const VoxelGrid& grid) {
  const auto [nz, ny, nx] = grid.size_zyx;
  const bool use_z = grid.spatial_dims == 3;
  std::vector<uint8_t> out(mask.size(), 0);
  at::parallel_for(0, nz * ny, 64, [&](int64_t begin, int64_t end) {
    for (int64_t zy = begin; zy < end; ++zy) {
      const int64_t z = zy / ny, y = zy % ny;
      const int64_t row = zy * nx;
      for (int64_t x = 0; x < nx; ++x) {
        const int64_t i = row + x;
        if (!mask[i]) continue;
        bool edge = x == 0 || x == nx - 1 || y == 0 || y == ny - 1 || !mask[i - 1] || !mask[i + 1] ||
                    !mask[i - nx] || !mask[i + nx];
        if (!edge && use_z)
          edge = z == 0 || z == nz - 1 || !mask[i - nx * ny] || !mask[i + nx * ny];
        out[i] = edge ? 1 : 0;
      }
    }
  });
  return out;
}

std::vector<double> squared_distance_transform(std::span<const uint8_t> features, const VoxelGrid& grid) {
  std::vector<double> g(features.size());
  for (std::size_t i = 0; i < features.size(); ++i) g[i] = features[i] ? 0.0 : kInf;
  distance_pass(g, grid, 2);
  distance_pass(g, grid, 1);
  if (grid.spatial_dims == 3) distance_pass(g, grid, 0);
  return g;
}

SegmentationScores scores_of_empty_masks() {
  SegmentationScores s;
  overlap_metrics(VoxelCounts{}, s);
  surface_metrics_without_surface(true, true, s);
  return s;
}

Result<SegmentationScores> segmentation_scores(std::span<const uint8_t> pred, std::span<const uint8_t> truth,
                                               const VoxelGrid& grid, const SegmentationOptions& options) {
  if (auto st = check_options(options); !st) return std::unexpected(st.error());
  if (auto st = check_grid(grid, pred.size(), truth.size()); !st) return std::unexpected(st.error());
  VoxelCounts c;
  const auto [nz, ny, nx] = grid.size_zyx;
  std::size_t i = 0;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t x = 0; x < nx; ++x, ++i) {
        const bool p = pred[i] != 0, t = truth[i] != 0;
        if (!p && !t) continue;
        c.pred += p;
        c.truth += t;
        c.overlap += p && t;
        c.box.add(z, y, x);
      }
  if (c.box.empty()) return scores_in_box(c, grid, options, {}, {});
  const auto pc = crop_mask(grid, c.box, [&](int64_t k) { return pred[k] != 0; });
  const auto tc = crop_mask(grid, c.box, [&](int64_t k) { return truth[k] != 0; });
  return scores_in_box(c, grid, options, pc, tc);
}

std::vector<int64_t> nonzero_labels(std::span<const int32_t> a, std::span<const int32_t> b) {
  std::vector<uint8_t> seen_small(256, 0);  // fast path for the usual 0..255 labels
  std::map<int32_t, bool> seen;
  for (auto span : {a, b})
    for (int32_t v : span) {
      if (v == 0) continue;
      if (v > 0 && v < 256) {
        seen_small[static_cast<std::size_t>(v)] = 1;
      } else {
        seen[v] = true;
      }
    }
  for (int v = 1; v < 256; ++v)
    if (seen_small[static_cast<std::size_t>(v)]) seen[v] = true;
  std::vector<int64_t> out;
  for (const auto& [v, _] : seen) out.push_back(v);
  return out;
}

Result<std::vector<LabelScores>> label_map_scores(std::span<const int32_t> pred, std::span<const int32_t> truth,
                                                  const VoxelGrid& grid, const std::vector<int64_t>& labels,
                                                  const SegmentationOptions& options) {
  if (auto st = check_options(options); !st) return std::unexpected(st.error());
  if (auto st = check_grid(grid, pred.size(), truth.size()); !st) return std::unexpected(st.error());
  const std::vector<int64_t> wanted = labels.empty() ? nonzero_labels(pred, truth) : labels;
  const bool want_zero = std::find(wanted.begin(), wanted.end(), 0) != wanted.end();

  // One pass over both maps: counts and bounding box of every label (slices in parallel).
  const auto [nz, ny, nx] = grid.size_zyx;
  std::map<int32_t, VoxelCounts> counts;
  std::mutex merge_mutex;
  at::parallel_for(0, nz * ny, 256, [&](int64_t begin, int64_t end) {
    std::map<int32_t, VoxelCounts> local;
    int32_t last = std::numeric_limits<int32_t>::min();
    VoxelCounts* last_c = nullptr;
    const auto at_label = [&](int32_t v) -> VoxelCounts& {
      if (v != last || last_c == nullptr) {
        last = v;
        last_c = &local[v];
      }
      return *last_c;
    };
    for (int64_t zy = begin; zy < end; ++zy) {
      const int64_t z = zy / ny, y = zy % ny;
      const int64_t row = zy * nx;
      for (int64_t x = 0; x < nx; ++x) {
        const int32_t p = pred[row + x], t = truth[row + x];
        if (p == t) {
          if (p == 0 && !want_zero) continue;
          VoxelCounts& c = at_label(p);
          ++c.pred, ++c.truth, ++c.overlap;
          c.box.add(z, y, x);
          continue;
        }
        if (p != 0 || want_zero) {
          VoxelCounts& c = at_label(p);
          ++c.pred;
          c.box.add(z, y, x);
        }
        if (t != 0 || want_zero) {
          VoxelCounts& c = at_label(t);
          ++c.truth;
          c.box.add(z, y, x);
        }
      }
    }
    std::lock_guard<std::mutex> lock(merge_mutex);
    for (const auto& [v, c] : local) {
      VoxelCounts& g = counts[v];
      g.pred += c.pred, g.truth += c.truth, g.overlap += c.overlap;
      g.box.merge(c.box);
    }
  });

  std::vector<LabelScores> out;
  out.reserve(wanted.size());
  for (int64_t label : wanted) {
    LabelScores ls;
    ls.label = label;
    const bool representable = label >= std::numeric_limits<int32_t>::min() && label <= std::numeric_limits<int32_t>::max();
    const auto it = representable ? counts.find(static_cast<int32_t>(label)) : counts.end();
    if (it == counts.end()) {
      ls.scores = scores_of_empty_masks();
    } else {
      const VoxelCounts& c = it->second;
      const auto v = static_cast<int32_t>(label);
      const auto pc = crop_mask(grid, c.box, [&](int64_t k) { return pred[k] == v; });
      const auto tc = crop_mask(grid, c.box, [&](int64_t k) { return truth[k] == v; });
      ls.scores = scores_in_box(c, grid, options, pc, tc);
    }
    out.push_back(std::move(ls));
  }
  return out;
}

namespace internal {

Result<at::Tensor> label_tensor(const Image& image, const std::string& role) {
  const at::Tensor& t = image.data;
  if (!t.defined() || t.dim() != image.spatial_dims() + 1)
    return fail(ErrorCode::kInvalidData, "the " + role + " label map has no voxel data of the expected rank");
  if (t.size(0) != 1)
    return fail(ErrorCode::kInvalidData, "the " + role + " label map has " + std::to_string(t.size(0)) +
                                             " channels; a label map has one (one integer label per voxel)");
  try {
    at::Tensor v = t.contiguous();
    if (v.numel() == 0) return fail(ErrorCode::kInvalidData, "the " + role + " label map is empty");
    if (v.is_floating_point()) {
      if (!v.isfinite().all().item<bool>())
        return fail(ErrorCode::kInvalidData, "the " + role + " label map holds NaN or infinite values; labels are whole numbers");
      if ((v != v.round()).any().item<bool>())
        return fail(ErrorCode::kInvalidData, "the " + role + " label map holds non-integer values (e.g. " +
                                                 std::to_string(v.masked_select(v != v.round())[0].item<double>()) +
                                                 "); is it a probability map? Give a label map (argmax / threshold first)");
    }
    if (v.scalar_type() == at::kBool) v = v.to(at::kByte);
    const double lo = v.min().item<double>(), hi = v.max().item<double>();
    if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max())
      return fail(ErrorCode::kInvalidData, "the " + role + " label map holds values outside the int32 range");
    return v.to(at::kInt).contiguous();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "converting the " + role + " label map: " + e.what());
  }
}

}  // namespace internal

Result<std::vector<LabelScores>> label_map_scores(const Image& pred, const Image& truth,
                                                  const std::vector<int64_t>& labels,
                                                  const SegmentationOptions& options) {
  const VoxelGrid grid = voxel_grid(truth);
  const VoxelGrid pgrid = voxel_grid(pred);
  if (pgrid.size_zyx != grid.size_zyx || pred.spatial_dims() != truth.spatial_dims()) {
    const auto text = [](const VoxelGrid& g) {
      return std::to_string(g.spatial_dims) + "-D " + std::to_string(g.size_zyx[2]) + "x" +
             std::to_string(g.size_zyx[1]) + "x" + std::to_string(g.size_zyx[0]) + " (XxYxZ)";
    };
    return fail(ErrorCode::kInvalidArgument, "prediction and truth sizes differ: prediction " + text(pgrid) +
                                                 ", truth " + text(grid) + "; resample the prediction onto the truth grid");
  }
  auto p = internal::label_tensor(pred, "prediction");
  if (!p) return std::unexpected(p.error());
  auto t = internal::label_tensor(truth, "truth");
  if (!t) return std::unexpected(t.error());
  const auto n = static_cast<std::size_t>(grid.voxels());
  return label_map_scores(std::span<const int32_t>(p->data_ptr<int32_t>(), n),
                          std::span<const int32_t>(t->data_ptr<int32_t>(), n), grid, labels, options);
}

}  // namespace lucent::metrics
