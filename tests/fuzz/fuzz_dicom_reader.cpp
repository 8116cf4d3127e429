// Any byte string given to the DICOM reader yields an Image or an Error — never a crash,
// sanitizer report, hang or runaway allocation.
#include "fuzz_support.h"
#include "lucent/io/dicom.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lucent::fuzz::quiet_once();
  const auto path = lucent::fuzz::scratch_file(data, size, ".dcm");
  auto header = lucent::io::scan_dicom_file(path);
  auto image = lucent::io::read_dicom_file(path);
  if (!image && image.error().message().empty()) __builtin_trap();  // every refusal must explain itself
  return 0;
}
