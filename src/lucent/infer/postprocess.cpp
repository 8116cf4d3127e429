#include "lucent/infer/postprocess.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <string>

#include "lucent/infer/internal/json_value.h"

namespace lucent::infer {
namespace {
using internal::value_of;

std::unexpected<Error> invalid(const std::string& what) { return fail(ErrorCode::kInvalidArgument, what); }

Result<PostprocessStep> parse_step(const nlohmann::json& step, const std::string& where) {
  PostprocessStep s;
  nlohmann::json params = nlohmann::json::object();
  if (step.is_string()) {
    s.name = step.get<std::string>();
  } else if (step.is_object() && step.contains("name") && step.at("name").is_string()) {
    s.name = step.at("name").get<std::string>();
    params = step;
  } else {
    return invalid(where + " must be a step name or an object with \"name\", got " + step.dump());
  }
  static const std::map<std::string, std::set<std::string>> kKeys = {
      {"remove_small_components", {"name", "min_voxels", "min_volume_mm3", "classes", "connectivity"}},
      {"keep_largest_components", {"name", "keep", "classes", "connectivity"}},
      {"fill_holes", {"name", "classes", "connectivity"}}};
  const auto known = kKeys.find(s.name);
  if (known == kKeys.end())
    return invalid(where + ": unknown post-processing step \"" + s.name +
                   "\"; known: remove_small_components, keep_largest_components, fill_holes");
  for (auto it = params.begin(); it != params.end(); ++it)
    if (!known->second.contains(it.key()))
      return invalid(where + " (" + s.name + "): unknown key \"" + it.key() + "\"");
  auto& o = s.options;
  auto classes = value_of<std::vector<int64_t>>(params, "classes", where, {});
  auto conn = value_of<std::string>(params, "connectivity", where, "full");
  auto keep = value_of<int64_t>(params, "keep", where, 1);
  auto min_voxels = value_of<int64_t>(params, "min_voxels", where, 0);
  auto min_volume = value_of<double>(params, "min_volume_mm3", where, 0.0);
  if (!classes) return std::unexpected(classes.error());
  if (!conn) return std::unexpected(conn.error());
  if (!keep) return std::unexpected(keep.error());
  if (!min_voxels) return std::unexpected(min_voxels.error());
  if (!min_volume) return std::unexpected(min_volume.error());
  if (*conn != "full" && *conn != "face") return invalid(where + ".connectivity must be full or face, got " + *conn);
  if (*keep < 1) return invalid(where + ".keep must be ≥ 1, got " + std::to_string(*keep));
  if (*min_voxels < 0 || *min_volume < 0) return invalid(where + ": min_voxels and min_volume_mm3 must be ≥ 0");
  if (s.name == "remove_small_components" && *min_voxels == 0 && *min_volume == 0)
    return invalid(where + " (remove_small_components) needs min_voxels or min_volume_mm3 > 0");
  o.classes = *classes;
  o.connectivity = *conn == "face" ? Connectivity::kFace : Connectivity::kFull;
  o.keep = *keep;
  o.min_voxels = *min_voxels;
  o.min_volume_mm3 = *min_volume;
  return s;
}

struct Grid {
  int dims = 3;
  int64_t nz = 1, ny = 1, nx = 1;
  [[nodiscard]] int64_t size() const { return nz * ny * nx; }
};

Result<Grid> grid_of(const at::Tensor& t, const char* what) {
  if (!t.defined() || (t.dim() != 2 && t.dim() != 3))
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": expected a (Y, X) or (Z, Y, X) label map, got " +
                                                 (t.defined() ? c10::str(t.sizes()) : std::string("nothing")));
  if (at::isFloatingType(t.scalar_type()) || t.is_complex())
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": expected integer labels, got " +
                                                 std::string(c10::toString(t.scalar_type())) +
                                                 "; convert probabilities with labels_from_probabilities first");
  if (!t.device().is_cpu())
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": label map must be on the CPU");
  Grid g;
  g.dims = static_cast<int>(t.dim());
  g.nz = t.dim() == 3 ? t.size(0) : 1;
  g.ny = t.size(-2);
  g.nx = t.size(-1);
  return g;
}

