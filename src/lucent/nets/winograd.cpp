#include "lucent/nets/internal/winograd.h"

#include <torch/torch.h>

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <unordered_map>

#if LUCENT_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace lucent::nets::internal {

#if LUCENT_HAVE_ONEDNN
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto kWinograd = dnnl::algorithm::convolution_winograd;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// The primitives for one shape; oneDNN compiles a kernel per shape, so they are kept.
struct Primitives {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd;
  dnnl::convolution_backward_weights bwd_weights;
};

// (N, C, K, H, W, threads): oneDNN's kernels are made for a thread count. One set serves
// inference too: oneDNN 2.6 offers no reorder into the weight layout of its forward_inference
// Winograd kernel, and forward_training computes the same.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int>;

Primitives make_primitives(const Key& key) {
  const auto [n, c, k, h, w, threads] = key;
  const memory::dims strides{1, 1}, pad{1, 1};
  const memory::desc src({n, c, h, w}, memory::data_type::f32, Tag::any);
  const memory::desc wei({k, c, 3, 3}, memory::data_type::f32, Tag::any);
  const memory::desc dst({n, k, h, w}, memory::data_type::f32, Tag::any);
  // The caller passes the scratch space (scratch(), one per thread), as LibTorch does for its own
  // oneDNN calls: oneDNN's shared scratchpad would tie each primitive to the thread that made it.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  Primitives p;
  p.fwd_pd = dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, kWinograd, src, wei, dst, strides, pad, pad),
      attr, cpu_engine());
  p.fwd = dnnl::convolution_forward(p.fwd_pd);
  p.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      dnnl::convolution_backward_data::desc(kWinograd, src, wei, dst, strides, pad, pad), attr, cpu_engine(),
      p.fwd_pd);
  p.bwd_data = dnnl::convolution_backward_data(p.bwd_data_pd);
  p.bwd_weights_pd = dnnl::convolution_backward_weights::primitive_desc(
      dnnl::convolution_backward_weights::desc(kWinograd, src, wei, dst, strides, pad, pad), attr, cpu_engine(),
      p.fwd_pd);
  p.bwd_weights = dnnl::convolution_backward_weights(p.bwd_weights_pd);
  // Every reorder the calls will make, created now, so that a shape oneDNN cannot serve fails here.
  auto reorder_exists = [](const memory::desc& from, const memory::desc& to) {
    (void)dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to);
  };
  for (Tag tag : {Tag::nchw, Tag::nhwc}) {
    const memory::desc x({n, c, h, w}, memory::data_type::f32, tag), y({n, k, h, w}, memory::data_type::f32, tag);
    reorder_exists(x, p.fwd_pd.src_desc());
    reorder_exists(x, p.bwd_weights_pd.src_desc());
    reorder_exists(p.fwd_pd.dst_desc(), y);
    reorder_exists(p.bwd_data_pd.diff_src_desc(), x);
    reorder_exists(y, p.bwd_data_pd.diff_dst_desc());
    reorder_exists(y, p.bwd_weights_pd.diff_dst_desc());
  }
  for (Tag tag : {Tag::oihw, Tag::ohwi}) {
    const memory::desc own({k, c, 3, 3}, memory::data_type::f32, tag);
    reorder_exists(own, p.fwd_pd.weights_desc());
    reorder_exists(own, p.bwd_data_pd.weights_desc());
    reorder_exists(p.bwd_weights_pd.diff_weights_desc(), own);
  }
  return p;
}

// Null where oneDNN has no Winograd kernel for the shape (remembered too).
const Primitives* primitives(int64_t n, int64_t c, int64_t k, int64_t h, int64_t w) {
  static std::mutex mutex;
  static std::map<Key, std::optional<Primitives>> cache;
  const Key key{n, c, k, h, w, at::get_num_threads()};
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) {
    std::optional<Primitives> made;
    try {
      made = make_primitives(key);
    } catch (const dnnl::error&) {
    }
    it = cache.emplace(key, std::move(made)).first;
  }
  return it->second ? &*it->second : nullptr;  // std::map never moves its elements
}

