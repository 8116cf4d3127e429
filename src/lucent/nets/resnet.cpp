// ResNet (He et al. 2016), 2-D and 3-D, with the small-input stem MedMNIST uses for its
// "ResNet (28)" rows (3x3 stride-1 convolution, no max-pool) or the standard ImageNet stem.
// Options: stem = small | standard (default small), width (base channels, default 64),
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

class ResidualBlock : public nn::Module {
 public:
  // bottleneck: 1x1 → 3x3 → 1x1 (x4 channels); otherwise two 3x3 convolutions.
  ResidualBlock(int dims, int64_t in, int64_t planes, int64_t stride, bool bottleneck) {
    const int64_t out = bottleneck ? planes * 4 : planes;
    if (bottleneck) {
      branch_->push_back(conv(dims, in, planes, 1, 1, 0));
      branch_->push_back(batch_norm(dims, planes));
      branch_->push_back(relu());
      branch_->push_back(conv(dims, planes, planes, 3, stride, 1));
      branch_->push_back(batch_norm(dims, planes));
      branch_->push_back(relu());
      branch_->push_back(conv(dims, planes, out, 1, 1, 0));
      last_bn_ = batch_norm(dims, out);
    } else {
      branch_->push_back(conv(dims, in, planes, 3, stride, 1));
      branch_->push_back(batch_norm(dims, planes));
      branch_->push_back(relu());
      branch_->push_back(conv(dims, planes, out, 3, 1, 1));
      last_bn_ = batch_norm(dims, out);
    }
    branch_->push_back(last_bn_);
    register_module("branch", branch_);
    if (stride != 1 || in != out) {
      shortcut_->push_back(conv(dims, in, out, 1, stride, 0));
      shortcut_->push_back(batch_norm(dims, out));
      register_module("shortcut", shortcut_);
      has_shortcut_ = true;
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor identity = has_shortcut_ ? shortcut_->forward(x) : x;
    return torch::relu(branch_->forward(x) + identity);
  }

 private:
  nn::Sequential branch_, shortcut_;
  nn::AnyModule last_bn_;
  bool has_shortcut_ = false;
};

class ResNet : public Net {
 public:
  ResNet(const NetSpec& spec, std::vector<int> blocks, bool bottleneck, const std::string& stem, int64_t width,
         double dropout)
      : dropout_(dropout) {
    const int dims = spec.spatial_dims;
    if (stem == "small") {
      stem_->push_back(conv(dims, spec.in_channels, width, 3, 1, 1));
      stem_->push_back(batch_norm(dims, width));
      stem_->push_back(relu());
    } else {
      stem_->push_back(conv(dims, spec.in_channels, width, 7, 2, 3));
      stem_->push_back(batch_norm(dims, width));
      stem_->push_back(relu());
      stem_->push_back(internal::max_pool(dims, 3, 2, 1));
    }
    register_module("stem", stem_);
    int64_t in = width;
    for (std::size_t stage = 0; stage < blocks.size(); ++stage) {
      const int64_t planes = width << stage;
      for (int b = 0; b < blocks[stage]; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        auto block = std::make_shared<ResidualBlock>(dims, in, planes, stride, bottleneck);
        blocks_.push_back(register_module("layer" + std::to_string(stage + 1) + "_" + std::to_string(b), block));
        in = bottleneck ? planes * 4 : planes;
      }
    }
    fc_ = register_module("fc", nn::Linear(in, spec.num_outputs));
  }

  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = stem_->forward(x);
    for (auto& b : blocks_) h = b->forward(h);
    h = h.flatten(2).mean(2);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    return fc_->forward(h);
  }

 private:
  nn::Sequential stem_;
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
  nn::Linear fc_{nullptr};
  double dropout_;
};

NetFactory resnet_factory(std::vector<int> blocks, bool bottleneck) {
  return [blocks, bottleneck](const NetSpec& spec) -> Result<std::shared_ptr<Net>> {
    internal::OptionReader opts(spec.name, spec.options);
    auto common = opts.common();
    if (!common) return std::unexpected(common.error());
    auto width = opts.integer("width", 64);
    if (!width) return std::unexpected(width.error());
    if (auto st = opts.check_all_used(); !st) return std::unexpected(st.error());
    if (*width < 4 || *width > 1024)
      return fail(ErrorCode::kInvalidArgument, "net " + spec.name + ": width must be in 4..1024");
    return std::shared_ptr<Net>(
        std::make_shared<ResNet>(spec, blocks, bottleneck, common->stem, *width, common->dropout));
  };
}

}  // namespace

void register_resnets(NetRegistry& registry) {
  (void)registry.add("resnet10", "ResNet-10 (1-1-1-1 basic blocks): the fast small-image baseline",
                     resnet_factory({1, 1, 1, 1}, false));
  (void)registry.add("resnet18", "ResNet-18 (2-2-2-2 basic blocks)", resnet_factory({2, 2, 2, 2}, false));
  (void)registry.add("resnet34", "ResNet-34 (3-4-6-3 basic blocks)", resnet_factory({3, 4, 6, 3}, false));
  (void)registry.add("resnet50", "ResNet-50 (3-4-6-3 bottleneck blocks)", resnet_factory({3, 4, 6, 3}, true));
}

}  // namespace lucent::nets
