#include "lucent/core/csv.h"

#include <set>

#include "lucent/core/atomic_file.h"

namespace lucent {

int CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

Result<CsvTable> parse_csv(std::string_view text, const std::string& source) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  CsvTable table;
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> starts;
  std::vector<std::string> record;
  std::string field;
  int64_t line = 1, record_line = 1;
  bool in_quotes = false, after_quote = false, record_empty = true;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_record = [&] {
    end_field();
    // A line with nothing on it is skipped, not read as a one-field row.
    if (!(record.size() == 1 && record.front().empty() && record_empty)) {
      records.push_back(std::move(record));
      starts.push_back(record_line);
    }
    record.clear();
    record_empty = true;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (c == '\n' || c == '\r') {
      end_record();
      ++line;
      record_line = line;
      continue;
    }
    if (c == ',') {
      end_field();
      record_empty = false;
      continue;
    }
    if (after_quote)
      return fail(ErrorCode::kInvalidData, source + " line " + std::to_string(line) +
                                               ": text after a closing quote; a quote inside a quoted field is written \"\"");
    if (c == '"') {
      if (!field.empty())
        return fail(ErrorCode::kInvalidData, source + " line " + std::to_string(line) +
                                                 ": a quote in the middle of an unquoted field; quote the whole field");
      in_quotes = true;
      record_empty = false;
      continue;
    }
    field += c;
    record_empty = false;
  }
  if (in_quotes)
    return fail(ErrorCode::kInvalidData, source + ": a quoted field opened on line " + std::to_string(record_line) +
                                             " is never closed (the file may be truncated)");
  if (!field.empty() || !record.empty() || after_quote || !record_empty) end_record();

  if (records.empty()) return fail(ErrorCode::kInvalidData, source + ": empty CSV; the first line must name the columns");
  table.header = std::move(records.front());
  std::set<std::string> names;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    const auto& h = table.header[i];
    if (h.empty())
      return fail(ErrorCode::kInvalidData, source + ": column " + std::to_string(i + 1) + " of the header has no name");
    if (!names.insert(h).second) return fail(ErrorCode::kInvalidData, source + ": column '" + h + "' appears twice in the header");
  }
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header.size())
      return fail(ErrorCode::kInvalidData, source + " line " + std::to_string(starts[r]) + ": " +
                                               std::to_string(records[r].size()) + " field(s), the header has " +
                                               std::to_string(table.header.size()) +
                                               "; quote fields that contain commas");
    table.rows.push_back(std::move(records[r]));
    table.lines.push_back(starts[r]);
  }
  return table;
}

Result<CsvTable> read_csv(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  return parse_csv(*text, path.string());
}

std::string csv_field(std::string_view value) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_field(fields[i]);
  }
  return out + "\n";
}

}  // namespace lucent
