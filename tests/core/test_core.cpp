#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"

using namespace rslicer;

TEST(Text, EditDistanceAndSuggestions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(did_you_mean("tine", {"tiny", "qwen3_0.6b"}), "did you mean 'tiny'?");
  EXPECT_EQ(did_you_mean("zzzzzzzz", {"tiny"}), "");
  EXPECT_EQ(split("a.b..c", '.'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(trim("  x y \n"), "x y");
}

TEST(Error, OneLineWithParts) {
  Error e("bad thing\nhappened", "file.csv:3", "a number");
  EXPECT_EQ(e.one_line(), "error: bad thing happened, file.csv:3, a number");
  EXPECT_EQ(e.exit_code(), ExitCode::runtime);
  EXPECT_EQ(ConfigError("x", "", "").exit_code(), ExitCode::usage);
}

TEST(AtomicFile, AppearsOnlyOnCommit) {
  auto dir = std::filesystem::temp_directory_path() / ("rslicer_atomic_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "out.txt";
  {
    AtomicOutputFile out(path);
    out.write("partial");
    EXPECT_FALSE(std::filesystem::exists(path));
  }  // destroyed without commit: nothing appears, the temporary is gone
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  write_file_atomic(path, "whole");
  EXPECT_EQ(read_text_file(path), "whole");
  EXPECT_THROW(AtomicOutputFile(dir / "no_such_dir" / "x"), Error);
  std::filesystem::remove_all(dir);
}
