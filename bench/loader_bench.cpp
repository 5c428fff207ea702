// Loader throughput under mpirun: each rank pulls `steps` batches of its slice (HDF5 read -> serialize ->
// tokenize on `workers` threads) as fast as it can; prints the global windows/s and tokens/s, and the share of the
// model's positions that are padding with the left-padded layout and with sequence packing (model.pack_sequences).
// usage: loader_bench <store.h5> <global_batch> <steps> <workers> <max_tokens>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "data/loader.h"
#include "dist/mpi_context.h"
#include "model/sequence_packing.h"

int main(int argc, char** argv) {
  rslicer::dist::MpiContext mpi(&argc, &argv);
  if (argc != 6) {
    if (mpi.is_root()) std::fprintf(stderr, "error: usage, loader_bench <store.h5> <global_batch> <steps> <workers> <max_tokens>\n");
    return 2;
  }
  using namespace rslicer::data;
  auto store = std::make_shared<const WindowStoreReader>(argv[1]);
  auto tok = std::make_shared<const Tokenizer>(Tokenizer::from_file(default_tokenizer_path()));
  LoaderOptions o;
  o.global_batch = std::strtoul(argv[2], nullptr, 10);
  o.workers = std::strtoul(argv[4], nullptr, 10);
  o.serializer.max_tokens = std::strtoul(argv[5], nullptr, 10);
  o.prefetch = 2 * o.workers;
  o.rank = mpi.rank();
  o.world = mpi.world_size();
  const long steps = std::atol(argv[3]);
  WindowLoader loader({store}, tok, o);
  loader.next();  // start-up (baselines, thread start) is not part of the rate
  mpi.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  long long windows = 0, tokens = 0, padded = 0;  // padded: the model's [3B, max length] positions
  long long packed = 0;                           // packed: rows x max length with packing
  for (long s = 0; s < steps; ++s) {
    Batch b = loader.next();
    windows += static_cast<long long>(b.samples.size());
    tokens += static_cast<long long>(b.tokens());
    const auto length = std::max({b.metrics.length, b.traces.length, b.logs.length});
    padded += 3LL * static_cast<long long>(b.samples.size()) * length;
    std::vector<std::int64_t> lengths;
    for (const TokenBatch* t : {&b.metrics, &b.traces, &b.logs})
      for (std::int64_t i = 0; i < t->batch; ++i)
        lengths.push_back(std::count(t->mask.begin() + static_cast<long>(i * t->length),
                                     t->mask.begin() + static_cast<long>((i + 1) * t->length), 1));
    const auto plan = rslicer::model::plan_packing(lengths, static_cast<std::int64_t>(length));
    packed += plan.rows * plan.capacity;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double max_seconds = [&] {
    double v = seconds, out = 0;
    MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return out;
  }();
  windows = mpi.allreduce_sum(windows);
  tokens = mpi.allreduce_sum(tokens);
  padded = mpi.allreduce_sum(padded);
  packed = mpi.allreduce_sum(packed);
  if (mpi.is_root())
    std::printf("{\"ranks\": %d, \"windows_per_s\": %.1f, \"tokens_per_s\": %.0f, \"seconds\": %.3f, "
                "\"padding_fraction\": %.4f, \"padding_fraction_packed\": %.4f}\n",
                mpi.world_size(), windows / max_seconds, tokens / max_seconds, max_seconds,
                1.0 - static_cast<double>(tokens) / static_cast<double>(padded),
                1.0 - static_cast<double>(tokens) / static_cast<double>(packed));
  return 0;
}
