#include "dist/node_cpus.h"

#include "core/error.h"

namespace rslicer::dist {

NodeCpus gather_node_cpus(MPI_Comm comm, int key) {
  MPI_Comm node;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, key, MPI_INFO_NULL, &node) != MPI_SUCCESS)
    throw Error("MPI_Comm_split_type failed", "MPI", "a working MPI job");
  int size = 1;
  NodeCpus out;
  MPI_Comm_rank(node, &out.me);
  MPI_Comm_size(node, &size);
  const std::vector<int> mine = allowed_cpus();
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, node);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    offsets[static_cast<std::size_t>(r)] = total;
    total += counts[static_cast<std::size_t>(r)];
  }
  std::vector<int> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), count, MPI_INT, all.data(), counts.data(), offsets.data(), MPI_INT, node);
  MPI_Comm_free(&node);
  for (int r = 0; r < size; ++r) {
    const auto first = all.begin() + offsets[static_cast<std::size_t>(r)];
    out.per_rank.emplace_back(first, first + counts[static_cast<std::size_t>(r)]);
  }
  return out;
}

}  // namespace rslicer::dist
