// Spatial transforms: move voxels. Masks follow with nearest-neighbour sampling. resize and
// pad_crop produce a new grid (see docs/transforms.md for the geometry); the random
// augmentations keep the grid (same shape, same spacing).
#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "lucent/transforms/internal/common.h"

namespace lucent::transforms::internal {
namespace {

constexpr double kDegToRad = std::numbers::pi / 180.0;

double draw(Rng& rng, double lo, double hi) { return hi > lo ? rng.uniform(lo, hi) : lo; }

std::string shape_of(const at::Tensor& t) { return c10::str(t.sizes()); }

// Linear: align_corners=false. Nearest: the "exact" variant, which picks the input voxel whose
// centre is nearest to the output voxel's centre (the same grid convention as linear), unlike
// LibTorch's legacy nearest that is shifted by up to one voxel when downsampling.
at::Tensor resize_tensor(const at::Tensor& x, const std::vector<int64_t>& size, bool linear) {
  const at::IntArrayRef out(size);
  if (x.dim() == 4) return linear ? at::upsample_bilinear2d(x, out, false) : at::_upsample_nearest_exact2d(x, out);
  return linear ? at::upsample_trilinear3d(x, out, false) : at::_upsample_nearest_exact3d(x, out);
}

at::Tensor resize_mask(const at::Tensor& m, const std::vector<int64_t>& size) {
  auto out = resize_tensor(m.to(at::kFloat), size, false);
  return out.to(m.scalar_type());
}

class Resize final : public TransformBase {
 public:
  Resize(nlohmann::json d, std::vector<int64_t> size, bool linear)
      : TransformBase(false, std::move(d)), size_(std::move(size)), linear_(linear) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const auto spatial = static_cast<size_t>(b.images.dim() - 2);
    if (size_.size() != spatial)
      return invalid("size has " + std::to_string(size_.size()) + " entries but the batch " + shape_of(b.images) +
                     " has " + std::to_string(spatial) + " spatial axes; declare [y, x] for 2-D, [z, y, x] for 3-D");
    if (b.images.sizes().slice(2).vec() == size_) return ok();
    b.images = resize_tensor(b.images, size_, linear_);
    if (b.masks.defined()) b.masks = resize_mask(b.masks, size_);
    return ok();
  }

 public:
  Result<GridChange> grid_change(const std::vector<int64_t>& in) const override {
    if (in.size() != size_.size())
      return invalid("size has " + std::to_string(size_.size()) + " entries but the input has " +
                     std::to_string(in.size()) + " spatial axes");
    GridChange c{size_, {}, {}};
    for (size_t a = 0; a < in.size(); ++a) {
      // align_corners=false: the extent is kept, voxel centres move by half the spacing change.
      const double f = static_cast<double>(in[a]) / static_cast<double>(size_[a]);
      c.spacing_factor.push_back(f);
      c.origin_shift.push_back((f - 1.0) / 2.0);
    }
    return c;
  }

 private:
  std::vector<int64_t> size_;
  bool linear_;
};

// Center crop then zero pad, axis by axis; an odd difference puts the extra voxel after.
at::Tensor pad_crop_tensor(at::Tensor x, const std::vector<int64_t>& size) {
  const auto spatial = static_cast<int64_t>(size.size());
  std::vector<int64_t> pad(static_cast<size_t>(2 * spatial), 0);
  bool any_pad = false;
  for (int64_t a = 0; a < spatial; ++a) {
    const int64_t dim = 2 + a, cur = x.size(dim), target = size[static_cast<size_t>(a)];
    if (cur > target) x = x.narrow(dim, (cur - target) / 2, target);
    if (cur < target) {
      const auto slot = static_cast<size_t>(2 * (spatial - 1 - a));
      pad[slot] = (target - cur) / 2;
      pad[slot + 1] = target - cur - pad[slot];
      any_pad = true;
    }
  }
  return any_pad ? at::constant_pad_nd(x, pad, 0) : x.contiguous();
}

class PadCrop final : public TransformBase {
 public:
  PadCrop(nlohmann::json d, std::vector<int64_t> size) : TransformBase(false, std::move(d)), size_(std::move(size)) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const auto spatial = static_cast<size_t>(b.images.dim() - 2);
    if (size_.size() != spatial)
      return invalid("size has " + std::to_string(size_.size()) + " entries but the batch " + shape_of(b.images) +
                     " has " + std::to_string(spatial) + " spatial axes; declare [y, x] for 2-D, [z, y, x] for 3-D");
    b.images = pad_crop_tensor(b.images, size_);
    if (b.masks.defined()) b.masks = pad_crop_tensor(b.masks, size_);
    return ok();
  }

