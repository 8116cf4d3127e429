#include "lucent/infer/sliding_window.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "lucent/nets/unet.h"

namespace lucent::infer {
namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

int64_t product(const std::vector<int64_t>& v, std::size_t from = 0) {
  int64_t p = 1;
  for (std::size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

std::string mib(int64_t bytes) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return s.str();
}

Status check_options(const at::Tensor& image, const SlidingWindowOptions& o) {
  if (!image.defined() || (image.dim() != 3 && image.dim() != 4))
    return fail(ErrorCode::kInvalidArgument, "sliding window: image must be (C, Y, X) or (C, Z, Y, X), got " +
                                                 (image.defined() ? c10::str(image.sizes()) : std::string("nothing")));
  const auto dims = static_cast<std::size_t>(image.dim() - 1);
  if (o.patch_size.size() != dims)
    return fail(ErrorCode::kInvalidArgument, "sliding window: patch_size " + join(o.patch_size) + " has " +
                                                 std::to_string(o.patch_size.size()) + " axes but the image has " +
                                                 std::to_string(dims) + " spatial axes " + c10::str(image.sizes()));
  for (auto p : o.patch_size)
    if (p < 1) return fail(ErrorCode::kInvalidArgument, "sliding window: patch_size " + join(o.patch_size) + " must be positive");
  if (!(o.overlap >= 0 && o.overlap < 1))
    return fail(ErrorCode::kInvalidArgument, "sliding window: overlap must be in [0, 1), got " + std::to_string(o.overlap));
  if (!(o.sigma_scale > 0))
    return fail(ErrorCode::kInvalidArgument, "sliding window: sigma_scale must be > 0, got " + std::to_string(o.sigma_scale));
  if (o.batch_size < 1)
    return fail(ErrorCode::kInvalidArgument, "sliding window: batch_size must be >= 1, got " + std::to_string(o.batch_size));
  for (int64_t s : image.sizes())
    if (s < 1) return fail(ErrorCode::kInvalidArgument, "sliding window: empty image " + c10::str(image.sizes()));
  try {
    (void)torch::Device(o.device);
  } catch (const std::exception&) {
    return fail(ErrorCode::kInvalidArgument, "sliding window: device '" + o.device + "' is not a device (cpu, cuda, cuda:N)");
  }
  return ok();
}

// In-place activation over the channel axis 0 of `x` (K, ...).
void activate_(at::Tensor& x, Activation a) {
  if (a == Activation::kSigmoid) {
    x.sigmoid_();
  } else if (a == Activation::kSoftmax) {
    const at::Tensor m = std::get<0>(x.max(0, true));
    x.sub_(m).exp_();
    x.div_(x.sum(0, true));
  }
}

class Runner {
 public:
  Runner(const WindowFn& fn, const at::Tensor& image, const SlidingWindowOptions& o, const SlabSink& sink)
      : fn_(fn), o_(o), sink_(sink), dims_(image.dim() - 1), dev_(o.device) {
    image_ = image.to(at::kFloat).contiguous();
    for (int a = 0; a < dims_; ++a) {
      size_.push_back(image.size(a + 1));
      padded_.push_back(std::max(size_[a], o.patch_size[a]));
      pad_lo_.push_back((padded_[a] - size_[a]) / 2);
      starts_.push_back(window_starts(padded_[a], o.patch_size[a], o.overlap));
    }
    depth_ = o.slabs ? o.patch_size[0] : padded_[0];
    weights_ = blending_weights(o.patch_size, o.blending, o.sigma_scale).to(dev_);
  }

  Result<SlidingWindowResult> run() {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<int64_t>> windows;  // padded-space starts, first axis slowest
    std::vector<int64_t> idx(dims_, 0);
    while (true) {
      std::vector<int64_t> w(dims_);
      for (int a = 0; a < dims_; ++a) w[a] = starts_[a][idx[a]];
      windows.push_back(std::move(w));
      int a = dims_ - 1;
      while (a >= 0 && ++idx[a] == static_cast<int64_t>(starts_[a].size())) idx[a--] = 0;
      if (a < 0) break;
    }
    result_.windows = static_cast<int64_t>(windows.size());
    for (std::size_t first = 0; first < windows.size(); first += o_.batch_size) {
      const std::size_t n = std::min<std::size_t>(o_.batch_size, windows.size() - first);
      const std::vector<std::vector<int64_t>> batch(windows.begin() + first, windows.begin() + first + n);
      auto logits = forward(gather(batch));
      if (!logits) return std::unexpected(logits.error());
      for (std::size_t b = 0; b < n; ++b) {
        if (auto st = accumulate(batch[b], (*logits)[b]); !st) return std::unexpected(st.error());
      }
    }
    if (auto st = finalize(padded_[0]); !st) return std::unexpected(st.error());
    result_.peak_rss_bytes = process_peak_rss_bytes();
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(result_);
  }

 private:
  // The windows' input voxels (B, C, patch), padded with pad_value outside the image.
  at::Tensor gather(const std::vector<std::vector<int64_t>>& batch) {
    std::vector<int64_t> shape = {static_cast<int64_t>(batch.size()), image_.size(0)};
    shape.insert(shape.end(), o_.patch_size.begin(), o_.patch_size.end());
    const bool padded = padded_ != size_;
    // Once the image is on the windows' device (image_dev_), windows are cut there: no host copy
    // and no synchronising upload per batch, so the device never waits for the host's gather.
    const at::Tensor& image = image_dev_.defined() ? image_dev_ : image_;
    at::Tensor x = padded ? at::full(shape, o_.pad_value, image.options()) : at::empty(shape, image.options());
    for (std::size_t b = 0; b < batch.size(); ++b) {
      at::Tensor src = image, dst = x[b];
      for (int a = 0; a < dims_; ++a) {
        const int64_t lo = std::max<int64_t>(0, batch[b][a] - pad_lo_[a]);
        const int64_t hi = std::min(size_[a], batch[b][a] - pad_lo_[a] + o_.patch_size[a]);
        src = src.narrow(a + 1, lo, hi - lo);
        dst = dst.narrow(a + 1, lo - (batch[b][a] - pad_lo_[a]), hi - lo);
      }
      dst.copy_(src);
    }
    input_bytes_ = std::max<int64_t>(input_bytes_, static_cast<int64_t>(x.nbytes()));
    return x;
  }

  Result<at::Tensor> forward(const at::Tensor& windows) {
    const at::Tensor x = windows.to(dev_);  // no-op once windows are cut on the device
    auto call = [&](const at::Tensor& in) -> Result<at::Tensor> {
      at::Tensor y;
      try {
        y = fn_(in);
      } catch (const std::exception& e) {
        return fail(ErrorCode::kInternal, std::string("sliding window: the network failed on a batch ") +
                                              c10::str(in.sizes()) + ": " + e.what());
      }
      ++result_.forward_passes;
      const bool ok_shape = y.defined() && y.dim() == x.dim() && y.size(0) == x.size(0) &&
                            y.sizes().slice(2) == x.sizes().slice(2) && (k_ == 0 || y.size(1) == k_);
      if (!ok_shape)
        return fail(ErrorCode::kInternal, "sliding window: the network returned " +
                                              (y.defined() ? c10::str(y.sizes()) : std::string("nothing")) +
                                              " for windows " + c10::str(x.sizes()) + "; expected (B, K, " +
                                              join(o_.patch_size) + ") logits of the window's size");
      return y.to(dev_, at::kFloat);  // the accumulator lives on the windows' device
    };
    auto y = call(x);
    if (!y) return y;
    if (o_.flip_tta) {
      for (int a = 0; a < dims_; ++a) {
        auto f = call(x.flip({a + 2}));
        if (!f) return f;
        y->add_(f->flip({a + 2}));
      }
      y->div_(static_cast<double>(dims_ + 1));
    }
    if (k_ == 0) {
      k_ = y->size(1);
      // With TTA a flipped input copy, and the flipped logits plus their flipped-back copy, are live.
      if (auto st = allocate(input_bytes_ * (o_.flip_tta ? 2 : 1), static_cast<int64_t>(y->nbytes()) * (o_.flip_tta ? 3 : 1)); !st)
        return std::unexpected(st.error());
      upload_image();
    }
    y->mul_(weights_);
    return y;
  }

  Status allocate(int64_t input_batch_bytes, int64_t output_batch_bytes) {
    const int64_t f = sizeof(float);
    const int64_t out = sink_ ? 0 : k_ * product(size_) * f;
    const int64_t acc = (k_ + 1) * depth_ * product(padded_, 1) * f;
    const int64_t total = out + acc + static_cast<int64_t>(weights_.nbytes()) + input_batch_bytes + output_batch_bytes;
    if (o_.max_buffer_bytes > 0 && total > o_.max_buffer_bytes)
      return fail(ErrorCode::kResourceExhausted,
                  "sliding window over " + join(size_) + " voxels with " + std::to_string(k_) + " outputs needs " +
                      mib(total) + " of buffers (output " + mib(out) + ", accumulator " + mib(acc) +
                      ", windows " + mib(input_batch_bytes + output_batch_bytes) + ") but max_buffer_bytes is " +
                      mib(o_.max_buffer_bytes) +
                      (o_.slabs ? "; write the output slab by slab through a sink, or lower batch_size"
                                : "; set slabs = true to keep only a patch-deep accumulator"));
    std::vector<int64_t> shape = {k_, depth_};
    shape.insert(shape.end(), padded_.begin() + 1, padded_.end());
    try {
      const auto on_device = at::TensorOptions().dtype(at::kFloat).device(dev_);
      acc_ = at::zeros(shape, on_device);
      shape.erase(shape.begin());
      wsum_ = at::zeros(shape, on_device);
      if (!sink_) {
        std::vector<int64_t> oshape = {k_};
        oshape.insert(oshape.end(), size_.begin(), size_.end());
        result_.output = at::empty(oshape, at::kFloat);
      }
    } catch (const std::exception& e) {
      return fail(ErrorCode::kResourceExhausted, "sliding window: cannot allocate " + mib(total) + ": " + e.what());
    }
    result_.buffer_bytes = total;
    return ok();
  }

  // On a device other than the CPU, copies the image there for the remaining windows when its
  // bytes fit in what max_buffer_bytes leaves (no limit: always); otherwise, or if the device
  // is out of memory, windows keep being cut on the CPU and uploaded batch by batch.
  void upload_image() {
    if (dev_.is_cpu()) return;
    const auto bytes = static_cast<int64_t>(image_.nbytes());
    if (o_.max_buffer_bytes > 0 && result_.buffer_bytes + bytes > o_.max_buffer_bytes) return;
    try {
      image_dev_ = image_.to(dev_);
    } catch (const std::exception&) {
      return;  // not enough device memory for the image: the per-batch upload still works
    }
    result_.buffer_bytes += bytes;
  }

  Status accumulate(const std::vector<int64_t>& start, const at::Tensor& logits) {
    // Rows before this window's start are final: no later window reaches back there.
    if (start[0] + o_.patch_size[0] > base_ + depth_) {
      if (auto st = finalize(start[0]); !st) return st;
    }
    at::Tensor acc = acc_.narrow(1, start[0] - base_, o_.patch_size[0]);
    at::Tensor ws = wsum_.narrow(0, start[0] - base_, o_.patch_size[0]);
    for (int a = 1; a < dims_; ++a) {
      acc = acc.narrow(a + 1, start[a], o_.patch_size[a]);
      ws = ws.narrow(a, start[a], o_.patch_size[a]);
    }
    acc.add_(logits);
    ws.add_(weights_);
    return ok();
  }

  // Normalises, activates and emits padded rows [base_, upto), then moves the slab to upto.
  Status finalize(int64_t upto) {
    const int64_t n = upto - base_;
    if (n <= 0) return ok();
    at::Tensor rows = acc_.narrow(1, 0, n);
    rows.div_(wsum_.narrow(0, 0, n));
    activate_(rows, o_.activation);
    // Crop the padding: padded row r is image row r - pad_lo[0].
    const int64_t lo = std::max(base_, pad_lo_[0]), hi = std::min(upto, pad_lo_[0] + size_[0]);
    if (hi > lo) {
      at::Tensor img_rows = rows.narrow(1, lo - base_, hi - lo);
      for (int a = 1; a < dims_; ++a) img_rows = img_rows.narrow(a + 1, pad_lo_[a], size_[a]);
      if (sink_) {
        if (auto st = sink_(lo - pad_lo_[0], dev_.is_cpu() ? img_rows : img_rows.to(at::kCPU)); !st) return st;
      } else {
        result_.output.narrow(1, lo - pad_lo_[0], hi - lo).copy_(img_rows);
      }
    }
    // Shift the rows still open to the front, one row at a time (non-overlapping copies).
    const int64_t keep = depth_ - n;
    for (int64_t r = 0; r < keep; ++r) {
      acc_.select(1, r).copy_(acc_.select(1, r + n));
      wsum_.select(0, r).copy_(wsum_.select(0, r + n));
    }
    acc_.narrow(1, std::max<int64_t>(keep, 0), std::min(n, depth_)).zero_();
    wsum_.narrow(0, std::max<int64_t>(keep, 0), std::min(n, depth_)).zero_();
    base_ = upto;
    return ok();
  }

  const WindowFn& fn_;
  const SlidingWindowOptions& o_;
  const SlabSink& sink_;
  int dims_;
  torch::Device dev_;
  at::Tensor image_, image_dev_, weights_, acc_, wsum_;
  std::vector<int64_t> size_, padded_, pad_lo_;
  std::vector<std::vector<int64_t>> starts_;
  int64_t depth_ = 0, base_ = 0, k_ = 0, input_bytes_ = 0;
  SlidingWindowResult result_;
};

}  // namespace

std::vector<int64_t> window_starts(int64_t size, int64_t patch, double overlap) {
  if (size <= patch) return {0};
  const double target_step = static_cast<double>(patch) * (1.0 - overlap);
  const auto steps = static_cast<int64_t>(std::ceil(static_cast<double>(size - patch) / target_step)) + 1;
  const double actual = static_cast<double>(size - patch) / static_cast<double>(steps - 1);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < steps; ++i) out.push_back(static_cast<int64_t>(std::nearbyint(actual * static_cast<double>(i))));  // half to even, as np.round
  return out;
}

