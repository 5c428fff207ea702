#include <gtest/gtest.h>

#include <filesystem>

#include "core/sha256.h"
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

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(rslicer::sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(rslicer::sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto path = std::filesystem::temp_directory_path() / "rslicer_sha_test";
  rslicer::write_file_atomic(path, "abc");
  EXPECT_EQ(rslicer::sha256_file(path), rslicer::sha256_hex("abc", 3));
  std::filesystem::remove(path);
}
