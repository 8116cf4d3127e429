// Dimension-generic building blocks (2-D or 3-D chosen at run time), private to nets.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <map>
#include <string>

#include "lucent/core/error.h"

namespace lucent::nets::internal {

// torch::nn::Conv2d that can run through oneDNN's Winograd kernels (winograd.h) once switched
// on (nets::use_winograd). Its parameters, their names and their initialisation are Conv2d's, so
// bundles and checkpoints are the same either way.
class LucentConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  explicit LucentConv2dImpl(torch::nn::Conv2dOptions options) : torch::nn::Conv2dImpl(std::move(options)) {}
  at::Tensor forward(const at::Tensor& x);
  // 3x3, stride 1, padding 1 (zeros), dilation 1, one group, no bias: the shapes Winograd serves.
  [[nodiscard]] bool winograd_eligible() const;
  // On only where eligible; returns whether it is on.
  bool set_winograd(bool on);
  std::shared_ptr<torch::nn::Module> clone(const c10::optional<torch::Device>& device = c10::nullopt) const override;

 private:
  bool winograd_ = false;
};

// 2-D: a LucentConv2dImpl; 3-D: torch::nn::Conv3d.
torch::nn::AnyModule conv(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                          bool bias = false);
torch::nn::AnyModule batch_norm(int dims, int64_t channels);
torch::nn::AnyModule max_pool(int dims, int64_t kernel, int64_t stride, int64_t padding);
torch::nn::AnyModule avg_pool(int dims, int64_t kernel, int64_t stride);
torch::nn::AnyModule relu();

// A convolution for the inference fast paths (float32 CPU tensors, no autograd; the caller
// checks): 3-D 1x1 stride-1 kernels as one matrix product, every other kernel through oneDNN.
// LibTorch's own dispatch (at::convolution, 1.13) sends a batch-1 convolution whose
// N*C*D*H (3-D) or N*C*H*W (2-D) is at most 20480 to its im2col path, and any convolution with
// more than one thread to oneDNN. On this project's 2-core machine the im2col path was 10-20x
// slower for the deep 3-D U-Net levels (16->16 channels at 32^3: 46 vs 2.3 ms) and oneDNN
// ~20x slower for a contiguous 3-D 1x1 head (8->2 channels at 64^3: 20-21 ms against 0.9-1.0 ms
// for the matrix product), both against the choice made here; in 2-D channels-last, oneDNN's 1x1
// convolutions were 3-8x faster than OpenBLAS's matrix product of the same shapes
// (microbenchmarks, 2026-11-27; docs/segmentation.md). Same sums, different order:
// outputs agree with at::convolution to float32 rounding (~1e-5 relative). 2-D inputs may be
// contiguous or channels-last; 2-D outputs are channels-last (N, C, H, W stored as N, H, W, C),
// the layout in which oneDNN ran this project's 2-D U-Net convolutions about twice as fast
// (27.9 against 58.8 ms for the 14 distinct 3x3 convolutions of the benchmark's width-8 U-Net
// on a 512x512 window). 3-D stays contiguous: oneDNN 2.6 has no faster channels-last 3-D path.
at::Tensor conv_inference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                          int64_t padding);

// Reads typed options and fails on keys not in `known`.
class OptionReader {
 public:
  OptionReader(const std::string& net, const std::map<std::string, std::string>& options)
      : net_(net), options_(options) {}
  Result<int64_t> integer(const std::string& key, int64_t fallback);
  Result<double> number(const std::string& key, double fallback);
  Result<std::string> choice(const std::string& key, const std::string& fallback,
                             const std::vector<std::string>& allowed);
  // kInvalidArgument naming the first key never asked for.
  Status check_all_used() const;

  // The options every classifier shares: stem = small | standard, dropout in [0, 1).
  struct Common {
    std::string stem;
    double dropout = 0.0;
  };
  Result<Common> common();

 private:
  std::string net_;
  std::map<std::string, std::string> options_;
  std::vector<std::string> used_;
};

}  // namespace lucent::nets::internal
