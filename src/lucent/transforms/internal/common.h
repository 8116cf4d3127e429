// Private helpers shared by the built-in transforms: parameter validation, the common base
// class (batch checks, exception conversion, declaration storage), per-sample selection and
// separable Gaussian smoothing. Not part of the public API.
#pragma once

#include <ATen/ATen.h>

#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/rng.h"
#include "lucent/transforms/transform.h"

namespace lucent::transforms::internal {

// Reads one transform's parameters from its JSON object, with defaults, type checks and range
// checks. The first problem is remembered and reported by finish(), which also rejects keys that
// were never read. declaration() is the normalised step (name + every parameter, defaults
// filled in): it is what to_json() returns, and it builds the same transform again.
class Params {
 public:
  Params(std::string transform, const nlohmann::json& params);

  double number(std::string_view key, std::optional<double> def = std::nullopt);
  int64_t integer(std::string_view key, std::optional<int64_t> def = std::nullopt);
  bool boolean(std::string_view key, std::optional<bool> def = std::nullopt);
  // A string that must be one of `allowed`.
  std::string choice(std::string_view key, std::optional<std::string> def,
                     std::initializer_list<std::string_view> allowed);
  // [lo, hi] with lo <= hi.
  std::pair<double, double> range(std::string_view key, std::optional<std::pair<double, double>> def = std::nullopt);
  // A number or a non-empty list of numbers (stored back in the form given).
  std::vector<double> number_or_list(std::string_view key, std::optional<std::vector<double>> def = std::nullopt);
  // A non-empty list of integers.
  std::vector<int64_t> integer_list(std::string_view key, std::optional<std::vector<int64_t>> def = std::nullopt);
  // A list of distinct strings, each one of `allowed`.
  std::vector<std::string> string_list(std::string_view key, std::optional<std::vector<std::string>> def,
                                       std::initializer_list<std::string_view> allowed);
  // "p": a probability in [0, 1].
  double probability(double def);

  // Records an error about `key` unless `condition` holds.
  void require(bool condition, std::string_view key, const std::string& expectation);

  [[nodiscard]] Status finish();
  [[nodiscard]] const nlohmann::json& declaration() const { return declaration_; }
  [[nodiscard]] const std::string& transform() const { return transform_; }

 private:
  const nlohmann::json* find(std::string_view key);
  void set_error(std::string_view key, const std::string& what);
  std::string describe(const nlohmann::json& v) const;

  std::string transform_;
  const nlohmann::json& params_;
  std::set<std::string, std::less<>> read_;
  nlohmann::json declaration_;
  std::optional<Error> error_;
};

// Base of every built-in transform: validates the batch, converts LibTorch exceptions into
// errors that name the transform, and keeps the declaration for to_json().
class TransformBase : public Transform {
 public:
  TransformBase(bool random, nlohmann::json declaration)
      : random_(random), declaration_(std::move(declaration)) {}
  [[nodiscard]] std::string name() const final { return declaration_.at("name").get<std::string>(); }
  [[nodiscard]] bool is_random() const final { return random_; }
  [[nodiscard]] nlohmann::json to_json() const final { return declaration_; }
  [[nodiscard]] Status apply(Batch& batch, Rng& rng) const final;

 protected:
  // Called with a checked batch; must not modify the input tensors in place.
  [[nodiscard]] virtual Status run(Batch& batch, Rng& rng) const = 0;
  // kInvalidArgument "transform '<name>': <message>".
  [[nodiscard]] std::unexpected<Error> invalid(const std::string& message) const;

 private:
  bool random_;
  nlohmann::json declaration_;
};

// Builds a transform from validated parameters: `make<T>(params, args...)` returns the
// finish() error or a new T(declaration, args...).
template <typename T, typename... Args>
Result<std::unique_ptr<Transform>> make(Params& params, Args&&... args) {
  if (auto st = params.finish(); !st) return std::unexpected(st.error());
  return std::unique_ptr<Transform>(new T(params.declaration(), std::forward<Args>(args)...));
}

// Indices of the samples (of n) chosen with probability p, one draw per sample in order.
std::vector<int64_t> select_samples(Rng& rng, int64_t n, double p);
// Applies `fn` to the chosen samples only (all other samples are copied unchanged); `fn` must
// keep the shape. Never modifies `x`.
template <typename Fn>
at::Tensor apply_to_samples(const at::Tensor& x, const std::vector<int64_t>& idx, Fn&& fn) {
  if (idx.empty()) return x;
  if (static_cast<int64_t>(idx.size()) == x.size(0)) return fn(x);
  auto index = at::tensor(idx, at::kLong).to(x.device());
  auto out = x.clone();
  out.index_copy_(0, index, fn(x.index_select(0, index)));
  return out;
}

// Separable Gaussian smoothing of every channel of x (B, C, spatial...) with one sigma (in
// pixels) on every spatial axis; replicate padding; sigma <= 0 returns x.
at::Tensor gaussian_smooth(const at::Tensor& x, double sigma);
// The same with one sigma per sample (sigmas.size() == x.size(0)), in one pass over the batch.
at::Tensor gaussian_smooth(const at::Tensor& x, const std::vector<double>& sigmas);
// Resamples x (B, C, spatial...) at `grid` (B, spatial..., D, normalised, align_corners=false):
// bilinear/trilinear for images, nearest for masks (rounded back to the mask's dtype).
at::Tensor sample_image(const at::Tensor& x, const at::Tensor& grid, bool border);
at::Tensor sample_mask(const at::Tensor& mask, const at::Tensor& grid, bool border);

// Factories of the built-in transforms (intensity.cpp, spatial.cpp).
using Factory = Result<std::unique_ptr<Transform>> (*)(const nlohmann::json&);
Result<std::unique_ptr<Transform>> make_scale_intensity(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_normalize(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_zscore(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_percentile_clip(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_window(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_to_channels(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_brightness_contrast(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_gamma(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_gaussian_noise(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_gaussian_blur(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_random_erasing(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_resize(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_pad_crop(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_flip(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_rot90(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_affine(const nlohmann::json& j);
Result<std::unique_ptr<Transform>> make_elastic(const nlohmann::json& j);

}  // namespace lucent::transforms::internal