struct Offset {
  int dz, dy, dx;
};

std::vector<Offset> neighbours(const Grid& g, Connectivity c) {
  std::vector<Offset> out;
  for (int dz = (g.dims == 3 ? -1 : 0); dz <= (g.dims == 3 ? 1 : 0); ++dz)
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int nonzero = (dz != 0) + (dy != 0) + (dx != 0);
        if (nonzero == 0 || (c == Connectivity::kFace && nonzero > 1)) continue;
        out.push_back({dz, dy, dx});
      }
  return out;
}

// Calls f(u) for every in-grid neighbour u of voxel v; returns whether v lies on the border.
template <typename F>
bool for_neighbours(const Grid& g, const std::vector<Offset>& offs, int64_t v, F&& f) {
  const int64_t x = v % g.nx, y = (v / g.nx) % g.ny, z = v / (g.nx * g.ny);
  const bool border = x == 0 || y == 0 || x == g.nx - 1 || y == g.ny - 1 ||
                      (g.dims == 3 && (z == 0 || z == g.nz - 1));
  for (const auto& o : offs) {
    const int64_t zz = z + o.dz, yy = y + o.dy, xx = x + o.dx;
    if (zz < 0 || yy < 0 || xx < 0 || zz >= g.nz || yy >= g.ny || xx >= g.nx) continue;
    f((zz * g.ny + yy) * g.nx + xx);
  }
  return border;
}

// Components of equal non-zero labels: ids 1..n in scan order, sizes[id], label of each.
struct Labelled {
  std::vector<int32_t> ids;
  std::vector<int64_t> sizes{0};
  std::vector<int32_t> label{0};
};

Labelled label_components(const std::vector<int32_t>& labels, const Grid& g, Connectivity c) {
  Labelled out;
  out.ids.assign(labels.size(), 0);
  const auto offs = neighbours(g, c);
  std::vector<int64_t> queue;
  for (int64_t v = 0; v < g.size(); ++v) {
    if (labels[v] == 0 || out.ids[v] != 0) continue;
    const auto id = static_cast<int32_t>(out.sizes.size());
    const int32_t lab = labels[v];
    out.sizes.push_back(0);
    out.label.push_back(lab);
    queue.assign(1, v);
    out.ids[v] = id;
    for (std::size_t head = 0; head < queue.size(); ++head) {
      ++out.sizes[id];
      for_neighbours(g, offs, queue[head], [&](int64_t u) {
        if (labels[u] == lab && out.ids[u] == 0) {
          out.ids[u] = id;
          queue.push_back(u);
        }
      });
    }
  }
  return out;
}

std::vector<int32_t> to_int32(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kInt).contiguous();
  return {c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel()};
}

void write_back(at::Tensor& t, const std::vector<int32_t>& v) {
  t.copy_(at::from_blob(const_cast<int32_t*>(v.data()), t.sizes(), at::kInt));
}

Result<std::set<int32_t>> selected_classes(const std::vector<int32_t>& labels, const std::vector<int64_t>& requested) {
  std::set<int32_t> out;
  if (requested.empty()) {
    for (int32_t l : labels)
      if (l != 0) out.insert(l);
    return out;
  }
  for (int64_t c : requested) {
    if (c <= 0)
      return fail(ErrorCode::kInvalidArgument, "post-processing: class " + std::to_string(c) +
                                                   " is not a foreground label (classes are labels >= 1; 0 is background)");
    out.insert(static_cast<int32_t>(c));
  }
  return out;
}

double voxel_volume(const Grid& g, const std::array<double, 3>& spacing) {
  return spacing[0] * spacing[1] * (g.dims == 3 ? spacing[2] : 1.0);
}

}  // namespace

