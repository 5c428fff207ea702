// Under mpirun -np W: the MPI communicator's collectives give their definitions' results with either wait policy
// (dist.wait), also when a rank arrives late (the waits then spin or sleep for a while); dist.wait is parsed.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <thread>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"

using namespace rslicer;

namespace {

// Every collective once, rank 1 arriving `late` after the others; checks each result against its definition.
void check_collectives(dist::WaitPolicy policy, std::chrono::milliseconds late) {
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60), policy);
  const int rank = comm.rank(), world = comm.world_size();
  if (rank == 1) std::this_thread::sleep_for(late);
  const std::int64_t n = 100'000;  // large enough for MPI's rendezvous protocol (several rounds)
  torch::Tensor mine = torch::arange(n, torch::kFloat32) + static_cast<float>(rank);

  torch::Tensor summed = mine.clone();
  comm.allreduce(summed, dist::ReduceOp::avg)->wait();
  const torch::Tensor expected_avg = torch::arange(n, torch::kFloat32) + static_cast<float>(world - 1) / 2.0f;
  EXPECT_TRUE(torch::allclose(summed, expected_avg)) << to_string(policy);

  torch::Tensor gathered = torch::empty({world * n}, torch::kFloat32);
  comm.allgather(mine, gathered)->wait();
  for (int r = 0; r < world; ++r)
    EXPECT_TRUE(torch::equal(gathered.narrow(0, r * n, n), torch::arange(n, torch::kFloat32) + static_cast<float>(r)));

  torch::Tensor all = torch::ones({world * n}, torch::kFloat32) * static_cast<float>(rank + 1);
  torch::Tensor slice = torch::empty({n}, torch::kFloat32);
  comm.reduce_scatter(all, slice)->wait();
  EXPECT_TRUE(torch::allclose(slice, torch::full({n}, static_cast<float>(world * (world + 1) / 2))));

  torch::Tensor root = rank == 0 ? mine.clone() : torch::zeros({n}, torch::kFloat32);
  comm.broadcast(root, 0)->wait();
  EXPECT_TRUE(torch::equal(root, torch::arange(n, torch::kFloat32)));
  comm.barrier();
}

}  // namespace

TEST(MpiCommunicator, CollectivesAreCorrectWithEitherWaitPolicy) {
  for (auto policy : {dist::WaitPolicy::spin, dist::WaitPolicy::sleep})
    for (auto late : {std::chrono::milliseconds(0), std::chrono::milliseconds(30)}) check_collectives(policy, late);
}

TEST(MpiCommunicator, WaitPolicyFromConfig) {
  EXPECT_EQ(dist::parse_wait_policy("spin", 64), dist::WaitPolicy::spin);
  EXPECT_EQ(dist::parse_wait_policy("sleep", 1), dist::WaitPolicy::sleep);
  EXPECT_EQ(dist::parse_wait_policy("auto", 1), dist::WaitPolicy::spin);  // one rank always has a core
  try {
    dist::parse_wait_policy("busy", 1);
    ADD_FAILURE() << "an unknown policy was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.one_line()).find("dist.wait"), std::string::npos) << e.one_line();
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  if (CPU_COUNT(&allowed) < static_cast<int>(std::thread::hardware_concurrency())) {
    // Bound by the launcher: the cores are the rank's own, whatever the count of ranks.
    EXPECT_EQ(dist::parse_wait_policy("auto", 100'000), dist::WaitPolicy::spin);
  } else {
    // Unbound: more ranks on the node than cores share them, and must not spin.
    EXPECT_EQ(dist::parse_wait_policy("auto", CPU_COUNT(&allowed) + 1), dist::WaitPolicy::sleep);
    EXPECT_EQ(dist::parse_wait_policy("auto", CPU_COUNT(&allowed)), dist::WaitPolicy::spin);
  }
}

int main(int argc, char** argv) {
  dist::MpiContext mpi(&argc, &argv);
  torch::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.rank() != 0) ::testing::GTEST_FLAG(output) = "";
  const long long failed = RUN_ALL_TESTS();
  return mpi.allreduce_sum(failed) == 0 ? 0 : 1;
}
