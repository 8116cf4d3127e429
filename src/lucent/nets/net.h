// Networks: a registry of named architectures, 2-D and 3-D, built from a NetSpec.
//
//   lucent::nets::NetRegistry registry;
//   lucent::nets::register_builtin_nets(registry);
//   auto net = registry.create({.name = "resnet18", .spatial_dims = 2, .in_channels = 1,
//                               .num_outputs = 2, .options = {{"stem", "small"}}});
//   at::Tensor logits = (*net)->forward(batch);   // (N, C, [Z,] Y, X) → (N, num_outputs)
//
// Options are strings (from YAML); each net documents the keys it accepts and rejects unknown
// ones with kInvalidArgument naming the key. Nets are torch::nn::Modules: not thread-safe for
// concurrent forward passes in training mode; eval-mode forward is safe per LibTorch.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::nets {

struct NetSpec {
  std::string name;
  int spatial_dims = 2;
  int64_t in_channels = 1;
  int64_t num_outputs = 2;
  std::map<std::string, std::string> options;
};

class Net : public torch::nn::Module {
 public:
  // Logits, shape (N, num_outputs) for classifiers.
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  [[nodiscard]] int64_t parameter_count() const;
};

// The net's 4-D parameters and buffers made channels-last (NHWC) in place, values unchanged.
// oneDNN then runs 2-D convolutions without a reorder around each one, provided the input batch
// is channels-last too (x.contiguous(at::MemoryFormat::ChannelsLast)).
void to_channels_last(Net& net);

// Whether this build and CPU have oneDNN's Winograd convolution (float32, AVX-512; see
// nets/internal/winograd.h). Checked once.
[[nodiscard]] bool winograd_available();

// Switches the net's 2-D 3x3 stride-1 convolutions to oneDNN's Winograd kernels (on) or back to
// LibTorch's convolution (off), for float32 CPU tensors in training mode; eval mode, other
// shapes, dtypes, devices and autocast keep LibTorch's. Same parameters, ~1e-5 relative
// differences in outputs and gradients; about 0.63x the convolution time on the benchmark
// ResNet-18 (docs/benchmarks-train-speed.md, Run 8). Returns how many convolutions use Winograd
// now (0 where winograd_available() is false).
int use_winograd(Net& net, bool on);

using NetFactory = std::function<Result<std::shared_ptr<Net>>(const NetSpec&)>;

class NetRegistry {
 public:
  // kAlreadyExists if the name is taken.
  [[nodiscard]] Status add(const std::string& name, std::string description, NetFactory factory);
  // kNotFound (listing the known names) or the factory's error.
  [[nodiscard]] Result<std::shared_ptr<Net>> create(const NetSpec& spec) const;
  [[nodiscard]] std::vector<std::string> names() const;
  [[nodiscard]] std::string description(const std::string& name) const;

 private:
  struct Entry {
    std::string description;
    NetFactory factory;
  };
  std::map<std::string, Entry> entries_;
};

// resnet10/18/34/50, densenet121 (see resnet.cpp, densenet.cpp for options).
void register_builtin_nets(NetRegistry& registry);

}  // namespace lucent::nets
