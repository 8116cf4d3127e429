// Any byte string given to the .npz (zip + npy) reader yields arrays or an Error.
#include "fuzz_support.h"
#include "lucent/io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lucent::fuzz::quiet_once();
  const auto path = lucent::fuzz::scratch_file(data, size, ".npz");
  auto arrays = lucent::io::read_npz(path);
  if (!arrays && arrays.error().message().empty()) __builtin_trap();
  return 0;
}
