// PLACEHOLDER so the module target exists; replaced by the transforms implementation.
namespace lucent::transforms {}
