// What a sync point costs a training step, by wait policy (dist.wait: spin vs sleep), in one invocation.
// Each iteration: every rank computes for `compute_ms` plus a jitter of its own (uniform in [0, jitter_ms), as the
// ranks' step times vary on a shared machine), then all-gathers `mib` MiB through our MpiCommunicator and waits.
// The cost of the sync point is the iteration time beyond the slowest rank's compute:
//   overhead = mean over iterations of (iteration time - max over ranks of that iteration's compute time)
// i.e. the collective itself plus what the wait policy adds to it. The policies alternate round by round, so that
// a change in the machine's speed during the run falls on both.
// usage: mpirun -np 2 collective_bench [mib] [compute_ms] [jitter_ms] [iterations] [rounds]
// Prints one JSON line (rank 0).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "dist/communicator.h"
#include "dist/mpi_context.h"

using namespace rslicer;
using clock_type = std::chrono::steady_clock;

namespace {

void busy_for(double seconds) {
  const auto until = clock_type::now() + std::chrono::duration<double>(seconds);
  volatile double x = 1.0;
  while (clock_type::now() < until)
    for (int i = 0; i < 100; ++i) x = x * 1.0000001 + 1e-9;
}

// Mean overhead (s) per sync point of `iterations` compute + all-gather rounds.
double sync_overhead(dist::MpiCommunicator& comm, std::int64_t floats, double compute_s, double jitter_s, int iterations,
                     std::mt19937_64& rng) {
  torch::Tensor input = torch::ones({floats}, torch::kFloat32);
  torch::Tensor output = torch::empty({floats * comm.world_size()}, torch::kFloat32);
  std::uniform_real_distribution<double> jitter(0.0, jitter_s);
  std::vector<double> compute(static_cast<std::size_t>(iterations)), total(static_cast<std::size_t>(iterations));
  comm.barrier();
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = clock_type::now();
    busy_for(compute_s + jitter(rng));
    const auto t1 = clock_type::now();
    comm.allgather(input, output)->wait();
    const auto t2 = clock_type::now();
    compute[static_cast<std::size_t>(i)] = std::chrono::duration<double>(t1 - t0).count();
    total[static_cast<std::size_t>(i)] = std::chrono::duration<double>(t2 - t0).count();
  }
  // The slowest rank's compute of each iteration; the iteration time of the rank that waited least is its total.
  std::vector<double> slowest(compute.size()), longest(total.size());
  MPI_Allreduce(compute.data(), slowest.data(), iterations, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(total.data(), longest.data(), iterations, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double sum = 0;
  for (int i = 1; i < iterations; ++i) sum += longest[static_cast<std::size_t>(i)] - slowest[static_cast<std::size_t>(i)];
  return sum / (iterations - 1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiContext mpi(&argc, &argv);
  const double mib = argc > 1 ? std::atof(argv[1]) : 1.5;
  const double compute_ms = argc > 2 ? std::atof(argv[2]) : 5.0;
  const double jitter_ms = argc > 3 ? std::atof(argv[3]) : 2.0;
  const int iterations = argc > 4 ? std::atoi(argv[4]) : 50;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 5;
  if (mib <= 0 || compute_ms < 0 || jitter_ms < 0 || iterations < 2 || rounds < 1) {
    if (mpi.is_root())
      std::fprintf(stderr, "error: bad arguments, collective_bench, [mib > 0] [compute_ms >= 0] [jitter_ms >= 0] [iterations >= 2] [rounds >= 1]\n");
    return 2;
  }
  torch::set_num_threads(1);
  const auto floats = static_cast<std::int64_t>(mib * 1024 * 1024 / 4) / mpi.world_size();
  dist::MpiCommunicator spin(MPI_COMM_WORLD, std::chrono::seconds(60), dist::WaitPolicy::spin);
  dist::MpiCommunicator sleep(MPI_COMM_WORLD, std::chrono::seconds(60), dist::WaitPolicy::sleep);
  std::mt19937_64 rng(1234 + static_cast<std::uint64_t>(mpi.rank()));
  std::vector<double> spin_s, sleep_s;
  for (int r = 0; r < rounds; ++r) {
    spin_s.push_back(sync_overhead(spin, floats, compute_ms / 1e3, jitter_ms / 1e3, iterations, rng));
    sleep_s.push_back(sync_overhead(sleep, floats, compute_ms / 1e3, jitter_ms / 1e3, iterations, rng));
  }
  if (mpi.is_root())
    std::printf("{\"ranks\": %d, \"mib\": %.2f, \"compute_ms\": %.2f, \"jitter_ms\": %.2f, \"iterations\": %d, \"rounds\": %d, "
                "\"spin_overhead_us\": %.1f, \"sleep_overhead_us\": %.1f}\n",
                mpi.world_size(), mib, compute_ms, jitter_ms, iterations, rounds, 1e6 * median(spin_s), 1e6 * median(sleep_s));
  return 0;
}
