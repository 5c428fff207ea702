// The token embedding's gradient as rows (issue [throughput]): a step touches at most a few thousand of its
// 151,669 rows, so instead of a dense 78 MB gradient that is all-reduced and stepped in full, the rows a step
// touched are reduced across ranks (an all-gather of row ids and values, then a sum per row) and only those rows
// get an AdamW update.
//
// The lazy rule (as PyTorch's SparseAdam): a touched row gets exactly the dense AdamW update (decoupled weight
// decay, moments, bias correction by the global step count); an untouched row is left as it is: its moments do
// not decay and no weight decay applies. A row touched at every step therefore follows dense AdamW exactly
// (tests/train/test_optimizer.cpp); rare tokens keep their state until they are seen again.
#pragma once

#include <torch/torch.h>

#include "dist/communicator.h"
#include "train/flat_adamw.h"

namespace rslicer::train {

struct SparseRows {
  torch::Tensor rows;    // [n] int64, sorted, unique
  torch::Tensor values;  // [n, width] float32
};

// A sparse COO gradient [V, width] (duplicates allowed) -> its rows, summed: a stable sort of the ids and a sum
// per run (fast path), and torch's coalesce (the reference). Duplicates may be summed in another order by the
// two, so they agree to rounding, and bitwise where sums are exact.
SparseRows coalesce_rows(const torch::Tensor& sparse_grad);
SparseRows coalesce_rows_reference(const torch::Tensor& sparse_grad);
// Every rank's sorted rows, rank r's at [r * capacity, r * capacity + counts[r]) (the rest is padding, row -1).
struct GatheredRows {
  torch::Tensor counts;  // [world] int64
  torch::Tensor rows;    // [world * capacity] int64
  torch::Tensor values;  // [world * capacity, width] float32
  std::int64_t capacity = 0;
};
// Gathers the counts first (one round), then the rows: a RowsExchange with the largest count as capacity. The
// reference of RowsExchange (tests/train/test_mpi_equivalence.cpp); the trainer saves the round of counts.
GatheredRows gather_rows(const SparseRows& local, dist::Communicator& comm);

// The rows exchange without a round of counts, and without waiting: every rank sends its rows padded to
// `capacity`, a bound on every rank's count that all ranks agreed on earlier (the trainer all-reduces the step's
// token count, max over ranks, before backward: a step cannot touch more rows than it has tokens), with its count
// in front. The caller does other work until finish(). Throws Error if `local` has more rows than `capacity`.
// The average over ranks is then sum_gathered_rows(exchange.finish()), the same on every rank.
class RowsExchange {
 public:
  RowsExchange(const SparseRows& local, std::int64_t capacity, dist::Communicator& comm);
  GatheredRows finish();  // waits for both all-gathers

 private:
  int world_;
  std::int64_t capacity_;
  torch::Tensor rows_out_, values_out_, rows_in_, values_in_;  // the send buffers stay alive until finish()
  std::shared_ptr<dist::Work> rows_work_, values_work_;
};
// The average per row of gathered rows: a k-way merge (fast path) and unique + index_add_ (the reference); both
// sum a row's values in rank order and give the same bits.
SparseRows sum_gathered_rows(const GatheredRows& gathered);
SparseRows sum_gathered_rows_reference(const GatheredRows& gathered);

// AdamW on the touched rows of a [V, width] block that starts at `block_offset` in a flat parameter buffer, for
// the elements within [begin, end) of it (a rank's ZeRO-1 slice); `exp_avg`/`exp_avg_sq` hold the moments of
// [moments_begin, ...) of the flat buffer.
void lazy_adamw_rows(float* flat_params, std::int64_t block_offset, const SparseRows& grad, float* exp_avg,
                     float* exp_avg_sq, std::int64_t moments_begin, std::int64_t begin, std::int64_t end,
                     const AdamWHyper& hyper, std::int64_t step, float grad_scale);

}  // namespace rslicer::train
