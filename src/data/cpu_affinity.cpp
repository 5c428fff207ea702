#include "data/cpu_affinity.h"

#include <cerrno>
#include <cstring>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace rslicer::data {

std::vector<int> plan_worker_cpus(const std::vector<int>& allowed, int share_index, int share_count, int compute_threads) {
  if (share_count < 1 || share_index < 0 || share_index >= share_count || compute_threads < 0) return {};
  const std::size_t per_rank = allowed.size() / static_cast<std::size_t>(share_count);
  const std::size_t first = per_rank * static_cast<std::size_t>(share_index);
  const auto compute = static_cast<std::size_t>(compute_threads);
  if (per_rank <= compute) return {};
  return {allowed.begin() + static_cast<long>(first + compute), allowed.begin() + static_cast<long>(first + per_rank)};
}

std::string pin_current_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return {};
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus)
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  return rc == 0 ? std::string() : std::string("pthread_setaffinity_np: ") + std::strerror(rc);
#else
  return "thread pinning needs Linux";
#endif
}

}  // namespace rslicer::data
