#include "dist/mpi_context.h"

#include <mpi.h>

#include <cstdlib>

#include "core/error.h"
#include "dist/node_cpus.h"

namespace rslicer::dist {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(std::string(what) + " failed (" + std::string(text, len) + ")", "MPI", "a working MPI job");
  }
}
}  // namespace

MpiContext::MpiContext(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    finalize_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size_);
  // Local rank: ranks sharing this node's memory, in the order of the launcher's local rank when it sets one
  // (authoritative), else of their world rank.
  const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  node_cpus_ = gather_node_cpus(MPI_COMM_WORLD, env ? std::atoi(env) : rank_);
  local_rank_ = node_cpus_.me;
  local_size_ = static_cast<int>(node_cpus_.per_rank.size());
}

MpiContext::~MpiContext() {
  if (finalize_) MPI_Finalize();
}

void MpiContext::barrier() const { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

std::string MpiContext::broadcast(const std::string& text, int root) const {
  long long size = static_cast<long long>(text.size());
  check(MPI_Bcast(&size, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast(size)");
  std::string out = rank_ == root ? text : std::string(static_cast<std::size_t>(size), '\0');
  if (size > 0) check(MPI_Bcast(out.data(), static_cast<int>(size), MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

std::vector<std::string> MpiContext::allgather(const std::string& text) const {
  const int size = static_cast<int>(text.size());
  std::vector<int> sizes(static_cast<std::size_t>(world_size_)), offsets(static_cast<std::size_t>(world_size_));
  check(MPI_Allgather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather(size)");
  int total = 0;
  for (int r = 0; r < world_size_; ++r) {
    offsets[static_cast<std::size_t>(r)] = total;
    total += sizes[static_cast<std::size_t>(r)];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  check(MPI_Allgatherv(text.data(), size, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD),
        "MPI_Allgatherv");
  std::vector<std::string> out;
  for (int r = 0; r < world_size_; ++r)
    out.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                             static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)])));
  return out;
}

void MpiContext::allreduce_sum(std::vector<double>& values) const {
  if (world_size_ == 1 || values.empty()) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce(double)");
}

long long MpiContext::allreduce_sum(long long value) const {
  long long out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

void MpiContext::abort(int exit_code) const {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace rslicer::dist
