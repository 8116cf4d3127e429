// DenseNet-121 (Huang et al. 2017), 2-D and 3-D. Options: stem = small | standard (default
// small: 3x3 stride-1 convolution, no pooling, for 28-64 px inputs), growth (default 32),
// dropout (before the classifier, default 0).
#include <torch/torch.h>

#include "lucent/nets/internal/layers.h"
#include "lucent/nets/net.h"

namespace lucent::nets {
namespace {
namespace nn = torch::nn;
using internal::batch_norm;
using internal::conv;
using internal::relu;

class DenseLayer : public nn::Module {
 public:
  DenseLayer(int dims, int64_t in, int64_t growth, int64_t bn_size) {
    body_->push_back(batch_norm(dims, in));
    body_->push_back(relu());
    body_->push_back(conv(dims, in, bn_size * growth, 1, 1, 0));
    body_->push_back(batch_norm(dims, bn_size * growth));
    body_->push_back(relu());
    body_->push_back(conv(dims, bn_size * growth, growth, 3, 1, 1));
    register_module("body", body_);
  }
  at::Tensor forward(const at::Tensor& x) { return torch::cat({x, body_->forward(x)}, 1); }

 private:
  nn::Sequential body_;
};

// Sequential stores modules through a ModuleHolder with a forward(Tensor).
struct DenseLayerHolder : nn::ModuleHolder<DenseLayer> {
  using nn::ModuleHolder<DenseLayer>::ModuleHolder;
};

class DenseNet : public Net {
 public:
  DenseNet(const NetSpec& spec, const std::vector<int>& blocks, int64_t growth, const std::string& stem,
           double dropout)
      : dropout_(dropout) {
    const int dims = spec.spatial_dims;
    int64_t ch = 2 * growth;
    if (stem == "small") {
      features_->push_back(conv(dims, spec.in_channels, ch, 3, 1, 1));
    } else {
      features_->push_back(conv(dims, spec.in_channels, ch, 7, 2, 3));
      features_->push_back(batch_norm(dims, ch));
      features_->push_back(relu());
      features_->push_back(internal::max_pool(dims, 3, 2, 1));
    }
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      for (int l = 0; l < blocks[b]; ++l) {
        features_->push_back(DenseLayerHolder(std::make_shared<DenseLayer>(dims, ch, growth, 4)));
        ch += growth;
      }
      if (b + 1 < blocks.size()) {
        features_->push_back(batch_norm(dims, ch));
        features_->push_back(relu());
        features_->push_back(conv(dims, ch, ch / 2, 1, 1, 0));
        features_->push_back(internal::avg_pool(dims, 2, 2));
        ch /= 2;
      }
    }
    features_->push_back(batch_norm(dims, ch));
    features_->push_back(relu());
    register_module("features", features_);
    fc_ = register_module("fc", nn::Linear(ch, spec.num_outputs));
  }

  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = features_->forward(x).flatten(2).mean(2);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    return fc_->forward(h);
  }

 private:
  nn::Sequential features_;
  nn::Linear fc_{nullptr};
  double dropout_;
};

}  // namespace

void register_densenets(NetRegistry& registry) {
  (void)registry.add("densenet121", "DenseNet-121 (6-12-24-16 dense layers, growth 32)",
                     [](const NetSpec& spec) -> Result<std::shared_ptr<Net>> {
                       internal::OptionReader opts(spec.name, spec.options);
                       auto common = opts.common();
                       if (!common) return std::unexpected(common.error());
                       auto growth = opts.integer("growth", 32);
                       if (!growth) return std::unexpected(growth.error());
                       if (auto st = opts.check_all_used(); !st) return std::unexpected(st.error());
                       if (*growth < 4 || *growth > 128)
                         return fail(ErrorCode::kInvalidArgument, "net densenet121: growth must be in 4..128");
                       return std::shared_ptr<Net>(std::make_shared<DenseNet>(
                           spec, std::vector<int>{6, 12, 24, 16}, *growth, common->stem, common->dropout));
                     });
}

}  // namespace lucent::nets
