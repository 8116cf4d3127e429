// `lucent metrics --pred-mask P --truth-mask T`: segmentation metrics of predicted label maps
// against the truth, per class and per case, with bootstrap intervals over cases. With --rand:
// segment agreement instead (foreground-restricted Rand error, split and merge, and the
// information scores V_info), each map first turned into segments as --pred-segments /
// --truth-segments say (labels | boundary | interior).
// Definitions: lucent/metrics/segmentation.h, lucent/metrics/rand_error.h and docs/metrics.md
// ("Segmentation and image-quality metrics", "Segment agreement"). Parsing and wiring only.
//
// P and T are both files (one case) or both folders (cases matched by file name; hidden files
// and subfolders are ignored). Every file is read with lucent::io::read_image (NIfTI, NRRD,
// MHA, PNG, TIFF, ...). Errors, each naming the files: a missing path or a case without its
// partner → not_found; prediction and truth grids that differ in size, spacing, origin or
// direction → invalid_data (the property and both values named); a map that is not one
// channel of whole numbers → invalid_data. Nothing is written when the command fails.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lucent::app {

struct MaskMetricsArgs {
  std::string pred;                 // label-map file or folder
  std::string truth;                // label-map file or folder
  std::vector<int64_t> labels;      // empty: every non-zero label of any truth or prediction
  double nsd_tolerance_mm = 1.0;    // normalised surface Dice tolerance
  int64_t bootstrap = 2000;         // resamples of cases; 0 = no intervals
  int64_t seed = 0;
  double confidence = 0.95;
  std::string ci = "bca";           // "bca" or "percentile"
  std::string out = ".";            // folder for metrics.json
  bool quiet = false;               // no table on stdout
  bool rand = false;                // segment agreement (Rand / information) instead of per-label overlap
  std::string pred_segments = "labels";   // --rand: labels | boundary | interior (metrics::SegmentSource)
  std::string truth_segments = "labels";
};

// Scores every case, writes OUT/metrics.json atomically, prints a table unless quiet.
// --rand: metrics.json has "task": "segment_agreement" (docs/metrics.md).
// Returns the process exit code (0, or the error table's code after printing the error).
int run_mask_metrics(const MaskMetricsArgs& args);

}  // namespace lucent::app
