#include "dist/communicator.h"

#include <fmt/format.h>

#include <sched.h>

#include <cstdio>
#include <limits>
#include <thread>

#include "core/error.h"

namespace rslicer::dist {

namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    default:
      throw Error(std::string("MPI communicator does not support dtype ") + c10::toString(t.scalar_type()),
                  "dist::MpiCommunicator", "float32, float64, int32 or int64 CPU tensors");
  }
}

void check_tensor(const torch::Tensor& t, const char* op) {
  if (!t.device().is_cpu() || !t.is_contiguous())
    throw Error(std::string(op) + " needs a contiguous CPU tensor", "dist::MpiCommunicator",
                "CPU tensors for the MPI backend (the NCCL backend takes CUDA tensors)");
}

// The input and output of a collective that copies (no reduction): both contiguous CPU tensors of one dtype.
void check_input_output(const torch::Tensor& input, const torch::Tensor& output, const char* op) {
  check_tensor(input, op);
  check_tensor(output, op);
  if (input.scalar_type() != output.scalar_type())
    throw Error(std::string(op) + " from " + c10::toString(input.scalar_type()) + " into " + c10::toString(output.scalar_type()),
                std::string("dist::") + op, "input and output of one dtype");
}

// Per-rank element counts of an uneven collective as MPI takes them. MPI reads the counts and displacements
// until the operation completes, so they are shared with the work's completion.
struct UnevenParts {
  std::shared_ptr<std::vector<int>> counts, displacements;
  std::int64_t total = 0;
};

UnevenParts uneven_parts(const std::vector<std::int64_t>& counts, int world, const char* op) {
  if (static_cast<int>(counts.size()) != world)
    throw Error(std::string(op) + " got " + std::to_string(counts.size()) + " counts", std::string("dist::") + op,
                "one count per rank (" + std::to_string(world) + ")");
  UnevenParts parts{std::make_shared<std::vector<int>>(), std::make_shared<std::vector<int>>(), 0};
  for (const std::int64_t c : counts) {
    if (c < 0 || c > std::numeric_limits<int>::max() || parts.total + c > std::numeric_limits<int>::max())
      throw Error(std::string(op) + " count " + std::to_string(c), std::string("dist::") + op,
                  "0 to 2^31-1 elements in all (MPI counts are int)");
    parts.counts->push_back(static_cast<int>(c));
    parts.displacements->push_back(static_cast<int>(parts.total));
    parts.total += c;
  }
  return parts;
}
class MpiWork : public Work {
 public:
  MpiWork(MPI_Request request, std::string what, torch::Tensor keep_alive, std::function<void()> after,
          std::chrono::milliseconds timeout, WaitPolicy policy, int rank, int world, std::shared_ptr<double> seconds_waiting)
      : request_(request),
        what_(std::move(what)),
        keep_alive_(std::move(keep_alive)),
        after_(std::move(after)),
        deadline_(std::chrono::steady_clock::now() + timeout),
        timeout_(timeout),
        policy_(policy),
        rank_(rank),
        world_(world),
        seconds_waiting_(std::move(seconds_waiting)) {}

  bool done() override {
    if (finished_) return true;
    int flag = 0;
    MPI_Test(&request_, &flag, MPI_STATUS_IGNORE);
    if (flag) finish();
    return finished_;
  }

