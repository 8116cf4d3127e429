#include "lucent/transforms/internal/common.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <exception>

namespace lucent::transforms::internal {

Params::Params(std::string transform, const nlohmann::json& params)
    : transform_(std::move(transform)), params_(params) {
  declaration_ = nlohmann::json::object();
  declaration_["name"] = transform_;
  if (!params_.is_null() && !params_.is_object())
    set_error("", "parameters must be a JSON object, got " + describe(params_));
}

const nlohmann::json* Params::find(std::string_view key) {
  read_.emplace(key);
  if (!params_.is_object()) return nullptr;
  auto it = params_.find(std::string(key));
  return it == params_.end() ? nullptr : &*it;
}

void Params::set_error(std::string_view key, const std::string& what) {
  if (error_) return;
  std::string msg = "transform '" + transform_ + "': ";
  if (!key.empty()) msg += "parameter '" + std::string(key) + "' ";
  msg += what;
  error_ = Error(ErrorCode::kInvalidArgument, std::move(msg));
}

std::string Params::describe(const nlohmann::json& v) const {
  std::string dumped = v.dump();
  if (dumped.size() > 60) dumped = dumped.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + dumped;
}

void Params::require(bool condition, std::string_view key, const std::string& expectation) {
  if (!condition) set_error(key, expectation);
}

double Params::number(std::string_view key, std::optional<double> def) {
  const auto* v = find(key);
  double out = def.value_or(0.0);
  if (!v) {
    if (!def) set_error(key, "is required (a number)");
  } else if (!v->is_number()) {
    set_error(key, "must be a number, got " + describe(*v));
  } else if (!std::isfinite(v->get<double>())) {
    set_error(key, "must be finite");
  } else {
    out = v->get<double>();
  }
  declaration_[std::string(key)] = out;
  return out;
}

int64_t Params::integer(std::string_view key, std::optional<int64_t> def) {
  const auto* v = find(key);
  int64_t out = def.value_or(0);
  if (!v) {
    if (!def) set_error(key, "is required (an integer)");
  } else if (!v->is_number_integer()) {
    set_error(key, "must be an integer, got " + describe(*v));
  } else {
    out = v->get<int64_t>();
  }
  declaration_[std::string(key)] = out;
  return out;
}

bool Params::boolean(std::string_view key, std::optional<bool> def) {
  const auto* v = find(key);
  bool out = def.value_or(false);
  if (!v) {
    if (!def) set_error(key, "is required (true or false)");
  } else if (!v->is_boolean()) {
    set_error(key, "must be true or false, got " + describe(*v));
  } else {
    out = v->get<bool>();
  }
  declaration_[std::string(key)] = out;
  return out;
}

std::string Params::choice(std::string_view key, std::optional<std::string> def,
                           std::initializer_list<std::string_view> allowed) {
  std::string options;
  for (auto a : allowed) options += (options.empty() ? "" : ", ") + std::string(a);
  const auto* v = find(key);
  std::string out = def.value_or(std::string(*allowed.begin()));
  if (!v) {
    if (!def) set_error(key, "is required (one of: " + options + ")");
  } else if (!v->is_string()) {
    set_error(key, "must be one of: " + options + "; got " + describe(*v));
  } else if (std::find(allowed.begin(), allowed.end(), v->get<std::string>()) == allowed.end()) {
    set_error(key, "must be one of: " + options + "; got \"" + v->get<std::string>() + "\"");
  } else {
    out = v->get<std::string>();
  }
  declaration_[std::string(key)] = out;
  return out;
}

std::pair<double, double> Params::range(std::string_view key, std::optional<std::pair<double, double>> def) {
  const auto* v = find(key);
  std::pair<double, double> out = def.value_or(std::pair<double, double>{0.0, 0.0});
  if (!v) {
    if (!def) set_error(key, "is required ([lo, hi])");
  } else if (!v->is_array() || v->size() != 2 || !(*v)[0].is_number() || !(*v)[1].is_number()) {
    set_error(key, "must be a list of two numbers [lo, hi], got " + describe(*v));
  } else {
    out = {(*v)[0].get<double>(), (*v)[1].get<double>()};
    if (!std::isfinite(out.first) || !std::isfinite(out.second) || out.first > out.second)
      set_error(key, "must be [lo, hi] with finite lo <= hi, got " + v->dump());
  }
  declaration_[std::string(key)] = nlohmann::json::array({out.first, out.second});
  return out;
}

std::vector<double> Params::number_or_list(std::string_view key, std::optional<std::vector<double>> def) {
  const auto* v = find(key);
  std::vector<double> out = def.value_or(std::vector<double>{0.0});
  bool as_list = def && def->size() != 1;
  if (!v) {
    if (!def) set_error(key, "is required (a number or a list of numbers)");
  } else if (v->is_number()) {
    out = {v->get<double>()};
    as_list = false;
  } else if (v->is_array() && !v->empty() &&
             std::all_of(v->begin(), v->end(), [](const nlohmann::json& e) { return e.is_number(); })) {
    out.clear();
    for (const auto& e : *v) out.push_back(e.get<double>());
    as_list = true;
  } else {
    set_error(key, "must be a number or a non-empty list of numbers, got " + describe(*v));
  }
  for (double d : out)
    if (!std::isfinite(d)) set_error(key, "must be finite");
  declaration_[std::string(key)] = as_list ? nlohmann::json(out) : nlohmann::json(out.front());
  return out;
}

std::vector<int64_t> Params::integer_list(std::string_view key, std::optional<std::vector<int64_t>> def) {
  const auto* v = find(key);
  std::vector<int64_t> out = def.value_or(std::vector<int64_t>{});
  if (!v) {
    if (!def) set_error(key, "is required (a list of integers)");
  } else if (!v->is_array() || v->empty() ||
             !std::all_of(v->begin(), v->end(), [](const nlohmann::json& e) { return e.is_number_integer(); })) {
    set_error(key, "must be a non-empty list of integers, got " + describe(*v));
  } else {
    out.clear();
    for (const auto& e : *v) out.push_back(e.get<int64_t>());
  }
  declaration_[std::string(key)] = out;
  return out;
}

std::vector<std::string> Params::string_list(std::string_view key, std::optional<std::vector<std::string>> def,
                                             std::initializer_list<std::string_view> allowed) {
  std::string options;
  for (auto a : allowed) options += (options.empty() ? "" : ", ") + std::string(a);
  const auto* v = find(key);
  std::vector<std::string> out = def.value_or(std::vector<std::string>{});
  if (!v) {
    if (!def) set_error(key, "is required (a list drawn from: " + options + ")");
  } else if (!v->is_array() ||
             !std::all_of(v->begin(), v->end(), [](const nlohmann::json& e) { return e.is_string(); })) {
    set_error(key, "must be a list of strings drawn from: " + options + "; got " + describe(*v));
  } else {
    out.clear();
    for (const auto& e : *v) {
      auto s = e.get<std::string>();
      if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
        set_error(key, "entries must be drawn from: " + options + "; got \"" + s + "\"");
      else if (std::find(out.begin(), out.end(), s) != out.end())
        set_error(key, "lists \"" + s + "\" twice");
      else
        out.push_back(s);
    }
  }
  declaration_[std::string(key)] = out;
  return out;
}

double Params::probability(double def) {
  double p = number("p", def);
  require(p >= 0.0 && p <= 1.0, "p", "must be a probability in [0, 1], got " + std::to_string(p));
  return p;
}

Status Params::finish() {
  if (!error_ && params_.is_object()) {
    for (const auto& [key, value] : params_.items()) {
      if (key == "name" || read_.count(key)) continue;
      std::string accepted;
      for (const auto& k : read_) accepted += (accepted.empty() ? "" : ", ") + k;
      set_error(key, "is not a parameter of this transform; accepted: " +
                         (accepted.empty() ? std::string("none") : accepted));
      break;
    }
  }
  if (error_) return std::unexpected(*error_);
  return ok();
}

Status TransformBase::apply(Batch& batch, Rng& rng) const {
  const auto& x = batch.images;
  if (!x.defined()) return invalid("the batch has no images");
  if (x.dim() != 4 && x.dim() != 5)
    return invalid("expected images of rank 4 (N, C, Y, X) or 5 (N, C, Z, Y, X), got rank " +
                   std::to_string(x.dim()) + " " + c10::str(x.sizes()));
  if (x.scalar_type() != at::kFloat)
    return invalid(std::string("expected float32 images, got ") + c10::toString(x.scalar_type()) +
                   "; convert with .to(at::kFloat) first");
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.size(d) == 0)
      return invalid("empty batch " + c10::str(x.sizes()) + ": every axis (samples, channels, spatial) needs at least one entry");
  if (batch.masks.defined()) {
    const auto& m = batch.masks;
    bool same = m.dim() == x.dim() && m.size(0) == x.size(0);
    for (int64_t d = 2; same && d < x.dim(); ++d) same = m.size(d) == x.size(d);
    if (!same)
      return invalid("masks " + c10::str(m.sizes()) + " do not match images " + c10::str(x.sizes()) +
                     "; expected (N, 1, ...) with the images' N and spatial shape");
    if (m.is_complex()) return invalid("masks must be integer or real labels");
  }
  try {
    return run(batch, rng);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "transform '" + name() + "' on batch " + c10::str(x.sizes()) +
                                          ": " + e.what());
  }
}