// A tensor's own layout as oneDNN sees it: channels-last (NHWC / OHWI) when its strides say so,
// including the ambiguous one-channel case, else plain (NCHW / OIHW). Anything that is neither is
// made channels-last first (`t` is replaced by that copy).
memory::desc user_desc(at::Tensor& t, bool weights) {
  const bool channels_last = t.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  if (!(channels_last ? t.is_contiguous(at::MemoryFormat::ChannelsLast) : t.is_contiguous()))
    t = t.contiguous(at::MemoryFormat::ChannelsLast);
  const bool plain = t.suggest_memory_format() != at::MemoryFormat::ChannelsLast;
  const Tag tag = weights ? (plain ? Tag::oihw : Tag::ohwi) : (plain ? Tag::nchw : Tag::nhwc);
  return memory::desc(t.sizes().vec(), memory::data_type::f32, tag);
}

// A buffer for oneDNN's own layout, allocated through LibTorch (and so its CPU allocator).
at::Tensor buffer(const memory::desc& md) {
  return at::empty({static_cast<int64_t>(md.get_size())}, at::TensorOptions().dtype(at::kByte));
}

// A primitive's scratch space: one buffer per thread, grown to the largest request and kept (as
// oneDNN's own per-thread scratchpad is). Allocating it for every call instead was slower and
// took more memory (bench/run_train_ab.sh, docs/benchmarks-train-speed.md Run 8).
memory scratch(const memory::desc& md) {
  thread_local at::Tensor kept;
  const auto bytes = static_cast<int64_t>(md.get_size());
  if (!kept.defined() || kept.numel() < bytes) {
    kept = at::Tensor();  // release the smaller one first
    kept = buffer(md);
  }
  return memory(md, cpu_engine(), kept.data_ptr());
}

void reorder(const memory::desc& from_md, void* from, const memory::desc& to_md, void* to) {
  memory a(from_md, cpu_engine(), from), b(to_md, cpu_engine(), to);
  dnnl::reorder(a, b).execute(cpu_stream(), a, b);
}

// `t` in oneDNN's layout `md`: `t` itself when it already is, else a reordered copy.
at::Tensor into(at::Tensor t, bool weights, const memory::desc& md) {
  const memory::desc own = user_desc(t, weights);
  if (own == md) return t;
  at::Tensor out = buffer(md);
  reorder(own, t.data_ptr(), md, out.data_ptr());
  return out;
}

// oneDNN's `data` (layout `md`) copied into `out`, a new float tensor in its own layout.
at::Tensor out_of(const at::Tensor& data, const memory::desc& md, at::Tensor out, bool weights) {
  const memory::desc own = user_desc(out, weights);
  reorder(md, data.data_ptr(), own, out.data_ptr());
  return out;
}

