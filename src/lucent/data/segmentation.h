// Segmentation data: image / label-map pairs, with optional region-of-interest masks, checked
// case by case, loaded once, and sampled as patches for training.
//
//   auto cases = lucent::data::scan_drive("../shared/data/drive");         // or scan_seg_folder,
//   auto loaded = lucent::data::load_seg_cases(cases->cases, {.num_classes = 2,  // read_seg_manifest
//                                              .remap = {{255, 1}}}, preprocess, rng);
//   lucent::data::PatchSampler sampler(loaded->samples, {.patch_size = {64, 64}, .pos_fraction = 0.5}, seed);
//   auto batch = sampler.sample(epoch, batch_index, 16);    // images (B, C, 64, 64), labels (B, 64, 64)
//
// Sources of cases (each case = one image, one or more masks combined by union, an optional
// ROI mask, a patient id and an optional split):
//  - CSV manifest with columns `image`, `mask` (required; several masks separated by ';'),
//    `roi`, `patient_id`, `split` (train | val | test), `id` (optional). Relative paths resolve
//    against the manifest's folder.
//  - A folder: images under `images`, masks under `masks` (both relative to the root; the same
//    folder is allowed), matched by relative path and file stem: the mask of `a/b.png` is
//    `a/b<mask_suffix>.*`, and further masks `a/b<mask_suffix>_<n>.*` are combined with it (BUSI:
//    `benign (12)_mask.png`, `benign (12)_mask_1.png`). ROI masks the same way under `roi`.
//  - DRIVE's own layout (training/ and test/ or testing/, each with images/, 1st_manual/, mask/):
//    the training images get split "train", the test images split "test".
// Label maps: every mask is read as one channel (the first channel of a colour file); values are
// remapped through `remap` (values not listed keep their value; every key is mapped from the
// original values at once, so {0: 1, 255: 0} swaps), then several masks of a case combine by
// union (the largest label wins per pixel). The result must lie in [0, num_classes). Pixels
// outside the ROI (ROI value 0) get kIgnoreLabel: losses and metrics leave them out.
// Errors: kNotFound for a missing folder / manifest; kInvalidData for a malformed manifest or
// for bad cases — every problem of every case is listed (unreadable file, image and mask of
// different sizes with both files and sizes named, labels outside the expected set with the
// values found and the fix) before anything is trained. Free functions are thread-safe; a
// PatchSampler is immutable after construction (sample() is const and deterministic).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/geometry.h"
#include "lucent/core/rng.h"
#include "lucent/transforms/transform.h"

namespace lucent::data {

// Label of pixels that count nowhere (outside the ROI, or padding of a patch).
inline constexpr int64_t kIgnoreLabel = 255;

struct SegCase {
  std::string id;
  std::filesystem::path image;
  std::vector<std::filesystem::path> masks;  // combined by union
  std::filesystem::path roi;                 // empty = the whole image counts
  std::string patient;                       // default: the id
  std::string split;                         // train | val | test | "" (unassigned)
};

struct SegCaseList {
  std::vector<SegCase> cases;
  std::string source;
};

[[nodiscard]] Result<SegCaseList> read_seg_manifest(const std::filesystem::path& csv);

struct SegFolderOptions {
  std::string images = "images";   // relative to the root
  std::string masks = "masks";     // may equal `images`
  std::string mask_suffix;         // "" (same stem) or e.g. "_mask"
  std::string roi;                 // "" = no ROI masks
  std::string roi_suffix;
};
[[nodiscard]] Result<SegCaseList> scan_seg_folder(const std::filesystem::path& root, const SegFolderOptions& options);
[[nodiscard]] Result<SegCaseList> scan_drive(const std::filesystem::path& root);

// Assigns the cases without a split: `test_fraction` then `val_fraction` of the patients
// (rounded, at least one each when the fraction is > 0 and enough patients exist), seeded.
// Cases that already have a split keep it. `val_count` > 0 overrides val_fraction with an
// exact number of patients taken from the training cases (DRIVE: 4 of the 20).
struct SegSplitOptions {
  double val_fraction = 0.15;
  double test_fraction = 0.15;
  int64_t val_count = 0;
  uint64_t seed = 0;
};
[[nodiscard]] Result<SegCaseList> split_seg_cases(SegCaseList cases, const SegSplitOptions& options);
// Writes columns id, image, mask, roi, patient_id, split (atomically): the split as used.
[[nodiscard]] Status write_seg_manifest(const SegCaseList& cases, const std::filesystem::path& csv);

struct SegLoadOptions {
  int64_t num_classes = 2;                 // labels 0 .. num_classes-1 (≤ 255)
  std::map<int64_t, int64_t> remap;        // mask value → label
};

// One loaded case: preprocessed image, label map with kIgnoreLabel outside the ROI.
struct SegSample {
  std::string id;
  at::Tensor image;    // float32 (C, [Z,] Y, X), after the preprocess pipeline
  at::Tensor labels;   // int64 ([Z,] Y, X)
  at::Tensor roi;      // bool ([Z,] Y, X); all true without an ROI file
  Geometry geometry;   // of the image file
  std::filesystem::path image_path;
};

struct SegProblem {
  std::string id;
  std::string what;
};

// Reads and checks one case (before preprocessing): the problems found, or the sample.
[[nodiscard]] Result<SegSample> load_seg_case(const SegCase& c, const SegLoadOptions& options,
                                              std::vector<SegProblem>& problems);

// Every case read, checked (all problems listed in one kInvalidData error, up to 20 shown),
// and preprocessed with `preprocess` (image and label map move together; labels stay integer).
[[nodiscard]] Result<std::vector<SegSample>> load_seg_cases(const std::vector<SegCase>& cases,
                                                            const SegLoadOptions& options,
                                                            const transforms::Pipeline& preprocess, Rng& rng);

struct PatchOptions {
  std::vector<int64_t> patch_size;   // (Y, X) or (Z, Y, X)
  double pos_fraction = 0.5;         // patches centred on a foreground (label ≥ 1) pixel
};

struct PatchBatch {
  at::Tensor images;   // float32 (B, C, patch…)
  at::Tensor labels;   // int64 (B, patch…), kIgnoreLabel in padding and outside the ROI
  std::vector<int64_t> cases;
  int64_t positive = 0;  // patches drawn around a foreground pixel
};

// Draws random patches: each picks a case uniformly, then with probability pos_fraction a
// centre among the case's foreground pixels (if it has any), otherwise a centre among its ROI
// pixels. Patches are cut with the centre in the middle, padded (image 0, labels kIgnoreLabel)
// where they cross the border. The same (seed, epoch, batch) gives the same batch.
class PatchSampler {
 public:
  // kInvalidArgument (from create) for an empty set, a patch of the wrong rank or size < 1.
  [[nodiscard]] static Result<PatchSampler> create(const std::vector<SegSample>& samples, PatchOptions options,
                                                   uint64_t seed);
  [[nodiscard]] PatchBatch sample(int64_t epoch, int64_t batch_index, int64_t batch_size) const;
  [[nodiscard]] const PatchOptions& options() const { return options_; }

 private:
  PatchSampler(const std::vector<SegSample>& samples, PatchOptions options, uint64_t seed);
  const std::vector<SegSample>* samples_;
  PatchOptions options_;
  uint64_t seed_;
  std::vector<at::Tensor> foreground_;  // int64 flat indices per case
  std::vector<at::Tensor> inside_;      // int64 flat indices of ROI pixels per case
};

}  // namespace lucent::data