std::unexpected<Error> TransformBase::invalid(const std::string& message) const {
  return fail(ErrorCode::kInvalidArgument, "transform '" + name() + "': " + message);
}

std::vector<int64_t> select_samples(Rng& rng, int64_t n, double p) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i)
    if (p >= 1.0 || rng.bernoulli(p)) idx.push_back(i);
  return idx;
}

at::Tensor gaussian_smooth(const at::Tensor& x, double sigma) { return gaussian_smooth(x, std::vector<double>{sigma}); }

at::Tensor gaussian_smooth(const at::Tensor& x, const std::vector<double>& sigmas) {
  const double largest = *std::max_element(sigmas.begin(), sigmas.end());
  if (largest <= 0) return x;
  const int64_t spatial = x.dim() - 2;
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3.0 * largest)));
  // One normalised kernel row per sigma, all truncated at the largest radius; sigma <= 0 is
  // the identity (a unit impulse).
  auto t = at::arange(-radius, radius + 1, at::TensorOptions().dtype(at::kDouble));
  std::vector<at::Tensor> rows;
  for (double s : sigmas) {
    auto k = s > 0 ? at::exp(-0.5 * (t / s).pow(2)) : (t == 0).to(at::kDouble);
    rows.push_back(k / k.sum());
  }
  const auto kernels = at::stack(rows);  // (sigmas, 2r+1)
  const bool shared = sigmas.size() == 1;
  const auto ka = kernels.accessor<double, 2>();
  std::vector<int64_t> wshape(static_cast<size_t>(x.dim()), 1);
  wshape[0] = static_cast<int64_t>(sigmas.size());
  const auto per_sample = kernels.to(x.device(), x.scalar_type());
  // A weighted sum of shifted slices per axis (padding replicates the edge): for the small
  // per-image kernels of augmentation this is much faster than conv2d/conv3d on the CPU, and
  // per-sample kernels need no loop over the batch.
  auto y = x;
  for (int64_t a = 0; a < spatial; ++a) {
    const int64_t dim = 2 + a, len = y.size(dim);
    // Padding lists run from the last axis to the first, (before, after) each.
    std::vector<int64_t> pad(static_cast<size_t>(2 * spatial), 0);
    const auto slot = static_cast<size_t>(2 * (spatial - 1 - a));
    pad[slot] = radius;
    pad[slot + 1] = radius;
    auto padded = spatial == 2 ? at::replication_pad2d(y, pad) : at::replication_pad3d(y, pad);
    at::Tensor acc;
    for (int64_t k = 0; k <= 2 * radius; ++k) {
      auto slice = padded.narrow(dim, k, len);
      if (shared) {
        if (!acc.defined()) acc = slice.mul(ka[0][k]);
        else acc.add_(slice, ka[0][k]);
      } else {
        auto w = per_sample.select(1, k).reshape(wshape);
        if (!acc.defined()) acc = slice.mul(w);
        else acc.addcmul_(slice, w);
      }
    }
    y = acc;
  }
  return y;
}

at::Tensor sample_image(const at::Tensor& x, const at::Tensor& grid, bool border) {
  return at::grid_sampler(x, grid.to(x.device(), x.scalar_type()), /*bilinear*/ 0, border ? 1 : 0, /*align_corners=*/false);
}

at::Tensor sample_mask(const at::Tensor& mask, const at::Tensor& grid, bool border) {
  auto m = mask.to(at::kFloat);
  auto out = at::grid_sampler(m, grid.to(m.device(), at::kFloat), /*nearest*/ 1, border ? 1 : 0, /*align_corners=*/false);
  if (!at::isFloatingType(mask.scalar_type())) out = out.round();
  return out.to(mask.scalar_type());
}

}  // namespace lucent::transforms::internal
