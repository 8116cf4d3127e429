#include "lucent/core/atomic_file.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace lucent {
namespace {
namespace fs = std::filesystem;

TEST(AtomicFile, WritesContentAndLeavesNoTemporary) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a.txt", "hello"));
  EXPECT_EQ(*read_file(dir / "a.txt"), "hello");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, FailedWriterLeavesNothingThatLooksComplete) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "keep.txt", "old"));
  Status st = write_atomically(dir / "keep.txt", [](const fs::path& tmp) -> Status {
    EXPECT_TRUE(write_file_atomically(tmp, "partial"));
    return fail(ErrorCode::kInvalidData, "writer gave up half way");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidData);
  EXPECT_EQ(*read_file(dir / "keep.txt"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, MissingFolderIsAClearIoError) {
  test::TempDir dir;
  Status st = write_file_atomically(dir / "no" / "such" / "x.nii", "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kIoError);
  EXPECT_NE(st.error().message().find("does not exist"), std::string::npos);
}

TEST(AtomicFile, TemporaryKeepsCompoundExtension) {
  EXPECT_EQ(full_extension(temporary_sibling("/x/ct.nii.gz")), ".nii.gz");
  EXPECT_EQ(full_extension("/x/IMG.DCM"), ".dcm");
  EXPECT_EQ(full_extension("/x/noext"), "");
}

TEST(RemoveTree, RemovesNestedFoldersButNotWhatLinksPointTo) {
  test::TempDir dir;
  const fs::path keep = dir / "keep.txt";
  ASSERT_TRUE(write_file_atomically(keep, "precious"));
  const fs::path tree = dir / "run";
  fs::create_directories(tree / "a" / "b");
  ASSERT_TRUE(write_file_atomically(tree / "a" / "b" / "weights.bin", "x"));
  ASSERT_TRUE(write_file_atomically(tree / "top.json", "{}"));
  fs::create_symlink(keep, tree / "a" / "link-to-keep");
  fs::create_directory_symlink(dir.path(), tree / "link-to-parent");
  std::error_code ec;
  EXPECT_TRUE(remove_tree(tree, ec)) << ec.message();
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_EQ(*read_file(keep), "precious");  // links were removed, not followed
  EXPECT_TRUE(remove_tree(tree, ec));        // already gone: not an error
  EXPECT_FALSE(ec);
  ASSERT_TRUE(write_file_atomically(dir / "single.txt", "1"));
  EXPECT_TRUE(remove_tree(dir / "single.txt", ec));  // a plain file
  EXPECT_FALSE(fs::exists(dir / "single.txt"));
}

}  // namespace
}  // namespace lucent
