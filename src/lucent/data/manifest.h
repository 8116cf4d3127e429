// Datasets of ordinary image files: a CSV manifest or an image folder, patient-level splits
// and a dataset check that names every bad case before training starts.
//
//   auto m = lucent::data::scan_image_folder("busi", {"*_mask*"});   // class = sub-folder
//   auto s = lucent::data::split_by_patient(*m, {.val_fraction = 0.15, .test_fraction = 0.2, .seed = 0});
//   auto st = lucent::data::write_manifest(*s, "runs/busi/split.csv");   // reproducible split
//   auto report = lucent::data::check_manifest(*s, {.labels = {"benign", "malignant", "normal"}});
//   auto train = lucent::data::load_manifest_split(*s, "train", labels, Task::kMulticlass, pre, rng);
//
// Manifest CSV columns: `path` and `label` (required); `patient_id` (images of one patient
// always share a split; default: each image is its own patient), `id` (default: the path
// relative to the manifest's folder, without extension), `split` (train/val/test) and any other
// columns (sex, age, site, device, …), kept as attributes for subgroup analysis. Relative paths
// resolve against the manifest's folder. Multi-label rows list their labels separated by ';'.
// Any format io::read_image reads is accepted (PNG, JPEG, TIFF, DICOM, NIfTI, NRRD, …).
//
// Errors: kNotFound (manifest or folder missing), kInvalidData (malformed CSV, missing required
// column, duplicated id, empty label), kInvalidArgument (impossible split fractions). The check
// never fails as a whole: it returns every problem it finds. Free functions; thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/rng.h"
#include "lucent/core/task.h"
#include "lucent/data/dataset.h"
#include "lucent/transforms/transform.h"

namespace lucent::data {

struct ManifestEntry {
  std::string id;                                   // unique case id
  std::filesystem::path path;                       // absolute
  std::string label;                                // class name; multi-label: names joined by ';'
  std::string patient;                              // patient id
  std::string split;                                // train | val | test | "" (unassigned)
  std::map<std::string, std::string> attributes;    // the other columns
};

struct Manifest {
  std::vector<ManifestEntry> entries;
  std::vector<std::string> attribute_columns;       // in file order
  std::string source;                               // file or folder it came from
};

[[nodiscard]] Result<Manifest> read_manifest(const std::filesystem::path& csv);

// ROOT/<class>/…/<file>: every file under a first-level sub-folder is an image of that class
// (sub-folders sorted; files sorted). Files whose name matches one of `exclude` (shell globs
// such as "*_mask*") and documentation files (.txt .md .csv .json .tsv, SHA256SUMS, dot files)
// are skipped. Ids are the paths relative to ROOT without extension; patients = ids.
[[nodiscard]] Result<Manifest> scan_image_folder(const std::filesystem::path& root,
                                                 const std::vector<std::string>& exclude = {});

// Writes columns id, path, label, patient_id, split, then the attributes (atomically). Paths
// under the CSV's folder are written relative to it.
[[nodiscard]] Status write_manifest(const Manifest& manifest, const std::filesystem::path& csv);

struct SplitOptions {
  double val_fraction = 0.15;
  double test_fraction = 0.15;
  uint64_t seed = 0;
};

// Assigns every entry to train/val/test. Patients, not images, are dealt: within each stratum
// (a patient's most frequent label) patients are shuffled with the seed and the first
// round(n·test) go to test, the next round(n·val) to val, the rest to train. Same manifest and
// seed, same split. kInvalidArgument when a fraction is negative or val + test ≥ 1.
[[nodiscard]] Result<Manifest> split_by_patient(Manifest manifest, const SplitOptions& options);

struct CheckOptions {
  std::vector<std::string> labels;                  // known labels; empty = any non-empty label
  bool multilabel = false;                          // labels separated by ';'
  int64_t channels = 0;                             // expected channels; 0 = the most common
  std::vector<int64_t> size;                        // expected spatial size (yx or zyx); empty = any
};

struct Problem {
  std::string id;
  std::string path;
  std::string what;                                 // expected vs found, and the fix
};

struct CheckReport {
  std::vector<Problem> problems;
  std::map<std::string, std::map<std::string, int64_t>> counts;  // split ("" = all) → label → images
  std::map<std::string, int64_t> patients;                      // split → patients
  int64_t images = 0;
};

// Reads every image (fully) and reports: missing or unreadable files (with the reader's
// message), empty or unknown labels, a channel count or spatial rank unlike the others, a size
// other than `size`, duplicated paths, unknown split names, and patients found in more than
// one split (a leak between training and test).
[[nodiscard]] CheckReport check_manifest(const Manifest& manifest, const CheckOptions& options);

// The entries of one split as a dataset: each image read, converted to float32, run through
// `preprocess` on its own (sizes may differ; the pipeline must make them equal, e.g. with
// `resize`) and stacked; labels index `labels`. The dataset is returned already preprocessed.
// kInvalidData names the first unreadable image, unknown label, or image whose preprocessed
// shape differs from the first one's; kNotFound when the split has no entries.
[[nodiscard]] Result<std::unique_ptr<TensorDataset>> load_manifest_split(const Manifest& manifest,
                                                                         const std::string& split,
                                                                         const std::vector<std::string>& labels,
                                                                         Task task,
                                                                         const transforms::Pipeline& preprocess,
                                                                         Rng& rng);

}  // namespace lucent::data
