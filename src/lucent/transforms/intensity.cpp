// Intensity transforms: change voxel values, never the grid; masks are left untouched.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lucent/transforms/internal/common.h"

namespace lucent::transforms::internal {
namespace {

// Shape (n, 1, 1, ...) of rank `rank`, for per-sample parameters broadcast over an image.
std::vector<int64_t> per_sample_shape(int64_t n, int64_t rank) {
  std::vector<int64_t> s(static_cast<size_t>(rank), 1);
  s[0] = n;
  return s;
}

// Per-sample value as a tensor broadcastable against x (n, C, ...).
at::Tensor per_sample(const std::vector<double>& v, const at::Tensor& like) {
  return at::tensor(v, at::kDouble).to(like.device(), like.scalar_type()).reshape(per_sample_shape(static_cast<int64_t>(v.size()), like.dim()));
}

class ScaleIntensity final : public TransformBase {
 public:
  ScaleIntensity(nlohmann::json d, double in_min, double in_max, double out_min, double out_max, bool clip)
      : TransformBase(false, std::move(d)), in_min_(in_min), in_max_(in_max), out_min_(out_min), out_max_(out_max), clip_(clip) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const double slope = (out_max_ - out_min_) / (in_max_ - in_min_);
    // One output allocation: y = x * slope + (out_min - in_min * slope).
    auto y = b.images.mul(slope).add_(out_min_ - in_min_ * slope);
    if (clip_) y.clamp_(std::min(out_min_, out_max_), std::max(out_min_, out_max_));
    b.images = y;
    return ok();
  }

 private:
  double in_min_, in_max_, out_min_, out_max_;
  bool clip_;
};

class Normalize final : public TransformBase {
 public:
  Normalize(nlohmann::json d, std::vector<double> mean, std::vector<double> sd)
      : TransformBase(false, std::move(d)), mean_(std::move(mean)), std_(std::move(sd)) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const int64_t c = b.images.size(1);
    for (const auto* v : {&mean_, &std_}) {
      if (v->size() != 1 && static_cast<int64_t>(v->size()) != c)
        return invalid("mean and std need 1 or " + std::to_string(c) + " values (one per channel), got " +
                       std::to_string(v->size()) + "; declare one value per image channel");
    }
    std::vector<int64_t> shape(static_cast<size_t>(b.images.dim()), 1);
    auto channel = [&](const std::vector<double>& v) {
      shape[1] = static_cast<int64_t>(v.size());
      return at::tensor(v, at::kDouble).to(b.images.device(), at::kFloat).reshape(shape);
    };
    b.images = b.images.sub(channel(mean_)).div_(channel(std_));
    return ok();
  }

 private:
  std::vector<double> mean_, std_;
};

class ZScore final : public TransformBase {
 public:
  ZScore(nlohmann::json d, bool per_channel, bool nonzero)
      : TransformBase(false, std::move(d)), per_channel_(per_channel), nonzero_(nonzero) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const auto& x = b.images;
    const int64_t n = x.size(0);
    auto xr = x.reshape({n, per_channel_ ? x.size(1) : 1, -1});
    // Statistics accumulate in double; the image itself stays float32.
    at::Tensor y;
    if (nonzero_) {
      auto m = xr != 0;
      auto count = m.sum(-1, true, at::kDouble).clamp_min(1.0);
      auto mean = xr.sum(-1, true, at::kDouble) / count;  // zeros add nothing
      auto centred = at::where(m, xr - mean.to(at::kFloat), at::zeros({}, xr.options()));
      auto sd = (centred.square().sum(-1, true, at::kDouble) / count).sqrt();
      sd = at::where(sd > 1e-8, sd, at::ones_like(sd));
      y = centred.div_(sd.to(at::kFloat));
    } else {
      auto mean = xr.mean(-1, true, at::kDouble).to(at::kFloat);
      auto centred = xr - mean;
      auto sd = centred.square().mean(-1, true, at::kDouble).sqrt();
      sd = at::where(sd > 1e-8, sd, at::ones_like(sd));
      y = centred.div_(sd.to(at::kFloat));
    }
    b.images = y.reshape(x.sizes());
    return ok();
  }

 private:
  bool per_channel_, nonzero_;
};

