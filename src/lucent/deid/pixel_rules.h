// Pixel clean-up rules: rectangles to blank, chosen by modality, manufacturer, model and image
// size, in the CTP DicomPixelAnonymizer script style:
//
//   # comment
//   { Modality.equals("US") * Manufacturer.containsIgnoreCase("acme") * Rows.equals("480") }
//     (0,0,640,40) (0,440,200,40)
//
// A rule is a condition in braces — terms joined by '*' (and), each Field.method("value") with
// method equals, equalsIgnoreCase, contains, containsIgnoreCase, startsWith,
// startsWithIgnoreCase or isBlank() — followed by one or more (x,y,width,height) rectangles in
// pixels (x = column). Fields: Modality, Manufacturer, ManufacturerModelName, Rows, Columns,
// SOPClassUID, ImageType, BurnedInAnnotation, ConversionType. The first matching rule applies.
//
//   auto rules = PixelRules::parse(text);           // or PixelRules::load(path)
//   const PixelRule* r = rules->match(fields);       // nullptr: no rule for this layout
//
// Errors: kInvalidData with the line number for syntax errors. Thread-safety: const use only.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lucent/core/error.h"

namespace lucent::deid {

struct PixelRegion {
  int x = 0, y = 0, width = 0, height = 0;
};

struct PixelCondition {
  std::string field;
  std::string method;
  std::string value;
};

struct PixelRule {
  std::vector<PixelCondition> conditions;  // all must hold
  std::vector<PixelRegion> regions;
  int line = 0;                           // where the rule starts in its file
  [[nodiscard]] std::string describe() const;
};

class PixelRules {
 public:
  [[nodiscard]] static Result<PixelRules> parse(std::string_view text, std::string_view source = "rules");
  [[nodiscard]] static Result<PixelRules> load(const std::filesystem::path& path);
  // `fields` maps field names to the file's values (missing = "").
  [[nodiscard]] const PixelRule* match(const std::map<std::string, std::string>& fields) const;
  [[nodiscard]] const std::vector<PixelRule>& rules() const { return rules_; }

 private:
  std::vector<PixelRule> rules_;
};

}  // namespace lucent::deid
