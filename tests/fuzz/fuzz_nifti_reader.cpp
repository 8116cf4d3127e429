// Any byte string given to the NIfTI reader (through ITK) yields an Image or an Error.
#include "fuzz_support.h"
#include "lucent/io/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lucent::fuzz::quiet_once();
  const auto path = lucent::fuzz::scratch_file(data, size, ".nii");
  auto image = lucent::io::read_image(path);
  if (!image && image.error().message().empty()) __builtin_trap();
  return 0;
}
