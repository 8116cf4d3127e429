// U-Net and residual-encoder U-Net (see unet.h for the options and the layer order).
#include "lucent/nets/unet.h"

#include <ATen/record_function.h>
#include <torch/torch.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "lucent/nets/internal/layers.h"

namespace lucent::nets {
namespace {
namespace nn = torch::nn;

enum class Norm { kInstance, kBatch, kGroup };

constexpr double kNegativeSlope = 0.01;  // nnU-Net's LeakyReLU
constexpr double kNormEps = 1e-5;
constexpr const char* kResEncBlocks = "1,3,4,6,6,6,6,6";  // nnU-Net ResEncM

at::Tensor& activate_(at::Tensor& x) { return at::leaky_relu_(x, kNegativeSlope); }

nn::AnyModule make_norm(int dims, Norm norm, int64_t channels, int64_t groups) {
  switch (norm) {
    case Norm::kBatch:
      return internal::batch_norm(dims, channels);
    case Norm::kGroup:
      return nn::AnyModule(nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(kNormEps)));
    case Norm::kInstance:
      break;
  }
  if (dims == 3) return nn::AnyModule(nn::InstanceNorm3d(nn::InstanceNorm3dOptions(channels).affine(true).eps(kNormEps)));
  return nn::AnyModule(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(channels).affine(true).eps(kNormEps)));
}

// Inference fast paths (eval mode, no autograd, float32 CPU): used only when no gradient can
// be asked for, so training and gradient checks always take LibTorch's own layers.
bool fast_path(const nn::Module& m, const at::Tensor& x) {
  return !m.is_training() && !at::GradMode::is_enabled() && x.scalar_type() == at::kFloat && x.device().is_cpu();
}

// One (sample, channel) plane of the fused instance norm: the sum and sum of squares in float
// lanes over blocks of 1024 values (added into doubles between blocks), then
// p = gamma * (p - mean) / sqrt(var + eps) + beta and LeakyReLU with `slope` (1: none), in place.
// The generic version is branch-free so that the compiler vectorises it for the baseline ISA;
// the AVX2+FMA one is chosen at run time. On 8x64^3 values, 2 threads, this project's machine
// (2026-11-27, ad-hoc microbenchmark, copy of the input included): AVX2 1.1 ms, generic 2.5 ms
// (the earlier version, which branched on the sign, 17-20 ms), LibTorch's instance_norm plus
// leaky_relu_ 2.9-4.0 ms.
struct PlaneAffine {
  float scale, shift;
};

PlaneAffine plane_affine(double sum, double sum_sq, int64_t m, double gamma, double beta) {
  const double mean = sum / static_cast<double>(m);
  const double var = std::max(sum_sq / static_cast<double>(m) - mean * mean, 0.0);
  const double inv = gamma / std::sqrt(var + kNormEps);
  return {static_cast<float>(inv), static_cast<float>(beta - mean * inv)};
}

constexpr int64_t kStatsBlock = 1024;