// The q-th percentile (0..100) of each row of `flat` (n, m), linear interpolation like numpy.
// One selection per percentile; the next order statistic comes from a cheap masked minimum.
at::Tensor row_percentile(const at::Tensor& flat, double q) {
  const int64_t m = flat.size(1);
  const double pos = q / 100.0 * static_cast<double>(m - 1);
  const auto lo = static_cast<int64_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(lo);
  auto v = std::get<0>(at::kthvalue(flat, lo + 1, 1, true));  // (n, 1)
  if (frac > 0 && lo + 1 < m) {
    // The (lo+2)-th smallest is v itself when v occurs beyond rank lo+1, else the smallest
    // value above v.
    auto at_or_below = (flat <= v).sum(1, true);
    auto above = at::where(flat > v, flat, at::full({}, std::numeric_limits<float>::infinity(), flat.options()));
    auto next = at::where(at_or_below >= lo + 2, v, std::get<0>(above.min(1, true)));
    v = v + frac * (next - v);
  }
  return v.squeeze(1);
}

class PercentileClip final : public TransformBase {
 public:
  PercentileClip(nlohmann::json d, double lower, double upper, bool rescale)
      : TransformBase(false, std::move(d)), lower_(lower), upper_(upper), rescale_(rescale) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const auto& x = b.images;
    const int64_t n = x.size(0);
    if (x.numel() == 0) return ok();
    auto flat = x.reshape({n, -1});
    auto shape = per_sample_shape(n, x.dim());
    auto lo = row_percentile(flat, lower_).reshape(shape);
    auto hi = row_percentile(flat, upper_).reshape(shape);
    auto y = at::max(at::min(x, hi), lo);
    if (rescale_) y.sub_(lo).div_((hi - lo).clamp_min(1e-12));
    b.images = y;
    return ok();
  }

 private:
  double lower_, upper_;
  bool rescale_;
};

class Window final : public TransformBase {
 public:
  Window(nlohmann::json d, double center, double width) : TransformBase(false, std::move(d)), center_(center), width_(width) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    b.images = b.images.sub(center_ - width_ / 2).div_(width_).clamp_(0.0, 1.0);
    return ok();
  }

 private:
  double center_, width_;
};

class ToChannels final : public TransformBase {
 public:
  ToChannels(nlohmann::json d, int64_t channels) : TransformBase(false, std::move(d)), channels_(channels) {}

 protected:
  Status run(Batch& b, Rng&) const override {
    const int64_t c = b.images.size(1);
    if (c == channels_) return ok();
    if (c == 1 && channels_ == 3) {
      std::vector<int64_t> rep(static_cast<size_t>(b.images.dim()), 1);
      rep[1] = 3;
      b.images = b.images.repeat(rep);
      return ok();
    }
    if (c == 3 && channels_ == 1) {
      b.images = b.images.mean(1, true);
      return ok();
    }
    return invalid("cannot convert " + std::to_string(c) + " channels to " + std::to_string(channels_) +
                   "; supported: 1 -> 3 (repeat) and 3 -> 1 (mean)");
  }

 private:
  int64_t channels_;
};

class BrightnessContrast final : public TransformBase {
 public:
  BrightnessContrast(nlohmann::json d, double brightness, std::pair<double, double> contrast, double p)
      : TransformBase(true, std::move(d)), brightness_(brightness), contrast_(contrast), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    auto idx = select_samples(rng, b.images.size(0), p_);
    std::vector<double> add, mul;
    for (size_t i = 0; i < idx.size(); ++i) {
      add.push_back(brightness_ > 0 ? rng.uniform(-brightness_, brightness_) : 0.0);
      mul.push_back(contrast_.second > contrast_.first ? rng.uniform(contrast_.first, contrast_.second) : contrast_.first);
    }
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) {
      auto mean = x.reshape({x.size(0), -1}).mean(1).reshape(per_sample_shape(x.size(0), x.dim()));
      return (x - mean) * per_sample(mul, x) + mean + per_sample(add, x);
    });
    return ok();
  }

 private:
  double brightness_;
  std::pair<double, double> contrast_;
  double p_;
};

class Gamma final : public TransformBase {
 public:
  Gamma(nlohmann::json d, std::pair<double, double> range, double p) : TransformBase(true, std::move(d)), range_(range), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    auto idx = select_samples(rng, b.images.size(0), p_);
    std::vector<double> g;
    for (size_t i = 0; i < idx.size(); ++i)
      g.push_back(range_.second > range_.first ? rng.uniform(range_.first, range_.second) : range_.first);
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) {
      auto flat = x.reshape({x.size(0), -1});
      auto shape = per_sample_shape(x.size(0), x.dim());
      auto lo = flat.amin(1).reshape(shape);
      auto span = (flat.amax(1).reshape(shape) - lo).clamp_min(1e-12);
      auto u = ((x - lo) / span).clamp(0.0, 1.0);
      return u.pow(per_sample(g, x)) * span + lo;
    });
    return ok();
  }

 private:
  std::pair<double, double> range_;
  double p_;
};

