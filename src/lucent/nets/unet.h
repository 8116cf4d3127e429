// Segmentation networks: U-Net (Ronneberger et al. 2015, in the nnU-Net form of Isensee et al.
// 2021) and the residual-encoder U-Net (nnU-Net "ResEnc", Isensee et al. 2024), 2-D and 3-D,
// registered by name in the nets registry:
//
//   auto net = registry.create({.name = "unet", .spatial_dims = 3, .in_channels = 1, .num_outputs = 4,
//                               .options = {{"depth", "4"}, {"width", "16"}, {"norm", "instance"}}});
//   at::Tensor logits = (*net)->forward(volume);           // (N, 1, Z, Y, X) → (N, 4, Z, Y, X)
//   auto seg = std::dynamic_pointer_cast<lucent::nets::SegmentationNet>(*net);
//   auto outs = seg->forward_deep(volume);                  // training + deep supervision:
//                                                           // [full, 1/2, 1/4, …] resolution logits
//
// Options (strings, unknown keys rejected by name):
//   unet         depth (downsamplings, 1..7, default 4), width (channels of the first stage,
//                default 32; doubled per stage), max_width (cap, default 512 in 2-D, 320 in 3-D as
//                nnU-Net), norm = instance | batch | group (default instance), groups (for
//                norm=group, default 8; must divide every stage's channel count), residual =
//                false | true (two-convolution residual blocks instead of plain ones),
//                downsample = maxpool | conv (2x2 max-pool, or a stride-2 first convolution as
//                nnU-Net; default conv), deep_supervision = false | true.
//   resenc_unet  depth, width, max_width, norm, groups, deep_supervision as above, and blocks
//                (residual blocks per encoder stage, comma-separated, default 1,3,4,6,6,6,6,6,
//                nnU-Net ResEncM; needs depth+1 entries or more — extra ones are ignored).
//
// Layer order (the parameter names are the interchange format with the PyTorch peer in
// bench/seg_peer): encoder stage s = enc<s> (two conv-norm-LeakyReLU(0.01) layers conv1, conv2,
// each `conv` without bias + `norm`), decoder stage s = transposed convolution up<s> (kernel 2,
// stride 2, with bias), concatenation [upsampled, skip] along channels, dec<s> (same block as
// the encoder), and 1x1 head<s> (with bias). Channels of stage s: min(width * 2^s, max_width).
//
// Input size: every spatial size must be a multiple of size_multiple() = 2^depth; forward throws
// std::invalid_argument naming the size and the multiple otherwise (the sliding window in
// lucent/infer/sliding_window.h only feeds patches of valid sizes; pad the input otherwise).
// Eval mode with norm=batch folds each batch norm into the preceding convolution (same result
// within float rounding, one pass over the activations fewer).
// Thread-safety: as any torch::nn::Module (see net.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "lucent/nets/net.h"

namespace lucent::nets {

class SegmentationNet : public Net {
 public:
  // Full-resolution logits (N, num_outputs, [Z,] Y, X), in training and eval mode alike.
  at::Tensor forward(const at::Tensor& x) override = 0;
  // With deep supervision in training mode: the full-resolution logits followed by one output
  // per lower decoder stage (1/2, 1/4, … of the input size), depth outputs in all. Otherwise
  // one element, equal to forward(x).
  virtual std::vector<at::Tensor> forward_deep(const at::Tensor& x) = 0;
  [[nodiscard]] virtual int64_t size_multiple() const = 0;
  [[nodiscard]] virtual int spatial_dims() const = 0;
  [[nodiscard]] virtual int64_t num_outputs() const = 0;
  [[nodiscard]] virtual bool deep_supervision() const = 0;
};

// Registers "unet" and "resenc_unet" (called by register_builtin_nets).
void register_unets(NetRegistry& registry);

}  // namespace lucent::nets
