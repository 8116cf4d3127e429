// Corrupted inputs: random truncations, byte flips and overwritten length fields of real files
// in every codec must give an image or a clear error naming the file — never a crash.
// (Deterministic seeds; the libFuzzer target explores further.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "lucent/io/dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

namespace {

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(DicomRobustness, MutatedFilesGiveImageOrErrorNamingTheFile) {
  LUCENT_REQUIRE_DATA("dicom/pydicom-data");
  const fs::path root = lucent::test::data_dir() / "dicom";
  const char* sources[] = {
      "debian_python3-pydicom_2.3.1-1/MR_small.dcm",  "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
      "pydicom-data/liver_rle.dcm",                   "debian_python3-pydicom_2.3.1-1/SC_rgb_jpeg_dcmtk.dcm",
      "pydicom-data/OT-PAL-8-face.dcm",               "pydicom-data/JLSL_RGB_ILV0.dcm",
      "pydicom-data/liver_deflate.dcm",               "dcm_qa_enh/In/Siemens/XA10/6_1.dcm",
      "debian_python3-pydicom_2.3.1-1/SC_ybr_full_422_uncompressed.dcm",
      "pydicom-data/emri_small_RLE.dcm",              "debian_python3-pydicom_2.3.1-1/image_dfl.dcm",
      "pydicom-data/parametric_map_float.dcm",        "pydicom-data/gdcm-US-ALOKA-16.dcm",
      "debian_python3-pydicom_2.3.1-1/rtdose.dcm",   "dcm_qa_ts/In/7.dcm",
      "dcm_qa_ts/In/5.dcm"};
  lucent::test::TempDir tmp;
  std::mt19937 rng(1234);
  int images = 0, errors = 0;
  // LUCENT_DICOM_MUTATIONS=N runs N mutations per file (default 24) for longer local runs.
  const char* env = std::getenv("LUCENT_DICOM_MUTATIONS");
  const int trials = env ? std::max(1, std::atoi(env)) : 24;
  for (const char* rel : sources) {
    if (!fs::exists(root / rel)) continue;
    const std::vector<char> orig = slurp(root / rel);
    ASSERT_GT(orig.size(), 200u);
    for (int trial = 0; trial < trials; ++trial) {
      std::vector<char> buf = orig;
      const int kind = trial % 3;
      if (kind == 0) {
        buf.resize(std::uniform_int_distribution<std::size_t>(1, orig.size() - 1)(rng));
      } else if (kind == 1) {
        for (int i = 0; i < 8; ++i) buf[std::uniform_int_distribution<std::size_t>(0, buf.size() - 1)(rng)] ^= static_cast<char>(rng());
      } else {
        // Overwrite a 4-byte field (likely a length or value) with an extreme value.
        const std::size_t at = std::uniform_int_distribution<std::size_t>(128, buf.size() - 4)(rng);
        const uint32_t v = (trial & 4) ? 0xFFFFFFFFu : (trial & 8) ? 0x7FFFFFFFu : static_cast<uint32_t>(rng());
        std::memcpy(buf.data() + at, &v, 4);
      }
      const fs::path f = tmp / ("m" + std::to_string(trial) + ".dcm");
      std::ofstream(f, std::ios::binary | std::ios::trunc).write(buf.data(), static_cast<std::streamsize>(buf.size()));
      auto img = lucent::io::read_dicom_file(f);
      if (img) {
        ++images;
        EXPECT_TRUE(img->data.defined()) << rel << " trial " << trial;
      } else {
        ++errors;
        EXPECT_NE(img.error().message().find(f.string()), std::string::npos)
            << rel << " trial " << trial << ": " << img.error().to_string();
      }
    }
  }
  std::cout << "[DicomRobustness] mutated files: " << images << " read, " << errors << " refused\n";
}
