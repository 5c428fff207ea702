// Scaling 1 -> W ranks at the same global batch, measured in one invocation (mpirun -np W), phases interleaved:
//   solo:     one rank trains alone (its own communicator, no peers) at batch W * b; the other ranks sleep at a
//             barrier (waking once a millisecond), so their cores are idle, as in a one-rank job. Round r's solo
//             runs on rank r % W: the cores of a shared VM differ in speed (here one ran 27% slower than the
//             other for minutes), and a one-rank job lands on any of them;
//   together: every rank trains at batch b over the world communicator (dist.wait=spin), the data-parallel job;
//   sleeping: the same with dist.wait=sleep;
//   balanced: "together" with the global batch split by the ranks' pace (train.balance, train/batch_balancer.h):
//             the faster core takes more windows, so that both finish together;
//   apart:    every rank trains at batch b on its own communicator at the same time: the same processes on the
//             same cores with no communication, the machine's own ceiling for "together": as the sum of the
//             ranks' windows/s (each at its own pace), and as synchronous data parallelism would see it (every
//             rank at the slowest rank's pace: what no communication scheme can beat when the cores differ).
// Each round runs every phase for `steps` steps and keeps the last steps - 1 (the first step after a phase change
// finds the caches full of another phase's model); the figures are medians over rounds of
//   scaling = windows/s together / (W * windows/s solo),   windows/s = global batch / median step time.
// Rank 0 also prints where a step's time goes in each phase (forward, backward, the wait for the last gradient
// buckets, optimizer) and each rank's pace apart. Backward + the wait for the last buckets together is held to the
// backward apart of each round's slowest rank (together, a step's reductions wait for that step's slowest backward;
// on a VM whose cores' speeds move apart from round to round, that is more than the slowest of the ranks' medians,
// which is printed too).
// The phases alternate after a few steps so that a machine whose speed drifts within seconds (a shared VM: here
// the same phase ran at 22 and at 34 windows/s a few seconds apart) moves both sides of each ratio alike.
// usage: mpirun -np W scaling_bench [per_rank_batch=8] [seq=128] [rounds=20] [steps=2] [sparse_embedding 0|1 = 1]
//                                     [zero1 0|1 = 1] [zipf s = 0: uniform token ids; 1.8: as few distinct ids as real
//                                     Nezha windows (bench/synthetic_batches.h)]
// Prints one JSON line (rank 0).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/blas_kernel.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"
#include "synthetic_batches.h"
#include "train/batch_balancer.h"
#include "train/pretrain_config.h"
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
  // The counted steps' parts (ms), for the breakdown printed at the end.
  std::vector<double> forward_ms, backward_ms, wait_ms, optimizer_ms;

  const bench::TokenIds* ids;
  std::unique_ptr<train::BatchBalancer> balancer;  // the balanced phase: this rank's windows follow its pace

  Phase(MPI_Comm handle, dist::WaitPolicy wait, std::int64_t batch_size, std::int64_t max_steps, bool sparse, bool zero1,
        const bench::TokenIds& token_ids)
      : batch(batch_size), ids(&token_ids) {
    comm = std::make_unique<dist::MpiCommunicator>(handle, std::chrono::seconds(300), wait);
    train::TrainOptions o = train::read_train_options(train::compose_pretrain(RSLICER_SOURCE_CONFIG_DIR));
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
      // The balanced phase's split for this step (empty: equal parts).
      const std::vector<std::int64_t> split = balancer ? balancer->split() : std::vector<std::int64_t>{};
      const std::int64_t windows = balancer ? split[static_cast<std::size_t>(comm->rank())] : batch;
      auto b = bench::synthetic_batch(next_step++, comm->rank(), windows, seq, 0.0, *ids);
      b.rank_windows = split;
      const train::StepStats st = trainer->step({std::move(b)});
      if (s == 0) continue;  // the first step after a phase change (cold caches) is neither counted nor shown to the balancer
      if (balancer) balancer->observe(st.compute_seconds / static_cast<double>(windows), split, *comm);
      seconds.push_back(st.seconds);
      forward_ms.push_back(1e3 * st.forward_seconds);
      backward_ms.push_back(1e3 * st.backward_seconds);
      wait_ms.push_back(1e3 * st.comm_wait_seconds);
      optimizer_ms.push_back(1e3 * st.optimizer_seconds);
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
  const double zipf = argc > 7 ? std::atof(argv[7]) : 0.0;
  const bench::TokenIds ids = zipf > 0 ? bench::TokenIds::zipf(zipf) : bench::TokenIds::uniform();
  torch::set_num_threads(1);
  const int world = mpi.world_size();
  const std::int64_t max_steps = static_cast<std::int64_t>(rounds + 1) * steps;
  // Every rank has a solo trainer on its own communicator; one of them runs per round.
  Phase solo(MPI_COMM_SELF, dist::WaitPolicy::spin, world * batch, max_steps, sparse, zero1, ids);
  Phase together(MPI_COMM_WORLD, dist::WaitPolicy::spin, batch, max_steps, sparse, zero1, ids);
  Phase sleeping(MPI_COMM_WORLD, dist::WaitPolicy::sleep, batch, max_steps, sparse, zero1, ids);
  Phase apart(MPI_COMM_SELF, dist::WaitPolicy::spin, batch, max_steps, sparse, zero1, ids);
  Phase balanced(MPI_COMM_WORLD, dist::WaitPolicy::spin, batch, max_steps, sparse, zero1, ids);
  balanced.balancer = std::make_unique<train::BatchBalancer>(std::vector<std::int64_t>(static_cast<std::size_t>(world), batch),
                                                             train::read_balance_options(train::compose_pretrain(RSLICER_SOURCE_CONFIG_DIR)));

  std::vector<double> scaling_balanced, apart_rank0_s, apart_backward_slowest_ms;
  std::vector<double> scaling, scaling_sleep, ceiling, sync_ceiling, solo_wps, together_wps, apart_fast_ms, apart_slow_ms;
  for (int r = -1; r < rounds; ++r) {  // round -1 warms every phase (every rank's solo) up and is not counted
    double solo_s = 0;
    for (int s = 0; s < world; ++s) {
      if (r >= 0 && s != r % world) continue;
      double t = mpi.rank() == s ? solo.run(steps, seq) : 0.0;
      idle_barrier(MPI_COMM_WORLD);
      MPI_Bcast(&t, 1, MPI_DOUBLE, s, MPI_COMM_WORLD);
      solo_s = t;
    }
    const double together_s = together.run(steps, seq);
    const double sleeping_s = sleeping.run(steps, seq);
    const double balanced_s = balanced.run(steps, seq);
    idle_barrier(MPI_COMM_WORLD);
    // Apart: each rank's own pace; the job's windows/s is the sum of the ranks', or the slowest rank's times W.
    const double apart_s = apart.run(steps, seq);
    if (r >= 0) apart_rank0_s.push_back(apart_s);
    // This round's backward apart on the slowest rank: together, each step's buckets wait for that step's slowest
    // backward, so its median over rounds (not the slowest of the ranks' medians) is what overlap is held to.
    const std::vector<double> round_backward(apart.backward_ms.end() - (steps - 1), apart.backward_ms.end());
    double my_round_backward = median(round_backward), slowest_round_backward = 0;
    MPI_Allreduce(&my_round_backward, &slowest_round_backward, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (r >= 0) apart_backward_slowest_ms.push_back(slowest_round_backward);
    double apart_wps = static_cast<double>(batch) / apart_s, apart_total = 0, apart_slowest = 0, apart_fastest = 0;
    MPI_Allreduce(&apart_wps, &apart_total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&apart_s, &apart_slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&apart_s, &apart_fastest, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    if (mpi.is_root() && r >= 0) {
      const double one = static_cast<double>(world * batch) / solo_s;
      const double global = static_cast<double>(world * batch);
      solo_wps.push_back(one);
      together_wps.push_back(global / together_s);
      scaling.push_back(global / together_s / (world * one));
      scaling_sleep.push_back(global / sleeping_s / (world * one));
      scaling_balanced.push_back(global / balanced_s / (world * one));
      ceiling.push_back(apart_total / (world * one));
      sync_ceiling.push_back(global / apart_slowest / (world * one));
      apart_fast_ms.push_back(1e3 * apart_fastest);
      apart_slow_ms.push_back(1e3 * apart_slowest);
      if ((r + 1) % 10 == 0 || r + 1 == rounds)
        std::fprintf(stderr, "round %d/%d, medians so far: solo %.1f w/s, together %.1f w/s, scaling %.3f (sleep %.3f, balanced %.3f, no communication %.3f, at the slowest rank's pace %.3f)\n",
                     r + 1, rounds, median(solo_wps), median(together_wps), median(scaling), median(scaling_sleep),
                     median(scaling_balanced), median(ceiling), median(sync_ceiling));
    }
  }
  // The slowest rank's backward apart: together, every rank's backward runs at that rank's pace (the buckets
  // wait for it), so it is the baseline for what the overlap leaves of the communication.
  const double my_backward_apart = median(apart.backward_ms);
  double slowest_backward_apart = 0;
  MPI_Reduce(&my_backward_apart, &slowest_backward_apart, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (mpi.is_root()) {
    // Where a step's time goes (medians of rank 0's steps): what "together" pays beyond "apart".
    const auto parts = [](const char* name, const Phase& p) {
      std::fprintf(stderr, "%-9s forward %6.1f ms, backward %6.1f ms, last buckets %5.2f ms, optimizer %5.2f ms\n", name,
                   median(p.forward_ms), median(p.backward_ms), median(p.wait_ms), median(p.optimizer_ms));
    };
    if (!solo.forward_ms.empty()) parts("solo", solo);
    parts("together", together);
    parts("sleeping", sleeping);
    parts("apart", apart);
    parts("balanced", balanced);
    std::string split;
    for (auto n : balanced.balancer->split()) split += (split.empty() ? "" : "/") + std::to_string(n);
    std::string pace;
    for (double p : balanced.balancer->pace()) pace += (pace.empty() ? "" : "/") + std::to_string(1e3 * p).substr(0, 5);
    std::fprintf(stderr, "balanced: windows per rank at the end %s after %ld changes (forward + backward ms a window, less waits: %s)\n",
                 split.c_str(), static_cast<long>(balanced.balancer->changes()), pace.c_str());
    std::fprintf(stderr, "apart step: fastest rank %.1f ms, slowest rank %.1f ms (medians over rounds); rank 0 %.1f ms\n",
                 median(apart_fast_ms), median(apart_slow_ms), 1e3 * median(apart_rank0_s));
    // Backward with its bucket reductions (launched from the hooks) and the wait for the last ones, over the
    // slowest rank's backward apart: what overlap leaves of the communication (issue [throughput]: 1.10x).
    std::vector<double> backward_and_wait;
    for (std::size_t i = 0; i < together.backward_ms.size(); ++i) backward_and_wait.push_back(together.backward_ms[i] + together.wait_ms[i]);
    auto [lo, hi] = std::minmax_element(scaling.begin(), scaling.end());
    std::printf("{\"ranks\": %d, \"per_rank_batch\": %ld, \"seq\": %ld, \"rounds\": %d, \"steps\": %d, \"sparse_embedding\": %d, \"zero1\": %d, \"zipf\": %.2f, "
                "\"solo_windows_per_s\": %.3f, \"together_windows_per_s\": %.3f, \"scaling\": %.4f, \"scaling_min\": %.4f, "
                "\"scaling_max\": %.4f, \"scaling_wait_sleep\": %.4f, \"scaling_no_communication\": %.4f, "
                "\"scaling_no_communication_slowest_pace\": %.4f, \"apart_step_ms_fastest\": %.2f, \"apart_step_ms_slowest\": %.2f, "
                "\"together_backward_and_wait_ms\": %.2f, \"apart_backward_ms_slowest_rank\": %.2f, "
                "\"apart_backward_ms_slowest_each_round\": %.2f, \"scaling_balanced\": %.4f, "
                "\"balanced_split\": \"%s\", \"balanced_changes\": %ld}\n",
                world, static_cast<long>(batch), static_cast<long>(seq), rounds, steps, sparse ? 1 : 0, zero1 ? 1 : 0, zipf, median(solo_wps), median(together_wps),
                median(scaling), *lo, *hi, median(scaling_sleep), median(ceiling), median(sync_ceiling), median(apart_fast_ms),
                median(apart_slow_ms), median(backward_and_wait), slowest_backward_apart, median(apart_backward_slowest_ms),
                median(scaling_balanced), split.c_str(),
                static_cast<long>(balanced.balancer->changes()));
  }
  return 0;
}
