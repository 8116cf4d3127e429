// What the de-identifier does to one attribute: the PS3.15 profile, its options, and the
// resolution of combined action codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) by the attribute's type
// in the IOD being de-identified.
//
//   Options opt;                     // basic profile
//   opt.enable(ProfileOption::kRetainLongitudinalModifiedDates);
//   Decision d = decide(0x0008, 0x0020, "DA", opt, "1.2.840.10008.5.1.4.1.1.2");
//   // d.action == Action::kShiftDate, d.code == "C"
//
// Precedence when several enabled options name the same row: 'C' (clean) wins over 'K' (keep),
// because cleaning still removes identifying content. Retain Longitudinal Full Dates and
// Retain Longitudinal Modified Dates exclude each other (validate() says so).
// Attributes that are not in Table E.1-1 are removed unless they are on the explicit keep list
// (non-text VRs such as numbers, code strings and sequences, plus a short list of safe text
// attributes — see keep_list.cpp); UIDs not in the table are mapped unless they are well-known
// DICOM UIDs (1.2.840.10008.*). Thread-safety: pure functions over immutable data.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lucent/core/error.h"
#include "lucent/deid/profile_table.h"

namespace lucent::deid {

enum class Action {
  kKeep,        // K
  kRemove,      // X
  kZero,        // Z
  kDummy,       // D
  kClean,       // C for text: scrub to a vocabulary of safe words
  kUid,         // U: keyed-hash UID under 2.25
  kPseudonym,   // Patient's Name / Patient ID: stable pseudonym (a D/Z-conformant replacement)
  kShiftDate,   // C for DA/DT under Retain Longitudinal Temporal Information with Modified Dates
  kRecurse,     // a sequence kept (K, C or D on SQ): its items are de-identified in turn
  kAgeGroup,    // Patient's Age kept, with ages over 89 grouped as "090Y"
};
[[nodiscard]] std::string_view action_name(Action a);

// Extra choices beyond the table's columns.
struct Options {
  std::bitset<kProfileOptionCount> options;
  bool clean_pixel_data = false;      // apply pixel rules (option 113101)
  bool keep_overlays = false;         // keep 60xx overlay groups (otherwise removed)
  bool refuse_burned_in = false;      // quarantine files flagged as having burned-in text
  bool pseudonymize_patient = true;   // Patient's Name / ID → stable pseudonym (else profile action)

  void enable(ProfileOption o) { options.set(static_cast<int>(o)); }
  [[nodiscard]] bool has(ProfileOption o) const { return options.test(static_cast<int>(o)); }
  // Enables an option by its CLI name (see option_names()); kInvalidArgument if unknown.
  [[nodiscard]] Status enable(std::string_view name);
  [[nodiscard]] Status validate() const;
  // "basic profile + retain-uids + ..." for De-identification Method (0012,0063).
  [[nodiscard]] std::string describe() const;
};

// CLI names, e.g. "retain-safe-private", "clean-pixel-data", "keep-overlays".
[[nodiscard]] std::vector<std::string> option_names();

// A coded entry of CID 7050 (De-identification Method).
struct MethodCode {
  std::string_view value;    // "113100"
  std::string_view meaning;  // "Basic Application Confidentiality Profile"
};
// The codes for the basic profile and each enabled option, in CID 7050 order.
[[nodiscard]] std::vector<MethodCode> method_codes(const Options& opt);

struct Decision {
  Action action = Action::kRemove;
  std::string code;                 // the code applied: "X", "Z", "X/Z->Z", "C", "not-in-table", ...
  const ProfileRow* row = nullptr;  // nullptr when the attribute is not in Table E.1-1
};

// The type (1, 2, 3) of an attribute in the IOD of `sop_class_uid`, for the attributes that
// carry combined codes; 0 when unknown. See iod_types.cpp for the IODs covered.
[[nodiscard]] int attribute_type(std::uint16_t group, std::uint16_t element, std::string_view sop_class_uid);

// Resolves a combined code ("X/Z/D") for a type (0 = unknown → the choice that keeps any IOD
// valid without leaking: D, Z, or U).
[[nodiscard]] char resolve_combined(std::string_view code, int type);

// The decision for one attribute. `vr` is the attribute's VR ("PN", "SQ", ...); `private_creator`
// is the creator of a private element ("" for standard ones); `in_clean_context` is true inside a
// sequence that is being cleaned (Clean Structured Content / Clean Graphics), where text that is
// not in the table is scrubbed instead of removed.
[[nodiscard]] Decision decide(std::uint16_t group, std::uint16_t element, std::string_view vr, const Options& opt,
                              std::string_view sop_class_uid, std::string_view private_creator = {},
                              bool in_clean_context = false);

// True for private elements retained under Retain Safe Private Option (list in keep_list.cpp).
[[nodiscard]] bool is_safe_private(std::uint16_t group, std::uint16_t element, std::string_view creator);
// True for attributes outside Table E.1-1 that are kept explicitly (by VR or by name).
// For a few IOD-required text attributes outside the table: 'Z', 'C' or 'D' (0 = none).
[[nodiscard]] char outside_table_text_action(std::uint16_t group, std::uint16_t element);
[[nodiscard]] bool is_kept_outside_table(std::uint16_t group, std::uint16_t element, std::string_view vr);

}  // namespace lucent::deid
