// GIF reading (giflib), private to io: the first frame, palette applied. Grey palettes give one
// channel, colour palettes three. DRIVE ships its vessel and field-of-view masks as GIF.
#pragma once

#include <filesystem>

#include "lucent/core/error.h"
#include "lucent/core/image.h"

namespace lucent::io::internal {

[[nodiscard]] Result<Image> read_gif(const std::filesystem::path& path);

}  // namespace lucent::io::internal
