// Under mpirun -np 2: only rank 0 composes (one ${now}), every rank gets the same resolved config and the same
// run dir, and the run dir is created once with its .hydra/ record.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cli/hydra_runner.h"
#include "config/yaml_value.h"
#include "dist/mpi_context.h"
#include "mpi_test_main.h"

namespace fs = std::filesystem;
using namespace rslicer;

namespace {


TEST(MpiConfig, RanksSeeOneConfigAndOneRunDir) {
  const dist::MpiContext& mpi = test::mpi();
  ASSERT_EQ(mpi.world_size(), 2) << "run under mpirun -np 2";
  // A fresh base directory chosen by rank 0.
  std::string base = mpi.broadcast(
      mpi.is_root() ? (fs::temp_directory_path() / ("rslicer_mpi_cfg_" + std::to_string(::getpid()))).string()
                    : std::string());
  // If ranks composed on their own, rank 1 (a second later) would name another run dir.
  if (mpi.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  std::string seen_config;
  fs::path seen_dir;
  cli::ConfiguredCommand command{"app", "test", [&](const cli::JobContext& ctx) {
                                   seen_config = ctx.cfg.to_yaml();
                                   seen_dir = ctx.run_dir;
                                   EXPECT_TRUE(fs::exists(ctx.run_dir / ".hydra" / "config.yaml"));
                                 }};
  cli::HydraArgs args;
  args.config_dir = std::string(RSLICER_TEST_DIR) + "/config/fixtures";
  args.overrides = {"hydra.run.dir=" + base + "/run_${now:%H-%M-%S}", "+stamp=${now:%H-%M-%S}", "++log.level=warn",
                    "++log.all_ranks=false"};
  ASSERT_EQ(cli::run_configured(command, args, mpi), 0);

  std::string root_config = mpi.broadcast(seen_config);
  std::string root_dir = mpi.broadcast(seen_dir.string());
  EXPECT_EQ(seen_config, root_config);
  EXPECT_EQ(seen_dir.string(), root_dir);
  mpi.barrier();
  if (mpi.is_root()) {
    std::size_t runs = 0;
    for (const auto& e : fs::directory_iterator(base)) runs += e.is_directory();
    EXPECT_EQ(runs, 1u);
    for (const char* f : {"config.yaml", "overrides.yaml", "hydra.yaml"})
      EXPECT_TRUE(fs::exists(seen_dir / ".hydra" / f)) << f;
    fs::remove_all(base);
  }
}

TEST(MpiConfig, ConfigErrorOnRankZeroReachesEveryRank) {
  cli::ConfiguredCommand command{"app", "test", [](const cli::JobContext&) { FAIL() << "must not run"; }};
  cli::HydraArgs args;
  args.config_dir = std::string(RSLICER_TEST_DIR) + "/config/fixtures";
  args.overrides = {"train.lrr=1"};
  EXPECT_EQ(cli::run_configured(command, args, test::mpi()), 2);  // every rank, not only rank 0
}

}  // namespace
