// Under mpirun -np W: the MPI communicator's collectives give their definitions' results with either wait policy
// (dist.wait), also when a rank arrives late (the waits then spin or sleep for a while); dist.wait is parsed; the
// gradient reducer's reduce-scatter into a ZeRO-1 partition equals its all-reduce on the owned elements; the staging
// path for device tensors gives the same results; the per-device communicator routes by the tensors' device.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <thread>

#include "core/cpu_set.h"
#include "core/error.h"
#include "dist/all_gather_with_grad.h"
#include "dist/communicator.h"
#include "dist/gradient_reducer.h"
#include "dist/per_device_communicator.h"
#include "dist/staging_communicator.h"

using namespace rslicer;

namespace {

// Every collective of `comm` once, rank 1 arriving `late` after the others; checks each result against its
// definition (`label` names the backend in failures).
void check_collectives(dist::Communicator& comm, const std::string& label, std::chrono::milliseconds late) {
  const int rank = comm.rank(), world = comm.world_size();
  if (rank == 1) std::this_thread::sleep_for(late);
  const std::int64_t n = 100'000;  // large enough for MPI's rendezvous protocol (several rounds)
  torch::Tensor mine = torch::arange(n, torch::kFloat32) + static_cast<float>(rank);

  torch::Tensor summed = mine.clone();
  comm.allreduce(summed, dist::ReduceOp::avg)->wait();
  const torch::Tensor expected_avg = torch::arange(n, torch::kFloat32) + static_cast<float>(world - 1) / 2.0f;
  EXPECT_TRUE(torch::allclose(summed, expected_avg)) << label;

  torch::Tensor gathered = torch::empty({world * n}, torch::kFloat32);
  comm.allgather(mine, gathered)->wait();
  for (int r = 0; r < world; ++r)
    EXPECT_TRUE(torch::equal(gathered.narrow(0, r * n, n), torch::arange(n, torch::kFloat32) + static_cast<float>(r)));

  torch::Tensor all = torch::ones({world * n}, torch::kFloat32) * static_cast<float>(rank + 1);
  torch::Tensor slice = torch::empty({n}, torch::kFloat32);
  comm.reduce_scatter(all, slice)->wait();
  EXPECT_TRUE(torch::allclose(slice, torch::full({n}, static_cast<float>(world * (world + 1) / 2))));

  // Uneven parts (the last rank's empty, rank 0's the largest), averaged: element i of every rank's input is
  // i + rank, so the average is i + (W - 1) / 2 at the element's place in the whole input.
  std::vector<std::int64_t> counts;
  for (int r = 0; r < world; ++r) counts.push_back(r + 1 == world ? 0 : n / (r + 1));
  std::int64_t total = 0, begin = 0;
  for (int r = 0; r < world; ++r) (r < rank ? begin : total) += counts[static_cast<std::size_t>(r)];
  total += begin;
  torch::Tensor uneven_in = torch::arange(total, torch::kFloat32) + static_cast<float>(rank);
  torch::Tensor uneven_out = torch::full({counts[static_cast<std::size_t>(rank)]}, -1.0f);
  comm.reduce_scatter(uneven_in, uneven_out, counts, dist::ReduceOp::avg)->wait();
  EXPECT_TRUE(torch::allclose(uneven_out, torch::arange(begin, begin + counts[static_cast<std::size_t>(rank)], torch::kFloat32) +
                                              static_cast<float>(world - 1) / 2.0f)) << label;
  torch::Tensor wrong_out = torch::empty({counts[static_cast<std::size_t>(rank)] + 1});
  EXPECT_THROW(comm.reduce_scatter(uneven_in, wrong_out, counts, dist::ReduceOp::avg), Error);

  // Uneven parts gathered: rank r sends 2r + 1 elements r * 1000 + i (the last of three or more ranks none);
  // everyone gets them in rank order.
  std::vector<std::int64_t> gather_counts;
  for (int r = 0; r < world; ++r) gather_counts.push_back(world > 2 && r + 1 == world ? 0 : 2 * r + 1);
  std::int64_t gathered_total = 0;
  for (const std::int64_t c : gather_counts) gathered_total += c;
  torch::Tensor part = torch::arange(gather_counts[static_cast<std::size_t>(rank)], torch::kInt64) + 1000 * rank;
  torch::Tensor parts = torch::full({gathered_total}, -1, torch::kInt64);
  comm.allgather(part, parts, gather_counts)->wait();
  std::vector<torch::Tensor> expected_parts;
  for (int r = 0; r < world; ++r)
    expected_parts.push_back(torch::arange(gather_counts[static_cast<std::size_t>(r)], torch::kInt64) + 1000 * r);
  EXPECT_TRUE(torch::equal(parts, torch::cat(expected_parts))) << label;
  torch::Tensor wrong_parts = torch::empty({gathered_total + 1}, torch::kInt64);
  EXPECT_THROW(comm.allgather(part, wrong_parts, gather_counts), Error);

  // The same parts gathered in place: each rank writes only its own part of the buffer (the rest -1) and gets
  // the others' at their places, its own left as it was.
  std::int64_t own_begin = 0;
  for (int r = 0; r < rank; ++r) own_begin += gather_counts[static_cast<std::size_t>(r)];
  torch::Tensor in_place = torch::full({gathered_total}, -1, torch::kInt64);
  in_place.narrow(0, own_begin, part.numel()).copy_(part);
  comm.allgather_in_place(in_place, gather_counts)->wait();
  EXPECT_TRUE(torch::equal(in_place, torch::cat(expected_parts))) << label;
  EXPECT_THROW(comm.allgather_in_place(wrong_parts, gather_counts), Error);

  // Personalised exchange with overlapping parts: rank q's input is q * 100 + i (i < 2W); it sends rank r the
  // r + 1 elements from offset r (rank r + 1's part starts inside rank r's). Rank r gets r + 1 elements from
  // every rank q: q * 100 + r + j.
  torch::Tensor to_all = torch::arange(2 * world, torch::kInt64) + 100 * rank;
  std::vector<std::int64_t> send_counts, send_offsets, recv_counts;
  for (int r = 0; r < world; ++r) {
    send_counts.push_back(r + 1);
    send_offsets.push_back(r);
    recv_counts.push_back(rank + 1);
  }
  torch::Tensor from_all = torch::full({world * (rank + 1)}, -1, torch::kInt64);
  comm.alltoall(to_all, from_all, send_counts, send_offsets, recv_counts)->wait();
  std::vector<torch::Tensor> expected_from;
  for (int q = 0; q < world; ++q) expected_from.push_back(torch::arange(rank + 1, torch::kInt64) + 100 * q + rank);
  EXPECT_TRUE(torch::equal(from_all, torch::cat(expected_from))) << label;
  std::vector<std::int64_t> past_the_end = send_offsets;
  past_the_end.back() = 2 * world;
  EXPECT_THROW(comm.alltoall(to_all, from_all, send_counts, past_the_end, recv_counts), Error);
  EXPECT_THROW(comm.allgather(part, parts, std::vector<std::int64_t>(static_cast<std::size_t>(world) + 1, 0)), Error);

  torch::Tensor root = rank == 0 ? mine.clone() : torch::zeros({n}, torch::kFloat32);
  comm.broadcast(root, 0)->wait();
  EXPECT_TRUE(torch::equal(root, torch::arange(n, torch::kFloat32)));
  comm.barrier();
}

}  // namespace

