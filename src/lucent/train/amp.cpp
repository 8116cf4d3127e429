#include "lucent/train/amp.h"

#include <ATen/autocast_mode.h>
#include <cpuid.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "lucent/core/log.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LUCENT_AUTOCAST_DEVICE_API 1  // set_autocast_enabled(device, …) replaced set_enabled(…)
#else
#define LUCENT_AUTOCAST_DEVICE_API 0
#endif

namespace lucent::train {
namespace {

// PyTorch's GradScaler defaults.
constexpr double kInitialScale = 65536.0;
constexpr double kGrowthFactor = 2.0;
constexpr double kBackoffFactor = 0.5;
constexpr int64_t kGrowthInterval = 2000;

bool autocast_enabled(at::DeviceType device) {
#if LUCENT_AUTOCAST_DEVICE_API
  return at::autocast::is_autocast_enabled(device);
#else
  return device == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

at::ScalarType autocast_dtype(at::DeviceType device) {
#if LUCENT_AUTOCAST_DEVICE_API
  return at::autocast::get_autocast_dtype(device);
#else
  return device == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast(at::DeviceType device, bool enabled, at::ScalarType dtype) {
#if LUCENT_AUTOCAST_DEVICE_API
  at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == at::kCPU) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  }
#endif
}

// bfloat16 matrix units need compute capability 8.0 (Ampere) or newer. Probed by running a
// bf16 matmul: the CUDA headers are not part of every LibTorch install.
bool cuda_supports_bf16() {
  try {
    auto a = at::ones({8, 8}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
    auto c = at::matmul(a, a);
    return c.to(at::kFloat).sum().item<float>() == 512.0f;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool cpu_has_bf16_instructions() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  const bool amx_bf16 = (d >> 22) & 1u;  // CPUID.(7,0):EDX[22]
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) == 0) return amx_bf16;
  const bool avx512_bf16 = (a >> 5) & 1u;  // CPUID.(7,1):EAX[5]
  return amx_bf16 || avx512_bf16;
}

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::kFloat32: return "fp32";
    case Precision::kBFloat16: return "bf16";
    case Precision::kFloat16: return "fp16";
  }
  return "fp32";
}

Result<Precision> resolve_precision(const std::string& amp, const std::string& device) {
  const bool cuda = device == "cuda";
  if (amp == "off") return Precision::kFloat32;
  if (amp == "auto") {
    if (!cuda) return cpu_has_bf16_instructions() ? Precision::kBFloat16 : Precision::kFloat32;
    return cuda_supports_bf16() ? Precision::kBFloat16 : Precision::kFloat16;
  }
  if (amp != "bf16" && amp != "fp16")
    return fail(ErrorCode::kInvalidArgument, "train.amp: unknown value '" + amp + "'; use off, bf16, fp16 or auto");
  if (!cuda) {
    if (amp == "fp16")
      return fail(ErrorCode::kInvalidArgument, "train.amp: fp16 is mixed precision on CUDA and this run uses --device " +
                                                   device + "; use bf16 (or auto, or off) on the CPU");
    if (!cpu_has_bf16_instructions())
      log_warn("train.amp: bf16 on a CPU without bfloat16 instructions (AMX-BF16 / AVX512-BF16) is emulated and "
               "slower than float32; set train.amp: off or auto");
    return Precision::kBFloat16;
  }
  if (amp == "bf16" && !cuda_supports_bf16())
    return fail(ErrorCode::kUnsupported,
                "train.amp: bf16 needs a GPU with bfloat16 support (compute capability 8.0 or newer); use fp16");
  return amp == "bf16" ? Precision::kBFloat16 : Precision::kFloat16;
}

AmpContext::Scope::Scope(Precision precision, at::DeviceType device) : device_(device) {
  if (precision == Precision::kFloat32) return;
  active_ = true;
  previous_enabled_ = autocast_enabled(device_);
  previous_dtype_ = autocast_dtype(device_);
  at::autocast::increment_nesting();
  set_autocast(device_, true, precision == Precision::kBFloat16 ? at::kBFloat16 : at::kHalf);
}

AmpContext::Scope::~Scope() {
  if (!active_) return;
  // As torch.autocast's __exit__: the cast cache is freed when the outermost region ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(device_, previous_enabled_, previous_dtype_);
}

AmpContext::AmpContext(Precision precision, at::DeviceType device) : precision_(precision), device_(device) {
  if (precision_ != Precision::kFloat16) return;
  const auto f = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  scale_ = at::full({1}, kInitialScale, f);
  growth_tracker_ = at::zeros({1}, f.dtype(at::kInt));
  found_inf_ = at::zeros({1}, f);
}

at::Tensor AmpContext::scale(const at::Tensor& loss) const {
  if (precision_ != Precision::kFloat16) return loss;
  return loss * scale_.to(loss.scalar_type());
}

bool AmpContext::unscale_and_check(const std::vector<at::Tensor>& parameters) {
  if (precision_ != Precision::kFloat16) return true;
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  found_inf_.zero_();
  const auto inv_scale = scale_.reciprocal();
  if (!grads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
  const bool finite = found_inf_.item<float>() == 0.0f;
  if (!finite) ++skipped_;
  return finite;
}

void AmpContext::update() {
  if (precision_ != Precision::kFloat16) return;
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, kGrowthFactor, kBackoffFactor, kGrowthInterval);
}

double AmpContext::current_scale() const {
  return precision_ == Precision::kFloat16 ? scale_.item<double>() : 1.0;
}

std::vector<double> AmpContext::state() const {
  if (precision_ != Precision::kFloat16) return {};
  return {scale_.item<double>(), static_cast<double>(growth_tracker_.item<int>())};
}

void AmpContext::restore(const std::vector<double>& state) {
  if (precision_ != Precision::kFloat16 || state.size() != 2) return;
  scale_.fill_(state[0]);
  growth_tracker_.fill_(static_cast<int>(state[1]));
}

}  // namespace lucent::train