 public:
  Result<GridChange> grid_change(const std::vector<int64_t>& in) const override {
    if (in.size() != size_.size())
      return invalid("size has " + std::to_string(size_.size()) + " entries but the input has " +
                     std::to_string(in.size()) + " spatial axes");
    GridChange c{size_, std::vector<double>(in.size(), 1.0), {}};
    // Matches pad_crop_tensor: crop (cur - target) / 2 before, or pad (target - cur) / 2 before.
    for (size_t a = 0; a < in.size(); ++a) {
      const int64_t cur = in[a], target = size_[a];
      c.origin_shift.push_back(static_cast<double>(cur > target ? (cur - target) / 2 : -((target - cur) / 2)));
    }
    return c;
  }

 private:
  std::vector<int64_t> size_;
};

class Flip final : public TransformBase {
 public:
  Flip(nlohmann::json d, std::vector<std::string> axes, double p)
      : TransformBase(true, std::move(d)), axes_(std::move(axes)), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    const int64_t rank = b.images.dim(), n = b.images.size(0);
    std::vector<int64_t> dims;
    for (const auto& a : axes_) {
      if (a == "z" && rank == 4)
        return invalid("axis \"z\" requested for a 2-D batch " + shape_of(b.images) + "; use axes [x] or [x, y]");
      dims.push_back(a == "x" ? rank - 1 : a == "y" ? rank - 2 : rank - 3);
    }
    // One draw per sample and axis, sample-major.
    std::vector<std::vector<int64_t>> chosen(dims.size());
    for (int64_t i = 0; i < n; ++i)
      for (size_t a = 0; a < dims.size(); ++a)
        if (rng.bernoulli(p_)) chosen[a].push_back(i);
    for (size_t a = 0; a < dims.size(); ++a) {
      auto flip = [&](const at::Tensor& t) { return t.flip({dims[a]}); };
      b.images = apply_to_samples(b.images, chosen[a], flip);
      if (b.masks.defined()) b.masks = apply_to_samples(b.masks, chosen[a], flip);
    }
    return ok();
  }

 private:
  std::vector<std::string> axes_;
  double p_;
};

class Rot90 final : public TransformBase {
 public:
  Rot90(nlohmann::json d, double p) : TransformBase(true, std::move(d)), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    const int64_t rank = b.images.dim(), n = b.images.size(0);
    if (b.images.size(-1) != b.images.size(-2))
      return invalid("needs square y-x planes, got " + shape_of(b.images) +
                     "; resize or pad_crop to equal y and x first, or use affine for free rotations");
    std::array<std::vector<int64_t>, 4> by_k;
    for (int64_t i = 0; i < n; ++i)
      if (rng.bernoulli(p_)) by_k[static_cast<size_t>(rng.integer(1, 3))].push_back(i);
    for (int64_t k = 1; k <= 3; ++k) {
      auto rot = [&](const at::Tensor& t) { return at::rot90(t, k, {rank - 2, rank - 1}).contiguous(); };
      b.images = apply_to_samples(b.images, by_k[static_cast<size_t>(k)], rot);
      if (b.masks.defined()) b.masks = apply_to_samples(b.masks, by_k[static_cast<size_t>(k)], rot);
    }
    return ok();
  }

 private:
  double p_;
};

// 3x3 matrices in (x, y, z) order, row-major. 2-D uses the top-left 2x2 block.
using Mat3 = std::array<double, 9>;

Mat3 mul(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}

Mat3 inverse(const Mat3& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
  const double det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  const Mat3 adj{e * i - f * h, c * h - b * i, b * f - c * e, f * g - d * i, a * i - c * g,
                 c * d - a * f, d * h - e * g, b * g - a * h, a * e - b * d};
  Mat3 out{};
  for (int k = 0; k < 9; ++k) out[k] = adj[k] / det;
  return out;
}

Mat3 rotation(int axis, double rad) {
  const double c = std::cos(rad), s = std::sin(rad);
  if (axis == 2) return {c, -s, 0, s, c, 0, 0, 0, 1};  // about z: the y-x plane
  if (axis == 1) return {c, 0, s, 0, 1, 0, -s, 0, c};  // about y
  return {1, 0, 0, 0, c, -s, 0, s, c};                 // about x
}

