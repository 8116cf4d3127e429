// PLACEHOLDER so the module target exists; replaced by the de-identification implementation.
namespace lucent::deid {}
