// Under mpirun -np W: the losses over one gather of the global batch (runtime_slicer_loss, gather_global_batch)
// equal the losses that gather tensor by tensor (the reference), in value and in the gradients of every input,
// and the global batch is every rank's rows in rank order.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "dist/communicator.h"
#include "losses/losses.h"

using namespace rslicer;
using namespace rslicer::losses;

namespace {

dist::MpiCommunicator& world_comm() {
  static dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  return comm;
}

// This rank's rows: 4 windows, embeddings of width 6 and z of width 5 (the gather splits by width), windows that
// overlap across ranks, normal, abnormal and unknown labels.
LossInputs rank_inputs(int rank) {
  torch::manual_seed(100 + rank);
  const std::int64_t n = 4;
  LossInputs in;
  in.e_m = torch::randn({n, 6}, torch::requires_grad());
  in.e_t = torch::randn({n, 6}, torch::requires_grad());
  in.e_l = torch::randn({n, 6}, torch::requires_grad());
  in.z = torch::randn({n, 5}, torch::requires_grad());
  in.begin_ns = torch::arange(n, torch::kInt64) * 40 + 25 * rank;
  in.end_ns = in.begin_ns + 60;
  in.labels = torch::tensor({0, 1, -1, rank % 2 == 0 ? 0 : 1}, torch::kInt64);
  in.fault_types = torch::tensor({-1, 6, 6, 6}, torch::kInt64);  // abnormal rows of one type on every rank
  return in;
}

std::vector<torch::Tensor> grads_of(const LossInputs& in) { return {in.e_m.grad(), in.e_t.grad(), in.e_l.grad(), in.z.grad()}; }

TEST(Losses, OneGatherEqualsTheGathersTensorByTensor) {
  auto& comm = world_comm();
  LossOptions o;
  o.lambda_temp = 0.7;
  o.lambda_anom = 0.3;
  o.gamma = -0.5;  // every (normal, abnormal) pair above the margin: the anomaly term has a gradient on every rank
  o.lambda_type = 0.4;
  o.lambda_neighbourhood = 0.25;
  o.neighbourhood_s = 150e-9;  // 150 ns on these inputs' axis: rows 0 and 2 of a rank are neighbours
  const LossInputs fast = rank_inputs(comm.rank());
  const LossTerms terms = runtime_slicer_loss(fast, comm, o);
  terms.total.backward();

  const LossInputs ref = rank_inputs(comm.rank());
  const torch::Tensor modal = modal_loss(ref, comm, o.temperature, o.mask_overlapping), temporal = temporal_loss(ref, comm, o.delta),
                      anomaly = anomaly_loss(ref, comm, o.gamma), type = type_loss(ref, comm, o.temperature),
                      neighbourhood = neighbourhood_loss(ref, comm, o.temperature, 150);
  (modal + o.lambda_temp * temporal + o.lambda_anom * anomaly + o.lambda_type * type +
   o.lambda_neighbourhood * neighbourhood)
      .backward();

  EXPECT_NEAR(terms.modal.item<double>(), modal.item<double>(), 1e-6);
  EXPECT_NEAR(terms.temporal.item<double>(), temporal.item<double>(), 1e-6);
  EXPECT_NEAR(terms.anomaly.item<double>(), anomaly.item<double>(), 1e-6);
  EXPECT_NEAR(terms.type.item<double>(), type.item<double>(), 1e-6);
  EXPECT_NEAR(terms.neighbourhood.item<double>(), neighbourhood.item<double>(), 1e-6);
  EXPECT_GT(neighbourhood.item<double>(), 0.0);  // every rank's rows 0 and 2 are positives
  torch::Tensor type_sum = type.detach().clone().reshape({1});
  comm.allreduce(type_sum, dist::ReduceOp::sum)->wait();
  EXPECT_GT(type_sum.item<double>(), 0.0);  // same-type rows apart in time on ranks 0 and 1 (each rank has its share)
  EXPECT_GT(temporal.item<double>(), 0.0);  // the windows overlap: the term is not trivially zero
  EXPECT_GT(anomaly.item<double>(), 0.0);
  const auto fast_grads = grads_of(fast), ref_grads = grads_of(ref);
  for (std::size_t i = 0; i < fast_grads.size(); ++i) {
    ASSERT_TRUE(fast_grads[i].defined()) << "input " << i;
    EXPECT_GT(ref_grads[i].abs().sum().item<double>(), 0.0) << "input " << i;
    EXPECT_TRUE(torch::allclose(fast_grads[i], ref_grads[i], 1e-5, 1e-6)) << "input " << i;
  }
}

// Rank r holds r + 2 rows (the batch split by the ranks' pace): the mean over ranks of each term equals the
// single-process term on the global batch (every rank's rows in rank order, on MPI_COMM_SELF), and each rank's
// input gradients equal W times the single-process gradients of its rows (the reducer averages over ranks).
LossInputs uneven_inputs(int rank, bool grad = true) {
  torch::manual_seed(300 + rank);
  const std::int64_t n = rank + 2;
  LossInputs in;
  for (torch::Tensor* t : {&in.e_m, &in.e_t, &in.e_l}) *t = torch::randn({n, 6}).requires_grad_(grad);
  in.z = torch::randn({n, 5}).requires_grad_(grad);
  in.begin_ns = torch::arange(n, torch::kInt64) * 100 + 25 * rank;  // rank r's row i overlaps rank r+1's
  in.end_ns = in.begin_ns + 60;
  // Normal, abnormal of two types and unknown rows; at world 2 already, rows 0 of rank 0 and 1 of rank 1 are one
  // type apart in time (each other's positive) and row 1 of rank 0 is of the other type (a negative).
  const std::vector<std::vector<std::int64_t>> labels = {{1, 1}, {0, 1, -1}, {1, -1, 0, 1}, {0, 1, 1, -1, 0}};
  const std::vector<std::vector<std::int64_t>> types = {{0, 1}, {-1, 0, -1}, {1, -1, -1, 0}, {-1, 1, 0, -1, -1}};
  in.labels = torch::tensor(labels.at(static_cast<std::size_t>(rank)), torch::kInt64);
  in.fault_types = torch::tensor(types.at(static_cast<std::size_t>(rank)), torch::kInt64);
  return in;
}

TEST(Losses, UnevenRowsPerRankGiveTheGlobalBatchsLossAndGradients) {
  auto& comm = world_comm();
  const int world = comm.world_size();
  LossOptions o;
  o.lambda_temp = 0.7;
  o.lambda_anom = 0.3;
  o.gamma = -0.5;
  o.lambda_type = 0.4;
  o.lambda_neighbourhood = 0.25;
  o.neighbourhood_s = 250e-9;  // rank 1's rows 0 and 2 (normal, unknown) are neighbours
  LossInputs mine = uneven_inputs(comm.rank());
  for (int r = 0; r < world; ++r) mine.rows_per_rank.push_back(r + 2);
  const LossTerms terms = runtime_slicer_loss(mine, comm, o);
  terms.total.backward();
  torch::Tensor values =
      torch::stack({terms.total, terms.modal, terms.temporal, terms.anomaly, terms.type, terms.neighbourhood}).detach().to(torch::kFloat64);
  comm.allreduce(values, dist::ReduceOp::avg)->wait();

  // The reference: one process, the whole global batch.
  std::vector<LossInputs> parts;
  for (int r = 0; r < world; ++r) parts.push_back(uneven_inputs(r, false));
  LossInputs all;
  auto joined = [&](auto field) {
    std::vector<torch::Tensor> ts;
    for (const auto& p : parts) ts.push_back(p.*field);
    return torch::cat(ts);
  };
  all.e_m = joined(&LossInputs::e_m).requires_grad_(true);
  all.e_t = joined(&LossInputs::e_t).requires_grad_(true);
  all.e_l = joined(&LossInputs::e_l).requires_grad_(true);
  all.z = joined(&LossInputs::z).requires_grad_(true);
  all.begin_ns = joined(&LossInputs::begin_ns);
  all.end_ns = joined(&LossInputs::end_ns);
  all.labels = joined(&LossInputs::labels);
  all.fault_types = joined(&LossInputs::fault_types);
  dist::MpiCommunicator self(MPI_COMM_SELF, std::chrono::seconds(60));
  const LossTerms ref = runtime_slicer_loss(all, self, o);
  ref.total.backward();
  const double expected[] = {ref.total.item<double>(), ref.modal.item<double>(), ref.temporal.item<double>(),
                             ref.anomaly.item<double>(), ref.type.item<double>(), ref.neighbourhood.item<double>()};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(values[i].item<double>(), expected[i], 1e-5 * std::abs(expected[i]) + 1e-7) << "term " << i;
  EXPECT_GT(expected[2], 0.0);  // the windows overlap across ranks: the temporal term is not trivially zero
  EXPECT_GT(expected[3], 0.0);
  EXPECT_GT(expected[4], 0.0);
  // The neighbourhood term needs a negative beside an anchor's positive: 3 rows not abnormal, from world 3 on (at
  // world 2 its one anchor's softmax holds only its positive: 0; OneGatherEqualsTheGathersTensorByTensor has it).
  if (world >= 3) EXPECT_GT(expected[5], 0.0);
  std::int64_t begin = 0;
  for (int r = 0; r < comm.rank(); ++r) begin += r + 2;
  const std::int64_t n = comm.rank() + 2;
  const torch::Tensor ref_grads[] = {all.e_m.grad(), all.e_t.grad(), all.e_l.grad(), all.z.grad()};
  const auto my_grads = grads_of(mine);
  for (std::size_t i = 0; i < 4; ++i) {
    const torch::Tensor expected_grad = static_cast<double>(world) * ref_grads[i].narrow(0, begin, n);
    EXPECT_GT(expected_grad.abs().sum().item<double>(), 0.0) << "input " << i;
    EXPECT_TRUE(torch::allclose(my_grads[i], expected_grad, 1e-4, 1e-6)) << "input " << i;
  }
}

TEST(Losses, TheGlobalBatchIsEveryRanksRowsInRankOrder) {
  auto& comm = world_comm();
  const LossInputs mine = rank_inputs(comm.rank());
  const GlobalBatch g = gather_global_batch(mine, comm);
  for (int r = 0; r < comm.world_size(); ++r) {
    const LossInputs theirs = rank_inputs(r);
    const std::int64_t n = theirs.z.size(0);
    EXPECT_TRUE(torch::equal(g.e_m.narrow(0, r * n, n), theirs.e_m)) << "rank " << r;
    EXPECT_TRUE(torch::equal(g.e_l.narrow(0, r * n, n), theirs.e_l)) << "rank " << r;
    EXPECT_TRUE(torch::equal(g.z.narrow(0, r * n, n), theirs.z)) << "rank " << r;
    EXPECT_TRUE(torch::equal(g.end_ns.narrow(0, r * n, n), theirs.end_ns)) << "rank " << r;
    EXPECT_TRUE(torch::equal(g.labels.narrow(0, r * n, n), theirs.labels)) << "rank " << r;
    EXPECT_TRUE(torch::equal(g.fault_types.narrow(0, r * n, n), theirs.fault_types)) << "rank " << r;
  }
}

}  // namespace
