#include <c10/util/Exception.h>

#include <exception>
#include <utility>

#include "lucent/transforms/internal/common.h"
#include "lucent/transforms/transform.h"

namespace lucent::transforms {

Result<GridChange> Transform::grid_change(const std::vector<int64_t>& spatial_shape) const {
  if (spatial_shape.size() != 2 && spatial_shape.size() != 3)
    return fail(ErrorCode::kInvalidArgument, "transform '" + name() + "': a spatial shape has 2 (y, x) or 3 (z, y, x) entries, got " +
                                                 std::to_string(spatial_shape.size()));
  return GridChange{spatial_shape, std::vector<double>(spatial_shape.size(), 1.0),
                    std::vector<double>(spatial_shape.size(), 0.0)};
}

Geometry apply_grid_change(const Geometry& geometry, const GridChange& change) {
  Geometry out = geometry;
  const auto n = change.shape.size();
  Vec3 ijk{0.0, 0.0, 0.0};
  for (size_t a = 0; a < n && a < 3; ++a) {
    const size_t index_axis = n - 1 - a;  // tensor order (z,) y, x -> index axes k, j, i
    ijk[index_axis] = change.origin_shift[a];
    out.spacing_mm[index_axis] = geometry.spacing_mm[index_axis] * change.spacing_factor[a];
  }
  out.origin_lps = geometry.index_to_lps(ijk);
  return out;
}

Status TransformRegistry::add(const std::string& name, TransformFactory factory) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "a transform needs a non-empty name");
  if (!factory) return fail(ErrorCode::kInvalidArgument, "transform '" + name + "' has no factory");
  if (factories_.count(name)) return fail(ErrorCode::kAlreadyExists, "transform '" + name + "' is already registered");
  factories_.emplace(name, std::move(factory));
  return ok();
}

Result<std::unique_ptr<Transform>> TransformRegistry::create(const nlohmann::json& step) const {
  if (!step.is_object())
    return fail(ErrorCode::kInvalidArgument,
                "a transform step must be an object like {\"name\": \"flip\", ...}, got " + step.dump());
  auto it = step.find("name");
  if (it == step.end() || !it->is_string())
    return fail(ErrorCode::kInvalidArgument, "a transform step needs a string \"name\", got " + step.dump());
  const auto name = it->get<std::string>();
  auto f = factories_.find(name);
  if (f == factories_.end()) {
    std::string known;
    for (const auto& [n, _] : factories_) known += (known.empty() ? "" : ", ") + n;
    return fail(ErrorCode::kInvalidArgument, "unknown transform '" + name + "'; known transforms: " + known);
  }
  nlohmann::json params = step;
  params.erase("name");
  try {
    return f->second(params);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "building transform '" + name + "': " + e.what());
  }
}

std::vector<std::string> TransformRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : factories_) out.push_back(n);
  return out;
}

void register_builtin_transforms(TransformRegistry& registry) {
  using namespace internal;
  const std::pair<const char*, Factory> builtins[] = {
      // Deterministic preprocessing.
      {"scale_intensity", make_scale_intensity},
      {"normalize", make_normalize},
      {"zscore", make_zscore},
      {"percentile_clip", make_percentile_clip},
      {"window", make_window},
      {"resize", make_resize},
      {"pad_crop", make_pad_crop},
      {"to_channels", make_to_channels},
      // Random augmentations.
      {"flip", make_flip},
      {"rot90", make_rot90},
      {"affine", make_affine},
      {"elastic", make_elastic},
      {"brightness_contrast", make_brightness_contrast},
      {"gamma", make_gamma},
      {"gaussian_noise", make_gaussian_noise},
      {"gaussian_blur", make_gaussian_blur},
      {"random_erasing", make_random_erasing},
  };
  for (const auto& [name, factory] : builtins) {
    // A duplicate here is a programmer error caught by the contract tests (names() count).
    (void)registry.add(name, factory);
  }
}

Result<Pipeline> Pipeline::from_json(const nlohmann::json& steps, const TransformRegistry& registry) {
  if (steps.is_null()) return Pipeline{};
  if (!steps.is_array())
    return fail(ErrorCode::kInvalidArgument, "a pipeline must be a JSON array of steps, got " +
                                                 std::string(steps.type_name()));
  Pipeline pipeline;
  for (size_t i = 0; i < steps.size(); ++i) {
    auto t = registry.create(steps[i]);
    if (!t) return std::unexpected(t.error().with_context("pipeline step " + std::to_string(i)));
    pipeline.steps_.push_back(std::shared_ptr<const Transform>(std::move(*t)));
  }
  return pipeline;
}

Status Pipeline::apply(Batch& batch, Rng& rng) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto st = steps_[i]->apply(batch, rng);
    if (!st) return std::unexpected(st.error().with_context("pipeline step " + std::to_string(i)));
  }
  return ok();
}

Result<GridChange> Pipeline::grid_change(const std::vector<int64_t>& spatial_shape) const {
  GridChange total{spatial_shape, std::vector<double>(spatial_shape.size(), 1.0),
                   std::vector<double>(spatial_shape.size(), 0.0)};
  if (spatial_shape.size() != 2 && spatial_shape.size() != 3)
    return fail(ErrorCode::kInvalidArgument, "a spatial shape has 2 (y, x) or 3 (z, y, x) entries, got " +
                                                 std::to_string(spatial_shape.size()));
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto c = steps_[i]->grid_change(total.shape);
    if (!c) return std::unexpected(c.error().with_context("pipeline step " + std::to_string(i)));
    for (size_t a = 0; a < spatial_shape.size(); ++a) {
      total.origin_shift[a] += c->origin_shift[a] * total.spacing_factor[a];
      total.spacing_factor[a] *= c->spacing_factor[a];
    }
    total.shape = c->shape;
  }
  return total;
}

nlohmann::json Pipeline::to_json() const {
  auto out = nlohmann::json::array();
  for (const auto& s : steps_) out.push_back(s->to_json());
  return out;
}

}  // namespace lucent::transforms