void norm_plane_generic(float* p, int64_t m, double gamma, double beta, float slope) {
  constexpr int64_t kLanes = 8;
  double sum = 0, sum_sq = 0;
  for (int64_t start = 0; start < m; start += kStatsBlock) {
    const int64_t stop = std::min(m, start + kStatsBlock);
    float s[kLanes] = {}, q[kLanes] = {};
    int64_t j = start;
    for (; j + kLanes <= stop; j += kLanes)
      for (int64_t k = 0; k < kLanes; ++k) {
        s[k] += p[j + k];
        q[k] += p[j + k] * p[j + k];
      }
    for (; j < stop; ++j) {
      s[0] += p[j];
      q[0] += p[j] * p[j];
    }
    for (int64_t k = 0; k < kLanes; ++k) {
      sum += s[k];
      sum_sq += q[k];
    }
  }
  const PlaneAffine f = plane_affine(sum, sum_sq, m, gamma, beta);
  for (int64_t j = 0; j < m; ++j) {
    const float v = p[j] * f.scale + f.shift;
    p[j] = std::max(v, 0.0f) + slope * std::min(v, 0.0f);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LUCENT_UNET_AVX2 1
__attribute__((target("avx2,fma"))) void norm_plane_avx2(float* p, int64_t m, double gamma, double beta,
                                                         float slope) {
  double sum = 0, sum_sq = 0;
  for (int64_t start = 0; start < m; start += kStatsBlock) {
    const int64_t stop = std::min(m, start + kStatsBlock);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
    int64_t j = start;
    for (; j + 16 <= stop; j += 16) {
      const __m256 a = _mm256_loadu_ps(p + j), b = _mm256_loadu_ps(p + j + 8);
      s0 = _mm256_add_ps(s0, a);
      s1 = _mm256_add_ps(s1, b);
      q0 = _mm256_fmadd_ps(a, a, q0);
      q1 = _mm256_fmadd_ps(b, b, q1);
    }
    alignas(32) float sv[8], qv[8];
    _mm256_store_ps(sv, _mm256_add_ps(s0, s1));
    _mm256_store_ps(qv, _mm256_add_ps(q0, q1));
    float st = 0, qt = 0;
    for (; j < stop; ++j) {
      st += p[j];
      qt += p[j] * p[j];
    }
    for (int k = 0; k < 8; ++k) {
      st += sv[k];
      qt += qv[k];
    }
    sum += st;
    sum_sq += qt;
  }
  const PlaneAffine f = plane_affine(sum, sum_sq, m, gamma, beta);
  const __m256 scale = _mm256_set1_ps(f.scale), shift = _mm256_set1_ps(f.shift), neg = _mm256_set1_ps(slope);
  const __m256 zero = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), scale, shift);
    _mm256_storeu_ps(p + j, _mm256_blendv_ps(_mm256_mul_ps(v, neg), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ)));
  }
  for (; j < m; ++j) {
    const float v = p[j] * f.scale + f.shift;
    p[j] = v > 0 ? v : v * slope;
  }
}
#endif

bool cpu_has_avx2_fma() {
#ifdef LUCENT_UNET_AVX2
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

using NormPlane = void (*)(float*, int64_t, double, double, float);

NormPlane pick_norm_plane() {
#ifdef LUCENT_UNET_AVX2
  if (cpu_has_avx2_fma()) return norm_plane_avx2;
#endif
  return norm_plane_generic;
}

// Channels-last (N, H, W, C) kernels of the same instance norm, for the 2-D fast path: the
// channels of one pixel are adjacent, so the loops run over channels innermost and vectorise
// across them. Written once, compiled for the baseline ISA and for AVX2+FMA (chosen at run
// time). 2M values (512x512 pixels x 8 channels), sums and update, 1 thread (2026-11-27): the
// AVX2 build 1.8 ms, hand-written AVX2 intrinsics 1.5-1.6 ms (not worth a second copy), the
// baseline build 19-22 ms (the compiler leaves the baseline loops scalar).
[[gnu::always_inline]] inline void nhwc_sums_body(const float* __restrict p, int64_t pixels, int64_t channels,
                                                  float* __restrict sum, float* __restrict sum_sq) {
  for (int64_t i = 0; i < pixels; ++i, p += channels)
    for (int64_t c = 0; c < channels; ++c) {
      sum[c] += p[c];
      sum_sq[c] += p[c] * p[c];
    }
}

[[gnu::always_inline]] inline void nhwc_apply_body(float* __restrict p, int64_t pixels, int64_t channels,
                                                   const float* __restrict scale, const float* __restrict shift,
                                                   float slope) {
  for (int64_t i = 0; i < pixels; ++i, p += channels)
    for (int64_t c = 0; c < channels; ++c) {
      const float v = p[c] * scale[c] + shift[c];
      p[c] = std::max(v, 0.0f) + slope * std::min(v, 0.0f);
    }
}

void nhwc_sums_generic(const float* p, int64_t pixels, int64_t channels, float* sum, float* sum_sq) {
  nhwc_sums_body(p, pixels, channels, sum, sum_sq);
}
void nhwc_apply_generic(float* p, int64_t pixels, int64_t channels, const float* scale, const float* shift,
                        float slope) {
  nhwc_apply_body(p, pixels, channels, scale, shift, slope);
}
#ifdef LUCENT_UNET_AVX2
__attribute__((target("avx2,fma"))) void nhwc_sums_avx2(const float* p, int64_t pixels, int64_t channels, float* sum,
                                                        float* sum_sq) {
  nhwc_sums_body(p, pixels, channels, sum, sum_sq);
}
__attribute__((target("avx2,fma"))) void nhwc_apply_avx2(float* p, int64_t pixels, int64_t channels,
                                                         const float* scale, const float* shift, float slope) {
  nhwc_apply_body(p, pixels, channels, scale, shift, slope);
}
#endif

struct NhwcKernels {
  void (*sums)(const float*, int64_t, int64_t, float*, float*);
  void (*apply)(float*, int64_t, int64_t, const float*, const float*, float);
};

NhwcKernels pick_nhwc_kernels() {
#ifdef LUCENT_UNET_AVX2
  if (cpu_has_avx2_fma()) return {nhwc_sums_avx2, nhwc_apply_avx2};
#endif
  return {nhwc_sums_generic, nhwc_apply_generic};
}

// x (N, C, H, W) stored channels-last. Float sums over blocks of 512 pixels (in parallel),
// added into doubles in block order, so the result does not depend on the thread count.
void instance_norm_act_nhwc_(at::Tensor& x, const float* gamma, const float* beta, float slope) {
  static const NhwcKernels kernels = pick_nhwc_kernels();
  constexpr int64_t kBlockPixels = 512;
  const int64_t n = x.size(0), channels = x.size(1), pixels = x.numel() / (n * channels);
  const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
  float* data = x.data_ptr<float>();
  std::vector<float> partial(static_cast<size_t>(n * blocks * 2 * channels), 0.0f);
  auto block_range = [&](int64_t i) {
    const int64_t first = (i % blocks) * kBlockPixels;
    return std::pair<int64_t, float*>{std::min(kBlockPixels, pixels - first),
                                      data + ((i / blocks) * pixels + first) * channels};
  };
  at::parallel_for(0, n * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto [count, p] = block_range(i);
      float* sums = partial.data() + i * 2 * channels;
      kernels.sums(p, count, channels, sums, sums + channels);
    }
  });
  std::vector<float> scale(static_cast<size_t>(n * channels)), shift(scale.size());
  for (int64_t s = 0; s < n; ++s)
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0, sum_sq = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        const float* sums = partial.data() + (s * blocks + b) * 2 * channels;
        sum += sums[c];
        sum_sq += sums[channels + c];
      }
      const PlaneAffine f = plane_affine(sum, sum_sq, pixels, gamma[c], beta[c]);
      scale[s * channels + c] = f.scale;
      shift[s * channels + c] = f.shift;
    }
  at::parallel_for(0, n * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto [count, p] = block_range(i);
      const int64_t s = i / blocks;
      kernels.apply(p, count, channels, scale.data() + s * channels, shift.data() + s * channels, slope);
    }
  });
}

