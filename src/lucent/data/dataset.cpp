#include "lucent/data/dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "lucent/io/npz.h"

namespace lucent::data {

TensorDataset::TensorDataset(at::Tensor images, at::Tensor labels, Task task, int64_t num_classes,
                             std::vector<std::string> ids)
    : images_(std::move(images)), labels_(std::move(labels)), task_(task), num_classes_(num_classes), ids_(std::move(ids)) {
  if (ids_.empty()) {
    ids_.reserve(static_cast<std::size_t>(images_.size(0)));
    for (int64_t i = 0; i < images_.size(0); ++i) ids_.push_back(std::to_string(i));
  }
}

std::vector<int64_t> TensorDataset::spatial_size() const {
  return std::vector<int64_t>(images_.sizes().begin() + 2, images_.sizes().end());
}

std::vector<int64_t> TensorDataset::class_counts() const {
  std::vector<int64_t> counts(static_cast<std::size_t>(num_classes_), 0);
  if (task_ == Task::kMultilabel) {
    auto s = labels_.sum(0);
    for (int64_t c = 0; c < num_classes_; ++c) counts[c] = s[c].item<int64_t>();
  } else {
    auto b = at::bincount(labels_.select(1, 0), {}, num_classes_);
    for (int64_t c = 0; c < num_classes_; ++c) counts[c] = b[c].item<int64_t>();
  }
  return counts;
}

Status TensorDataset::preprocess(const transforms::Pipeline& pipeline, Rng& rng) {
  constexpr int64_t kChunk = 1024;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < size(); start += kChunk) {
    transforms::Batch b{images_.slice(0, start, std::min(size(), start + kChunk)).to(at::kFloat), {}};
    if (auto st = pipeline.apply(b, rng); !st) return st;
    parts.push_back(b.images.contiguous());
  }
  images_ = parts.size() == 1 ? parts.front() : at::cat(parts, 0);
  return ok();
}

Batch TensorDataset::gather(const std::vector<int64_t>& indices) const {
  auto idx = at::tensor(indices, at::kLong);
  Batch b;
  b.images = images_.index_select(0, idx);
  if (b.images.scalar_type() != at::kFloat) b.images = b.images.to(at::kFloat);
  b.labels = labels_.index_select(0, idx);
  b.indices = indices;
  return b;
}

Result<std::unique_ptr<TensorDataset>> load_medmnist(const std::filesystem::path& path, const std::string& split,
                                                     std::optional<Task> task) {
  auto s = io::read_medmnist(path, split);
  if (!s) return std::unexpected(s.error());
  at::Tensor labels = s->labels.to(at::kLong);
  if (labels.dim() == 1) labels = labels.unsqueeze(1);
  const int64_t columns = labels.size(1);
  Task t;
  int64_t k;
  if (columns > 1) {
    t = Task::kMultilabel;
    k = columns;
  } else {
    k = labels.numel() ? labels.max().item<int64_t>() + 1 : 0;
    t = k <= 2 ? Task::kBinary : Task::kMulticlass;
    k = std::max<int64_t>(k, 2);
  }
  if (task) {
    if ((*task == Task::kMultilabel) != (t == Task::kMultilabel))
      return fail(ErrorCode::kInvalidArgument,
                  path.string() + ": task " + task_name(*task) + " does not fit labels of shape (N, " +
                      std::to_string(columns) + ")");
    t = *task;
  }
  if (labels.numel() && labels.min().item<int64_t>() < 0)
    return fail(ErrorCode::kInvalidData, path.string() + ": negative label in split " + split);
  return std::make_unique<TensorDataset>(s->images, labels, t, k);
}

DataLoader::DataLoader(const TensorDataset& dataset, transforms::Pipeline augment, LoaderOptions options,
                       uint64_t seed)
    : dataset_(dataset), augment_(std::move(augment)), options_(options), seed_(seed) {
  options_.batch_size = std::max<int64_t>(1, options_.batch_size);
  options_.prefetch = std::max(1, options_.prefetch);
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::stop() {
  {
    std::lock_guard lock(mutex_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard lock(mutex_);
  queue_.clear();
  cancel_ = false;
  done_ = true;
}

void DataLoader::start_epoch(int64_t epoch) {
  stop();
  std::vector<int64_t> order(static_cast<std::size_t>(dataset_.size()));
  std::iota(order.begin(), order.end(), 0);
  if (options_.shuffle) {
    Rng rng = Rng(seed_).fork(static_cast<uint64_t>(epoch) * 2 + 1);
    auto perm = at::randperm(dataset_.size(), rng.generator());
    auto acc = perm.accessor<int64_t, 1>();
    for (int64_t i = 0; i < dataset_.size(); ++i) order[static_cast<std::size_t>(i)] = acc[i];
  }
  {
    std::lock_guard lock(mutex_);
    done_ = false;
  }
  worker_ = std::thread([this, epoch, order = std::move(order)]() mutable { produce(epoch, std::move(order)); });
}

void DataLoader::produce(int64_t epoch, std::vector<int64_t> order) {
  const int64_t batches = batches_per_epoch();
  for (int64_t b = 0; b < batches; ++b) {
    const auto first = order.begin() + b * options_.batch_size;
    const auto last = order.begin() + std::min<int64_t>(static_cast<int64_t>(order.size()), (b + 1) * options_.batch_size);
    Result<Batch> item = dataset_.gather(std::vector<int64_t>(first, last));
    if (!augment_.empty()) {
      Rng rng = Rng(seed_).fork(static_cast<uint64_t>(epoch) * 1000003ULL + static_cast<uint64_t>(b) * 2 + 2);
      transforms::Batch tb{item->images, {}};
      if (auto st = augment_.apply(tb, rng); !st) {
        item = std::unexpected(st.error().with_context("augmenting batch " + std::to_string(b)));
      } else {
        item->images = tb.images;
      }
    }
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return cancel_ || static_cast<int>(queue_.size()) < options_.prefetch; });
    if (cancel_) return;
    const bool failed = !item.has_value();
    queue_.push_back(std::move(item));
    cv_.notify_all();
    if (failed) break;
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  cv_.notify_all();
}

std::optional<Result<Batch>> DataLoader::next() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) return std::nullopt;
  Result<Batch> item = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  return item;
}

}  // namespace lucent::data
