#include "lucent/core/image.h"

#include <ATen/ATen.h>

namespace lucent {

std::array<int64_t, 3> Image::size_ijk() const {
  if (!data.defined()) return {0, 0, 0};
  const int64_t d = data.dim();
  if (geometry.spatial_dims == 2) return {data.size(d - 1), data.size(d - 2), 1};
  return {data.size(d - 1), data.size(d - 2), data.size(d - 3)};
}

Image Image::clone() const {
  Image out = *this;
  if (data.defined()) out.data = data.clone();
  return out;
}

}  // namespace lucent
