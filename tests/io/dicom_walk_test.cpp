// Robustness walk: every file under the shared DICOM data answers with an image or a clear
// error naming the file — never a crash, hang or empty message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "lucent/io/dicom.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

namespace {

// The reason class of a refusal: error code plus the first distinctive words after the path.
std::string reason_of(const lucent::Error& e, const std::string& path) {
  std::string m = e.message();
  const auto pos = m.find(path);
  if (pos != std::string::npos) m.erase(pos, path.size());
  for (const char* key : {"unsupported transfer syntax", "no Pixel Data", "is not a DICOM file", "not a readable DICOM",
                          "Pixel Data holds", "is empty", "positions repeated unevenly", "non-uniform slice spacing",
                          "missing slice", "duplicate position", "Photometric Interpretation",
                          "JPEG 2000", "segmented palette", "Number of Frames", "decoding"}) {
    if (m.find(key) != std::string::npos) return e.to_string().substr(0, e.to_string().find(':')) + ": " + key;
  }
  return e.to_string().substr(0, e.to_string().find(':')) + ": " + m.substr(0, 80);
}

}  // namespace

TEST(DicomWalk, EveryDataFileReadsOrFailsWithAMessageNamingIt) {
  LUCENT_REQUIRE_DATA("dicom");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(lucent::test::data_dir() / "dicom"))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GT(files.size(), 100u);
  int read = 0;
  std::map<std::string, int> refused;
  for (const auto& f : files) {
    auto img = lucent::io::read_dicom_file(f);
    if (img) {
      ++read;
      EXPECT_TRUE(img->data.defined()) << f;
      EXPECT_GE(img->data.dim(), 3) << f;
      if (std::getenv("LUCENT_WALK_VERBOSE"))
        std::cout << "  read " << f << ": " << img->data.sizes() << " " << img->data.scalar_type() << " spacing "
                  << img->geometry.spacing_mm[0] << "," << img->geometry.spacing_mm[1] << ","
                  << img->geometry.spacing_mm[2] << "\n";
      continue;
    }
    EXPECT_FALSE(img.error().message().empty()) << f;
    EXPECT_NE(img.error().message().find(f.string()), std::string::npos) << img.error().message();
    refused[reason_of(img.error(), f.string())]++;
    if (std::getenv("LUCENT_WALK_VERBOSE")) std::cout << "  refused " << f << ": " << img.error().to_string() << "\n";
  }
  std::cout << "[DicomWalk] files " << files.size() << ", read " << read << ", refused "
            << (files.size() - read) << "\n";
  for (const auto& [reason, count] : refused) std::cout << "[DicomWalk]   " << count << " x " << reason << "\n";
}

TEST(DicomWalk, ScanOfTheWholeDataFolderGroupsSeriesAndExplainsEverySkip) {
  LUCENT_REQUIRE_DATA("dicom");
  auto scan = lucent::io::scan_dicom_folder(lucent::test::data_dir() / "dicom");
  ASSERT_TRUE(scan) << scan.error().to_string();
  std::size_t files = 0;
  for (const auto& s : scan->series) {
    files += s.files.size();
    for (const auto& f : s.files) {
      EXPECT_TRUE(f.has_pixel_data) << f.path;
      EXPECT_GT(f.rows, 0) << f.path;
    }
  }
  for (const auto& [p, why] : scan->skipped) EXPECT_FALSE(why.empty()) << p;
  std::cout << "[DicomWalk] scan: " << scan->series.size() << " series, " << files << " image files, "
            << scan->skipped.size() << " skipped\n";
  EXPECT_GT(scan->series.size(), 20u);
}
