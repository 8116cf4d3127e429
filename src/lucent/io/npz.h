// NumPy .npz archives (zip of .npy arrays, stored or deflated) and the MedMNIST layout on top.
//
//   auto split = lucent::io::read_medmnist("breastmnist.npz", "train");
//   // split->images: uint8 (N, C, H, W) or (N, C, D, H, W); split->labels: int64 (N, L)
//
// Supports the dtypes NumPy writes for images and labels (u1, i1, u2, i2, i4, i8, f4, f8,
// little-endian, C or Fortran order). Errors: kNotFound, kInvalidData (not a zip, corrupt
// member, bad .npy header, CRC mismatch), kUnsupported (big-endian or object arrays),
// kInvalidArgument (unknown split name). Thread-safety: free functions.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

#include "lucent/core/error.h"

namespace lucent::io {

// All arrays of an .npz, keyed by name without ".npy".
[[nodiscard]] Result<std::map<std::string, at::Tensor>> read_npz(const std::filesystem::path& path);
// One .npy file's bytes → tensor.
[[nodiscard]] Result<at::Tensor> parse_npy(std::string_view bytes, const std::string& name_for_errors);

struct MedMnistSplit {
  at::Tensor images;   // uint8, channels first: (N, C, H, W) 2-D or (N, C, D, H, W) 3-D
  at::Tensor labels;   // int64 (N, L)
  int spatial_dims = 2;
};

// split: "train", "val" or "test".
[[nodiscard]] Result<MedMnistSplit> read_medmnist(const std::filesystem::path& path, const std::string& split);

}  // namespace lucent::io
