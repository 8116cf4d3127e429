// Automatic mixed precision: autocast for the forward pass and, for float16, dynamic loss
// scaling — the C++ counterpart of torch.autocast + torch.cuda.amp.GradScaler.
//
//   train.amp: off | bf16 | fp16 | auto
//     CUDA: auto = bf16 when the GPU supports it, else fp16.
//     CPU:  bf16 only (CPU autocast; fp16 is refused). auto = bf16 when the CPU has bfloat16
//           matrix instructions (AMX-BF16 or AVX512-BF16), else float32. On such CPUs oneDNN
//           runs a bf16 training step 1.5-2.2x faster than float32 (docs/benchmarks-train-speed.md);
//           the trainer then also keeps 2-D activations channels-last (see cpu_prefers_channels_last).
//
//   AmpContext amp(*precision, device.type());
//   { auto scope = amp.autocast(); logits = net->forward(x); loss = ...; }   // autocast region
//   amp.scale(loss).backward();
//   if (amp.unscale_and_check(params)) { clip...; optimizer.step(); }        // skipped on inf/NaN
//   amp.update();
//
// bf16 has float32's exponent range, so it needs no loss scaling; fp16 does. The scaler
// follows PyTorch's defaults (initial scale 2^16, growth ×2 every 2000 finite steps, back-off
// ×0.5 on an overflow, the step skipped). Autocast state is thread-local: the scope must live
// on the thread that runs the forward pass.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::train {

enum class Precision { kFloat32, kBFloat16, kFloat16 };

[[nodiscard]] std::string_view precision_name(Precision p);

// The precision for a `train.amp` value on a device ("cpu" | "cuda"). kInvalidArgument for fp16
// on the CPU; kUnsupported for bf16 on a GPU without bfloat16 support. bf16 on a CPU without
// bfloat16 instructions is allowed (oneDNN emulates it, slowly) and logs a warning.
[[nodiscard]] Result<Precision> resolve_precision(const std::string& amp, const std::string& device);

// Whether this CPU has bfloat16 matrix instructions (cpuid: AMX-BF16 or AVX512-BF16).
[[nodiscard]] bool cpu_has_bf16_instructions();

class AmpContext {
 public:
  AmpContext(Precision precision, at::DeviceType device);

  Precision precision() const { return precision_; }
  bool enabled() const { return precision_ != Precision::kFloat32; }

  // RAII: autocast on the device at the given precision for the object's lifetime (no-op for
  // float32).
  class Scope {
   public:
    Scope(Precision precision, at::DeviceType device);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    bool active_ = false;
    at::DeviceType device_ = at::kCUDA;
    bool previous_enabled_ = false;
    at::ScalarType previous_dtype_ = at::kHalf;
  };
  [[nodiscard]] Scope autocast() const { return Scope(precision_, device_); }

  // loss × scale for fp16; the loss itself otherwise.
  [[nodiscard]] at::Tensor scale(const at::Tensor& loss) const;
  // Divides the gradients by the scale in place and reports whether they are all finite (fp16);
  // true without touching anything otherwise. Call before gradient clipping.
  [[nodiscard]] bool unscale_and_check(const std::vector<at::Tensor>& parameters);
  // Grows or backs off the scale after a step (fp16); no-op otherwise.
  void update();
  double current_scale() const;
  int64_t skipped_steps() const { return skipped_; }

  // Checkpoint state (fp16 only: scale and growth tracker); restore accepts what state() gave.
  [[nodiscard]] std::vector<double> state() const;
  void restore(const std::vector<double>& state);

 private:
  Precision precision_;
  at::DeviceType device_;
  at::Tensor scale_;           // float32 (1,) on the GPU (fp16 only)
  at::Tensor growth_tracker_;  // int32 (1,)
  at::Tensor found_inf_;       // float32 (1,)
  int64_t skipped_ = 0;
};

}  // namespace lucent::train
