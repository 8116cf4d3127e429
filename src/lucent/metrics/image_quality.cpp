#include "lucent/metrics/image_quality.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace lucent::metrics {
namespace {

std::string fmt(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Status check_finite(std::span<const double> v, const char* role) {
  for (double x : v)
    if (!std::isfinite(x))
      return fail(ErrorCode::kInvalidArgument, std::string("the ") + role + " image holds NaN or infinite values");
  return ok();
}

// R: given (must be > 0), else max − min of the truth (nullopt when the truth is constant).
Result<std::optional<double>> data_range(std::span<const double> truth, const std::optional<double>& given) {
  if (given) {
    if (!(*given > 0) || !std::isfinite(*given))
      return fail(ErrorCode::kInvalidArgument, "data range must be a positive finite number, got " + fmt(*given));
    return given;
  }
  const auto [lo, hi] = std::minmax_element(truth.begin(), truth.end());
  const double r = *hi - *lo;
  if (r > 0) return std::optional<double>(r);
  return std::optional<double>();
}

constexpr const char* kConstantTruth =
    "the reference image is constant, so its max - min data range is 0; give the data range explicitly";

// 1-D correlation of every line along `axis` (0 = Z, 1 = Y, 2 = X) with `w` (odd length),
// SciPy "reflect" border (d c b a | a b c d | d c b a); the axis is at least (w.size() + 1) / 2 long.
void filter_axis(std::vector<double>& g, const std::array<int64_t, 3>& n, int axis, const std::vector<double>& w) {
  const int64_t len = n[axis];
  const std::array<int64_t, 3> stride{n[1] * n[2], n[2], 1};
  const int a = axis == 0 ? 1 : 0;
  const int b = axis == 2 ? 1 : 2;
  const int64_t lines = n[a] * n[b];
  const auto r = static_cast<int64_t>(w.size() / 2);
  at::parallel_for(0, lines, std::max<int64_t>(1, 4096 / len), [&](int64_t begin, int64_t end) {
    std::vector<double> ext(static_cast<std::size_t>(len + 2 * r));
    for (int64_t line = begin; line < end; ++line) {
      const int64_t base = (line / n[b]) * stride[a] + (line % n[b]) * stride[b];
      for (int64_t q = -r; q < len + r; ++q) {
        int64_t src = q < 0 ? -q - 1 : q >= len ? 2 * len - q - 1 : q;
        src = std::clamp<int64_t>(src, 0, len - 1);
        ext[static_cast<std::size_t>(q + r)] = g[base + src * stride[axis]];
      }
      for (int64_t q = 0; q < len; ++q) {
        double acc = 0;
        for (std::size_t k = 0; k < w.size(); ++k) acc += w[k] * ext[static_cast<std::size_t>(q) + k];
        g[base + q * stride[axis]] = acc;
      }
    }
  });
}

std::vector<double> gaussian_filtered(std::vector<double> g, const VoxelGrid& grid, const std::vector<double>& w) {
  // SciPy filters axis 0 first; the order only changes rounding.
  if (grid.spatial_dims == 3) filter_axis(g, grid.size_zyx, 0, w);
  filter_axis(g, grid.size_zyx, 1, w);
  filter_axis(g, grid.size_zyx, 2, w);
  return g;
}

struct Channels {
  at::Tensor pred, truth;  // (C, voxels) double, contiguous
  VoxelGrid grid;
};

Result<Channels> as_channels(const Image& pred, const Image& truth) {
  if (!pred.data.defined() || !truth.data.defined())
    return fail(ErrorCode::kInvalidArgument, "an image has no voxel data");
  if (pred.data.sizes() != truth.data.sizes() || pred.spatial_dims() != truth.spatial_dims()) {
    const auto text = [](const at::Tensor& t) {
      std::string s = "(";
      for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
      return s + ")";
    };
    return fail(ErrorCode::kInvalidArgument, "image shapes differ: prediction " + text(pred.data) + ", reference " +
                                                 text(truth.data) + " (channels first, then Z, Y, X)");
  }
  try {
    Channels c;
    c.grid = voxel_grid(truth);
    c.pred = pred.data.to(at::kDouble).reshape({pred.data.size(0), -1}).contiguous();
    c.truth = truth.data.to(at::kDouble).reshape({truth.data.size(0), -1}).contiguous();
    return c;
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string("converting images to double: ") + e.what());
  }
}

std::span<const double> row(const at::Tensor& t, int64_t c) {
  return {t.data_ptr<double>() + c * t.size(1), static_cast<std::size_t>(t.size(1))};
}

}  // namespace

Result<MetricValue> psnr(std::span<const double> pred, std::span<const double> truth, const PsnrOptions& options) {
  if (pred.size() != truth.size() || pred.empty())
    return fail(ErrorCode::kInvalidArgument, "PSNR needs two non-empty images of the same size, got " +
                                                 std::to_string(pred.size()) + " and " + std::to_string(truth.size()) +
                                                 " voxels");
  if (auto st = check_finite(pred, "predicted"); !st) return std::unexpected(st.error());
  if (auto st = check_finite(truth, "reference"); !st) return std::unexpected(st.error());
  auto r = data_range(truth, options.data_range);
  if (!r) return std::unexpected(r.error());
  if (!*r) return MetricValue::undefined(kConstantTruth);
  double sse = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) sse += (pred[i] - truth[i]) * (pred[i] - truth[i]);
  const double mse = sse / static_cast<double>(pred.size());
  if (mse == 0) return MetricValue::undefined("the images are identical: PSNR is infinite");
  return MetricValue::of(10.0 * std::log10(**r * **r / mse));
}

