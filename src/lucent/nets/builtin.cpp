#include "lucent/nets/net.h"
#include "lucent/nets/unet.h"

namespace lucent::nets {

void register_resnets(NetRegistry& registry);
void register_densenets(NetRegistry& registry);

void register_builtin_nets(NetRegistry& registry) {
  register_resnets(registry);
  register_densenets(registry);
  register_unets(registry);
}

}  // namespace lucent::nets
