// The token embedding's gradient as rows (issue [throughput]): a step touches at most a few thousand of its
// 151,669 rows, so instead of a dense 78 MB gradient that is all-reduced and stepped in full, the rows a step
// touched are reduced across ranks (row ids and values exchanged, to every rank or with ZeRO-1 to the rank whose
// slice holds them, then a sum per row) and only those rows get an AdamW update.
//
// The lazy rule (as PyTorch's SparseAdam): a touched row gets exactly the dense AdamW update (decoupled weight
// decay, moments, bias correction by the global step count); an untouched row is left as it is: its moments do
// not decay and no weight decay applies. A row touched at every step therefore follows dense AdamW exactly
// (tests/train/test_optimizer.cpp); rare tokens keep their state until they are seen again.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <vector>

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
// Every rank's sorted rows, rank r's after those of the ranks before it: at [offset(r), offset(r) + counts[r]),
// offset(r) = counts[0] + ... + counts[r - 1]. No padding.
struct GatheredRows {
  torch::Tensor counts;  // [world] int64
  torch::Tensor rows;    // [sum(counts)] int64
  torch::Tensor values;  // [sum(counts), width] float32
};
// The reference of RowsExchange (tests/train/test_mpi_equivalence.cpp): blocking, every rank's rows padded to the
// largest count in one all-gather, then the padding dropped.
GatheredRows gather_rows(const SparseRows& local, dist::Communicator& comm);

// The rows exchange of a step: a round of counts (started at construction, so it can arrive while the caller does
// other work), then one all-gather of row ids and one of values with exactly those counts. Exact counts matter on
// real telemetry: 3,072 tokens of Train-Ticket windows touch a few hundred distinct rows, and an exchange padded
// to the token count moved several times the bytes that carry rows. The average over ranks is then
// sum_gathered_rows(exchange.finish()), the same on every rank.
class RowsExchange {
 public:
  RowsExchange(const SparseRows& local, dist::Communicator& comm);
  GatheredRows finish();  // waits for the counts, exchanges the rows and waits for them

 private:
  dist::Communicator& comm_;
  SparseRows local_;  // kept alive until the rows have gone out
  torch::Tensor count_out_, counts_in_;
  std::shared_ptr<dist::Work> counts_work_;
};
// ZeRO-1's rows exchange, the sparse counterpart of the dense buckets' reduce-scatter: a rank steps only the
// elements of its slice [partition[rank], partition[rank + 1]) of the flat buffer, so it receives from every rank
// only the rows with elements there (a row cut by a slice boundary goes to both ranks). Per rank that is ~1/W of
// the all-gather's bytes and merge, instead of W times a rank's rows. A rank's rows are sorted and the slices
// contiguous, so the rows for one rank are one run of them, sent in place. A round of counts starts at
// construction; finish() exchanges the rows. The rows of the embedding block that starts at `block_offset`.
class RowsToOwners {
 public:
  RowsToOwners(const SparseRows& local, std::int64_t block_offset, const std::vector<std::int64_t>& partition,
               dist::Communicator& comm);
  GatheredRows finish();  // the rows this rank owns, from every rank, in rank order

 private:
  dist::Communicator& comm_;
  SparseRows local_;
  std::vector<std::int64_t> first_, count_;  // per destination rank: its run of local rows
  torch::Tensor counts_out_, counts_in_;
  std::shared_ptr<dist::Work> counts_work_;
};
// The reference of RowsToOwners: every rank's rows (gather_rows), then those with elements in this rank's slice.
GatheredRows gather_rows_to_owners(const SparseRows& local, std::int64_t block_offset,
                                   const std::vector<std::int64_t>& partition, dist::Communicator& comm);

// The average per row of gathered rows: a k-way merge (fast path) and unique + index_add_ (the reference); both
// sum a row's values in rank order and give the same bits.
SparseRows sum_gathered_rows(const GatheredRows& gathered);
SparseRows sum_gathered_rows_reference(const GatheredRows& gathered);

// The elements of row `id` of a [V, width] block at `block_offset` in a flat buffer that lie within [begin, end)
// of it (a ZeRO-1 slice): [first, first + count) of the flat buffer, count 0 when none. One row may be cut by a
// slice boundary; every user of a slice clips rows with this.
struct RowPart {
  std::int64_t first = 0, count = 0;
};
inline RowPart row_within(std::int64_t block_offset, std::int64_t width, std::int64_t id, std::int64_t begin, std::int64_t end) {
  const std::int64_t row_begin = block_offset + id * width;
  const std::int64_t first = std::max(row_begin, begin), last = std::min(row_begin + width, end);
  return first < last ? RowPart{first, last - first} : RowPart{first, 0};
}

// The part of `rows` (of a [V, width] block at `block_offset` in a flat buffer) within [begin, end) of it: how
// many rows have elements there, how many elements, and their sum of squares (for the gradient norm).
struct RowsWithin {
  std::int64_t rows = 0, elements = 0;
  double squares = 0;
};
RowsWithin rows_within(const SparseRows& rows, std::int64_t block_offset, std::int64_t begin, std::int64_t end);

// AdamW on the touched rows of a [V, width] block that starts at `block_offset` in a flat parameter buffer, for
// the elements within [begin, end) of it (a rank's ZeRO-1 slice); `exp_avg`/`exp_avg_sq` hold the moments of
// [moments_begin, ...) of the flat buffer.
void lazy_adamw_rows(float* flat_params, std::int64_t block_offset, const SparseRows& grad, float* exp_avg,
                     float* exp_avg_sq, std::int64_t moments_begin, std::int64_t begin, std::int64_t end,
                     const AdamWHyper& hyper, std::int64_t step, float grad_scale);

}  // namespace rslicer::train
