// Tensors on disk in the safetensors format: an 8-byte little-endian header length, a JSON
// header (name → dtype, shape, byte offsets; optional "__metadata__" of strings), then the raw
// little-endian data. No pickles, no code: safe to load from an untrusted source, readable by
// the Python `safetensors` package and many tools.
//
//   auto st = write_safetensors("w.safetensors", {{"fc.weight", w}}, {{"arch", "resnet18"}});
//   auto tensors = read_safetensors("w.safetensors");
//
// Writes are atomic. Errors: kInvalidData (bad header, offsets outside the file, overlapping or
// unknown dtype — each naming the file and tensor), kUnsupported (a dtype Lucent cannot hold),
// kNotFound / kIoError.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lucent/core/error.h"

namespace lucent {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

[[nodiscard]] Status write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};
[[nodiscard]] Result<SafetensorsFile> read_safetensors(const std::filesystem::path& path);

}  // namespace lucent