TEST(MpiCommunicator, CollectivesAreCorrectWithEitherWaitPolicy) {
  for (auto policy : {dist::WaitPolicy::spin, dist::WaitPolicy::sleep})
    for (auto late : {std::chrono::milliseconds(0), std::chrono::milliseconds(30)}) {
      dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60), policy);
      check_collectives(comm, to_string(policy), late);
    }
}

// The staging path (device tensors through host copies, dist/staging_communicator.h) with every tensor staged: the
// same results as the host backend, the copies back made when the work is waited on.
TEST(StagingCommunicator, CollectivesAreCorrectThroughHostCopies) {
  dist::MpiCommunicator host(MPI_COMM_WORLD, std::chrono::seconds(60));
  dist::StagingCommunicator staged(host, dist::StagingCommunicator::Stage::every_tensor);
  for (auto late : {std::chrono::milliseconds(0), std::chrono::milliseconds(30)}) check_collectives(staged, "staged", late);
  // The result reaches the caller's tensor only through the copy back: before wait() it is untouched.
  torch::Tensor t = torch::full({4}, static_cast<float>(staged.rank() + 1));
  auto work = staged.allreduce(t, dist::ReduceOp::sum);
  EXPECT_EQ(t[0].item<float>(), static_cast<float>(staged.rank() + 1));
  work->wait();
  const int w = staged.world_size();
  EXPECT_TRUE(torch::equal(t, torch::full({4}, static_cast<float>(w * (w + 1) / 2))));
}

