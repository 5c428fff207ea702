#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/blas_kernel.h"
#include "core/cpu_set.h"
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

// Runs `body` in a child process (the allocator policy is process-wide) and returns its exit code.
static int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

// Page faults of touching a freshly allocated 64 MiB block a second time, after freeing the first one.
static long refault_pages() {
  const std::size_t bytes = 64u << 20;
  auto* a = static_cast<char*>(std::malloc(bytes));
  std::memset(a, 1, bytes);
  asm volatile("" : : "r"(a) : "memory");  // the compiler may not drop the block or its writes
  std::free(a);
  const long before = minor_page_faults();
  auto* b = static_cast<char*>(std::malloc(bytes));
  std::memset(b, 2, bytes);
  asm volatile("" : : "r"(b) : "memory");
  const long faults = minor_page_faults() - before;
  std::free(b);
  return faults;
}

TEST(Allocator, KeptMemoryIsNotFaultedInAgain) {
  if (!allocator_policy_takes_effect())
    GTEST_SKIP() << "the sanitizers replace malloc (mallopt has no effect): run in the plain build";
  // Control: glibc's defaults mmap a 64 MiB block and unmap it on free, so all of its 16,384 pages fault again.
  EXPECT_EQ(in_child([] { return refault_pages() > 8000 ? 0 : 1; }), 0);
  // The policy of configs/trainer/cpu.yaml: the freed block is reused, nearly no page faults.
  EXPECT_EQ(in_child([] {
              apply_allocator_policy({256u << 20, 1024u << 20});
              return refault_pages() < 500 ? 0 : 1;
            }),
            0);
}

TEST(Allocator, RefusedSettingIsAConfigError) {
  if (!allocator_policy_takes_effect())
    GTEST_SKIP() << "the sanitizers replace malloc (mallopt has no effect): run in the plain build";
  EXPECT_EQ(in_child([] {
              try {
                apply_allocator_policy({std::size_t{4} << 30, 0});
              } catch (const ConfigError& e) {
                return std::string(e.one_line()).find("train.trainer.allocator") != std::string::npos ? 0 : 2;
              }
              return 1;
            }),
            0);
  EXPECT_NO_THROW(apply_allocator_policy({}));  // zeros: glibc's defaults, nothing set
}

TEST(CpuSet, AllowedCpusAreThisProcesssAscending) {
  const auto allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  EXPECT_TRUE(std::is_sorted(allowed.begin(), allowed.end()));
  EXPECT_LE(allowed.size(), static_cast<std::size_t>(std::thread::hardware_concurrency()));
}

// dist.wait=auto spins exactly when every rank of the node can have a CPU of its own. The cases one rank's own
// set cannot tell apart: bound to core 0 beside a rank bound to core 1 (own), and unbound in a cgroup of core 0
// beside another unbound rank there (shared).
TEST(CpuSet, EveryRankHasACpuOfItsOwnByMatching) {
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own({{0}, {1}}));            // mpirun --bind-to core
  EXPECT_FALSE(every_rank_has_a_cpu_of_its_own({{0}, {0}}));           // two unbound ranks in a 1-CPU cgroup
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own({{0, 1}, {0, 1}}));      // unbound, as many CPUs as ranks
  EXPECT_FALSE(every_rank_has_a_cpu_of_its_own({{0, 1}, {0, 1}, {0, 1}}));
  const std::vector<int> cgroup{4, 5, 6, 7};
  EXPECT_FALSE(every_rank_has_a_cpu_of_its_own(std::vector<std::vector<int>>(8, cgroup)));  // 8 ranks, 4 CPUs
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own(std::vector<std::vector<int>>(4, cgroup)));
  // Overlapping sets: the first rank must give up CPU 0 for the second (a greedy choice would fail).
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own({{0, 1}, {0}}));
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own({{0, 1}, {1, 2}, {0}}));
  EXPECT_FALSE(every_rank_has_a_cpu_of_its_own({{0}, {0}, {0, 1, 2}}));  // three CPUs, but two ranks want core 0
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own({}));
  // Unknown sets (empty) stand for every online CPU.
  const auto online = static_cast<std::size_t>(std::thread::hardware_concurrency());
  EXPECT_TRUE(every_rank_has_a_cpu_of_its_own(std::vector<std::vector<int>>(online, std::vector<int>{})));
  EXPECT_FALSE(every_rank_has_a_cpu_of_its_own(std::vector<std::vector<int>>(online + 1, std::vector<int>{})));
}

