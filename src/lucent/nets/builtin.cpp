#include "lucent/nets/net.h"

namespace lucent::nets {

void register_resnets(NetRegistry& registry);
void register_densenets(NetRegistry& registry);

void register_builtin_nets(NetRegistry& registry) {
  register_resnets(registry);
  register_densenets(registry);
}

}  // namespace lucent::nets