// A backend that records the collectives it is given and runs none (the tensors may be on the meta device).
class RecordingCommunicator : public dist::Communicator {
 public:
  struct NoWork : dist::Work {
    void wait() override {}
    bool done() override { return true; }
  };
  explicit RecordingCommunicator(const dist::Communicator& like) : rank_(like.rank()), world_(like.world_size()) {}
  std::vector<std::string> calls;
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::shared_ptr<dist::Work> allreduce(torch::Tensor&, dist::ReduceOp) override { return record("allreduce"); }
  std::shared_ptr<dist::Work> allgather(const torch::Tensor&, torch::Tensor&) override { return record("allgather"); }
  std::shared_ptr<dist::Work> allgather(const torch::Tensor&, torch::Tensor&, const std::vector<std::int64_t>&) override {
    return record("allgather uneven");
  }
  std::shared_ptr<dist::Work> allgather_in_place(torch::Tensor&, const std::vector<std::int64_t>&) override {
    return record("allgather_in_place");
  }
  std::shared_ptr<dist::Work> reduce_scatter(const torch::Tensor&, torch::Tensor&) override { return record("reduce_scatter"); }
  std::shared_ptr<dist::Work> reduce_scatter(const torch::Tensor&, torch::Tensor&, const std::vector<std::int64_t>&,
                                             dist::ReduceOp) override {
    return record("reduce_scatter uneven");
  }
  std::shared_ptr<dist::Work> alltoall(const torch::Tensor&, torch::Tensor&, const std::vector<std::int64_t>&,
                                       const std::vector<std::int64_t>&, const std::vector<std::int64_t>&) override {
    return record("alltoall");
  }
  std::shared_ptr<dist::Work> broadcast(torch::Tensor&, int) override { return record("broadcast"); }
  void barrier() override { calls.push_back("barrier"); }
  double seconds_waiting() const override { return 1.0; }

 private:
  int rank_, world_;
  std::shared_ptr<dist::Work> record(const char* what) {
    calls.push_back(what);
    return std::make_shared<NoWork>();
  }
};

// PerDeviceCommunicator sends host tensors' collectives to the host backend and device tensors' (here the meta
// device, which has no data) to the device backend; a collective over tensors of two devices is refused.
TEST(PerDeviceCommunicator, RoutesEachCollectiveByItsTensorsDevice) {
  dist::MpiCommunicator mpi(MPI_COMM_WORLD, std::chrono::seconds(60));
  RecordingCommunicator host(mpi), device(mpi);
  dist::PerDeviceCommunicator comm(host, device);
  torch::Tensor cpu = torch::zeros({4}), meta = torch::empty({4}, torch::TensorOptions().device(torch::kMeta));
  torch::Tensor cpu_out = torch::zeros({4 * mpi.world_size()});
  torch::Tensor meta_out = torch::empty({4 * mpi.world_size()}, torch::TensorOptions().device(torch::kMeta));
  comm.allreduce(cpu, dist::ReduceOp::sum);
  comm.allgather(meta, meta_out);
  comm.reduce_scatter(meta_out, meta);
  comm.broadcast(cpu, 0);
  comm.allgather_in_place(meta_out, std::vector<std::int64_t>(static_cast<std::size_t>(mpi.world_size()), 4));
  comm.allgather(cpu, cpu_out, std::vector<std::int64_t>(static_cast<std::size_t>(mpi.world_size()), 4));
  comm.barrier();
  EXPECT_EQ(host.calls, (std::vector<std::string>{"allreduce", "broadcast", "allgather uneven", "barrier"}));
  EXPECT_EQ(device.calls, (std::vector<std::string>{"allgather", "reduce_scatter", "allgather_in_place"}));
  EXPECT_THROW(comm.allgather(cpu, meta_out), Error);
  EXPECT_DOUBLE_EQ(comm.seconds_waiting(), 2.0);
}

