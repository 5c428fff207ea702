// Scaling 1 -> W ranks at the same global batch, measured in one invocation (mpirun -np W), phases interleaved:
//   solo:     rank 0 trains alone (its own communicator, no peers) at batch W * b; the other ranks sleep at a
//             barrier (waking once a millisecond), so their cores are idle, as in a one-rank job;
//   together: every rank trains at batch b over the world communicator (dist.wait=spin), the data-parallel job;
//   sleeping: the same with dist.wait=sleep;
//   apart:    every rank trains at batch b on its own communicator at the same time: the same processes on the
//             same cores with no communication, the machine's own ceiling for "together".
// Each round runs every phase for `steps` steps and keeps the last steps - 1 (the first step after a phase change
// finds the caches full of another phase's model); the figures are medians over rounds of
//   scaling = windows/s together / (W * windows/s solo),   windows/s = global batch / median step time.
// The phases alternate after a few steps so that a machine whose speed drifts within seconds (a shared VM: here
// the same phase ran at 22 and at 34 windows/s a few seconds apart) moves both sides of each ratio alike.
// usage: mpirun -np W scaling_bench [per_rank_batch=8] [seq=128] [rounds=20] [steps=2] [sparse_embedding 0|1 = 1]
//                                     [zero1 0|1 = 1]
// Prints one JSON line (rank 0).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "core/blas_kernel.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"
#include "synthetic_batches.h"
#include "train/trainer.h"

using namespace rslicer;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One phase's trainer: its model, communicator and a batch size; `step_s` keeps the measured step times.
struct Phase {
  std::unique_ptr<dist::MpiCommunicator> comm;
  std::unique_ptr<train::Trainer> trainer;
  std::int64_t batch = 0;
  std::uint64_t next_step = 0;

  Phase(MPI_Comm handle, dist::WaitPolicy wait, std::int64_t batch_size, std::int64_t max_steps, bool sparse, bool zero1)
      : batch(batch_size) {
    comm = std::make_unique<dist::MpiCommunicator>(handle, std::chrono::seconds(300), wait);
    train::TrainOptions o;
    o.max_steps = max_steps;
    o.warmup_steps = 1;
    o.sparse_embedding = sparse;
    o.zero1 = zero1;
    trainer = std::make_unique<train::Trainer>(bench::tiny_model(), *comm, o);
    trainer->broadcast_parameters();
  }
  // Median step time (s) of `steps` steps but the first.
  double run(int steps, std::int64_t seq) {
    std::vector<double> seconds;
    for (int s = 0; s < steps; ++s) {
      auto b = bench::synthetic_batch(next_step++, comm->rank(), batch, seq, 0.0);
      const double t = trainer->step({std::move(b)}).seconds;
      if (s > 0) seconds.push_back(t);
    }
    return median(seconds);
  }
};

// A barrier at which a rank with nothing to do sleeps 1 ms between tests, so that its core stays idle.
void idle_barrier(MPI_Comm comm) {
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel(argv);  // the kernels rslicer runs with (core/blas_kernel.h)
  dist::MpiContext mpi(&argc, &argv);
  bench::apply_cpu_trainer_allocator();
  const std::int64_t batch = argc > 1 ? std::atol(argv[1]) : 8, seq = argc > 2 ? std::atol(argv[2]) : 128;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 20, steps = argc > 4 ? std::atoi(argv[4]) : 2;
  if (batch < 1 || seq < 2 || rounds < 1 || steps < 2 || mpi.world_size() < 2) {
    if (mpi.is_root())
      std::fprintf(stderr, "error: bad arguments, scaling_bench, mpirun -np W>=2 scaling_bench [per_rank_batch>=1] [seq>=2] [rounds>=1] [steps>=2]\n");
    return 2;
  }
  const bool sparse = argc <= 5 || std::atoi(argv[5]) != 0;
  const bool zero1 = argc <= 6 || std::atoi(argv[6]) != 0;
  torch::set_num_threads(1);
  const int world = mpi.world_size();
  const std::int64_t max_steps = static_cast<std::int64_t>(rounds + 1) * steps;
  MPI_Comm solo_handle;  // rank 0 alone; the others get MPI_COMM_NULL
  MPI_Comm_split(MPI_COMM_WORLD, mpi.is_root() ? 0 : MPI_UNDEFINED, 0, &solo_handle);
  std::unique_ptr<Phase> solo;
  if (mpi.is_root()) solo = std::make_unique<Phase>(solo_handle, dist::WaitPolicy::spin, world * batch, max_steps, sparse, zero1);
  Phase together(MPI_COMM_WORLD, dist::WaitPolicy::spin, batch, max_steps, sparse, zero1);
  Phase sleeping(MPI_COMM_WORLD, dist::WaitPolicy::sleep, batch, max_steps, sparse, zero1);
  Phase apart(MPI_COMM_SELF, dist::WaitPolicy::spin, batch, max_steps, sparse, zero1);

  std::vector<double> scaling, scaling_sleep, ceiling, solo_wps, together_wps;
  for (int r = -1; r < rounds; ++r) {  // round -1 warms every phase up and is not counted
    const double solo_s = mpi.is_root() ? solo->run(steps, seq) : 0.0;
    idle_barrier(MPI_COMM_WORLD);
    const double together_s = together.run(steps, seq);
    const double sleeping_s = sleeping.run(steps, seq);
    idle_barrier(MPI_COMM_WORLD);
    // Apart: each rank's own pace; the job's windows/s is the sum of the ranks'.
    double apart_wps = static_cast<double>(batch) / apart.run(steps, seq), apart_total = 0;
    MPI_Allreduce(&apart_wps, &apart_total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (mpi.is_root() && r >= 0) {
      const double one = static_cast<double>(world * batch) / solo_s;
      const double global = static_cast<double>(world * batch);
      solo_wps.push_back(one);
      together_wps.push_back(global / together_s);
      scaling.push_back(global / together_s / (world * one));
      scaling_sleep.push_back(global / sleeping_s / (world * one));
      ceiling.push_back(apart_total / (world * one));
      if ((r + 1) % 10 == 0 || r + 1 == rounds)
        std::fprintf(stderr, "round %d/%d, medians so far: solo %.1f w/s, together %.1f w/s, scaling %.3f (sleep %.3f, no communication %.3f)\n",
                     r + 1, rounds, median(solo_wps), median(together_wps), median(scaling), median(scaling_sleep), median(ceiling));
    }
  }
  if (solo_handle != MPI_COMM_NULL) MPI_Comm_free(&solo_handle);
  if (mpi.is_root()) {
    auto [lo, hi] = std::minmax_element(scaling.begin(), scaling.end());
    std::printf("{\"ranks\": %d, \"per_rank_batch\": %ld, \"seq\": %ld, \"rounds\": %d, \"steps\": %d, \"sparse_embedding\": %d, \"zero1\": %d, "
                "\"solo_windows_per_s\": %.3f, \"together_windows_per_s\": %.3f, \"scaling\": %.4f, \"scaling_min\": %.4f, "
                "\"scaling_max\": %.4f, \"scaling_wait_sleep\": %.4f, \"scaling_no_communication\": %.4f}\n",
                world, static_cast<long>(batch), static_cast<long>(seq), rounds, steps, sparse ? 1 : 0, zero1 ? 1 : 0, median(solo_wps), median(together_wps),
                median(scaling), *lo, *hi, median(scaling_sleep), median(ceiling));
  }
  return 0;
}
