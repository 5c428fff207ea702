// How the ranks share one optimizer step (one interface, two strategies, as torchtitan composes its
// parallelisms): the bucketed gradient reducer launched from backward's hooks, the exchange of the sparse token
// embedding's rows, the global gradient norm, the update of this rank's part by the optimizer, and the gather of
// the updated parameters.
//   Ddp:   every rank receives the whole averaged gradient (bucket all-reduce; every rank gets all rows) and
//          updates every parameter.
//   Zero1: each rank receives the average of its slice of the flat parameters only (bucket reduce-scatter; rows to
//          the ranks that own their elements), updates its slice, and the slices are all-gathered; the optimizer
//          state per rank falls as 1/W (train/trainer.h).
// A step: prepare(reduce) before each micro-batch's backward, finish() after the last, reduce_gradients() (the
// averaged gradient and its global squared norm, the same on every rank), then apply() with an optimizer whose
// update has begun (the caller chose the clipping factor from the norm).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "train/flat_parameters.h"
#include "train/optimizer.h"
#include "train/sparse_rows.h"

namespace rslicer::train {

class DataParallel {
 public:
  // `parameters` in the flat buffer's order; `sparse_entry`: the entry whose gradient comes as rows (a sparse COO
  // .grad), or -1.
  DataParallel(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry,
               dist::Communicator& comm);
  virtual ~DataParallel() = default;
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  void prepare(bool reduce) { reducer_->prepare(reduce); }
  void finish() { reducer_->finish(); }
  double seconds_waiting() const { return reducer_->seconds_waiting(); }
  // [begin, end) of the flat parameters this rank updates (its optimizer's range).
  std::pair<std::int64_t, std::int64_t> owned_range() const { return {owned_begin_, owned_end_}; }

  // The averaged gradient in place for apply(); returns its global squared norm.
  virtual double reduce_gradients() = 0;
  // Updates this rank's part with `optimizer` (begin_update called), then makes every rank's parameters equal.
  virtual void apply(Optimizer& optimizer) = 0;

 protected:
  FlatParameters& flat_;
  std::vector<torch::Tensor> parameters_;
  std::int64_t sparse_entry_;
  dist::Communicator& comm_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  std::int64_t owned_begin_ = 0, owned_end_ = 0;
  SparseRows rows_;  // the embedding's averaged rows this rank updates (set by reduce_gradients)

  // The parameters the bucketed reducer handles: all but the sparse entry.
  std::vector<torch::Tensor> bucketed() const;
  const FlatEntry& embedding() const { return flat_.entries()[static_cast<std::size_t>(sparse_entry_)]; }
  // This rank's local rows of the embedding's gradient (coalesced; .grad cleared).
  SparseRows take_local_rows();
  // Sum of squares of the averaged dense gradient within [owned_begin_, owned_end_), outside the embedding when its
  // gradient comes as rows.
  double dense_squares_owned() const;
  // Dense AdamW on the owned range outside the embedding (all of it without a sparse entry).
  void update_dense_owned(Optimizer& optimizer);
};

class Ddp : public DataParallel {
 public:
  Ddp(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry, dist::Communicator& comm,
      const dist::ReducerOptions& options);
  double reduce_gradients() override;
  void apply(Optimizer& optimizer) override;
};

class Zero1 : public DataParallel {
 public:
  Zero1(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry, dist::Communicator& comm,
        const dist::ReducerOptions& options);
  double reduce_gradients() override;
  void apply(Optimizer& optimizer) override;

 private:
  // Every rank's count of embedding rows (and of their elements) within its slice, from reduce_gradients.
  std::vector<std::int64_t> rows_per_rank_, elements_per_rank_;
  // The updated embedding rows from their owners to every rank (ids, then the elements within each slice); waits
  // for `pending` (the dense sides' all-gathers) with its own.
  void gather_updated_rows(const std::vector<std::shared_ptr<dist::Work>>& pending);
};

// Zero1 when `zero1` and more than one rank, else Ddp.
std::unique_ptr<DataParallel> make_data_parallel(bool zero1, FlatParameters& flat, std::vector<torch::Tensor> parameters,
                                                 std::int64_t sparse_entry, dist::Communicator& comm,
                                                 const dist::ReducerOptions& options);

}  // namespace rslicer::train