// all_gather_with_grad with uneven rows (the batch split by the ranks' pace): rank r holds r + 1 rows of width 3.
// Forward gives every rank's rows in rank order; backward gives each rank the sum over ranks of the gradient of
// its rows (here every rank's loss is the same weighted sum of the gathered block: W times its weights). Equal
// counts through the uneven path give the even path's result.
TEST(AllGatherWithGrad, UnevenRowsInRankOrderAndTheirGradientSummedOverRanks) {
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  const int rank = comm.rank(), world = comm.world_size();
  std::vector<std::int64_t> rows;
  std::vector<torch::Tensor> expected;
  for (int r = 0; r < world; ++r) {
    rows.push_back(r + 1);
    expected.push_back(torch::arange(3 * (r + 1), torch::kFloat32).reshape({r + 1, 3}) + 100.0f * static_cast<float>(r));
  }
  torch::Tensor local = expected[static_cast<std::size_t>(rank)].clone().requires_grad_(true);
  torch::Tensor gathered = dist::all_gather_with_grad(local, comm, rows);
  EXPECT_TRUE(torch::equal(gathered.detach(), torch::cat(expected)));
  const torch::Tensor weights = torch::arange(gathered.numel(), torch::kFloat32).reshape(gathered.sizes()) / 7.0f;
  (gathered * weights).sum().backward();
  std::int64_t begin = 0;
  for (int r = 0; r < rank; ++r) begin += rows[static_cast<std::size_t>(r)];
  EXPECT_TRUE(torch::allclose(local.grad(), static_cast<float>(world) * weights.narrow(0, begin, rank + 1)));
  EXPECT_TRUE(torch::equal(dist::all_gather(local, comm, rows), torch::cat(expected)));

  torch::Tensor even = torch::full({2, 3}, static_cast<float>(rank), torch::requires_grad());
  torch::Tensor by_counts = even.detach().clone().requires_grad_(true);
  const std::vector<std::int64_t> equal_rows(static_cast<std::size_t>(world), 2);
  torch::Tensor a = dist::all_gather_with_grad(even, comm), b = dist::all_gather_with_grad(by_counts, comm, equal_rows);
  EXPECT_TRUE(torch::equal(a.detach(), b.detach()));
  const torch::Tensor even_weights = torch::arange(a.numel(), torch::kFloat32).reshape(a.sizes());
  (a * even_weights).sum().backward();
  (b * even_weights).sum().backward();
  EXPECT_TRUE(torch::equal(even.grad(), by_counts.grad()));
  // A count that is not this rank's rows is refused before anything is sent.
  std::vector<std::int64_t> wrong = rows;
  wrong[static_cast<std::size_t>(rank)] += 1;
  EXPECT_THROW(dist::all_gather_with_grad(local, comm, wrong), Error);
}

TEST(MpiCommunicator, WaitPolicyFromConfig) {
  const NodeCpus bound{{{0}, {1}}, 0}, cgroup_of_one{{{0}, {0}}, 0};
  EXPECT_EQ(dist::parse_wait_policy("spin", cgroup_of_one), dist::WaitPolicy::spin);
  EXPECT_EQ(dist::parse_wait_policy("sleep", bound), dist::WaitPolicy::sleep);
  EXPECT_EQ(dist::parse_wait_policy("auto", bound), dist::WaitPolicy::spin);
  EXPECT_EQ(dist::parse_wait_policy("auto", cgroup_of_one), dist::WaitPolicy::sleep);
  try {
    dist::parse_wait_policy("busy", bound);
    ADD_FAILURE() << "an unknown policy was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.one_line()).find("dist.wait"), std::string::npos) << e.one_line();
  }
}

// The node's CPU sets as gathered: one per rank on the node, this rank's being its own allowed_cpus(), the same
// on every rank (so all decide alike).
TEST(MpiCommunicator, GathersTheNodesCpuSetsAlikeOnEveryRank) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const NodeCpus node = dist::gather_node_cpus(MPI_COMM_WORLD, rank);
  ASSERT_EQ(node.per_rank.size(), static_cast<std::size_t>(world));  // ctest runs every rank on this machine
  EXPECT_EQ(node.me, rank);
  EXPECT_EQ(node.per_rank[static_cast<std::size_t>(node.me)], allowed_cpus());
  std::vector<int> flat;
  for (const auto& s : node.per_rank) {
    flat.push_back(static_cast<int>(s.size()));
    flat.insert(flat.end(), s.begin(), s.end());
  }
  std::vector<int> first = flat;
  int size = static_cast<int>(flat.size());
  MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
  first.resize(static_cast<std::size_t>(size));
  MPI_Bcast(first.data(), size, MPI_INT, 0, MPI_COMM_WORLD);
  EXPECT_EQ(flat, first) << "rank " << rank << " gathered other CPU sets than rank 0";
}