// Instance norm (biased variance, eps) with affine gamma/beta, then LeakyReLU when `act`, in
// place: one pass for the statistics, one for the update (LibTorch's instance norm goes
// through batch norm on a reshaped copy, then a separate activation pass).
// x must be contiguous, or (2-D) channels-last.
void instance_norm_act_(at::Tensor& x, const at::Tensor& gamma, const at::Tensor& beta, bool act) {
  RECORD_FUNCTION("lucent::instance_norm_act_", std::vector<c10::IValue>());
  static const NormPlane norm_plane = pick_norm_plane();
  const int64_t channels = x.size(1), planes = x.size(0) * channels;
  const int64_t m = x.numel() / planes;
  float* data = x.data_ptr<float>();
  const at::Tensor g = gamma.contiguous(), b = beta.contiguous();
  const float* gp = g.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  const float slope = act ? static_cast<float>(kNegativeSlope) : 1.0f;
  if (!x.is_contiguous()) {
    if (!x.is_contiguous(at::MemoryFormat::ChannelsLast))
      throw std::logic_error("unet: the fused instance norm takes contiguous or channels-last tensors");
    instance_norm_act_nhwc_(x, gp, bp, slope);
    return;
  }
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % channels;
      norm_plane(data + plane * m, m, gp[c], bp[c], slope);
    }
  });
}

at::Tensor named(const nn::Module& m, const char* name) {
  if (auto* p = m.named_parameters(false).find(name)) return *p;
  if (auto* b = m.named_buffers(false).find(name)) return *b;
  throw std::logic_error(std::string("unet: layer has no tensor '") + name + "'");
}

// Convolution (no bias) followed by normalisation. In eval mode with batch norm the
// normalisation is folded into the convolution's weights and bias; on the inference fast path
// instance norm (and the activation, through forward_act) runs as one fused in-place kernel.
class ConvNorm : public nn::Module {
 public:
  ConvNorm(int dims, int64_t in, int64_t out, int64_t kernel, int64_t stride, Norm norm, int64_t groups)
      : dims_(dims), stride_(stride), padding_(kernel / 2), norm_kind_(norm) {
    conv_ = internal::conv(dims, in, out, kernel, stride, kernel / 2, false);
    register_module("conv", conv_.ptr());
    norm_ = make_norm(dims, norm, out, groups);
    register_module("norm", norm_.ptr());
  }

