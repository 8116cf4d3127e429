// Describing an image for people (text) and programs (JSON); shared by `info` and `survey`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "lucent/core/image.h"

namespace lucent::app {

struct ImageSummary {
  std::string format;
  std::string size;           // "512x512x17" (X x Y x Z), "565x584" for 2-D
  std::string spacing;        // "0.703x0.703x5.000" mm
  std::string dtype;
  std::string modality;
  double min_value = 0, max_value = 0;
  int64_t channels = 0;
};

[[nodiscard]] ImageSummary summarize(const Image& image);
[[nodiscard]] nlohmann::json to_json(const Image& image);
[[nodiscard]] std::string to_text(const Image& image);

}  // namespace lucent::app