class Affine final : public TransformBase {
 public:
  struct Options {
    std::vector<double> rotate_deg;  // 1 value, or [about z, about y, about x]
    std::pair<double, double> scale;
    double shear_deg, translate_frac, p;
    bool border;
  };
  Affine(nlohmann::json d, Options o) : TransformBase(true, std::move(d)), o_(std::move(o)) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    const int64_t n = b.images.size(0), dims = b.images.dim() - 2;
    // Sizes in (x, y, z) order, matching the grid's last axis.
    std::array<double, 3> sz{1, 1, 1};
    for (int64_t k = 0; k < dims; ++k) sz[static_cast<size_t>(k)] = static_cast<double>(b.images.size(-1 - k));
    auto idx = select_samples(rng, n, o_.p);
    if (idx.empty()) return ok();
    const double rz = o_.rotate_deg[0];
    const double ry = o_.rotate_deg.size() == 3 ? o_.rotate_deg[1] : rz;
    const double rx = o_.rotate_deg.size() == 3 ? o_.rotate_deg[2] : rz;
    const double sh = o_.shear_deg;
    auto theta = at::zeros({static_cast<int64_t>(idx.size()), dims, dims + 1}, at::kDouble);
    auto th = theta.accessor<double, 3>();
    for (size_t s = 0; s < idx.size(); ++s) {
      // Forward map in centred voxel units: out = R * Shear * Scale * in + t.
      Mat3 r = rotation(2, draw(rng, -rz, rz) * kDegToRad);
      if (dims == 3) {
        r = mul(r, rotation(1, draw(rng, -ry, ry) * kDegToRad));
        r = mul(r, rotation(0, draw(rng, -rx, rx) * kDegToRad));
      }
      const double scale = draw(rng, o_.scale.first, o_.scale.second);
      Mat3 shear{1, 0, 0, 0, 1, 0, 0, 0, 1};
      for (int i = 0; i < dims; ++i)
        for (int j = 0; j < dims; ++j)
          if (i != j) shear[i * 3 + j] = std::tan(draw(rng, -sh, sh) * kDegToRad);
      const Mat3 lin = mul(mul(r, shear), Mat3{scale, 0, 0, 0, scale, 0, 0, 0, scale});
      std::array<double, 3> t{0, 0, 0};
      for (int64_t k = 0; k < dims; ++k)
        t[static_cast<size_t>(k)] = draw(rng, -o_.translate_frac, o_.translate_frac) * sz[static_cast<size_t>(k)];
      // Sampling map (output -> input) in normalised coordinates u = voxel / (size / 2).
      const Mat3 inv = inverse(lin);
      for (int64_t i = 0; i < dims; ++i) {
        double offset = 0;
        for (int64_t j = 0; j < dims; ++j) {
          th[static_cast<int64_t>(s)][i][j] = inv[i * 3 + j] * sz[static_cast<size_t>(j)] / sz[static_cast<size_t>(i)];
          offset -= inv[i * 3 + j] * t[static_cast<size_t>(j)];
        }
        th[static_cast<int64_t>(s)][i][dims] = offset / (sz[static_cast<size_t>(i)] / 2);
      }
    }
    auto warp = [&](const at::Tensor& x, bool mask) {
      auto size = x.sizes().vec();
      size[0] = theta.size(0);
      auto grid = at::affine_grid_generator(theta.to(x.device(), at::kFloat), size, false);
      return mask ? sample_mask(x, grid, o_.border) : sample_image(x, grid, o_.border);
    };
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) { return warp(x, false); });
    if (b.masks.defined()) b.masks = apply_to_samples(b.masks, idx, [&](const at::Tensor& x) { return warp(x, true); });
    return ok();
  }

 private:
  Options o_;
};

// Random smooth displacement field: uniform noise in [-1, 1] per voxel and axis, Gaussian
// smoothed (sigma in voxels), scaled so that its largest displacement along each axis is
// `alpha` voxels, added to the identity grid. For speed the field is drawn on a grid coarser by
// floor(sigma / 2) and upsampled linearly (the smoothing makes the difference negligible).
class Elastic final : public TransformBase {
 public:
  Elastic(nlohmann::json d, double alpha, double sigma, double p)
      : TransformBase(true, std::move(d)), alpha_(alpha), sigma_(sigma), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    const int64_t n = b.images.size(0), dims = b.images.dim() - 2;
    auto idx = select_samples(rng, n, p_);
    if (idx.empty() || alpha_ == 0) return ok();
    const auto m = static_cast<int64_t>(idx.size());
    const auto full = b.images.sizes().slice(2).vec();  // (z,) y, x
    const int64_t factor = std::max<int64_t>(1, static_cast<int64_t>(std::floor(sigma_ / 2)));
    std::vector<int64_t> coarse_shape{m, dims};
    for (auto s : full) coarse_shape.push_back((s + factor - 1) / factor);
    auto field = at::rand(coarse_shape, rng.generator(), at::TensorOptions().dtype(at::kFloat)) * 2 - 1;
    field = gaussian_smooth(field, sigma_ / static_cast<double>(factor));
    std::vector<int64_t> reduce_dims;
    for (int64_t k = 0; k < dims; ++k) reduce_dims.push_back(2 + k);
    field = field / field.abs().amax(reduce_dims, true).clamp_min(1e-12) * alpha_;
    if (factor > 1) field = resize_tensor(field, full, true);
    // Channel k of the field is the displacement along grid axis k (x, y, z order), in voxels.
    std::vector<double> to_norm;
    for (int64_t k = 0; k < dims; ++k) to_norm.push_back(2.0 / static_cast<double>(full[static_cast<size_t>(dims - 1 - k)]));
    std::vector<int64_t> norm_shape(static_cast<size_t>(2 + dims), 1);
    norm_shape[1] = dims;
    field = field * at::tensor(to_norm, at::kDouble).to(at::kFloat).reshape(norm_shape);
    field = dims == 2 ? field.permute({0, 2, 3, 1}) : field.permute({0, 2, 3, 4, 1});
    auto theta = at::eye(dims, dims + 1, at::kFloat).unsqueeze(0).expand({m, dims, dims + 1}).contiguous();
    std::vector<int64_t> size{m, 1};
    size.insert(size.end(), full.begin(), full.end());
    auto grid = at::affine_grid_generator(theta, size, false) + field;
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) { return sample_image(x, grid, true); });
    if (b.masks.defined())
      b.masks = apply_to_samples(b.masks, idx, [&](const at::Tensor& x) { return sample_mask(x, grid, true); });
    return ok();
  }

 private:
  double alpha_, sigma_, p_;
};

}  // namespace

