// The cost of global-batch negatives: forward + backward of the pre-training loss with embeddings all-gathered
// (with gradient) across the ranks, beside the same loss on the rank's local batch only (MPI_COMM_SELF), under
// mpirun. usage: loss_bench <per_rank_batch> <dim> <iterations>
// Prints one JSON line (rank 0): medians, the slowest rank's time per iteration.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/blas_kernel.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"
#include "losses/losses.h"

using namespace rslicer;

namespace {

double time_loss(dist::Communicator& comm, MPI_Comm barrier_comm, std::int64_t batch, std::int64_t dim, int iterations,
                 int rank) {
  torch::manual_seed(rank);
  auto unit = [&](std::int64_t d) {
    return torch::nn::functional::normalize(torch::randn({batch, d}), torch::nn::functional::NormalizeFuncOptions().dim(1))
        .requires_grad_(true);
  };
  losses::LossInputs in;
  in.e_m = unit(dim);
  in.e_t = unit(dim);
  in.e_l = unit(dim);
  in.z = unit(dim);
  in.begin_ns = (torch::arange(batch, torch::kInt64) + rank * batch) * static_cast<std::int64_t>(30'000'000'000);
  in.end_ns = in.begin_ns + static_cast<std::int64_t>(60'000'000'000);
  in.labels = torch::randint(-1, 2, {batch}, torch::kInt64);
  std::vector<double> times;
  for (int i = 0; i < iterations + 2; ++i) {
    MPI_Barrier(barrier_comm);
    const auto t0 = std::chrono::steady_clock::now();
    auto terms = losses::runtime_slicer_loss(in, comm, losses::LossOptions{});
    terms.total.backward();
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), slowest = 0;
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, barrier_comm);
    if (i >= 2) times.push_back(slowest);
    for (auto* t : {&in.e_m, &in.e_t, &in.e_l, &in.z}) t->mutable_grad() = torch::Tensor();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel(argv);  // the kernels rslicer runs with (core/blas_kernel.h)
  dist::MpiContext mpi(&argc, &argv);
  if (argc != 4) {
    if (mpi.is_root()) std::fprintf(stderr, "error: usage, loss_bench <per_rank_batch> <dim> <iterations>\n");
    return 2;
  }
  torch::set_num_threads(1);
  const std::int64_t batch = std::atol(argv[1]), dim = std::atol(argv[2]);
  const int iterations = std::atoi(argv[3]);
  dist::MpiCommunicator world(MPI_COMM_WORLD, std::chrono::seconds(60));
  dist::MpiCommunicator self(MPI_COMM_SELF, std::chrono::seconds(60));
  const double global = time_loss(world, MPI_COMM_WORLD, batch, dim, iterations, mpi.rank());
  const double local = time_loss(self, MPI_COMM_WORLD, batch, dim, iterations, mpi.rank());
  if (mpi.is_root())
    std::printf("{\"ranks\": %d, \"per_rank_batch\": %ld, \"dim\": %ld, \"global_s\": %.6f, \"local_s\": %.6f}\n",
                mpi.world_size(), static_cast<long>(batch), static_cast<long>(dim), global, local);
  return 0;
}
