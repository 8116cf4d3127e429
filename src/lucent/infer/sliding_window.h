// Sliding-window inference for 2-D and 3-D images of any size, with Gaussian or constant
// blending, batched windows and flip test-time augmentation, in memory bounded by design.
//
//   lucent::infer::SlidingWindowOptions o{.patch_size = {128, 128, 128}, .overlap = 0.5};
//   auto r = lucent::infer::sliding_window(*net, image.data, o);  // (C, Z, Y, X) → (K, Z, Y, X)
//   if (!r) return std::unexpected(r.error());
//   at::Tensor probs = r->output;                                 // softmax probabilities
//
// Algorithm (nnU-Net's): along each axis the window starts are evenly spread from 0 to
// size - patch with at most patch·(1 - overlap) between neighbours (window_starts); each
// window's logits are multiplied by a weight map (a Gaussian with sigma = patch·sigma_scale,
// divided by its maximum, zeros raised to the smallest non-zero value; or all ones) and added
// into an accumulator together with the weights; the accumulated logits divided by the summed
// weights give the blended logits, then the activation (softmax over channels by default).
// With flip_tta each batch is also run flipped along every spatial axis in turn (1 + dims
// passes) and the logits are averaged before blending. Windows are processed in order of
// their start along the first spatial axis (Z in 3-D, Y in 2-D), so that rows before the
// current window's start are final.
//
// Memory (slabs = true, the default): the accumulator holds only one patch-deep slab
// (patch[0] rows of the first axis) of logits sums and weight sums; when the next window starts
// further along, the rows before it are normalised, activated and written to the output (or
// handed to `sink`) and the slab moves on. Window outputs are added as soon as each batch
// returns; they are never kept. The buffers this function allocates, in bytes
// (buffer_bytes in the result; K = output channels, S = image size, P = padded size
// max(S, patch) per axis, B = batch_size, C = input channels):
//   4 · [ K·ΠS                      output (0 with a sink)
//       + (K + 1)·D·ΠP[1:]          accumulator + weight sums, D = patch[0] (slabs) or P[0]
//       + Πpatch                    weight map
//       + B·C·Πpatch·(2 with flip_tta) + B·K·Πpatch·(3 with flip_tta)    one batch in and out
//       + C·ΠS on a device other than the CPU, when it fits max_buffer_bytes ]  the image there
// plus the network's own activations for one batch (not counted; peak_rss_bytes reports the
// whole process). With slabs = false the accumulator is full size, the classic layout, kept
// for comparison. The output is the only full-size float buffer; with a sink there is none.
// Devices: the weight map, the accumulator and the weight sums live on `device` (on a GPU the
// slab is device memory), and finished rows come back to the CPU output (or the sink, which
// always receives CPU tensors). On a device other than the CPU the image is copied there after
// the first batch (as nnU-Net's predictor does) and windows are cut on the device; if that copy
// would exceed max_buffer_bytes or the device's memory, each batch is cut on the CPU and uploaded.
//
// Images smaller than the patch along an axis are padded symmetrically with pad_value (extra
// voxel at the end) to the patch size, and the output is cropped back: the result always has
// the input's own size. A SegmentationNet whose size_multiple() does not divide the patch is
// refused before any work (kInvalidArgument naming a valid patch).
// Errors: kInvalidArgument (image rank, options), kResourceExhausted (buffer_bytes above
// max_buffer_bytes, checked before the buffers are allocated), kInternal (the network threw
// or returned a wrong shape; message included), or the sink's error.
// Thread-safety: one call at a time per net (forward in eval mode, no gradients).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/nets/net.h"

namespace lucent::infer {

enum class Blending { kGaussian, kConstant };
enum class Activation { kSoftmax, kSigmoid, kNone };

struct SlidingWindowOptions {
  std::vector<int64_t> patch_size;   // (Y, X) or (Z, Y, X); required
  double overlap = 0.5;              // fraction of a patch shared by neighbours, [0, 1)
  Blending blending = Blending::kGaussian;
  double sigma_scale = 0.125;        // Gaussian sigma = patch · sigma_scale (nnU-Net: 1/8)
  int64_t batch_size = 1;            // windows per forward pass
  bool flip_tta = false;             // also run each batch flipped along every spatial axis
  Activation activation = Activation::kSoftmax;
  bool slabs = true;                 // patch-deep slab accumulator (see above)
  double pad_value = 0.0;            // for images smaller than the patch
  int64_t max_buffer_bytes = 0;      // 0 = no limit
  std::string device = "cpu";        // where the windows run and are accumulated; output on the CPU
};

struct SlidingWindowResult {
  at::Tensor output;                 // float32 (K, [Z,] Y, X); undefined when a sink was given
  int64_t windows = 0;               // distinct window positions
  int64_t forward_passes = 0;        // calls of the network (batches × TTA copies)
  int64_t buffer_bytes = 0;          // bytes of the buffers above (formula in the header)
  int64_t peak_rss_bytes = -1;       // the process's peak resident memory (VmHWM), -1 if unknown
  double seconds = 0;
};

// A batch of windows (B, C, patch...) float32 → logits (B, K, patch...).
using WindowFn = std::function<at::Tensor(const at::Tensor&)>;
// Receives finished rows in order: `rows` is (K, n, ...) for image rows [first, first + n) of
// the first spatial axis. The tensor is reused afterwards: copy what must be kept.
using SlabSink = std::function<Status(int64_t first, const at::Tensor& rows)>;

// image: (C, [Z,] Y, X), used in place when float32 and contiguous (otherwise one converted
// copy is made, not counted in buffer_bytes).
[[nodiscard]] Result<SlidingWindowResult> sliding_window(const WindowFn& fn, const at::Tensor& image,
                                                         const SlidingWindowOptions& options,
                                                         const SlabSink& sink = {});
// Runs net->forward in eval mode without gradients (the net's mode is restored afterwards).
[[nodiscard]] Result<SlidingWindowResult> sliding_window(nets::Net& net, const at::Tensor& image,
                                                         const SlidingWindowOptions& options,
                                                         const SlabSink& sink = {});

// Window starts along one axis of `size` (≥ patch) voxels: ceil((size - patch) / (patch ·
// (1 - overlap))) + 1 starts, evenly spread and rounded (nnU-Net's compute_steps).
[[nodiscard]] std::vector<int64_t> window_starts(int64_t size, int64_t patch, double overlap);
// The blending weights, float32 of the patch's shape, maximum 1 (see above).
[[nodiscard]] at::Tensor blending_weights(const std::vector<int64_t>& patch, Blending blending, double sigma_scale);
// VmHWM from /proc/self/status in bytes; -1 if unavailable.
[[nodiscard]] int64_t process_peak_rss_bytes();

}  // namespace lucent::infer