  void wait() override {
    if (done()) return;
    const auto start = std::chrono::steady_clock::now();
    int spins = 0;
    while (!done()) {
      // The clock is read every 64 tests only: a test is well under a microsecond when nothing has arrived.
      if ((++spins & 63) == 0 && std::chrono::steady_clock::now() > deadline_) {
        std::fprintf(stderr,
                     "error: collective %s did not finish within %.0f s, rank %d of %d (it has issued the collectives "
                     "before it; a peer rank is missing, dead or stuck), aborting the job (dist.timeout_s)\n",
                     what_.c_str(), static_cast<double>(timeout_.count()) / 1000.0, rank_, world_);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      if (policy_ == WaitPolicy::spin)
        sched_yield();
      else if (spins > 1000)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    *seconds_waiting_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  void finish() {
    finished_ = true;
    if (after_) after_();
  }
  MPI_Request request_;
  std::string what_;
  torch::Tensor keep_alive_;
  std::function<void()> after_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds timeout_;
  WaitPolicy policy_;
  int rank_, world_;
  std::shared_ptr<double> seconds_waiting_;
  bool finished_ = false;
};

}  // namespace

WaitPolicy parse_wait_policy(const std::string& name, const NodeCpus& node) {
  if (name == "spin") return WaitPolicy::spin;
  if (name == "sleep") return WaitPolicy::sleep;
  if (name != "auto")
    throw ConfigError("unknown wait policy '" + name + "'", "dist.wait", "auto, spin or sleep");
  return every_rank_has_a_cpu_of_its_own(node.per_rank) ? WaitPolicy::spin : WaitPolicy::sleep;
}

const char* to_string(WaitPolicy policy) { return policy == WaitPolicy::spin ? "spin" : "sleep"; }

namespace {
int rank_in(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}
}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::chrono::milliseconds timeout)
    : MpiCommunicator(comm, timeout, parse_wait_policy("auto", gather_node_cpus(comm, rank_in(comm)))) {}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::chrono::milliseconds timeout, WaitPolicy wait)
    : timeout_(timeout), wait_(wait) {
  MPI_Comm_dup(comm, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &world_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::shared_ptr<Work> MpiCommunicator::make_work(MPI_Request request, std::string what, torch::Tensor keep_alive,
                                                 std::function<void()> after) {
  return std::make_shared<MpiWork>(request, fmt::format("{} #{}", what, sequence_++), std::move(keep_alive),
                                   std::move(after), timeout_, wait_, rank_, world_, seconds_waiting_);
}

std::shared_ptr<Work> MpiCommunicator::allreduce(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "allreduce");
  MPI_Request req;
  MPI_Op mpi_op = op == ReduceOp::max ? MPI_MAX : MPI_SUM;
  MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), mpi_op, comm_, &req);
  std::function<void()> after;
  if (op == ReduceOp::avg) {
    torch::Tensor target = t;
    const int world = world_;
    after = [target, world]() mutable { target.div_(world); };
  }
  return make_work(req, fmt::format("allreduce({} x {})", t.numel(), c10::toString(t.scalar_type())), t, after);
}

std::shared_ptr<Work> MpiCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output) {
  check_tensor(input, "allgather");
  check_tensor(output, "allgather");
  if (output.numel() != input.numel() * world_)
    throw Error("allgather output has " + std::to_string(output.numel()) + " elements", "dist::allgather",
                std::to_string(input.numel() * world_) + " (world size times the input)");
  MPI_Request req;
  MPI_Iallgather(input.data_ptr(), static_cast<int>(input.numel()), mpi_type(input), output.data_ptr(),
                 static_cast<int>(input.numel()), mpi_type(output), comm_, &req);
  return make_work(req, fmt::format("allgather({} x {})", input.numel(), c10::toString(input.scalar_type())),
                   input, {});
}

std::shared_ptr<Work> MpiCommunicator::allgather(const torch::Tensor& input, torch::Tensor& output,
                                                const std::vector<std::int64_t>& counts) {
  check_input_output(input, output, "allgather");
  const UnevenParts parts = uneven_parts(counts, world_, "allgather");
  if (input.numel() != counts[static_cast<std::size_t>(rank_)] || output.numel() != parts.total)
    throw Error("allgather of " + std::to_string(input.numel()) + " elements into " + std::to_string(output.numel()),
                "dist::allgather", "this rank's count " + std::to_string(counts[static_cast<std::size_t>(rank_)]) + " into " +
                std::to_string(parts.total) + " elements (the sum of the counts)");
  MPI_Request req;
  MPI_Iallgatherv(input.data_ptr(), static_cast<int>(input.numel()), mpi_type(input), output.data_ptr(), parts.counts->data(),
                  parts.displacements->data(), mpi_type(output), comm_, &req);
  std::function<void()> after = [counts = parts.counts, displacements = parts.displacements] {};
  return make_work(req, fmt::format("allgather({} x {} in {} parts)", parts.total, c10::toString(input.scalar_type()), world_),
                   input, after);
}

std::shared_ptr<Work> MpiCommunicator::allgather_in_place(torch::Tensor& buffer, const std::vector<std::int64_t>& counts) {
  check_tensor(buffer, "allgather_in_place");
  const UnevenParts parts = uneven_parts(counts, world_, "allgather_in_place");
  if (buffer.numel() != parts.total)
    throw Error("allgather_in_place of a buffer of " + std::to_string(buffer.numel()) + " elements", "dist::allgather_in_place",
                std::to_string(parts.total) + " elements (the sum of the counts)");
  MPI_Request req;
  MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer.data_ptr(), parts.counts->data(), parts.displacements->data(),
                  mpi_type(buffer), comm_, &req);
  std::function<void()> after = [counts = parts.counts, displacements = parts.displacements] {};  // read until done
  return make_work(req, fmt::format("allgather_in_place({} x {} in {} parts)", parts.total, c10::toString(buffer.scalar_type()), world_),
                   buffer, after);
}