at::Tensor blending_weights(const std::vector<int64_t>& patch, Blending blending, double sigma_scale) {
  if (blending == Blending::kConstant) return at::ones(patch, at::kFloat);
  // scipy.ndimage.gaussian_filter of a centred delta (truncate = 4), divided by its maximum:
  // separable, exp(-d²/2σ²) within the kernel radius round(4σ), zero beyond.
  at::Tensor w = at::ones({1}, at::kDouble);
  for (std::size_t a = 0; a < patch.size(); ++a) {
    const double sigma = static_cast<double>(patch[a]) * sigma_scale;
    const auto radius = static_cast<int64_t>(4.0 * sigma + 0.5);
    const int64_t centre = patch[a] / 2;
    at::Tensor g = at::zeros({patch[a]}, at::kDouble);
    auto acc = g.accessor<double, 1>();
    for (int64_t i = 0; i < patch[a]; ++i) {
      const double d = static_cast<double>(i - centre);
      if (std::abs(i - centre) <= radius) acc[i] = std::exp(-0.5 * d * d / (sigma * sigma));
    }
    w = w.unsqueeze(-1) * g;  // outer product, growing one axis at a time
  }
  w = w.reshape(patch);
  w = w / w.max();
  const at::Tensor zero = w.eq(0);
  if (zero.any().item<bool>()) w.masked_fill_(zero, w.masked_select(~zero).min().item<double>());
  return w.to(at::kFloat);
}

