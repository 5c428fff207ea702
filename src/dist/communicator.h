// Collectives over tensors with async work handles, in the way of PyTorch c10d's ProcessGroup. Every collective
// has a deadline (the watchdog): past it the rank prints the operation, its sequence number, its rank and what it
// knows, and aborts the whole job instead of hanging.
//
// MPI backend: CPU tensors (float32/float64/int64), non-blocking MPI collectives on a communicator of our own
// (duplicated from the one given, so collectives never mix with other traffic). MPI is initialised with
// MPI_THREAD_SERIALIZED; a Communicator is used from one thread at a time.
#pragma once

#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/node_cpus.h"
#include "dist/reduce_op.h"

namespace rslicer::dist {

class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;  // blocks until done; aborts the job past the deadline
  virtual bool done() = 0;  // non-blocking test
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place over `tensor` (contiguous).
  virtual std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) = 0;
  // `output` [W * n, ...] gets every rank's `input` [n, ...] in rank order.
  virtual std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output) = 0;
  // Uneven parts: `output` [sum(counts)] gets rank r's `input` [counts[r]] (elements) at the sum of the counts
  // before r. Every rank passes the same counts.
  virtual std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output,
                                          const std::vector<std::int64_t>& counts) = 0;
  // In place, uneven parts: `buffer` [sum(counts)] holds this rank's part (counts[rank] elements) at the sum of
  // the counts before its rank, and gets every other rank's part at its place. No send buffer: nothing is copied
  // out before sending, nor one's own part copied back (ZeRO's all-gather of the updated slices into the flat
  // parameters). Every rank passes the same counts.
  virtual std::shared_ptr<Work> allgather_in_place(torch::Tensor& buffer, const std::vector<std::int64_t>& counts) = 0;
  // `output` [n, ...] gets this rank's slice of the element-wise SUM of every rank's `input` [W * n, ...].
  virtual std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output) = 0;
  // Uneven parts: `input` [sum(counts)] is cut into consecutive parts of counts[r] elements; `output`
  // [counts[rank]] gets this rank's part of the element-wise reduction (sum or avg) of every rank's `input`.
  virtual std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                               const std::vector<std::int64_t>& counts, ReduceOp op) = 0;
  // Personalised exchange: rank q sends input[send_offsets[r], + send_counts[r]) (elements) to rank r; `output`
  // [sum(recv_counts)] gets what every rank q sent here (recv_counts[q] elements) in rank order. The parts sent
  // may overlap: they are only read.
  virtual std::shared_ptr<Work> alltoall(const torch::Tensor& input, torch::Tensor& output,
                                         const std::vector<std::int64_t>& send_counts,
                                         const std::vector<std::int64_t>& send_offsets,
                                         const std::vector<std::int64_t>& recv_counts) = 0;
  virtual std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
  // Seconds this rank has spent blocked in Work::wait so far (waiting for peers or for the transfer): what a
  // step's time minus this is the rank's own work (the batch balancer's pace, train/batch_balancer.h).
  virtual double seconds_waiting() const = 0;
};

// How a rank waits for a collective to finish. MPI's non-blocking collectives advance only inside MPI calls, and
// a large one takes several rounds (rendezvous, copy, completion), each needing both ranks to call in.
// spin: test in a loop, offering the core to any other runnable thread (sched_yield) between tests — the lowest
//   latency when every rank has a core of its own (the waits after backward absorb the ranks' skew, and each
//   round of the exchange that follows then runs at once).
// sleep: after 1000 tests, sleep 50 us between tests — for ranks that share cores (an oversubscribed node), where
//   a spinning rank would take time from the rank it waits for; each round then costs up to one sleep.
enum class WaitPolicy { spin, sleep };
// dist.wait: "spin", "sleep", or "auto": spin when every rank on this node can have a CPU of its own among those
// it may run on (`node`, from MpiContext::node_cpus or gather_node_cpus), as Open MPI's own mpi_yield_when_idle
// decides from its slots, else sleep. All ranks of a node decide alike: they judge the same gathered sets.
WaitPolicy parse_wait_policy(const std::string& name, const NodeCpus& node);
const char* to_string(WaitPolicy policy);

class MpiCommunicator : public Communicator {
 public:
  // Without a wait policy: "auto" over the ranks of `comm` that share this node (a collective over `comm`).
  MpiCommunicator(MPI_Comm comm, std::chrono::milliseconds timeout);
  MpiCommunicator(MPI_Comm comm, std::chrono::milliseconds timeout, WaitPolicy wait);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::shared_ptr<Work> allreduce(torch::Tensor& tensor, ReduceOp op) override;
  std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output) override;
  std::shared_ptr<Work> allgather(const torch::Tensor& input, torch::Tensor& output,
                                  const std::vector<std::int64_t>& counts) override;
  std::shared_ptr<Work> allgather_in_place(torch::Tensor& buffer, const std::vector<std::int64_t>& counts) override;
  std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output) override;
  std::shared_ptr<Work> reduce_scatter(const torch::Tensor& input, torch::Tensor& output,
                                       const std::vector<std::int64_t>& counts, ReduceOp op) override;
  std::shared_ptr<Work> alltoall(const torch::Tensor& input, torch::Tensor& output,
                                 const std::vector<std::int64_t>& send_counts, const std::vector<std::int64_t>& send_offsets,
                                 const std::vector<std::int64_t>& recv_counts) override;
  std::shared_ptr<Work> broadcast(torch::Tensor& tensor, int root) override;
  void barrier() override;
  double seconds_waiting() const override { return *seconds_waiting_; }
  WaitPolicy wait_policy() const { return wait_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, world_ = 1;
  std::chrono::milliseconds timeout_;
  WaitPolicy wait_;
  long sequence_ = 0;  // collectives issued so far, for watchdog messages
  std::shared_ptr<double> seconds_waiting_ = std::make_shared<double>(0.0);  // shared with the work handles
  std::shared_ptr<Work> make_work(MPI_Request request, std::string what, torch::Tensor keep_alive,
                                  std::function<void()> after = {});
};

}  // namespace rslicer::dist
