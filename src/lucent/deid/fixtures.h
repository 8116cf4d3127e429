// Tiny synthetic DICOM files and a flattened dump, for tests and for building leak-test
// corpora without exposing DCMTK in a header.
//
//   std::vector<FixtureElement> els{{0x0010, 0x0010, "PN", "Doe^Jane"},
//                                   {0x0040, 0xA730, "SQ", "", {{{0x0040, 0xA160, "UT", "text"}}}}};
//   auto st = write_fixture("x.dcm", els);          // adds File Meta; Explicit VR Little Endian
//   auto dump = dump_dicom("x.dcm");                // every element, sequences flattened
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::deid {

struct FixtureElement {
  std::uint16_t group = 0;
  std::uint16_t element = 0;
  std::string vr;       // two letters; "SQ" for sequences
  std::string value;    // string form (numbers as text, multiple values separated by '\')
  std::vector<std::vector<FixtureElement>> items;  // sequence items
  std::string private_creator;                    // for private data elements (odd group, element > 0x00FF)
};

[[nodiscard]] Status write_fixture(const std::filesystem::path& path, const std::vector<FixtureElement>& elements);

struct DumpedElement {
  std::string path;  // "(0040,A730)[0]/(0040,A160)"
  std::uint16_t group = 0;
  std::uint16_t element = 0;
  std::string vr;
  std::string value;  // string form; "" for sequences and binary values
};
// The dataset (not the File Meta group) unless `with_meta`.
[[nodiscard]] Result<std::vector<DumpedElement>> dump_dicom(const std::filesystem::path& path, bool with_meta = false);

}  // namespace lucent::deid
