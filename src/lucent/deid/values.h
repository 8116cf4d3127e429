// Value rewriting used by the de-identifier: date shifts, age grouping, UID checks and the
// text scrubber behind the 'C' (clean) action. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lucent::deid {

// DA "YYYYMMDD" shifted by `days` (multi-valued "a\b" and ranges "a-b" shift each date);
// nullopt when a value is not a valid date.
[[nodiscard]] std::optional<std::string> shift_da(std::string_view da, int days);
// DT "YYYYMMDD[HHMMSS[.FFFFFF]][&ZZXX]": the date part shifted, time and offset kept; a DT of
// only "YYYY" or "YYYYMM" cannot be shifted by days and yields nullopt.
[[nodiscard]] std::optional<std::string> shift_dt(std::string_view dt, int days);
// AS "nnnD/W/M/Y": ages over 89 years become "090Y" (HIPAA Safe Harbor); others unchanged.
[[nodiscard]] std::string group_age(std::string_view as);
// PS3.5 9.1: digits and dots, no leading zero in a component (except "0"), at most 64 chars.
[[nodiscard]] bool is_valid_uid(std::string_view uid);
// The clean action for text: keeps words of the descriptor vocabulary (anatomy, modality,
// technique, laterality; see values.cpp) and numbers of up to three digits; replaces every
// other word with "X". Identifiers therefore never survive, known words do.
[[nodiscard]] std::string scrub_text(std::string_view text);

}  // namespace lucent::deid