std::shared_ptr<Work> MpiCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output) {
  check_tensor(input, "reduce_scatter");
  check_tensor(output, "reduce_scatter");
  if (input.numel() != output.numel() * world_)
    throw Error("reduce_scatter input has " + std::to_string(input.numel()) + " elements", "dist::reduce_scatter",
                std::to_string(output.numel() * world_) + " (world size times the output)");
  MPI_Request req;
  MPI_Ireduce_scatter_block(input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()), mpi_type(input),
                            MPI_SUM, comm_, &req);
  return make_work(req, fmt::format("reduce_scatter({} x {})", input.numel(), c10::toString(input.scalar_type())),
                   input, {});
}

std::shared_ptr<Work> MpiCommunicator::reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                                     const std::vector<std::int64_t>& counts, ReduceOp op) {
  check_tensor(input, "reduce_scatter");
  check_tensor(output, "reduce_scatter");
  if (op == ReduceOp::max)
    throw Error("reduce_scatter with parts got op max", "dist::reduce_scatter", "op sum or avg");
  const UnevenParts parts = uneven_parts(counts, world_, "reduce_scatter");
  if (input.numel() != parts.total || output.numel() != counts[static_cast<std::size_t>(rank_)])
    throw Error("reduce_scatter of " + std::to_string(input.numel()) + " elements into " + std::to_string(output.numel()),
                "dist::reduce_scatter", std::to_string(parts.total) + " elements (the sum of the counts) into this rank's count " +
                std::to_string(counts[static_cast<std::size_t>(rank_)]));
  MPI_Request req;
  MPI_Ireduce_scatter(input.data_ptr(), output.data_ptr(), parts.counts->data(), mpi_type(input), MPI_SUM, comm_, &req);
  torch::Tensor target = output;
  const int world = world_;
  const bool average = op == ReduceOp::avg;
  std::function<void()> after = [counts = parts.counts, target, world, average]() mutable {
    if (average) target.div_(world);
  };
  return make_work(req, fmt::format("reduce_scatter({} x {} in {} parts)", input.numel(), c10::toString(input.scalar_type()), world_),
                   input, after);
}

std::shared_ptr<Work> MpiCommunicator::alltoall(const torch::Tensor& input, torch::Tensor& output,
                                               const std::vector<std::int64_t>& send_counts,
                                               const std::vector<std::int64_t>& send_offsets,
                                               const std::vector<std::int64_t>& recv_counts) {
  check_input_output(input, output, "alltoall");
  const UnevenParts sent = uneven_parts(send_counts, world_, "alltoall"), received = uneven_parts(recv_counts, world_, "alltoall");
  if (static_cast<int>(send_offsets.size()) != world_)
    throw Error("alltoall got " + std::to_string(send_offsets.size()) + " send offsets", "dist::alltoall",
                "one offset per rank (" + std::to_string(world_) + ")");
  for (int r = 0; r < world_; ++r) {  // the displacements are the offsets given, not the counts' prefix sums
    const std::int64_t at = send_offsets[static_cast<std::size_t>(r)], count = send_counts[static_cast<std::size_t>(r)];
    if (at < 0 || at + count > input.numel())
      throw Error("alltoall part for rank " + std::to_string(r) + " at [" + std::to_string(at) + ", " + std::to_string(at + count) + ")",
                  "dist::alltoall", "within the input's " + std::to_string(input.numel()) + " elements");
    (*sent.displacements)[static_cast<std::size_t>(r)] = static_cast<int>(at);
  }
  if (output.numel() != received.total)
    throw Error("alltoall output has " + std::to_string(output.numel()) + " elements", "dist::alltoall",
                std::to_string(received.total) + " (the sum of the counts received)");
  MPI_Request req;
  MPI_Ialltoallv(input.data_ptr(), sent.counts->data(), sent.displacements->data(), mpi_type(input), output.data_ptr(),
                 received.counts->data(), received.displacements->data(), mpi_type(output), comm_, &req);
  std::function<void()> after = [sent, received] {};  // MPI reads the four arrays until it completes
  return make_work(req, fmt::format("alltoall({} x {} out, {} in)", sent.total, c10::toString(input.scalar_type()), received.total),
                   input, after);
}

std::shared_ptr<Work> MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  MPI_Request req;
  MPI_Ibcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, comm_, &req);
  return make_work(req, fmt::format("broadcast({} x {}, root {})", t.numel(), c10::toString(t.scalar_type()), root), t, {});
}

void MpiCommunicator::barrier() {
  MPI_Request req;
  MPI_Ibarrier(comm_, &req);
  make_work(req, "barrier", torch::Tensor(), {})->wait();
}

}  // namespace rslicer::dist
