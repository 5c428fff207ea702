// Training throughput under mpirun on synthetic token batches (no loader, so that the trainer alone is measured,
// on exactly the work bench/reference/ddp_train.py does): the tiny Qwen3 of configs/model/tiny.yaml with the real
// vocabulary, three modalities of `seq` tokens per window, fusion MLP, the global-batch losses.
// usage: train_bench <per_rank_batch> <seq> <steps> <zero1 0|1> [threads] [sparse_embedding 0|1]
//                    [activation_checkpointing 0|1] [last_layer_pooled_only 0|1] [pack_sequences 0|1] [padding 0..0.5]
//                    [independent 0|1] [keep_freed_memory 0|1] [zipf s, 0 = uniform ids]
// independent: every rank trains alone (MPI_COMM_SELF): the same processes on the same cores with no
// communication, the baseline for "backward + reduce over backward alone".
// keep_freed_memory: the malloc policy of configs/trainer/cpu.yaml (default 1; 0: glibc's defaults).
// zipf: token ids Zipf-distributed with exponent s (1.8: as few distinct ids as real Nezha windows); default uniform.
// padding: mean fraction of left padding in the batches (the lengths rule of ddp_train.py, so both get the same
// lengths); real windows have 5-10% (simulated) to ~50% (Nezha) at 128 tokens a modality.
// Prints one JSON line (rank 0): medians over the steps after the first two.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "synthetic_batches.h"
#include "core/blas_kernel.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"
#include "train/pretrain_config.h"
#include "train/trainer.h"

using namespace rslicer;

namespace {

double system_seconds() {  // kernel time of this process so far
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_stime.tv_sec) + 1e-6 * static_cast<double>(usage.ru_stime.tv_usec);
}

// Distinct token ids over real (unmasked) tokens of a batch's three modalities: the embedding rows a step touches.
double distinct_id_share(const data::Batch& b) {
  std::vector<std::int64_t> ids;
  for (const data::TokenBatch* t : {&b.metrics, &b.traces, &b.logs})
    for (std::size_t i = 0; i < t->ids.size(); ++i)
      if (t->mask[i] != 0) ids.push_back(t->ids[i]);
  const std::size_t real = ids.size();
  std::sort(ids.begin(), ids.end());
  return real == 0 ? 0.0 : static_cast<double>(std::unique(ids.begin(), ids.end()) - ids.begin()) / static_cast<double>(real);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const BlasKernel blas = select_blas_kernel(argv);  // the kernels rslicer runs with (core/blas_kernel.h)
  dist::MpiContext mpi(&argc, &argv);
  if (argc <= 12 || std::atoi(argv[12]) != 0) bench::apply_cpu_trainer_allocator();
  if (argc < 5) {
    if (mpi.is_root()) std::fprintf(stderr, "error: usage, train_bench <per_rank_batch> <seq> <steps> <zero1 0|1> [threads]\n");
    return 2;
  }
  const std::int64_t batch = std::atol(argv[1]), seq = std::atol(argv[2]);
  const int steps = std::atoi(argv[3]);
  torch::set_num_threads(argc > 5 ? std::atoi(argv[5]) : 1);
  model::RuntimeSlicer m = bench::tiny_model();
  m->model->activation_checkpointing = argc > 7 && std::atoi(argv[7]) != 0;
  m->model->last_layer_pooled_only = argc > 8 ? std::atoi(argv[8]) != 0 : true;
  m->model->pack_sequences = argc > 9 ? std::atoi(argv[9]) != 0 : true;
  const double padding = argc > 10 ? std::atof(argv[10]) : 0.0;
  const bool independent = argc > 11 && std::atoi(argv[11]) != 0;
  const double zipf = argc > 13 ? std::atof(argv[13]) : 0.0;
  const bench::TokenIds token_ids = zipf > 0 ? bench::TokenIds::zipf(zipf) : bench::TokenIds::uniform();
  dist::MpiCommunicator comm(independent ? MPI_COMM_SELF : MPI_COMM_WORLD, std::chrono::seconds(300));
  train::TrainOptions o = train::read_train_options(train::compose_pretrain(RSLICER_SOURCE_CONFIG_DIR));
  o.max_steps = steps;
  o.warmup_steps = 1;
  o.loss.lambda_neighbourhood = 0;  // ddp_train.py's loss: the modal and temporal terms (its labels are all unknown)
  o.zero1 = std::atoi(argv[4]) != 0;
  o.sparse_embedding = argc > 6 ? std::atoi(argv[6]) != 0 : true;
  train::Trainer trainer(m, comm, o);
  trainer.broadcast_parameters();
  std::vector<double> step_s, fwd, bwd, wait, opt;
  long long real_tokens = 0;
  long faults_before = 0;
  double distinct_share = 0;  // distinct token ids over real tokens, in rank 0's third batch
  double sys_before = 0;
  for (int s = 0; s < steps; ++s) {
    if (s == 2) faults_before = minor_page_faults(), sys_before = system_seconds();
    auto b = bench::synthetic_batch(static_cast<std::uint64_t>(s), mpi.rank(), batch, seq, padding, token_ids);
    const auto tokens = static_cast<long long>(b.tokens());
    if (s == 2) distinct_share = distinct_id_share(b);
    auto stats = trainer.step({std::move(b)});
    if (s < 2) continue;
    real_tokens += tokens;
    step_s.push_back(stats.seconds);
    fwd.push_back(stats.forward_seconds);
    bwd.push_back(stats.backward_seconds);
    wait.push_back(stats.comm_wait_seconds);
    opt.push_back(stats.optimizer_seconds);
  }
  const long faults_after = minor_page_faults();
  const double sys_after = system_seconds();
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const long long rss_kb = usage.ru_maxrss;
  long long max_rss_kb = 0;
  MPI_Reduce(&rss_kb, &max_rss_kb, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
  long long all_tokens = 0;  // real (unpadded) tokens over every rank and measured step
  MPI_Reduce(&real_tokens, &all_tokens, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (mpi.is_root()) {
    const double measured = static_cast<double>(std::max<std::size_t>(1, step_s.size()));
    const double t = median(step_s);
    const double tokens_per_step = static_cast<double>(all_tokens) / static_cast<double>(std::max<std::size_t>(1, step_s.size()));
    const double windows = static_cast<double>(batch * mpi.world_size());
    std::printf("{\"ranks\": %d, \"per_rank_batch\": %ld, \"seq\": %ld, \"zero1\": %d, \"sparse_embedding\": %d, \"pooled_only\": %d, \"packing\": %d, \"padding\": %.2f, \"windows_per_s\": %.4f, "
                "\"tokens_per_s\": %.1f, \"step_s\": %.4f, \"forward_s\": %.4f, \"backward_s\": %.4f, \"wait_s\": %.4f, "
                "\"optimizer_s\": %.4f, \"peak_rss_mb\": %.1f, \"page_faults_per_step\": %.0f, \"system_s_per_step\": %.4f, "
                "\"distinct_id_share\": %.4f, \"blas_kernel\": \"%s\"}\n",
                mpi.world_size(), static_cast<long>(batch), static_cast<long>(seq), o.zero1 ? 1 : 0, o.sparse_embedding ? 1 : 0,
                m->model->last_layer_pooled_only ? 1 : 0, m->model->pack_sequences ? 1 : 0, padding, windows / t,
                tokens_per_step / t, t, median(fwd), median(bwd), median(wait), median(opt),
                static_cast<double>(max_rss_kb) / 1024.0, static_cast<double>(faults_after - faults_before) / measured,
                (sys_after - sys_before) / measured, distinct_share, blas.core.c_str());
  }
  return 0;
}