  // Convolution, normalisation and LeakyReLU (fused on the inference fast path).
  at::Tensor forward_act(const at::Tensor& x) {
    if (norm_kind_ == Norm::kInstance && fast_path(*this, x)) return fused_instance(x, true);
    at::Tensor h = forward(x);
    return activate_(h);
  }

  at::Tensor forward(const at::Tensor& x) {
    const bool fast = fast_path(*this, x);
    if (norm_kind_ == Norm::kInstance && fast) return fused_instance(x, false);
    if (norm_kind_ != Norm::kBatch || is_training()) return norm_.forward(convolve(x, fast));
    const nn::Module& bn = *norm_.ptr();
    const at::Tensor scale = named(bn, "weight") * (named(bn, "running_var") + kNormEps).rsqrt();
    const at::Tensor bias = named(bn, "bias") - named(bn, "running_mean") * scale;
    std::vector<int64_t> shape(dims_ + 2, 1);
    shape[0] = -1;
    const at::Tensor w = named(*conv_.ptr(), "weight") * scale.view(shape);
    if (fast) return internal::conv_inference(x, w, bias, stride_, padding_);
    const std::vector<int64_t> stride(dims_, stride_), padding(dims_, padding_);
    return dims_ == 3 ? at::conv3d(x, w, bias, stride, padding) : at::conv2d(x, w, bias, stride, padding);
  }

 private:
  at::Tensor convolve(const at::Tensor& x, bool fast) {
    if (!fast) return conv_.forward(x);
    return internal::conv_inference(x, named(*conv_.ptr(), "weight"), at::Tensor(), stride_, padding_);
  }

  at::Tensor fused_instance(const at::Tensor& x, bool act) {
    at::Tensor h = convolve(x, true);  // channels-last in 2-D (see conv_inference)
    if (!h.is_contiguous() && !h.is_contiguous(at::MemoryFormat::ChannelsLast)) h = h.contiguous();
    const nn::Module& in = *norm_.ptr();
    instance_norm_act_(h, named(in, "weight"), named(in, "bias"), act);
    return h;
  }

  int dims_;
  int64_t stride_, padding_;
  Norm norm_kind_;
  nn::AnyModule conv_, norm_;
};

struct BlockConfig {
  int dims = 2;
  Norm norm = Norm::kInstance;
  int64_t groups = 8;
};

// Two conv-norm-act layers; with `residual`, the second activation comes after adding the
// (1x1 conv-norm projected when the shape changes) input.
class ConvBlock : public nn::Module {
 public:
  ConvBlock(const BlockConfig& c, int64_t in, int64_t out, int64_t stride, bool residual) : residual_(residual) {
    conv1_ = register_module("conv1", std::make_shared<ConvNorm>(c.dims, in, out, 3, stride, c.norm, c.groups));
    conv2_ = register_module("conv2", std::make_shared<ConvNorm>(c.dims, out, out, 3, 1, c.norm, c.groups));
    if (residual && (in != out || stride != 1))
      skip_ = register_module("skip", std::make_shared<ConvNorm>(c.dims, in, out, 1, stride, c.norm, c.groups));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = conv1_->forward_act(x);
    if (!residual_) return conv2_->forward_act(h);
    h = conv2_->forward(h);
    h += skip_ ? skip_->forward(x) : x;
    return activate_(h);
  }

 private:
  bool residual_;
  std::shared_ptr<ConvNorm> conv1_, conv2_, skip_;
};

// nnU-Net's BasicBlockD: conv-norm-act, conv-norm, plus a shortcut that average-pools when
// strided and projects with a 1x1 conv-norm when the channels change; act after the sum.
class ResidualBlockD : public nn::Module {
 public:
  ResidualBlockD(const BlockConfig& c, int64_t in, int64_t out, int64_t stride) : dims_(c.dims), stride_(stride) {
    conv1_ = register_module("conv1", std::make_shared<ConvNorm>(c.dims, in, out, 3, stride, c.norm, c.groups));
    conv2_ = register_module("conv2", std::make_shared<ConvNorm>(c.dims, out, out, 3, 1, c.norm, c.groups));
    if (in != out) skip_ = register_module("skip", std::make_shared<ConvNorm>(c.dims, in, out, 1, 1, c.norm, c.groups));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = conv1_->forward_act(x);
    h = conv2_->forward(h);
    at::Tensor s = x;
    if (stride_ != 1) {
      const std::vector<int64_t> k(dims_, stride_);
      s = dims_ == 3 ? at::avg_pool3d(s, k, k) : at::avg_pool2d(s, k, k);
    }
    if (skip_) s = skip_->forward(s);
    h += s;
    return activate_(h);
  }

