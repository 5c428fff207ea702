#include "core/cpu_set.h"

#include <thread>

#ifdef __linux__
#include <sched.h>
#endif

namespace rslicer {

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
#endif
  return cpus;
}

bool bound_by_launcher(const std::vector<int>& allowed) {
  const auto online = static_cast<std::size_t>(std::thread::hardware_concurrency());
  return !allowed.empty() && allowed.size() < online;
}

}  // namespace rslicer