Result<MetricValue> ssim(std::span<const double> pred, std::span<const double> truth, const VoxelGrid& grid,
                         const SsimOptions& options) {
  const auto n = static_cast<std::size_t>(grid.voxels());
  if (pred.size() != n || truth.size() != n)
    return fail(ErrorCode::kInvalidArgument, "SSIM: image sizes (" + std::to_string(pred.size()) + ", " +
                                                 std::to_string(truth.size()) + " voxels) differ from the grid (" +
                                                 std::to_string(n) + ")");
  if (!(options.sigma > 0) || !(options.truncate > 0) || !(options.k1 > 0) || !(options.k2 > 0))
    return fail(ErrorCode::kInvalidArgument, "SSIM: sigma, truncate, K1 and K2 must be positive");
  const auto radius = static_cast<int64_t>(options.truncate * options.sigma + 0.5);
  const int64_t win = 2 * radius + 1;
  const int first_axis = grid.spatial_dims == 3 ? 0 : 1;
  for (int a = first_axis; a < 3; ++a)
    if (grid.size_zyx[a] < win)
      return fail(ErrorCode::kInvalidArgument,
                  "SSIM: the image is " + std::to_string(grid.size_zyx[a]) + " voxels along " + "ZYX"[a] +
                      ", smaller than the " + std::to_string(win) + "-voxel Gaussian window; SSIM needs at least " +
                      std::to_string(win) + " voxels along every spatial axis");
  if (auto st = check_finite(pred, "predicted"); !st) return std::unexpected(st.error());
  if (auto st = check_finite(truth, "reference"); !st) return std::unexpected(st.error());
  auto r = data_range(truth, options.data_range);
  if (!r) return std::unexpected(r.error());
  if (!*r) return MetricValue::undefined(kConstantTruth);

  std::vector<double> w(static_cast<std::size_t>(win));
  double wsum = 0;
  for (int64_t i = -radius; i <= radius; ++i)
    wsum += w[static_cast<std::size_t>(i + radius)] =
        std::exp(-0.5 * static_cast<double>(i * i) / (options.sigma * options.sigma));
  for (double& v : w) v /= wsum;

  std::vector<double> x(pred.begin(), pred.end()), y(truth.begin(), truth.end());
  std::vector<double> xx(n), yy(n), xy(n);
  for (std::size_t i = 0; i < n; ++i) xx[i] = x[i] * x[i], yy[i] = y[i] * y[i], xy[i] = x[i] * y[i];
  const std::vector<double> ux = gaussian_filtered(std::move(x), grid, w);
  const std::vector<double> uy = gaussian_filtered(std::move(y), grid, w);
  const std::vector<double> uxx = gaussian_filtered(std::move(xx), grid, w);
  const std::vector<double> uyy = gaussian_filtered(std::move(yy), grid, w);
  const std::vector<double> uxy = gaussian_filtered(std::move(xy), grid, w);

  const double c1 = (options.k1 * **r) * (options.k1 * **r);
  const double c2 = (options.k2 * **r) * (options.k2 * **r);
  const auto [nz, ny, nx] = grid.size_zyx;
  const int64_t pz = grid.spatial_dims == 3 ? radius : 0;
  double sum = 0;
  int64_t count = 0;
  for (int64_t z = pz; z < nz - pz; ++z)
    for (int64_t yy_ = radius; yy_ < ny - radius; ++yy_)
      for (int64_t xx_ = radius; xx_ < nx - radius; ++xx_) {
        const auto i = static_cast<std::size_t>((z * ny + yy_) * nx + xx_);
        const double mx = ux[i], my = uy[i];
        const double vx = uxx[i] - mx * mx, vy = uyy[i] - my * my, vxy = uxy[i] - mx * my;
        sum += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        ++count;
      }
  return MetricValue::of(sum / static_cast<double>(count));
}

Result<MetricValue> psnr(const Image& pred, const Image& truth, const PsnrOptions& options) {
  auto c = as_channels(pred, truth);
  if (!c) return std::unexpected(c.error());
  const auto n = static_cast<std::size_t>(c->pred.numel());
  return psnr(std::span<const double>(c->pred.data_ptr<double>(), n),
              std::span<const double>(c->truth.data_ptr<double>(), n), options);
}

Result<MetricValue> ssim(const Image& pred, const Image& truth, const SsimOptions& options) {
  auto c = as_channels(pred, truth);
  if (!c) return std::unexpected(c.error());
  const int64_t channels = c->pred.size(0);
  // R from the whole reference (all channels), as scikit-image with channel_axis.
  SsimOptions o = options;
  if (!o.data_range) {
    const auto n = static_cast<std::size_t>(c->truth.numel());
    auto r = data_range(std::span<const double>(c->truth.data_ptr<double>(), n), std::nullopt);
    if (!r) return std::unexpected(r.error());
    if (!*r) return MetricValue::undefined(kConstantTruth);
    o.data_range = *r;
  }
  double sum = 0;
  for (int64_t ch = 0; ch < channels; ++ch) {
    auto v = ssim(row(c->pred, ch), row(c->truth, ch), c->grid, o);
    if (!v) return std::unexpected(v.error());
    if (!*v) return *v;
    sum += *v->value;
  }
  return MetricValue::of(sum / static_cast<double>(channels));
}

}  // namespace lucent::metrics
