// CSV reading and writing (RFC 4180), including the malformed files a user may hand us.
#include "lucent/core/csv.h"

#include <gtest/gtest.h>

namespace lucent {
namespace {

TEST(Csv, ReadsQuotedFieldsCrLfBomAndMissingFinalNewline) {
  auto t = parse_csv("\xEF\xBB\xBFpath,label\r\n\"a, b.png\",\"say \"\"hi\"\"\"\r\n\r\nc.png,x", "t.csv");
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->header, (std::vector<std::string>{"path", "label"}));
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][0], "a, b.png");
  EXPECT_EQ(t->rows[0][1], "say \"hi\"");
  EXPECT_EQ(t->rows[1][1], "x");
  EXPECT_EQ(t->lines[1], 4);
  EXPECT_EQ(t->column("label"), 1);
  EXPECT_EQ(t->column("nope"), -1);
}

TEST(Csv, KeepsLineBreaksInsideQuotesAndEmptyFields) {
  auto t = parse_csv("a,b,c\n\"x\ny\",,\n", "t.csv");
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0][0], "x\ny");
  EXPECT_EQ(t->rows[0][1], "");
  EXPECT_EQ(t->rows[0][2], "");
}

TEST(Csv, RejectsRowWithWrongFieldCountNamingTheLine) {
  auto t = parse_csv("a,b\n1,2\n1,2,3\n", "m.csv");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), ErrorCode::kInvalidData);
  EXPECT_NE(t.error().message().find("m.csv line 3"), std::string::npos) << t.error().message();
}

TEST(Csv, RejectsUnterminatedQuoteAsTruncated) {
  auto t = parse_csv("a,b\n\"1,2\n", "m.csv");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("never closed"), std::string::npos) << t.error().message();
}

TEST(Csv, RejectsTextAfterClosingQuoteAndStrayQuotes) {
  EXPECT_FALSE(parse_csv("a\n\"x\"y\n", "m.csv"));
  EXPECT_FALSE(parse_csv("a\nx\"y\n", "m.csv"));
}

TEST(Csv, RejectsEmptyFileEmptyAndDuplicatedColumnNames) {
  EXPECT_FALSE(parse_csv("", "m.csv"));
  EXPECT_FALSE(parse_csv("\n\n", "m.csv"));
  auto dup = parse_csv("a,a\n1,2\n", "m.csv");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("'a' appears twice"), std::string::npos);
  EXPECT_FALSE(parse_csv("a,,c\n1,2,3\n", "m.csv"));
}

TEST(Csv, WritesFieldsThatRoundTrip) {
  const std::vector<std::string> fields = {"plain", "a,b", "q\"q", "line\nbreak", " padded ", ""};
  const std::string text = csv_row({"c1", "c2", "c3", "c4", "c5", "c6"}) + csv_row(fields);
  auto t = parse_csv(text, "rt.csv");
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0], fields);
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
}

}  // namespace
}  // namespace lucent
