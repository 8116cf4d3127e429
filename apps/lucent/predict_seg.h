// `lucent predict` with segmentation bundles: reads each input, runs infer::Segmenter, and
// writes label maps, probability maps, 2-D overlays, volumes.json and predictions.json
// (docs/segmentation-predict.md). Everything is written into a hidden staging folder beside
// the output folder and moved into place only when every case succeeded: a failed run leaves
// no output files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lucent::app {

struct SegPredictArgs {
  std::filesystem::path out = "predictions";
  bool tta = false;
  std::string device = "cpu";
};

// Returns the process exit code (0, or the error table's code after printing the error).
int run_segmentation_predict(const std::vector<std::filesystem::path>& bundles,
                             const std::vector<std::filesystem::path>& inputs, const SegPredictArgs& args);

}  // namespace lucent::app
