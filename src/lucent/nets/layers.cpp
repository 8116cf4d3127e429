#include <torch/torch.h>

#include <algorithm>

#include "lucent/nets/internal/layers.h"

namespace lucent::nets::internal {
namespace nn = torch::nn;

nn::AnyModule conv(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias) {
  if (dims == 3) return nn::AnyModule(nn::Conv3d(nn::Conv3dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
  return nn::AnyModule(nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
}

nn::AnyModule batch_norm(int dims, int64_t channels) {
  if (dims == 3) return nn::AnyModule(nn::BatchNorm3d(channels));
  return nn::AnyModule(nn::BatchNorm2d(channels));
}

nn::AnyModule max_pool(int dims, int64_t kernel, int64_t stride, int64_t padding) {
  if (dims == 3) return nn::AnyModule(nn::MaxPool3d(nn::MaxPool3dOptions(kernel).stride(stride).padding(padding)));
  return nn::AnyModule(nn::MaxPool2d(nn::MaxPool2dOptions(kernel).stride(stride).padding(padding)));
}

nn::AnyModule avg_pool(int dims, int64_t kernel, int64_t stride) {
  if (dims == 3) return nn::AnyModule(nn::AvgPool3d(nn::AvgPool3dOptions(kernel).stride(stride)));
  return nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(kernel).stride(stride)));
}

nn::AnyModule relu() { return nn::AnyModule(nn::ReLU(nn::ReLUOptions(true))); }

at::Tensor conv_inference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                          int64_t padding) {
  const int64_t dims = x.dim() - 2;
  const auto channels_last = at::MemoryFormat::ChannelsLast;
  bool pointwise = stride == 1 && padding == 0;
  for (int64_t a = 2; a < weight.dim(); ++a) pointwise = pointwise && weight.size(a) == 1;
  const int64_t n = x.size(0), in = x.size(1), out = weight.size(0);
  if (pointwise && dims == 3) {
    // (out, in) @ (n, in, L) -> (n, out, L), plus the bias per output channel.
    const at::Tensor w = weight.reshape({out, in});
    // at::matmul of a matrix with a batch copies the batch; one sample is a plain product.
    at::Tensor y = n == 1 ? at::mm(w, x.reshape({in, -1})).unsqueeze(0) : at::matmul(w, x.reshape({n, in, -1}));
    if (bias.defined()) y.add_(bias.view({1, out, 1}));
    std::vector<int64_t> shape = {n, out};
    for (int64_t a = 2; a < x.dim(); ++a) shape.push_back(x.size(a));
    return y.view(shape);
  }
  const c10::optional<at::Tensor> b = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  if (!at::hasMKLDNN()) {  // a LibTorch built without oneDNN: its own convolution, same layouts
    if (dims == 3) return at::conv3d(x, weight, b, stride, padding);
    return at::conv2d(x, weight, b, stride, padding).contiguous(channels_last);
  }
  const std::vector<int64_t> s(dims, stride), p(dims, padding), d(dims, 1);
  if (dims == 3) return at::mkldnn_convolution(x.contiguous(), weight.contiguous(), b, p, s, d, 1);
  // 2-D: a channels-last weight makes oneDNN compute and return channels-last.
  at::Tensor y = at::mkldnn_convolution(x, weight.contiguous(channels_last), b, p, s, d, 1);
  return y.is_contiguous(channels_last) ? y : y.contiguous(channels_last);
}

Result<int64_t> OptionReader::integer(const std::string& key, int64_t fallback) {
  used_.push_back(key);
  auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  try {
    std::size_t pos = 0;
    const int64_t v = std::stoll(it->second, &pos);
    if (pos == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  return fail(ErrorCode::kInvalidArgument,
              "net " + net_ + ": option " + key + " must be an integer, got '" + it->second + "'");
}

Result<double> OptionReader::number(const std::string& key, double fallback) {
  used_.push_back(key);
  auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  try {
    std::size_t pos = 0;
    const double v = std::stod(it->second, &pos);
    if (pos == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  return fail(ErrorCode::kInvalidArgument,
              "net " + net_ + ": option " + key + " must be a number, got '" + it->second + "'");
}

Result<std::string> OptionReader::choice(const std::string& key, const std::string& fallback,
                                         const std::vector<std::string>& allowed) {
  used_.push_back(key);
  auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  if (std::find(allowed.begin(), allowed.end(), it->second) != allowed.end()) return it->second;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return fail(ErrorCode::kInvalidArgument,
              "net " + net_ + ": option " + key + " is '" + it->second + "', expected one of: " + list);
}

Result<OptionReader::Common> OptionReader::common() {
  auto stem = choice("stem", "small", {"small", "standard"});
  if (!stem) return std::unexpected(stem.error());
  auto dropout = number("dropout", 0.0);
  if (!dropout) return std::unexpected(dropout.error());
  if (*dropout < 0 || *dropout >= 1)
    return fail(ErrorCode::kInvalidArgument, "net " + net_ + ": dropout must be in [0, 1)");
  return Common{*stem, *dropout};
}

Status OptionReader::check_all_used() const {
  for (const auto& [key, value] : options_) {
    if (std::find(used_.begin(), used_.end(), key) == used_.end()) {
      std::string list;
      for (const auto& u : used_) list += (list.empty() ? "" : ", ") + u;
      return fail(ErrorCode::kInvalidArgument,
                  "net " + net_ + ": unknown option '" + key + "'; known options: " + list);
    }
  }
  return ok();
}

}  // namespace lucent::nets::internal