Result<at::Tensor> labels_from_probabilities(const at::Tensor& p, const LabelOptions& options) {
  if (!p.defined() || (p.dim() != 3 && p.dim() != 4) || !at::isFloatingType(p.scalar_type()))
    return fail(ErrorCode::kInvalidArgument, "labels_from_probabilities: expected float (K, [Z,] Y, X), got " +
                                                 (p.defined() ? c10::str(p.sizes()) : std::string("nothing")));
  const auto dtype = p.size(0) <= 256 ? at::kByte : at::kInt;
  if (p.size(0) == 1) {
    if (!(options.threshold >= 0 && options.threshold <= 1))
      return fail(ErrorCode::kInvalidArgument,
                  "labels_from_probabilities: threshold must be in [0, 1], got " + std::to_string(options.threshold));
    return p[0].ge(options.threshold).to(dtype);
  }
  return p.argmax(0).to(dtype);
}

Result<Components> connected_components(const at::Tensor& mask, Connectivity connectivity) {
  auto g = grid_of(mask.scalar_type() == at::kBool ? mask.to(at::kByte) : mask, "connected_components");
  if (!g) return std::unexpected(g.error());
  std::vector<int32_t> m = to_int32(mask.ne(0));
  Labelled l = label_components(m, *g, connectivity);
  Components out;
  out.ids = at::empty(mask.sizes(), at::kInt);
  std::copy(l.ids.begin(), l.ids.end(), out.ids.data_ptr<int32_t>());
  out.sizes = std::move(l.sizes);
  return out;
}

Result<int64_t> keep_largest_components(at::Tensor& labels, const ComponentOptions& o) {
  auto g = grid_of(labels, "keep_largest_components");
  if (!g) return std::unexpected(g.error());
  if (o.keep < 1)
    return fail(ErrorCode::kInvalidArgument, "keep_largest_components: keep must be >= 1, got " + std::to_string(o.keep));
  std::vector<int32_t> v = to_int32(labels);
  auto classes = selected_classes(v, o.classes);
  if (!classes) return std::unexpected(classes.error());
  const Labelled l = label_components(v, *g, o.connectivity);
  // Per class, component ids by decreasing size (stable: scan order breaks ties).
  std::vector<char> keep(l.sizes.size(), 1);
  for (int32_t c : *classes) {
    std::vector<int32_t> ids;
    for (std::size_t id = 1; id < l.sizes.size(); ++id)
      if (l.label[id] == c) ids.push_back(static_cast<int32_t>(id));
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return l.sizes[a] > l.sizes[b]; });
    for (std::size_t i = static_cast<std::size_t>(o.keep); i < ids.size(); ++i) keep[ids[i]] = 0;
  }
  int64_t changed = 0;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (l.ids[i] != 0 && !keep[l.ids[i]]) {
      v[i] = 0;
      ++changed;
    }
  if (changed) write_back(labels, v);
  return changed;
}

Result<int64_t> remove_small_components(at::Tensor& labels, const ComponentOptions& o) {
  auto g = grid_of(labels, "remove_small_components");
  if (!g) return std::unexpected(g.error());
  if (o.min_voxels < 0 || !(o.min_volume_mm3 >= 0))
    return fail(ErrorCode::kInvalidArgument, "remove_small_components: min_voxels and min_volume_mm3 must be >= 0");
  for (double s : o.spacing_mm)
    if (!(s > 0) || !std::isfinite(s))
      return fail(ErrorCode::kInvalidArgument,
                  "remove_small_components: spacing_mm must be positive, got " + std::to_string(s));
  std::vector<int32_t> v = to_int32(labels);
  auto classes = selected_classes(v, o.classes);
  if (!classes) return std::unexpected(classes.error());
  const Labelled l = label_components(v, *g, o.connectivity);
  const double vox = voxel_volume(*g, o.spacing_mm);
  std::vector<char> drop(l.sizes.size(), 0);
  for (std::size_t id = 1; id < l.sizes.size(); ++id)
    drop[id] = classes->count(l.label[id]) &&
               (l.sizes[id] < o.min_voxels || static_cast<double>(l.sizes[id]) * vox < o.min_volume_mm3);
  int64_t changed = 0;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (drop[l.ids[i]]) {
      v[i] = 0;
      ++changed;
    }
  if (changed) write_back(labels, v);
  return changed;
}