 private:
  int dims_;
  int64_t stride_;
  std::shared_ptr<ConvNorm> conv1_, conv2_, skip_;
};

struct UNetConfig {
  BlockConfig block;
  int64_t in_channels = 1, num_outputs = 2;
  int depth = 4;
  std::vector<int64_t> channels;  // per stage, depth + 1
  bool residual = false;
  bool maxpool = false;
  bool deep_supervision = false;
  bool resenc = false;
  std::vector<int64_t> blocks;    // resenc: residual blocks per encoder stage
};

class UNet : public SegmentationNet {
 public:
  explicit UNet(UNetConfig c) : c_(std::move(c)) {
    const int dims = c_.block.dims;
    const auto& ch = c_.channels;
    if (c_.resenc) {
      stem_ = register_module("stem", std::make_shared<ConvNorm>(dims, c_.in_channels, ch[0], 3, 1, c_.block.norm,
                                                                  c_.block.groups));
      for (int s = 0; s <= c_.depth; ++s) {
        std::vector<std::shared_ptr<ResidualBlockD>> stage;
        for (int64_t b = 0; b < c_.blocks[s]; ++b) {
          const int64_t in = b == 0 ? (s == 0 ? ch[0] : ch[s - 1]) : ch[s];
          const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
          stage.push_back(register_module("enc" + std::to_string(s) + "_" + std::to_string(b),
                                          std::make_shared<ResidualBlockD>(c_.block, in, ch[s], stride)));
        }
        res_encoder_.push_back(std::move(stage));
      }
    } else {
      for (int s = 0; s <= c_.depth; ++s) {
        const int64_t in = s == 0 ? c_.in_channels : ch[s - 1];
        const int64_t stride = (s > 0 && !c_.maxpool) ? 2 : 1;
        encoder_.push_back(register_module("enc" + std::to_string(s),
                                           std::make_shared<ConvBlock>(c_.block, in, ch[s], stride, c_.residual)));
      }
    }
    for (int s = 0; s < c_.depth; ++s) {
      const std::string i = std::to_string(s);
      if (dims == 3)
        up_.emplace_back(nn::ConvTranspose3d(nn::ConvTranspose3dOptions(ch[s + 1], ch[s], 2).stride(2).bias(true)));
      else
        up_.emplace_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ch[s + 1], ch[s], 2).stride(2).bias(true)));
      register_module("up" + i, up_.back().ptr());
      if (c_.resenc) {
        res_decoder_.push_back(register_module(
            "dec" + i, std::make_shared<ConvNorm>(dims, 2 * ch[s], ch[s], 3, 1, c_.block.norm, c_.block.groups)));
      } else {
        decoder_.push_back(
            register_module("dec" + i, std::make_shared<ConvBlock>(c_.block, 2 * ch[s], ch[s], 1, c_.residual)));
      }
      if (s == 0 || c_.deep_supervision) {
        heads_.push_back(internal::conv(dims, ch[s], c_.num_outputs, 1, 1, 0, true));
        register_module("head" + i, heads_.back().ptr());
      }
    }
  }

  at::Tensor forward(const at::Tensor& x) override { return run(x, false).front(); }
  std::vector<at::Tensor> forward_deep(const at::Tensor& x) override {
    return run(x, c_.deep_supervision && is_training());
  }
  int64_t size_multiple() const override { return int64_t{1} << c_.depth; }
  int spatial_dims() const override { return c_.block.dims; }
  int64_t num_outputs() const override { return c_.num_outputs; }
  bool deep_supervision() const override { return c_.deep_supervision; }

 private:
  void check_input(const at::Tensor& x) const {
    const int dims = c_.block.dims;
    const int64_t m = size_multiple();
    bool bad = x.dim() != dims + 2 || x.size(1) != c_.in_channels;
    for (int a = 2; !bad && a < x.dim(); ++a) bad = x.size(a) % m != 0 || x.size(a) == 0;
    if (!bad) return;
    std::ostringstream msg;
    msg << (c_.resenc ? "resenc_unet" : "unet") << ": input " << x.sizes() << " is not (N, " << c_.in_channels
        << (dims == 3 ? ", Z, Y, X)" : ", Y, X)") << " with every spatial size a multiple of " << m << " (2^depth, depth "
        << c_.depth << ")";
    if (x.dim() == dims + 2) {
      msg << "; pad to (";
      for (int a = 2; a < x.dim(); ++a) msg << (a > 2 ? ", " : "") << (x.size(a) + m - 1) / m * m;
      msg << ") or use sliding-window inference with such a patch size";
    }
    throw std::invalid_argument(msg.str());
  }

  std::vector<at::Tensor> run(const at::Tensor& x, bool all_heads) {
    check_input(x);
    std::vector<at::Tensor> skips;
    at::Tensor h = x;
    if (c_.resenc) {
      h = stem_->forward_act(h);
      for (auto& stage : res_encoder_) {
        for (auto& b : stage) h = b->forward(h);
        skips.push_back(h);
      }
    } else {
      for (int s = 0; s <= c_.depth; ++s) {
        if (s > 0 && c_.maxpool) {
          const std::vector<int64_t> k(c_.block.dims, 2);
          h = c_.block.dims == 3 ? at::max_pool3d(h, k, k) : at::max_pool2d(h, k, k);
        }
        h = encoder_[s]->forward(h);
        skips.push_back(h);
      }
    }
    std::vector<at::Tensor> outs(all_heads ? c_.depth : 1);
    skips.pop_back();  // the bottleneck is h itself
    for (int s = c_.depth - 1; s >= 0; --s) {
      h = upsample_concat(s, h, skips[s]);
      skips[s] = at::Tensor();  // release the skip as soon as it is used
      if (c_.resenc) {
        h = res_decoder_[s]->forward_act(h);
      } else {
        h = decoder_[s]->forward(h);
      }
      if (s == 0 || all_heads) outs[s] = head(c_.deep_supervision ? s : 0, h);
    }
    return outs;
  }

  // The 1x1 output convolution of head `i` (a matrix product on the inference fast path).
  at::Tensor head(size_t i, const at::Tensor& h) {
    if (!fast_path(*this, h)) return heads_[i].forward(h);
    const nn::Module& m = *heads_[i].ptr();
    // Callers get the usual contiguous layout (2-D fast-path tensors are channels-last).
    return internal::conv_inference(h, named(m, "weight"), named(m, "bias"), 1, 0).contiguous();
  }

  // cat([up<s>(h), skip], 1). On the inference fast path the 2x2(x2) stride-2 transposed
  // convolution is one matrix product (every output voxel has exactly one input voxel) whose
  // result is scattered straight into the concatenation buffer, next to the copied skip.
  at::Tensor upsample_concat(int s, const at::Tensor& h, const at::Tensor& skip) {
    if (!fast_path(*this, h)) return at::cat({up_[s].forward(h), skip}, 1);
    RECORD_FUNCTION("lucent::upsample_concat", std::vector<c10::IValue>());
    const nn::Module& up = *up_[s].ptr();
    const at::Tensor w = named(up, "weight");  // (in, out, 2, 2[, 2])
    const at::Tensor bias = named(up, "bias");
    const int dims = c_.block.dims;
    if (dims == 2) return upsample_concat_nhwc(w, bias, h, skip);
    const int64_t n = h.size(0), in = h.size(1), out = w.size(1), taps = int64_t{1} << dims;
    const at::Tensor wm = w.reshape({in, out * taps}).t();                 // (out·taps, in)
    const at::Tensor y = n == 1 ? at::mm(wm, h.reshape({in, -1})).unsqueeze(0)  // (n, out·taps, L)
                                : at::matmul(wm, h.reshape({n, in, -1}));
    std::vector<int64_t> shape = {n, out + skip.size(1)};
    for (int a = 0; a < dims; ++a) shape.push_back(2 * h.size(2 + a));
    at::Tensor cat = at::empty(shape, h.options());
    at::Tensor dst = cat.narrow(1, 0, out);
    // y viewed as (n, out, 2, 2[, 2], S0, S1[, S2]) → (n, out, S0, 2, S1, 2[, S2, 2])
    std::vector<int64_t> view = {n, out};
    for (int a = 0; a < dims; ++a) view.push_back(2);
    for (int a = 0; a < dims; ++a) view.push_back(h.size(2 + a));
    std::vector<int64_t> perm = {0, 1};
    for (int a = 0; a < dims; ++a) {
      perm.push_back(2 + dims + a);
      perm.push_back(2 + a);
    }
    std::vector<int64_t> split = {n, out};
    for (int a = 0; a < dims; ++a) {
      split.push_back(h.size(2 + a));
      split.push_back(2);
    }
    dst.view(split).copy_(y.view(view).permute(perm));
    std::vector<int64_t> bshape(dims + 2, 1);
    bshape[1] = out;
    dst.add_(bias.view(bshape));
    cat.narrow(1, out, skip.size(1)).copy_(skip);
    return cat;
  }

  // The 2-D fast path in channels-last order: a 1x1 convolution from `in` to 2*2*out channels
  // gives every input pixel's four output pixels' channels (oneDNN: 4-10x faster here than
  // OpenBLAS's matrix product of the same shape); one pass then writes each output pixel of the
  // channels-last concatenation buffer whole: its `out` upsampled channels plus the bias, then
  // its skip channels.
  static at::Tensor upsample_concat_nhwc(const at::Tensor& w, const at::Tensor& bias, const at::Tensor& h,
                                         const at::Tensor& skip_in) {
    const int64_t n = h.size(0), in = h.size(1), out = w.size(1), rows = h.size(2), cols = h.size(3);
    const int64_t skip_channels = skip_in.size(1), total = out + skip_channels;
    const at::Tensor wm = w.permute({2, 3, 1, 0}).reshape({4 * out, in, 1, 1});  // ([ty, tx, out], in)
    const at::Tensor y = internal::conv_inference(h, wm, at::Tensor(), 1, 0)      // stored (N, H, W, 4*out)
                             .contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor skip = skip_in.permute({0, 2, 3, 1}).contiguous();  // (N, 2H, 2W, skip)
    const at::Tensor b = bias.contiguous();
    at::Tensor cat = at::empty({n, total, 2 * rows, 2 * cols}, h.options().memory_format(at::MemoryFormat::ChannelsLast));
    const float* yp = y.data_ptr<float>();
    const float* sp = skip.data_ptr<float>();
    const float* bp = b.data_ptr<float>();
    float* cp = cat.data_ptr<float>();
    at::parallel_for(0, n * rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t nr = begin; nr < end; ++nr) {
        const int64_t sample = nr / rows, r = nr % rows;
        for (int64_t ty = 0; ty < 2; ++ty) {
          const int64_t out_row = (sample * 2 * rows + 2 * r + ty) * 2 * cols;  // first pixel of the output row
          for (int64_t c = 0; c < cols; ++c) {
            const float* src = yp + (nr * cols + c) * 4 * out + ty * 2 * out;
            for (int64_t tx = 0; tx < 2; ++tx) {
              const int64_t pixel = out_row + 2 * c + tx;
              float* dst = cp + pixel * total;
              const float* tap = src + tx * out;
              for (int64_t o = 0; o < out; ++o) dst[o] = tap[o] + bp[o];
              const float* sk = sp + pixel * skip_channels;
              for (int64_t k = 0; k < skip_channels; ++k) dst[out + k] = sk[k];
            }
          }
        }
      }
    });
    return cat;
  }

  UNetConfig c_;
  std::shared_ptr<ConvNorm> stem_;
  std::vector<std::shared_ptr<ConvBlock>> encoder_, decoder_;
  std::vector<std::vector<std::shared_ptr<ResidualBlockD>>> res_encoder_;
  std::vector<std::shared_ptr<ConvNorm>> res_decoder_;
  std::vector<nn::AnyModule> up_, heads_;
};