class GaussianNoise final : public TransformBase {
 public:
  GaussianNoise(nlohmann::json d, double sd, double p) : TransformBase(true, std::move(d)), std_(sd), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    auto idx = select_samples(rng, b.images.size(0), p_);
    std::vector<double> s;
    for (size_t i = 0; i < idx.size(); ++i) s.push_back(rng.uniform(0.0, std_));
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) {
      // The Rng's generator is a CPU generator: draw on the CPU, then move.
      auto noise = at::randn(x.sizes(), rng.generator(), x.options().device(at::kCPU)).to(x.device());
      return x + noise * per_sample(s, x);
    });
    return ok();
  }

 private:
  double std_, p_;
};

class GaussianBlur final : public TransformBase {
 public:
  GaussianBlur(nlohmann::json d, std::pair<double, double> sigma, double p)
      : TransformBase(true, std::move(d)), sigma_(sigma), p_(p) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    auto idx = select_samples(rng, b.images.size(0), p_);
    std::vector<double> s;
    for (size_t i = 0; i < idx.size(); ++i)
      s.push_back(sigma_.second > sigma_.first ? rng.uniform(sigma_.first, sigma_.second) : sigma_.first);
    b.images = apply_to_samples(b.images, idx, [&](const at::Tensor& x) {
      return sigma_.first == sigma_.second ? gaussian_smooth(x, sigma_.first) : gaussian_smooth(x, s);
    });
    return ok();
  }

 private:
  std::pair<double, double> sigma_;
  double p_;
};

// Like torchvision's RandomErasing: a box covering `area` of the image with y/x aspect ratio
// `aspect` (log-uniform) is set to `value` in every channel; up to 10 tries per sample, no
// erasing when none fits. In 3-D the box spans round(Z * area^(1/3)) slices.
class RandomErasing final : public TransformBase {
 public:
  RandomErasing(nlohmann::json d, double p, std::pair<double, double> area, std::pair<double, double> aspect, double value)
      : TransformBase(true, std::move(d)), p_(p), area_(area), aspect_(aspect), value_(value) {}

 protected:
  Status run(Batch& b, Rng& rng) const override {
    auto idx = select_samples(rng, b.images.size(0), p_);
    if (idx.empty()) return ok();
    const bool is3d = b.images.dim() == 5;
    const int64_t zs = is3d ? b.images.size(2) : 1, ys = b.images.size(-2), xs = b.images.size(-1);
    auto out = b.images.clone();
    for (int64_t i : idx) {
      for (int attempt = 0; attempt < 10; ++attempt) {
        const double f = rng.uniform(area_.first, area_.second);
        const double ar = std::exp(rng.uniform(std::log(aspect_.first), std::log(aspect_.second)));
        int64_t d = 1;
        double plane = f * static_cast<double>(ys * xs);
        if (is3d) {
          d = std::clamp<int64_t>(std::llround(static_cast<double>(zs) * std::cbrt(f)), 1, zs);
          plane = f * static_cast<double>(zs * ys * xs) / static_cast<double>(d);
        }
        const int64_t h = std::llround(std::sqrt(plane * ar));
        const int64_t w = std::llround(std::sqrt(plane / ar));
        if (h < 1 || w < 1 || h >= ys || w >= xs) continue;
        const int64_t y0 = rng.integer(0, ys - h), x0 = rng.integer(0, xs - w);
        auto region = out.select(0, i).narrow(-2, y0, h).narrow(-1, x0, w);
        if (is3d) region = region.narrow(1, rng.integer(0, zs - d), d);
        region.fill_(value_);
        break;
      }
    }
    b.images = out;
    return ok();
  }

 private:
  double p_;
  std::pair<double, double> area_, aspect_;
  double value_;
};

}  // namespace