Result<std::unique_ptr<Transform>> make_resize(const nlohmann::json& j) {
  Params p("resize", j);
  auto size = p.integer_list("size");
  const auto mode = p.choice("mode", "linear", {"linear", "nearest"});
  p.require(size.size() == 2 || size.size() == 3, "size", "needs 2 ([y, x]) or 3 ([z, y, x]) entries");
  p.require(std::all_of(size.begin(), size.end(), [](int64_t s) { return s > 0; }), "size", "entries must be > 0");
  return make<Resize>(p, size, mode == "linear");
}

Result<std::unique_ptr<Transform>> make_pad_crop(const nlohmann::json& j) {
  Params p("pad_crop", j);
  auto size = p.integer_list("size");
  (void)p.choice("mode", "center", {"center"});
  p.require(size.size() == 2 || size.size() == 3, "size", "needs 2 ([y, x]) or 3 ([z, y, x]) entries");
  p.require(std::all_of(size.begin(), size.end(), [](int64_t s) { return s > 0; }), "size", "entries must be > 0");
  return make<PadCrop>(p, size);
}

Result<std::unique_ptr<Transform>> make_flip(const nlohmann::json& j) {
  Params p("flip", j);
  auto axes = p.string_list("axes", std::vector<std::string>{"x"}, {"x", "y", "z"});
  const double prob = p.probability(0.5);
  return make<Flip>(p, axes, prob);
}

Result<std::unique_ptr<Transform>> make_rot90(const nlohmann::json& j) {
  Params p("rot90", j);
  const double prob = p.probability(0.5);
  return make<Rot90>(p, prob);
}

Result<std::unique_ptr<Transform>> make_affine(const nlohmann::json& j) {
  Params p("affine", j);
  Affine::Options o;
  o.rotate_deg = p.number_or_list("rotate_deg", std::vector<double>{0.0});
  o.scale = p.range("scale", std::pair{1.0, 1.0});
  o.shear_deg = p.number("shear_deg", 0.0);
  o.translate_frac = p.number("translate_frac", 0.0);
  o.p = p.probability(1.0);
  o.border = p.choice("padding", "zeros", {"zeros", "border"}) == "border";
  p.require(o.rotate_deg.size() == 1 || o.rotate_deg.size() == 3, "rotate_deg",
            "must be a number or [about_z, about_y, about_x]");
  p.require(std::all_of(o.rotate_deg.begin(), o.rotate_deg.end(), [](double r) { return r >= 0 && r <= 180; }),
            "rotate_deg", "must lie in [0, 180] degrees (the largest |angle|)");
  p.require(o.scale.first > 0, "scale", "must be > 0");
  p.require(o.shear_deg >= 0 && o.shear_deg < 60, "shear_deg", "must lie in [0, 60) degrees");
  p.require(o.translate_frac >= 0 && o.translate_frac <= 1, "translate_frac", "must lie in [0, 1]");
  return make<Affine>(p, std::move(o));
}

Result<std::unique_ptr<Transform>> make_elastic(const nlohmann::json& j) {
  Params p("elastic", j);
  const double alpha = p.number("alpha", 4.0);
  const double sigma = p.number("sigma", 8.0);
  const double prob = p.probability(1.0);
  p.require(alpha >= 0, "alpha", "must be >= 0 (largest displacement in voxels)");
  p.require(sigma > 0 && sigma <= 256, "sigma", "must lie in (0, 256] voxels");
  return make<Elastic>(p, alpha, sigma, prob);
}

}  // namespace lucent::transforms::internal