Result<bool> flag(internal::OptionReader& opts, const std::string& key) {
  auto v = opts.choice(key, "false", {"false", "true"});
  if (!v) return std::unexpected(v.error());
  return *v == "true";
}

Result<std::vector<int64_t>> parse_blocks(const std::string& net, const std::string& text, int depth) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t pos = 0;
      const int64_t v = std::stoll(item, &pos);
      if (pos == item.size() && v >= 1 && v <= 64) {
        out.push_back(v);
        continue;
      }
    } catch (const std::exception&) {
    }
    return fail(ErrorCode::kInvalidArgument, "net " + net + ": option blocks must list integers in 1..64 separated by "
                                             "commas (e.g. 1,3,4,6,6), got '" + text + "'");
  }
  if (static_cast<int>(out.size()) < depth + 1)
    return fail(ErrorCode::kInvalidArgument, "net " + net + ": option blocks '" + text + "' has " +
                                                 std::to_string(out.size()) + " stages but depth " +
                                                 std::to_string(depth) + " needs " + std::to_string(depth + 1));
  out.resize(depth + 1);
  return out;
}

NetFactory unet_factory(bool resenc) {
  return [resenc](const NetSpec& spec) -> Result<std::shared_ptr<Net>> {
    internal::OptionReader opts(spec.name, spec.options);
    UNetConfig c;
    c.resenc = resenc;
    c.block.dims = spec.spatial_dims;
    c.in_channels = spec.in_channels;
    c.num_outputs = spec.num_outputs;
    auto depth = opts.integer("depth", 4);
    auto width = opts.integer("width", 32);
    auto max_width = opts.integer("max_width", spec.spatial_dims == 3 ? 320 : 512);
    auto norm = opts.choice("norm", "instance", {"instance", "batch", "group"});
    auto groups = opts.integer("groups", 8);
    auto ds = flag(opts, "deep_supervision");
    if (!depth) return std::unexpected(depth.error());
    if (!width) return std::unexpected(width.error());
    if (!max_width) return std::unexpected(max_width.error());
    if (!norm) return std::unexpected(norm.error());
    if (!groups) return std::unexpected(groups.error());
    if (!ds) return std::unexpected(ds.error());
    std::string blocks_text = kResEncBlocks;
    if (resenc) {
      // Free text, validated by parse_blocks below; choice() only marks the key as known.
      const auto it = spec.options.find("blocks");
      if (it != spec.options.end()) blocks_text = it->second;
      (void)opts.choice("blocks", blocks_text, {blocks_text});
    } else {
      auto residual = flag(opts, "residual");
      auto down = opts.choice("downsample", "conv", {"conv", "maxpool"});
      if (!residual) return std::unexpected(residual.error());
      if (!down) return std::unexpected(down.error());
      c.residual = *residual;
      c.maxpool = *down == "maxpool";
    }
    if (auto st = opts.check_all_used(); !st) return std::unexpected(st.error());
    const std::string& n = spec.name;
    if (*depth < 1 || *depth > 7)
      return fail(ErrorCode::kInvalidArgument, "net " + n + ": depth must be in 1..7 (number of 2x downsamplings), got " +
                                                   std::to_string(*depth));
    if (*width < 1 || *width > 1024)
      return fail(ErrorCode::kInvalidArgument, "net " + n + ": width must be in 1..1024, got " + std::to_string(*width));
    if (*max_width < *width)
      return fail(ErrorCode::kInvalidArgument, "net " + n + ": max_width " + std::to_string(*max_width) +
                                                   " is below width " + std::to_string(*width));
    c.depth = static_cast<int>(*depth);
    c.deep_supervision = *ds;
    c.block.norm = *norm == "batch" ? Norm::kBatch : *norm == "group" ? Norm::kGroup : Norm::kInstance;
    c.block.groups = *groups;
    for (int s = 0; s <= c.depth; ++s) c.channels.push_back(std::min(*width << s, *max_width));
    if (c.block.norm == Norm::kGroup) {
      for (int64_t ch : c.channels) {
        if (*groups < 1 || ch % *groups != 0)
          return fail(ErrorCode::kInvalidArgument,
                      "net " + n + ": norm=group needs groups to divide every stage's channel count, but stage width " +
                          std::to_string(ch) + " is not divisible by groups=" + std::to_string(*groups) +
                          "; choose groups dividing width " + std::to_string(*width));
      }
    }
    if (resenc) {
      auto blocks = parse_blocks(n, blocks_text, c.depth);
      if (!blocks) return std::unexpected(blocks.error());
      c.blocks = *blocks;
    }
    return std::shared_ptr<Net>(std::make_shared<UNet>(std::move(c)));
  };
}

}  // namespace

void register_unets(NetRegistry& registry) {
  (void)registry.add("unet",
                     "U-Net (nnU-Net form): segmentation, logits per voxel; options depth, width, max_width, norm, "
                     "groups, residual, downsample, deep_supervision",
                     unet_factory(false));
  (void)registry.add("resenc_unet",
                     "Residual-encoder U-Net (nnU-Net ResEnc): segmentation, logits per voxel; options depth, width, "
                     "max_width, norm, groups, blocks, deep_supervision",
                     unet_factory(true));
}

}  // namespace lucent::nets