Result<std::unique_ptr<Transform>> make_scale_intensity(const nlohmann::json& j) {
  Params p("scale_intensity", j);
  const double in_min = p.number("in_min"), in_max = p.number("in_max");
  const double out_min = p.number("out_min", 0.0), out_max = p.number("out_max", 1.0);
  const bool clip = p.boolean("clip", false);
  p.require(in_max != in_min, "in_max", "must differ from in_min (both are " + std::to_string(in_min) + ")");
  return make<ScaleIntensity>(p, in_min, in_max, out_min, out_max, clip);
}

Result<std::unique_ptr<Transform>> make_normalize(const nlohmann::json& j) {
  Params p("normalize", j);
  auto mean = p.number_or_list("mean");
  auto sd = p.number_or_list("std");
  p.require(std::all_of(sd.begin(), sd.end(), [](double s) { return s > 0; }), "std", "must be > 0");
  return make<Normalize>(p, mean, sd);
}

Result<std::unique_ptr<Transform>> make_zscore(const nlohmann::json& j) {
  Params p("zscore", j);
  const bool per_channel = p.boolean("per_channel", true);
  const bool nonzero = p.boolean("nonzero", false);
  return make<ZScore>(p, per_channel, nonzero);
}

Result<std::unique_ptr<Transform>> make_percentile_clip(const nlohmann::json& j) {
  Params p("percentile_clip", j);
  const double lower = p.number("lower", 0.5), upper = p.number("upper", 99.5);
  const bool rescale = p.boolean("rescale", true);
  p.require(lower >= 0 && lower < upper && upper <= 100, "upper", "needs 0 <= lower < upper <= 100");
  return make<PercentileClip>(p, lower, upper, rescale);
}

Result<std::unique_ptr<Transform>> make_window(const nlohmann::json& j) {
  Params p("window", j);
  const double center = p.number("center"), width = p.number("width");
  p.require(width > 0, "width", "must be > 0 (HU)");
  return make<Window>(p, center, width);
}

Result<std::unique_ptr<Transform>> make_to_channels(const nlohmann::json& j) {
  Params p("to_channels", j);
  const int64_t channels = p.integer("channels");
  p.require(channels == 1 || channels == 3, "channels", "must be 1 or 3");
  return make<ToChannels>(p, channels);
}

Result<std::unique_ptr<Transform>> make_brightness_contrast(const nlohmann::json& j) {
  Params p("brightness_contrast", j);
  const double brightness = p.number("brightness", 0.1);
  const auto contrast = p.range("contrast", std::pair{0.9, 1.1});
  const double prob = p.probability(1.0);
  p.require(brightness >= 0, "brightness", "must be >= 0 (the largest additive shift)");
  p.require(contrast.first >= 0, "contrast", "must be >= 0");
  return make<BrightnessContrast>(p, brightness, contrast, prob);
}

Result<std::unique_ptr<Transform>> make_gamma(const nlohmann::json& j) {
  Params p("gamma", j);
  const auto range = p.range("range", std::pair{0.7, 1.5});
  const double prob = p.probability(1.0);
  p.require(range.first > 0, "range", "must be > 0");
  return make<Gamma>(p, range, prob);
}

Result<std::unique_ptr<Transform>> make_gaussian_noise(const nlohmann::json& j) {
  Params p("gaussian_noise", j);
  const double sd = p.number("std", 0.1);
  const double prob = p.probability(1.0);
  p.require(sd >= 0, "std", "must be >= 0");
  return make<GaussianNoise>(p, sd, prob);
}

Result<std::unique_ptr<Transform>> make_gaussian_blur(const nlohmann::json& j) {
  Params p("gaussian_blur", j);
  const auto sigma = p.range("sigma", std::pair{0.5, 1.5});
  const double prob = p.probability(1.0);
  p.require(sigma.first >= 0 && sigma.second <= 64, "sigma", "must lie in [0, 64] pixels");
  return make<GaussianBlur>(p, sigma, prob);
}

Result<std::unique_ptr<Transform>> make_random_erasing(const nlohmann::json& j) {
  Params p("random_erasing", j);
  const double prob = p.probability(0.5);
  const auto area = p.range("area", std::pair{0.02, 0.2});
  const auto aspect = p.range("aspect", std::pair{0.3, 3.3});
  const double value = p.number("value", 0.0);
  p.require(area.first > 0 && area.second < 1, "area", "must lie in (0, 1) (fraction of the image)");
  p.require(aspect.first > 0, "aspect", "must be > 0");
  return make<RandomErasing>(p, prob, area, aspect, value);
}

}  // namespace lucent::transforms::internal