// The output's layout: LibTorch's rule, channels-last when either operand is.
at::MemoryFormat format_of(const at::Tensor& x, const at::Tensor& weight) {
  return x.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                 weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

using memory_args = std::unordered_map<int, memory>;

// Forward pass; `kept_weights` receives the weights in the kernel's layout (for backward).
at::Tensor run_forward(const Primitives& p, const at::Tensor& x, const at::Tensor& weight, at::Tensor* kept_weights) {
  const auto& pd = p.fwd_pd;
  at::Tensor src = into(x, false, pd.src_desc());
  at::Tensor wei = into(weight, true, pd.weights_desc());
  at::Tensor dst = buffer(pd.dst_desc());
  p.fwd.execute(cpu_stream(), memory_args{{DNNL_ARG_SCRATCHPAD, scratch(pd.scratchpad_desc())},
                                          {DNNL_ARG_SRC, memory(pd.src_desc(), cpu_engine(), src.data_ptr())},
                                          {DNNL_ARG_WEIGHTS, memory(pd.weights_desc(), cpu_engine(), wei.data_ptr())},
                                          {DNNL_ARG_DST, memory(pd.dst_desc(), cpu_engine(), dst.data_ptr())}});
  if (kept_weights) *kept_weights = wei;
  return out_of(dst, pd.dst_desc(),
                at::empty({x.size(0), weight.size(0), x.size(2), x.size(3)},
                          x.options().dtype(at::kFloat).memory_format(format_of(x, weight))),
                false);
}

class WinogradConv : public torch::autograd::Function<WinogradConv> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight) {
    const auto& p = *primitives(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
    at::Tensor wei;
    at::Tensor y = run_forward(p, x, weight, &wei);
    // The input itself, not its blocked copy: the layer before keeps it alive for its own
    // backward pass anyway, so this costs one reorder in backward instead of a second copy of
    // every activation (85 MiB more at the benchmark's peak, docs/benchmarks-train-speed.md Run 8).
    ctx->save_for_backward({weight, x});
    ctx->saved_data["weights"] = wei;  // in the forward kernel's layout
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& weight = saved[0];
    const at::Tensor& x = saved[1];
    const auto& p = *primitives(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
    at::Tensor grad_x, grad_w;
    const auto& bd = p.bwd_data_pd;
    const auto& bw = p.bwd_weights_pd;
    const at::Tensor diff_dst = into(grads[0], false, bd.diff_dst_desc());
    if (ctx->needs_input_grad(0)) {
      at::Tensor wei = bd.weights_desc() == p.fwd_pd.weights_desc() ? ctx->saved_data["weights"].toTensor()
                                                                    : into(weight, true, bd.weights_desc());
      at::Tensor diff_src = buffer(bd.diff_src_desc());
      p.bwd_data.execute(cpu_stream(),
                         memory_args{{DNNL_ARG_SCRATCHPAD, scratch(bd.scratchpad_desc())},
                                     {DNNL_ARG_DIFF_DST, memory(bd.diff_dst_desc(), cpu_engine(), diff_dst.data_ptr())},
                                     {DNNL_ARG_WEIGHTS, memory(bd.weights_desc(), cpu_engine(), wei.data_ptr())},
                                     {DNNL_ARG_DIFF_SRC, memory(bd.diff_src_desc(), cpu_engine(), diff_src.data_ptr())}});
      grad_x = out_of(diff_src, bd.diff_src_desc(), at::empty_like(x, at::MemoryFormat::Preserve), false);
    }
    if (ctx->needs_input_grad(1)) {
      const at::Tensor src = into(x, false, bw.src_desc());
      at::Tensor dd = diff_dst;
      if (bw.diff_dst_desc() != bd.diff_dst_desc()) dd = into(grads[0], false, bw.diff_dst_desc());
      at::Tensor diff_w = buffer(bw.diff_weights_desc());
      p.bwd_weights.execute(
          cpu_stream(), memory_args{{DNNL_ARG_SCRATCHPAD, scratch(bw.scratchpad_desc())},
                                    {DNNL_ARG_SRC, memory(bw.src_desc(), cpu_engine(), src.data_ptr())},
                                    {DNNL_ARG_DIFF_DST, memory(bw.diff_dst_desc(), cpu_engine(), dd.data_ptr())},
                                    {DNNL_ARG_DIFF_WEIGHTS, memory(bw.diff_weights_desc(), cpu_engine(), diff_w.data_ptr())}});
      grad_w = out_of(diff_w, bw.diff_weights_desc(), at::empty_like(weight, at::MemoryFormat::Preserve), true);
    }
    return {grad_x, grad_w};
  }
};

bool probe() { return primitives(2, 16, 16, 8, 8) != nullptr; }

}  // namespace

bool winograd_available() {
  static const bool available = probe();
  return available;
}

at::Tensor winograd_conv2d(const at::Tensor& x, const at::Tensor& weight) {
  TORCH_CHECK(x.dim() == 4 && weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
                  weight.size(1) == x.size(1) && x.scalar_type() == at::kFloat &&
                  weight.scalar_type() == at::kFloat && x.device().is_cpu() && weight.device().is_cpu(),
              "winograd_conv2d: needs float32 CPU tensors x (N, C, H, W) and weight (K, C, 3, 3)");
  const Primitives* p = primitives(x.size(0), x.size(1), weight.size(0), x.size(2), x.size(3));
  if (!p) return at::conv2d(x, weight, {}, 1, 1);
  if (at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()))
    return WinogradConv::apply(x, weight);
  return run_forward(*p, x, weight, nullptr);
}

#else  // built without oneDNN

bool winograd_available() { return false; }

at::Tensor winograd_conv2d(const at::Tensor&, const at::Tensor&) {
  throw std::logic_error("winograd_conv2d: this build has no oneDNN (LUCENT_HAVE_ONEDNN); check winograd_available()");
}

#endif

}  // namespace lucent::nets::internal