// What dist.wait=auto decides for this launch. RSLICER_EXPECT_WAIT says what it must be: ctest sets it where it
// launches the ranks bound to cores of their own (spin) or unbound inside a one-CPU taskset (sleep: the case a
// rank's own set took for bound before the node's sets were gathered).
TEST(MpiCommunicator, AutoWaitFollowsTheLaunchsBinding) {
  const char* expected = std::getenv("RSLICER_EXPECT_WAIT");
  if (!expected) GTEST_SKIP() << "no RSLICER_EXPECT_WAIT: this launch's binding is not known to the test";
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const NodeCpus node = dist::gather_node_cpus(MPI_COMM_WORLD, rank);
  EXPECT_STREQ(dist::to_string(dist::parse_wait_policy("auto", node)), expected)
      << "this rank may run on " << allowed_cpus().size() << " CPU(s)";
  // The communicator's own default ("auto" over its communicator) decides the same.
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  EXPECT_STREQ(dist::to_string(comm.wait_policy()), expected);
}

// ZeRO-1's partitioned reduction: buckets reduce-scattered into a flat buffer give, on each rank's owned
// elements, what the all-reduce gives, and leave the rest of the buffer alone. The partition cuts parameters
// apart and the small buckets make several of them, so parts straddle buckets and parameters.
TEST(GradientReducer, ReduceScatterIntoAPartitionEqualsTheAllReduceOnOwnedElements) {
  dist::MpiCommunicator comm(MPI_COMM_WORLD, std::chrono::seconds(60));
  const int rank = comm.rank(), world = comm.world_size();
  const std::vector<std::int64_t> sizes = {300, 7, 1000, 50, 2000, 1};
  const auto make = [&] {
    std::vector<torch::Tensor> ps;
    for (auto n : sizes) ps.push_back(torch::zeros({n}, torch::requires_grad()));
    return ps;
  };
  // d loss / d p_k[i] = sin(i + 100 k) * (rank + 1): a different gradient on every rank.
  const auto backward = [&](const std::vector<torch::Tensor>& ps) {
    torch::Tensor loss = torch::zeros({});
    for (std::size_t k = 0; k < ps.size(); ++k)
      loss = loss + (ps[k] * (torch::arange(sizes[k], torch::kFloat32) + 100.0 * k).sin() * (rank + 1.0)).sum();
    loss.backward();
  };
  const dist::ReducerOptions small{1024, 4096};
  auto all = make();
  dist::GradientReducer all_reduce(all, comm, small);
  all_reduce.prepare(true);
  backward(all);
  all_reduce.finish();
  std::vector<torch::Tensor> flat_parts;
  for (const auto& p : all) flat_parts.push_back(p.grad().reshape({-1}));
  const torch::Tensor expected = torch::cat(flat_parts);

  dist::GradientPartition partition;
  std::int64_t total = 0;
  for (auto n : sizes) {
    partition.offsets.push_back(total);
    total += n;
  }
  const std::int64_t chunk = (total + world - 1) / world;
  for (int r = 0; r <= world; ++r) partition.partition.push_back(std::min<std::int64_t>(total, r * chunk));
  partition.flat_grads = torch::full({total}, -7.0f);
  auto parts = make();
  dist::GradientReducer scatter(parts, comm, small, partition);
  EXPECT_GT(scatter.bucket_count(), 2u);
  scatter.prepare(true);
  backward(parts);
  scatter.finish();
  const std::int64_t lo = partition.partition[rank], hi = partition.partition[rank + 1];
  const torch::Tensor flat = partition.flat_grads;
  EXPECT_TRUE(torch::allclose(flat.narrow(0, lo, hi - lo), expected.narrow(0, lo, hi - lo), 1e-6, 1e-7));
  EXPECT_TRUE(torch::all(flat.narrow(0, 0, lo) == -7.0f).item<bool>());
  EXPECT_TRUE(torch::all(flat.narrow(0, hi, total - hi) == -7.0f).item<bool>());
  // A partition that does not fit the parameters is refused.
  dist::GradientPartition wrong = partition;
  wrong.offsets.pop_back();
  EXPECT_THROW(dist::GradientReducer(make(), comm, small, wrong), Error);
}
