// Segmenting whole images with trained segmentation bundles: an image in, a label map, class
// probabilities and the volume of each structure out — on the image's own voxel grid.
//
//   auto s = lucent::infer::Segmenter::open({"runs/drive/bundle"}, nets, transforms, {.flip_tta = true});
//   if (!s) return std::unexpected(s.error());
//   auto img = lucent::io::read_image("case.nii.gz");
//   auto seg = (*s)->segment(*img);                    // labels (Z, Y, X) uint8, probabilities
//   if (!seg) return std::unexpected(seg.error().with_context("case.nii.gz"));
//   for (const auto& v : seg->volumes) std::cout << (*s)->label_name(v.label) << " " << v.volume_ml << "\n";
//
// What segment() does, per member bundle (an ensemble is several bundles):
//  1. the bundle's declared preprocess pipeline (the one used in training) on the image as
//     float32, then a check that the result has the bundle's in_channels;
//  2. sliding_window (sliding_window.h) with the bundle's inference settings (manifest
//     training.inference: patch_size, overlap, blend, batch_size, flip_tta, activation;
//     SegmenterOptions::flip_tta forces flip TTA on); images smaller than the patch are padded
//     there and cropped back;
//  3. when the pipeline changed the grid (resize, pad_crop: Pipeline::grid_change), the
//     probabilities are mapped back onto the input grid by linear interpolation along each axis;
//     input voxels the model never saw (cropped away) get background probability 1.
// The members' probabilities are averaged (same num_classes and activation required). Then,
// with the first member's settings: labels = threshold / argmax of the probabilities on the
// input grid (K = 1: p ≥ threshold; K = 2: p[1] ≥ threshold, as training's evaluation; K > 2:
// argmax), so the label map always agrees with the probability map; then the declared
// post-processing steps in order (remove_small_components {min_voxels, min_volume_mm3},
// keep_largest_components {keep}, fill_holes; each also takes classes and connectivity
// full|face) with the image's spacing; then structure_volumes with the image's spacing.
// A 2-D bundle also takes a 3-D image of exactly one slice (segmented as that slice; outputs
// keep the 3-D shape). The outputs always have the input's spatial size and geometry.
//
// Errors (messages name the bundle / expected vs found / next step; the caller adds the file):
//  open: kInvalidArgument (no bundle, a bundle that is not task "segmentation", malformed
//    training.inference or an unknown post-processing step, members that disagree on
//    num_classes / activation / spatial dims, activation "none"), kUnsupported (device cuda
//    without a GPU), and load_bundle's errors.
//  segment: kInvalidArgument (channel count after preprocessing ≠ the bundle's in_channels;
//    a 2-D image for a 3-D bundle or a multi-slice volume for a 2-D bundle; an empty image),
//    and the errors of the preprocess pipeline and sliding_window (kResourceExhausted, kInternal).
// Thread-safety: open() is a factory; segment() may be called from one thread at a time
// (the nets run in place); the accessors are const and safe from any thread.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/geometry.h"
#include "lucent/core/image.h"
#include "lucent/infer/postprocess.h"
#include "lucent/infer/sliding_window.h"
#include "lucent/nets/bundle.h"
#include "lucent/transforms/transform.h"