// loader.worker_cpus=auto: a rank keeps CPUs of its own whole, and takes its slice of CPUs it shares.
TEST(CpuSet, CpuShareCountsTheRanksOverlappingMine) {
  auto same = [](CpuShare s, int index, int count) { return s.index == index && s.count == count; };
  EXPECT_TRUE(same(cpu_share({{0, 1}, {2, 3}}, 1), 0, 1));                      // bound apart: its own
  EXPECT_TRUE(same(cpu_share({{0, 1, 2, 3}, {0, 1, 2, 3}}, 0), 0, 2));          // unbound in one cgroup
  EXPECT_TRUE(same(cpu_share({{0, 1, 2, 3}, {0, 1, 2, 3}}, 1), 1, 2));
  // Two cgroups on one node, two ranks each: slices among the ranks of the same cgroup only.
  const std::vector<std::vector<int>> two_groups{{0, 1}, {2, 3}, {0, 1}, {2, 3}};
  EXPECT_TRUE(same(cpu_share(two_groups, 2), 1, 2));
  EXPECT_TRUE(same(cpu_share(two_groups, 1), 0, 2));
  EXPECT_TRUE(same(cpu_share({{0}}, 0), 0, 1));
  EXPECT_TRUE(same(cpu_share({{0}}, 5), 0, 1));  // not a rank of the node: nothing shared
}

TEST(BlasKernel, CoreTiersFollowTheirInstructionSets) {
  EXPECT_EQ(openblas_core_tier("Prescott"), IsaTier::sse);
  EXPECT_EQ(openblas_core_tier("nehalem"), IsaTier::sse);
  EXPECT_EQ(openblas_core_tier("SandyBridge"), IsaTier::avx);
  EXPECT_EQ(openblas_core_tier("Haswell"), IsaTier::avx2);
  EXPECT_EQ(openblas_core_tier("ZEN"), IsaTier::avx2);
  EXPECT_EQ(openblas_core_tier("skylakex"), IsaTier::avx512);
  EXPECT_EQ(openblas_core_tier("Cooperlake"), IsaTier::avx512);
  EXPECT_EQ(openblas_core_tier("bogus"), IsaTier::sse);
}

TEST(BlasKernel, AsksForTheBestCoreTheLibraryHasOnlyWhenItIsWider) {
  const auto all = [](const char*) { return true; };
  const CpuIsa avx512_bf16{IsaTier::avx512, true}, avx512{IsaTier::avx512, false}, avx2{IsaTier::avx2, false};
  // The case this exists for: a CPU newer than the library, which fell back to Prescott.
  EXPECT_EQ(better_openblas_core("Prescott", avx512_bf16, all), "Cooperlake");
  EXPECT_EQ(better_openblas_core("Prescott", avx512, all), "SkylakeX");
  EXPECT_EQ(better_openblas_core("Prescott", avx2, all), "Haswell");
  // A library without Cooperlake kernels: the next best it has.
  EXPECT_EQ(better_openblas_core("Prescott", avx512_bf16, [](const char* c) { return std::strcmp(c, "Cooperlake") != 0; }),
            "SkylakeX");
  // Already on kernels of the CPU's width (whatever the library chose): left alone.
  EXPECT_EQ(better_openblas_core("SkylakeX", avx512_bf16, all), "");
  EXPECT_EQ(better_openblas_core("Zen", avx2, all), "");
  EXPECT_EQ(better_openblas_core("SapphireRapids", avx512_bf16, all), "");
  // Nothing wider to run on this CPU, or nothing the library has.
  EXPECT_EQ(better_openblas_core("Prescott", CpuIsa{IsaTier::sse, false}, all), "");
  EXPECT_EQ(better_openblas_core("Prescott", avx512, [](const char*) { return false; }), "");
}

TEST(BlasKernel, DescribesTheLibraryAndWhatWasReplaced) {
  BlasKernel k{"OpenBLAS 0.3.21 DYNAMIC_ARCH", "Cooperlake", "Prescott"};
  EXPECT_NE(k.describe().find("kernels Cooperlake"), std::string::npos) << k.describe();
  EXPECT_NE(k.describe().find("had picked Prescott"), std::string::npos) << k.describe();
  EXPECT_NE(BlasKernel{}.describe().find("not OpenBLAS"), std::string::npos);
}