Result<int64_t> fill_holes(at::Tensor& labels, const ComponentOptions& o) {
  auto g = grid_of(labels, "fill_holes");
  if (!g) return std::unexpected(g.error());
  std::vector<int32_t> v = to_int32(labels);
  auto classes = selected_classes(v, o.classes);
  if (!classes) return std::unexpected(classes.error());
  // Background components, with the connectivity complementary to the foreground's.
  const Connectivity bg_conn = o.connectivity == Connectivity::kFull ? Connectivity::kFace : Connectivity::kFull;
  std::vector<int32_t> bg(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) bg[i] = v[i] == 0;
  const Labelled l = label_components(bg, *g, bg_conn);
  // Per background component: touches the border? the one class around it (-1: several).
  std::vector<char> open(l.sizes.size(), 0);
  std::vector<int32_t> around(l.sizes.size(), 0);
  const auto offs = neighbours(*g, bg_conn);
  for (int64_t i = 0; i < g->size(); ++i) {
    const int32_t id = l.ids[i];
    if (id == 0) continue;
    if (for_neighbours(*g, offs, i, [&](int64_t u) {
          if (v[u] == 0) return;
          if (around[id] == 0) around[id] = v[u];
          else if (around[id] != v[u]) around[id] = -1;
        }))
      open[id] = 1;
  }
  int64_t changed = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const int32_t id = l.ids[i];
    if (id != 0 && !open[id] && around[id] > 0 && classes->count(around[id])) {
      v[i] = around[id];
      ++changed;
    }
  }
  if (changed) write_back(labels, v);
  return changed;
}

Result<std::vector<StructureVolume>> structure_volumes(const at::Tensor& labels, const std::array<double, 3>& spacing_mm,
                                                       int64_t num_labels) {
  auto g = grid_of(labels, "structure_volumes");
  if (!g) return std::unexpected(g.error());
  for (double s : spacing_mm)
    if (!(s > 0) || !std::isfinite(s))
      return fail(ErrorCode::kInvalidArgument, "structure_volumes: spacing_mm must be positive, got " + std::to_string(s));
  const at::Tensor flat = labels.to(at::kLong).flatten();
  if (flat.numel() > 0 && flat.min().item<int64_t>() < 0)
    return fail(ErrorCode::kInvalidArgument, "structure_volumes: negative label " +
                                                 std::to_string(flat.min().item<int64_t>()));
  const int64_t max_label = flat.numel() ? flat.max().item<int64_t>() : 0;
  const int64_t n = std::max(max_label + 1, num_labels);
  const at::Tensor counts = at::bincount(flat, {}, n);
  const double vox = voxel_volume(*g, spacing_mm);
  std::vector<StructureVolume> out;
  for (int64_t lab = 1; lab < n; ++lab) {
    const int64_t c = counts[lab].item<int64_t>();
    out.push_back({lab, c, static_cast<double>(c) * vox, static_cast<double>(c) * vox / 1000.0});
  }
  return out;
}

Result<std::vector<PostprocessStep>> parse_postprocess(const nlohmann::json& steps, const std::string& where) {
  if (!steps.is_array()) return invalid(where + " must be a list of steps, got " + steps.dump());
  std::vector<PostprocessStep> out;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    auto st = parse_step(steps[i], where + "[" + std::to_string(i) + "]");
    if (!st) return std::unexpected(st.error());
    out.push_back(std::move(*st));
  }
  return out;
}

Result<int64_t> apply_postprocess(at::Tensor& labels, const std::vector<PostprocessStep>& steps,
                                  const std::array<double, 3>& spacing_mm) {
  int64_t total = 0;
  for (const auto& step : steps) {
    ComponentOptions o = step.options;
    o.spacing_mm = spacing_mm;
    Result<int64_t> changed = step.name == "remove_small_components"   ? remove_small_components(labels, o)
                              : step.name == "keep_largest_components" ? keep_largest_components(labels, o)
                                                                       : fill_holes(labels, o);
    if (!changed) return std::unexpected(changed.error().with_context("post-processing step " + step.name));
    total += *changed;
  }
  return total;
}

}  // namespace lucent::infer
