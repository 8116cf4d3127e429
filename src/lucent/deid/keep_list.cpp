// The explicit keep lists: what survives although Table E.1-1 does not name it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

#include "lucent/deid/profile.h"

namespace lucent::deid {
namespace {

// VRs that cannot carry free text: numbers, code strings, binary data, attribute tags and
// sequences (whose items are de-identified in turn). Dates, times, ages, names and every
// free-text VR are not on this list.
constexpr std::array<std::string_view, 19> kSafeVrs{"AT", "CS", "DS", "FD", "FL", "IS", "OB", "OD", "OF", "OL",
                                                    "OV", "OW", "SL", "SQ", "SS", "SV", "UL", "US", "UV"};

struct Tag {
  std::uint16_t group, element;
};
// Text attributes outside the table that describe the equipment, the code system or the pixel
// data, not the patient; needed to keep common IODs valid (type 1 in SEG, SR, enhanced IODs).
constexpr Tag kSafeText[] = {
    {0x0008, 0x0070},  // Manufacturer
    {0x0008, 0x1090},  // Manufacturer's Model Name
    {0x0018, 0x1020},  // Software Versions
    {0x0008, 0x0100},  // Code Value
    {0x0008, 0x0102},  // Coding Scheme Designator
    {0x0008, 0x0103},  // Coding Scheme Version
    {0x0008, 0x0104},  // Code Meaning
    {0x0008, 0x0119},  // Long Code Value
    {0x0008, 0x0120},  // URN Code Value
    {0x0008, 0x010F},  // Context Identifier
    {0x0008, 0x0122},  // Mapping Resource Name
    {0x0028, 0x1055},  // Window Center & Width Explanation
    {0x0028, 0x1054},  // Rescale Type
    {0x0028, 0x3003},  // LUT Explanation
    {0x0028, 0x0A04},  // Pixel Spacing Calibration Description
    {0x0062, 0x0005},  // Segment Label
    {0x0062, 0x0009},  // Segment Algorithm Name
    {0x0070, 0x0080},  // Content Label
    {0x0018, 0x9004},  // Content Qualification
    {0x0028, 0x2114},  // Lossy Image Compression Method
    {0x0040, 0xDB00},  // Template Identifier
    {0x0008, 0x0005},  // Specific Character Set
    {0x0012, 0x0063},  // De-identification Method (written by the de-identifier itself)
    {0x0008, 0x0068},  // Presentation Intent Type
    {0x0028, 0x0004},  // Photometric Interpretation
    {0x0018, 0x0024},  // Sequence Name
    {0x0018, 0x1250},  // Receive Coil Name
    {0x0018, 0x1251},  // Transmit Coil Name
    {0x0018, 0x9005},  // Pulse Sequence Name
    {0x0020, 0x1040},  // Position Reference Indicator
    {0x0018, 0x1210},  // Convolution Kernel
    {0x0018, 0x0023},  // MR Acquisition Type
    {0x0008, 0x0064},  // Conversion Type
    {0x0066, 0x0036},  // Algorithm Name
    {0x0066, 0x0032},  // Algorithm Parameters (LT, numeric parameters)
    {0x0066, 0x0031},  // Algorithm Version
    {0x0040, 0x9210},  // LUT Label
};

// Binary attributes outside the table that can carry arbitrary content (documents, signatures of
// the original, encrypted originals, trailing padding): removed although their VR is binary.
constexpr Tag kUnsafeBinary[] = {
    {0x0068, 0x6300},  // HPGL Document
    {0x0400, 0x0120},  // Signature
    {0x0400, 0x0520},  // Encrypted Content
    {0x0008, 0x041B},  // Record Key
    {0x0008, 0x041C},  // Prior Record Key
    {0xFFFC, 0xFFFC},  // Data Set Trailing Padding
};

struct TextRule {
  std::uint16_t group, element;
  char action;  // 'Z' zero, 'C' clean (scrub), 'D' dummy
};
// Text attributes outside the table that an IOD requires (type 1, 1C or 2): removing them would
// make the output invalid, so their value is emptied (type 2), scrubbed to safe words, or
// replaced by a dummy (type 1 free text) instead.
constexpr TextRule kTextRules[] = {
    {0x0070, 0x0081, 'Z'},  // Content Description (type 2, Content Identification)
    {0x0018, 0x9050, 'Z'},  // Transmit Coil Manufacturer Name (type 2)
    {0x0018, 0x9041, 'Z'},  // Receive Coil Manufacturer Name (type 2)
    {0x0018, 0x9047, 'C'},  // Multi-Coil Element Name (type 1)
    {0x0018, 0x9080, 'C'},  // Metabolite Map Description (type 1)
    {0x0020, 0x9056, 'C'},  // Stack ID (type 1C)
    {0x0040, 0xA160, 'D'},  // Text Value of SR content items (type 1C)
};

struct SafePrivate {
  std::string_view creator;
  std::uint16_t group;
  std::uint8_t element_low;  // element & 0xFF within the creator's block
};
// Private attributes known to carry acquisition physics only (PS3.15 E.3.10 examples and
// common diffusion/b-value tags). Extend with care: a private attribute is kept only here.
constexpr SafePrivate kSafePrivate[] = {
    {"SIEMENS MR HEADER", 0x0019, 0x0C},   // B_value
    {"SIEMENS MR HEADER", 0x0019, 0x0D},   // DiffusionDirectionality
    {"SIEMENS MR HEADER", 0x0019, 0x0E},   // DiffusionGradientDirection
    {"SIEMENS MR HEADER", 0x0019, 0x27},   // B_matrix
    {"SIEMENS MR HEADER", 0x0051, 0x0B},   // acquisition matrix text
    {"GEMS_PARM_01", 0x0043, 0x39},        // slop_int_6..9 (b-value)
    {"GEMS_ACQU_01", 0x0019, 0xBB},        // user data (diffusion direction)
    {"GEMS_ACQU_01", 0x0019, 0xBC},
    {"GEMS_ACQU_01", 0x0019, 0xBD},
    {"Philips Imaging DD 001", 0x2001, 0x03},  // diffusion b-factor
    {"Philips MR Imaging DD 001", 0x2005, 0xB0},
    {"Philips MR Imaging DD 001", 0x2005, 0xB1},
    {"Philips MR Imaging DD 001", 0x2005, 0xB2},
};

}  // namespace

bool is_kept_outside_table(std::uint16_t g, std::uint16_t e, std::string_view vr) {
  for (const Tag& t : kUnsafeBinary)
    if (t.group == g && t.element == e) return false;
  if (std::find(kSafeVrs.begin(), kSafeVrs.end(), vr) != kSafeVrs.end()) return true;
  for (const Tag& t : kSafeText)
    if (t.group == g && t.element == e) return true;
  return false;
}

char outside_table_text_action(std::uint16_t g, std::uint16_t e) {
  for (const TextRule& t : kTextRules)
    if (t.group == g && t.element == e) return t.action;
  return 0;
}

bool is_safe_private(std::uint16_t g, std::uint16_t e, std::string_view creator) {
  if (creator.empty()) return false;
  // Trailing spaces are padding in LO values.
  while (!creator.empty() && creator.back() == ' ') creator.remove_suffix(1);
  for (const SafePrivate& s : kSafePrivate)
    if (s.group == g && s.creator == creator && (e & 0xFF) == s.element_low) return true;
  return false;
}

}  // namespace lucent::deid