int64_t process_peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream s(line.substr(6));
      int64_t kb = 0;
      if (s >> kb) return kb * 1024;
    }
  }
  return -1;
}

Result<SlidingWindowResult> sliding_window(const WindowFn& fn, const at::Tensor& image,
                                           const SlidingWindowOptions& options, const SlabSink& sink) {
  if (auto st = check_options(image, options); !st) return std::unexpected(st.error());
  try {
    torch::NoGradGuard no_grad;
    Runner runner(fn, image, options, sink);
    return runner.run();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, std::string("sliding window: ") + e.what());
  }
}

Result<SlidingWindowResult> sliding_window(nets::Net& net, const at::Tensor& image, const SlidingWindowOptions& options,
                                           const SlabSink& sink) {
  if (const auto* seg = dynamic_cast<const nets::SegmentationNet*>(&net)) {
    const int64_t m = seg->size_multiple();
    bool bad = false;
    std::vector<int64_t> fixed;
    for (auto p : options.patch_size) {
      bad = bad || p % m != 0;
      fixed.push_back(std::max(m, p / m * m));
    }
    if (bad)
      return fail(ErrorCode::kInvalidArgument, "sliding window: patch_size " + join(options.patch_size) +
                                                   " is not a multiple of " + std::to_string(m) +
                                                   " (2^depth of the U-Net) along every axis; use e.g. " + join(fixed));
  }
  const bool was_training = net.is_training();
  net.eval();
  auto r = sliding_window([&net](const at::Tensor& x) { return net.forward(x); }, image, options, sink);
  net.train(was_training);
  return r;
}

}  // namespace lucent::infer
