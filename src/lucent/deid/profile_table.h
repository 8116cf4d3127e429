// DICOM PS3.15 Annex E, Table E.1-1: the attributes of the Basic Application Level
// Confidentiality Profile and the action of the basic profile and of each option.
//
// The rows are generated (scripts/gen_deid_table.py) from the machine-readable standard and
// committed in profile_table.cpp; nothing here is hand-edited. A row matches a tag when
// (tag.group & group_mask) == group and (tag.element & element_mask) == element, which covers
// the wildcard rows "(50XX,XXXX)", "(60XX,3000)" and "(GGGG,EEEE) where GGGG is odd".
//
//   for (const ProfileRow& row : profile_table()) ...
//   const ProfileRow* row = find_profile_row(0x0010, 0x0010);   // Patient's Name
//
// Action codes are the standard's letters: "D", "Z", "X", "K", "C", "U" and the combined codes
// "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"; options hold '-' where the option does not change the
// row. Thread-safety: immutable static data.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace lucent::deid {

// The ten options of Table E.1-1 that have a column, in the table's column order.
enum class ProfileOption : int {
  kRetainSafePrivate = 0,
  kRetainUids,
  kRetainDeviceIdentity,
  kRetainInstitutionIdentity,
  kRetainPatientCharacteristics,
  kRetainLongitudinalFullDates,
  kRetainLongitudinalModifiedDates,
  kCleanDescriptors,
  kCleanStructuredContent,
  kCleanGraphics,
};
inline constexpr int kProfileOptionCount = 10;

struct ProfileRow {
  std::uint16_t group;
  std::uint16_t group_mask;
  std::uint16_t element;
  std::uint16_t element_mask;
  std::string_view tag;          // as printed in the standard, e.g. "(0010,0010)"
  std::string_view name;
  std::string_view vr;           // from the data dictionary; "" for the wildcard rows
  std::string_view basic;        // basic profile action code
  bool in_std_comp_iod;          // "in Std. Comp. IOD" column
  std::array<char, kProfileOptionCount> option;  // 'K', 'C' or '-' per ProfileOption

  [[nodiscard]] constexpr bool matches(std::uint16_t g, std::uint16_t e) const {
    return (g & group_mask) == group && (e & element_mask) == element;
  }
  [[nodiscard]] constexpr char option_action(ProfileOption o) const { return option[static_cast<int>(o)]; }
};

[[nodiscard]] std::span<const ProfileRow> profile_table();

// The most specific row for a tag (exact rows before wildcard rows); nullptr if none.
[[nodiscard]] const ProfileRow* find_profile_row(std::uint16_t group, std::uint16_t element);

}  // namespace lucent::deid