namespace lucent::infer {

// A segmentation bundle's inference settings (manifest training.inference). Missing keys keep
// these defaults; a missing patch_size falls back to the manifest's input_size.
struct SegmentationSettings {
  std::vector<int64_t> patch_size;  // (Y, X) or (Z, Y, X)
  double overlap = 0.5;
  Blending blending = Blending::kGaussian;
  int64_t batch_size = 1;
  bool flip_tta = false;
  Activation activation = Activation::kSoftmax;
  double threshold = 0.5;           // K = 1 or K = 2 (see above)
  int64_t num_classes = 2;          // labels including background
  std::vector<PostprocessStep> postprocess;
};

// Reads the settings of a manifest with task "segmentation"; kInvalidArgument naming the key.
[[nodiscard]] Result<SegmentationSettings> segmentation_settings(const nets::BundleManifest& manifest);

// True when `bundle_dir`/bundle.json declares task "segmentation" (reads that file only; does
// not verify the bundle). kNotFound / kInvalidData when the file is missing or not JSON.
[[nodiscard]] Result<bool> is_segmentation_bundle(const std::filesystem::path& bundle_dir);

struct SegmenterOptions {
  bool flip_tta = false;          // force flip TTA on for every member (the bundle's own is kept otherwise)
  std::string device = "cpu";     // cpu | cuda | cuda:N — where the windows run
  int64_t max_buffer_bytes = 0;   // sliding_window's limit; 0 = none
};

struct Segmentation {
  at::Tensor labels;              // uint8 ([Z,] Y, X), the input's spatial size, 0 = background
  at::Tensor probabilities;       // float32 (K, [Z,] Y, X), K = the bundles' output channels
  Geometry geometry;              // the input's, unchanged
  std::vector<StructureVolume> volumes;   // labels 1 .. num_labels-1 (absent ones with 0);
                                          // 2-D: areas in mm² in volume_mm3
  int64_t postprocess_changed_voxels = 0;
  bool resampled = false;         // the preprocess changed the grid; outputs were mapped back
};

class Segmenter {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Segmenter>> open(const std::vector<std::filesystem::path>& bundles,
                                                               const nets::NetRegistry& nets,
                                                               const transforms::TransformRegistry& transforms,
                                                               SegmenterOptions options = {});
  Segmenter(const Segmenter&) = delete;
  Segmenter& operator=(const Segmenter&) = delete;

  // One image, (C, [Z,] Y, X) of any size and dtype, with its geometry.
  [[nodiscard]] Result<Segmentation> segment(const Image& image);

  [[nodiscard]] int spatial_dims() const { return spatial_dims_; }
  [[nodiscard]] int64_t in_channels() const;
  [[nodiscard]] int64_t output_channels() const { return output_channels_; }   // K
  [[nodiscard]] int64_t num_labels() const { return settings_.num_classes; }   // incl. background
  // Name of a label value: the bundle's label names (K = 1: the one name is label 1), else "label_<n>".
  [[nodiscard]] std::string label_name(int64_t label) const;
  // The first member's settings, with flip_tta as actually applied.
  [[nodiscard]] const SegmentationSettings& settings() const { return settings_; }
  [[nodiscard]] const std::vector<std::string>& bundle_ids() const { return bundle_ids_; }

 private:
  struct Member {
    std::filesystem::path dir;
    nets::LoadedBundle bundle;
    transforms::Pipeline preprocess;
    SegmentationSettings settings;
  };
  Segmenter() = default;
  Result<at::Tensor> run_member(Member& m, const Image& image);

  std::vector<Member> members_;
  SegmentationSettings settings_;
  SegmenterOptions options_;
  int spatial_dims_ = 2;
  int64_t output_channels_ = 2;
  std::vector<std::string> bundle_ids_;
};

// Colour of a label value in overlays (RGB): 1 red, 2 green, 3 blue, 4 yellow, 5 cyan,
// 6 magenta, 7 orange, 8 purple, 9 azure, 10 lime, then repeating; 0 (background) black.
[[nodiscard]] std::array<uint8_t, 3> label_colour(int64_t label);

// An RGB picture of a 2-D image with its label map: the image as grey (1 channel, or the first
// of 2 / 5+) or colour (3 or 4 channels: RGB), uint8 shown as is, other types stretched from
// their minimum to maximum; every labelled pixel blended with its label colour at `fill_alpha`,
// and its contour (pixels with a 4-neighbour of another label) drawn fully in that colour.
// image (C, Y, X) or (C, 1, Y, X); labels of the same spatial size. → uint8 (3, Y, X).
// kInvalidArgument on shape mismatch.
[[nodiscard]] Result<at::Tensor> overlay_rgb(const at::Tensor& image, const at::Tensor& labels, double fill_alpha = 0.4);

}  // namespace lucent::infer
