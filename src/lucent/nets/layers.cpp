#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>

#include "lucent/nets/internal/layers.h"
#include "lucent/nets/internal/winograd.h"

namespace lucent::nets::internal {
namespace nn = torch::nn;

nn::AnyModule conv(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias) {
  if (dims == 3) return nn::AnyModule(nn::Conv3d(nn::Conv3dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
  return nn::AnyModule(
      std::make_shared<LucentConv2dImpl>(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
}

namespace {

bool cpu_autocast_enabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

}  // namespace

bool LucentConv2dImpl::winograd_eligible() const {
  const auto& o = options;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  using std::get_if;  // the options' variants are std::variant from LibTorch 2.1 on
#else
  using c10::get_if;
#endif
  const auto* pad = get_if<torch::ExpandingArray<2>>(&o.padding());
  auto all = [](const torch::ExpandingArray<2>& a, int64_t v) { return (*a)[0] == v && (*a)[1] == v; };
  return all(o.kernel_size(), 3) && all(o.stride(), 1) && pad && all(*pad, 1) && all(o.dilation(), 1) &&
         o.groups() == 1 && !o.bias() && get_if<torch::enumtype::kZeros>(&o.padding_mode()) && !o.transposed();
}

bool LucentConv2dImpl::set_winograd(bool on) {
  winograd_ = on && winograd_eligible() && winograd_available();
  return winograd_;
}

at::Tensor LucentConv2dImpl::forward(const at::Tensor& x) {
  // Training passes only: evaluation (larger batches, no backward) keeps LibTorch's convolution,
  // as the Predictor does. Autocast (bf16/fp16) keeps LibTorch's too, which casts; so do other
  // dtypes and devices.
  if (winograd_ && is_training() && x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
      weight.scalar_type() == at::kFloat && weight.device().is_cpu() && !cpu_autocast_enabled())
    return winograd_conv2d(x, weight);
  return torch::nn::Conv2dImpl::forward(x);
}

std::shared_ptr<nn::Module> LucentConv2dImpl::clone(const c10::optional<torch::Device>& device) const {
  // Conv2dImpl's own clone would make a Conv2dImpl; a fresh module takes a deep copy of the values.
  const auto& o = options;
  auto copy = std::make_shared<LucentConv2dImpl>(nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                                                     .stride(o.stride())
                                                     .padding(o.padding())
                                                     .dilation(o.dilation())
                                                     .groups(o.groups())
                                                     .bias(o.bias())
                                                     .padding_mode(o.padding_mode()));
  torch::NoGradGuard no_grad;
  auto mine = named_parameters(/*recurse=*/false);
  for (auto& item : copy->named_parameters(/*recurse=*/false)) {
    const at::Tensor& src = mine[item.key()];
    item.value().set_data(device ? src.to(*device).clone() : src.clone());
  }
  copy->winograd_ = winograd_;
  return copy;
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
