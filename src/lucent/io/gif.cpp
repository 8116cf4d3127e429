#include <ATen/ATen.h>
#include <gif_lib.h>

#include <memory>

#include "lucent/io/internal/gif.h"

namespace lucent::io::internal {

Result<Image> read_gif(const std::filesystem::path& path) {
  int err = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &err);
  if (!gif) return fail(ErrorCode::kInvalidData, "cannot open GIF " + path.string() + ": " + GifErrorString(err));
  std::unique_ptr<GifFileType, void (*)(GifFileType*)> guard(gif, [](GifFileType* g) {
    int e = 0;
    DGifCloseFile(g, &e);
  });
  if (DGifSlurp(gif) != GIF_OK)
    return fail(ErrorCode::kInvalidData, "GIF " + path.string() + " is corrupt or truncated: " + GifErrorString(gif->Error));
  if (gif->ImageCount < 1 || gif->SWidth <= 0 || gif->SHeight <= 0)
    return fail(ErrorCode::kInvalidData, "GIF " + path.string() + " holds no image");
  const SavedImage& frame = gif->SavedImages[0];
  const GifImageDesc& d = frame.ImageDesc;
  const ColorMapObject* map = d.ColorMap ? d.ColorMap : gif->SColorMap;
  if (!map) return fail(ErrorCode::kInvalidData, "GIF " + path.string() + " has no colour table");
  const int64_t w = gif->SWidth, h = gif->SHeight;
  if (d.Left < 0 || d.Top < 0 || d.Left + d.Width > w || d.Top + d.Height > h || !frame.RasterBits)
    return fail(ErrorCode::kInvalidData, "GIF " + path.string() + ": the first frame lies outside the screen");
  bool grey = true;
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    grey = grey && c.Red == c.Green && c.Green == c.Blue;
  }
  const int64_t channels = grey ? 1 : 3;
  at::Tensor data = at::zeros({channels, h, w}, at::kByte);
  auto acc = data.accessor<uint8_t, 3>();
  for (int64_t y = 0; y < d.Height; ++y) {
    for (int64_t x = 0; x < d.Width; ++x) {
      const int idx = frame.RasterBits[y * d.Width + x];
      if (idx >= map->ColorCount) continue;  // out-of-table index: leave background
      const GifColorType& c = map->Colors[idx];
      if (grey) {
        acc[0][d.Top + y][d.Left + x] = c.Red;
      } else {
        acc[0][d.Top + y][d.Left + x] = c.Red;
        acc[1][d.Top + y][d.Left + x] = c.Green;
        acc[2][d.Top + y][d.Left + x] = c.Blue;
      }
    }
  }
  Image img;
  img.data = data;
  img.geometry.spatial_dims = 2;
  img.meta.format = "GIF";
  return img;
}

}  // namespace lucent::io::internal
