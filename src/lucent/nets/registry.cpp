#include <torch/torch.h>

#include "lucent/nets/internal/layers.h"
#include "lucent/nets/internal/winograd.h"
#include "lucent/nets/net.h"

namespace lucent::nets {

int64_t Net::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void to_channels_last(Net& net) {
  torch::NoGradGuard guard;
  for (auto& p : net.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  for (auto& b : net.buffers())
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
}

bool winograd_available() { return internal::winograd_available(); }

int use_winograd(Net& net, bool on) {
  int count = 0;
  for (auto& m : net.modules(/*include_self=*/false))
    if (auto conv = std::dynamic_pointer_cast<internal::LucentConv2dImpl>(m)) count += conv->set_winograd(on) ? 1 : 0;
  return count;
}

Status NetRegistry::add(const std::string& name, std::string description, NetFactory factory) {
  if (entries_.count(name)) return fail(ErrorCode::kAlreadyExists, "net '" + name + "' is already registered");
  entries_.emplace(name, Entry{std::move(description), std::move(factory)});
  return ok();
}

Result<std::shared_ptr<Net>> NetRegistry::create(const NetSpec& spec) const {
  auto it = entries_.find(spec.name);
  if (it == entries_.end()) {
    std::string list;
    for (const auto& [n, e] : entries_) list += (list.empty() ? "" : ", ") + n;
    return fail(ErrorCode::kNotFound, "unknown network '" + spec.name + "'; available: " + list);
  }
  if (spec.spatial_dims != 2 && spec.spatial_dims != 3)
    return fail(ErrorCode::kInvalidArgument,
                "net " + spec.name + ": spatial_dims must be 2 or 3, got " + std::to_string(spec.spatial_dims));
  if (spec.in_channels < 1 || spec.num_outputs < 1)
    return fail(ErrorCode::kInvalidArgument, "net " + spec.name + ": in_channels and num_outputs must be positive");
  try {
    return it->second.factory(spec);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, "building net " + spec.name + ": " + e.what());
  }
}

std::vector<std::string> NetRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, e] : entries_) out.push_back(n);
  return out;
}

std::string NetRegistry::description(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? "" : it->second.description;
}

}  // namespace lucent::nets
