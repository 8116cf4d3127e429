// A label-map image as a contiguous int32 tensor of its voxels (channel axis kept), shared by
// the per-label overlap metrics (segmentation.cpp) and the segment-agreement scores
// (rand_error.cpp). Internal to lucent::metrics.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "lucent/core/error.h"
#include "lucent/core/image.h"

namespace lucent::metrics::internal {

// kInvalidData naming `role` ("prediction", "truth") for a map that is not one channel, holds
// NaN, infinities or non-integer values, or values outside the int32 range.
[[nodiscard]] Result<at::Tensor> label_tensor(const Image& image, const std::string& role);

}  // namespace lucent::metrics::internal
