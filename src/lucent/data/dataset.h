// Datasets and the threaded loader that feeds training and evaluation.
//
//   auto train = lucent::data::load_medmnist(path, "train");         // TensorDataset
//   lucent::data::DataLoader loader(*train, augment, {.batch_size = 128, .shuffle = true}, seed);
//   loader.start_epoch(epoch);
//   while (auto batch = loader.next()) { ... (*batch)->images ... }
//
// A dataset holds images channels-first (N, C, [Z,] Y, X) and labels int64 (N, L): L = 1 for
// binary / multi-class / ordinal (the class index), L = number of labels for multi-label (0/1).
// The deterministic preprocessing of a bundle is applied once, when the dataset is prepared
// (`TensorDataset::preprocess`), so every epoch only pays for augmentation.
// The loader produces batches on a background thread (prefetching `prefetch` batches) while
// the model computes; augmentation randomness is derived from (seed, epoch, batch index), so
// results do not depend on thread timing. Errors from a batch are delivered by next().
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/core/rng.h"
#include "lucent/core/task.h"
#include "lucent/transforms/transform.h"

namespace lucent::data {

struct Batch {
  at::Tensor images;              // float32
  at::Tensor labels;              // int64 (B, L)
  std::vector<int64_t> indices;   // rows of the dataset
};

class TensorDataset {
 public:
  TensorDataset(at::Tensor images, at::Tensor labels, Task task, int64_t num_classes,
                std::vector<std::string> ids = {});

  [[nodiscard]] int64_t size() const { return images_.size(0); }
  [[nodiscard]] int spatial_dims() const { return static_cast<int>(images_.dim()) - 2; }
  [[nodiscard]] int64_t channels() const { return images_.size(1); }
  [[nodiscard]] std::vector<int64_t> spatial_size() const;
  [[nodiscard]] Task task() const { return task_; }
  // Outputs the model needs: classes (binary/multi-class/ordinal) or labels (multi-label).
  [[nodiscard]] int64_t num_classes() const { return num_classes_; }
  [[nodiscard]] const at::Tensor& images() const { return images_; }
  [[nodiscard]] const at::Tensor& labels() const { return labels_; }
  [[nodiscard]] const std::vector<std::string>& ids() const { return ids_; }
  // Per-class counts (multi-label: positives per label).
  [[nodiscard]] std::vector<int64_t> class_counts() const;
  // Converts images to float32 and runs the deterministic pipeline over the whole set, in
  // chunks. Idempotent only in the sense that calling it twice applies the pipeline twice.
  [[nodiscard]] Status preprocess(const transforms::Pipeline& pipeline, Rng& rng);
  [[nodiscard]] Batch gather(const std::vector<int64_t>& indices) const;

 private:
  at::Tensor images_, labels_;
  Task task_;
  int64_t num_classes_;
  std::vector<std::string> ids_;
};

// A MedMNIST split ("train", "val", "test"). The task is inferred from the labels (one column:
// binary if two classes else multi-class; several columns: multi-label) unless `task` is given.
[[nodiscard]] Result<std::unique_ptr<TensorDataset>> load_medmnist(const std::filesystem::path& path,
                                                                   const std::string& split,
                                                                   std::optional<Task> task = {});

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  int prefetch = 2;
};

class DataLoader {
 public:
  // `augment` may be empty. The dataset must outlive the loader.
  DataLoader(const TensorDataset& dataset, transforms::Pipeline augment, LoaderOptions options, uint64_t seed);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts producing the batches of `epoch` (stops any epoch in progress).
  void start_epoch(int64_t epoch);
  // The next batch, an error, or nullopt at the end of the epoch.
  [[nodiscard]] std::optional<Result<Batch>> next();
  [[nodiscard]] int64_t batches_per_epoch() const;

 private:
  void stop();
  void produce(int64_t epoch, std::vector<int64_t> order);

  const TensorDataset& dataset_;
  transforms::Pipeline augment_;
  LoaderOptions options_;
  uint64_t seed_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Result<Batch>> queue_;
  bool done_ = true;
  bool cancel_ = false;
};

}  // namespace lucent::data
