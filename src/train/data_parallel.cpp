#include "train/data_parallel.h"

#include <optional>

#include "core/error.h"

namespace rslicer::train {

namespace {
double sum_of_squares(const torch::Tensor& x) {
  // BLAS dot product: one pass, no temporary.
  const torch::Tensor flat = x.reshape({-1});
  return flat.numel() == 0 ? 0.0 : torch::dot(flat, flat).item<double>();
}
}  // namespace

DataParallel::DataParallel(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry,
                           dist::Communicator& comm)
    : flat_(flat), parameters_(std::move(parameters)), sparse_entry_(sparse_entry), comm_(comm) {}

std::vector<torch::Tensor> DataParallel::bucketed() const {
  std::vector<torch::Tensor> out = parameters_;
  if (sparse_entry_ >= 0) out.erase(out.begin() + sparse_entry_);  // reduced as rows, not by the bucketed reducer
  return out;
}

SparseRows DataParallel::take_local_rows() {
  torch::Tensor& grad = parameters_[static_cast<std::size_t>(sparse_entry_)].mutable_grad();
  SparseRows rows = grad.defined() ? coalesce_rows(grad)
                                   : SparseRows{torch::empty({0}, torch::kInt64),
                                                torch::empty({0, embedding().shape[1]}, torch::kFloat32)};
  grad = torch::Tensor();
  return rows;
}

double DataParallel::dense_squares_owned() const {
  const auto squares_within = [&](std::int64_t begin, std::int64_t end) {
    return begin < end ? sum_of_squares(flat_.grads().narrow(0, begin, end - begin)) : 0.0;
  };
  if (sparse_entry_ < 0) return squares_within(owned_begin_, owned_end_);
  const FlatEntry& e = embedding();
  return squares_within(owned_begin_, std::min(owned_end_, e.offset)) +
         squares_within(std::max(owned_begin_, e.offset + e.numel), owned_end_);
}

void DataParallel::update_dense_owned(Optimizer& optimizer) {
  if (sparse_entry_ < 0) {
    optimizer.update_range(flat_.params(), flat_.grads(), owned_begin_, owned_end_);
    return;
  }
  const FlatEntry& e = embedding();
  const std::int64_t sides[2][2] = {{owned_begin_, std::min(owned_end_, e.offset)},
                                    {std::max(owned_begin_, e.offset + e.numel), owned_end_}};
  for (const auto& [a, b] : sides)
    if (a < b) optimizer.update_range(flat_.params(), flat_.grads(), a, b);
}

// ---- Ddp ----

Ddp::Ddp(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry,
         dist::Communicator& comm, const dist::ReducerOptions& options)
    : DataParallel(flat, std::move(parameters), sparse_entry, comm) {
  owned_begin_ = 0;
  owned_end_ = flat_.numel();
  reducer_ = std::make_unique<dist::GradientReducer>(bucketed(), comm_, options);
}

double Ddp::reduce_gradients() {
  // Every rank gets all rows (RowsExchange); its round of counts goes on while the dense part is read.
  std::optional<RowsExchange> exchange;
  if (sparse_entry_ >= 0) {
    rows_ = take_local_rows();
    if (comm_.world_size() > 1) exchange.emplace(rows_, comm_);
  }
  flat_.collect_grads(sparse_entry_);  // the reducer left the averaged gradient in every .grad
  double squares = dense_squares_owned();
  if (sparse_entry_ >= 0) {
    if (exchange) rows_ = sum_gathered_rows(exchange->finish());
    squares += rows_within(rows_, embedding().offset, owned_begin_, owned_end_).squares;
  }
  return squares;
}

void Ddp::apply(Optimizer& optimizer) {
  update_dense_owned(optimizer);
  if (sparse_entry_ >= 0) optimizer.update_rows(flat_.params(), embedding().offset, rows_);
}

// ---- Zero1 ----

Zero1::Zero1(FlatParameters& flat, std::vector<torch::Tensor> parameters, std::int64_t sparse_entry,
             dist::Communicator& comm, const dist::ReducerOptions& options)
    : DataParallel(flat, std::move(parameters), sparse_entry, comm) {
  const auto rank = static_cast<std::size_t>(comm_.rank());
  owned_begin_ = flat_.partition()[rank];
  owned_end_ = flat_.partition()[rank + 1];
  // A rank steps only its slice, so it needs only that slice's averaged gradient: the reducer reduce-scatters
  // straight into the flat gradient buffer instead of all-reducing every element.
  dist::GradientPartition partition;
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (static_cast<std::int64_t>(i) != sparse_entry_) partition.offsets.push_back(flat_.entries()[i].offset);
  partition.partition = flat_.partition();
  partition.flat_grads = flat_.grads();
  reducer_ = std::make_unique<dist::GradientReducer>(bucketed(), comm_, options, std::move(partition));
}

double Zero1::reduce_gradients() {
  // Each rank gets only the rows with elements in its slice (RowsToOwners); the reducer wrote this rank's slice
  // of the averaged dense gradient into the flat buffer (the rest of it is never read).
  std::optional<RowsToOwners> to_owners;
  if (sparse_entry_ >= 0) to_owners.emplace(take_local_rows(), embedding().offset, flat_.partition(), comm_);
  double squares = dense_squares_owned();
  RowsWithin within;
  if (to_owners) {
    rows_ = sum_gathered_rows(to_owners->finish());
    within = rows_within(rows_, embedding().offset, owned_begin_, owned_end_);
    squares += within.squares;
  }
  // One all-gather gives every rank the slices' squares and what each rank will send after its update.
  torch::Tensor mine = torch::tensor({squares, static_cast<double>(within.rows), static_cast<double>(within.elements)},
                                     torch::kFloat64);
  torch::Tensor all = torch::empty({3 * comm_.world_size()}, torch::kFloat64);
  comm_.allgather(mine, all)->wait();
  double total = 0;
  rows_per_rank_.clear();
  elements_per_rank_.clear();
  for (int r = 0; r < comm_.world_size(); ++r) {
    total += all[3 * r].item<double>();
    rows_per_rank_.push_back(static_cast<std::int64_t>(all[3 * r + 1].item<double>()));
    elements_per_rank_.push_back(static_cast<std::int64_t>(all[3 * r + 2].item<double>()));
  }
  return total;
}

void Zero1::apply(Optimizer& optimizer) {
  update_dense_owned(optimizer);
  if (sparse_entry_ < 0) {
    // Each rank's updated chunk is at its place in the flat buffer already (chunks are equal thanks to padding):
    // an in-place all-gather fills in the others', with no copy of the chunk out or back.
    const std::vector<std::int64_t> chunks(static_cast<std::size_t>(comm_.world_size()), flat_.chunk());
    comm_.allgather_in_place(flat_.params(), chunks)->wait();
    return;
  }
  // Outside the embedding each rank's updated part is at its place in the flat buffer, and the parts lie in rank
  // order (the partition is contiguous): an in-place all-gather of each side of the embedding fills in the
  // others'. It goes out before the rows are updated; the rows follow it.
  const FlatEntry& e = embedding();
  std::vector<std::shared_ptr<dist::Work>> sides;
  for (const auto& [a, b] : {std::pair<std::int64_t, std::int64_t>{0, e.offset}, {e.offset + e.numel, flat_.numel()}}) {
    if (a >= b) continue;  // the same on every rank
    torch::Tensor side = flat_.params().narrow(0, a, b - a);
    sides.push_back(comm_.allgather_in_place(side, dist::parts_within(flat_.partition(), a, b)));
  }
  optimizer.update_rows(flat_.params(), e.offset, rows_);
  gather_updated_rows(sides);
}

void Zero1::gather_updated_rows(const std::vector<std::shared_ptr<dist::Work>>& pending) {
  // The touched rows: a rank has only the rows of its slice (RowsToOwners), so it sends their ids with their
  // elements in its slice, in row order; every rank's counts came with the gradient norm's all-gather. Two
  // all-gathers with exact counts (ids, values) give everyone the new values: a few MB instead of the whole
  // embedding. (The rows of real telemetry are mostly low token ids, all in rank 0's slice: padding every part to
  // the largest would move up to W times the bytes.)
  const FlatEntry& e = embedding();
  const std::int64_t e0 = e.offset, width = e.shape[1];
  float* params = flat_.params().data_ptr<float>();
  const auto& partition = flat_.partition();
  auto for_each_part = [&](int rank, const std::int64_t* ids, std::int64_t n, auto&& fn) {  // fn(flat_begin, count)
    const std::int64_t lo = partition[static_cast<std::size_t>(rank)], hi = partition[static_cast<std::size_t>(rank) + 1];
    for (std::int64_t i = 0; i < n; ++i) {
      const RowPart part = row_within(e0, width, ids[i], lo, hi);
      if (part.count > 0) fn(part.first, part.count);
    }
  };
  const int world = comm_.world_size(), me = comm_.rank();
  const std::vector<std::int64_t>& counts = elements_per_rank_;
  std::vector<std::int64_t> starts(static_cast<std::size_t>(world)), id_starts(static_cast<std::size_t>(world));
  for (std::size_t r = 1; r < static_cast<std::size_t>(world); ++r) {
    starts[r] = starts[r - 1] + counts[r - 1];
    id_starts[r] = id_starts[r - 1] + rows_per_rank_[r - 1];
  }
  // RowsToOwners gave this rank only rows with elements in its slice: all of rows_ changed here.
  const torch::Tensor& my_ids = rows_.rows;
  torch::Tensor mine = torch::empty({counts[static_cast<std::size_t>(me)]});
  float* packed = mine.data_ptr<float>();
  for_each_part(me, my_ids.data_ptr<std::int64_t>(), my_ids.size(0), [&](std::int64_t begin, std::int64_t count) {
    packed = std::copy(params + begin, params + begin + count, packed);
  });
  if (packed != mine.data_ptr<float>() + mine.numel())
    throw Error("rank " + std::to_string(me) + " packed " + std::to_string(packed - mine.data_ptr<float>()) +
                    " updated row elements",
                "train::Zero1 (update)", std::to_string(mine.numel()) + ", the count it announced");
  torch::Tensor all_ids = torch::empty({id_starts.back() + rows_per_rank_.back()}, torch::kInt64);
  torch::Tensor everyone = torch::empty({starts.back() + counts.back()}, torch::kFloat32);
  auto ids_work = comm_.allgather(my_ids, all_ids, rows_per_rank_);
  auto values_work = comm_.allgather(mine, everyone, counts);
  for (const auto& work : pending) work->wait();
  ids_work->wait();
  values_work->wait();
  for (int r = 0; r < world; ++r) {
    if (r == me) continue;
    const auto at = static_cast<std::size_t>(r);
    const float* from = everyone.data_ptr<float>() + starts[at];
    for_each_part(r, all_ids.data_ptr<std::int64_t>() + id_starts[at], rows_per_rank_[at],
                  [&](std::int64_t begin, std::int64_t count) {
                    std::copy(from, from + count, params + begin);
                    from += count;
                  });
  }
}

std::unique_ptr<DataParallel> make_data_parallel(bool zero1, FlatParameters& flat, std::vector<torch::Tensor> parameters,
                                                 std::int64_t sparse_entry, dist::Communicator& comm,
                                                 const dist::ReducerOptions& options) {
  if (zero1 && comm.world_size() > 1)
    return std::make_unique<Zero1>(flat, std::move(parameters), sparse_entry, comm, options);
  return std::make_unique<Ddp>(flat, std::move(parameters), sparse_entry, comm, options);
}

}  // namespace rslicer::train
