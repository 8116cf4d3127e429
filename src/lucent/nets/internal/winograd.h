// oneDNN's Winograd convolution, F(4x4, 3x3), for the 3x3 stride-1 convolutions of 2-D nets on
// the CPU in float32, with its own backward pass (data and weights), private to nets.
//
// LibTorch 1.13 always asks oneDNN for the direct algorithm. For the 14 stride-1 3x3
// convolutions of the benchmark ResNet-18 (width 32, batch 128, 28x28), oneDNN 2.6's Winograd
// kernels took ~190 ms per training step against ~300 ms for the direct ones (forward and both
// backward passes; ONEDNN_VERBOSE, docs/benchmarks-train-speed.md Run 8). Winograd rounds
// differently: outputs and gradients agree with at::conv2d to ~1e-5 relative, not bit for bit.
//
// The kernels need oneDNN's blocked layout (nChw16c); tensors are reordered into it and back
// around each call (~50 ms of reorders per step of that ResNet), and the backward pass keeps
// the input tensor, reordering it again. Available only where Lucent was built against oneDNN (LUCENT_HAVE_ONEDNN,
// Debian's libdnnl-dev, the library LibTorch itself links) and the CPU has a Winograd kernel
// (AVX-512); winograd_available() says which.
#pragma once

#include <ATen/core/Tensor.h>

namespace lucent::nets::internal {

// True when this build has oneDNN and oneDNN offers a Winograd kernel on this CPU (checked once).
[[nodiscard]] bool winograd_available();

// conv2d(x, weight, stride 1, padding 1) with x (N, C, H, W) and weight (K, C, 3, 3), both
// float32 CPU, contiguous or channels-last; no bias. Differentiable in x and weight when grad
// mode is on. The output has x's memory format. Shapes oneDNN has no Winograd kernel for (e.g.
// fewer than 16 input channels on some CPUs) go to at::conv2d instead. Requires
// winograd_available().
[[nodiscard]] at::Tensor winograd_conv2d(const at::Tensor& x, const at::Tensor& weight);

}  // namespace lucent::nets::internal
