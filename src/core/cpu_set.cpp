#include "core/cpu_set.h"

#include <algorithm>
#include <functional>
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

namespace {
// An unknown set (empty) stands for every online CPU.
std::vector<int> known(const std::vector<int>& cpus) {
  if (!cpus.empty()) return cpus;
  std::vector<int> every(std::max(1u, std::thread::hardware_concurrency()));
  for (std::size_t c = 0; c < every.size(); ++c) every[c] = static_cast<int>(c);
  return every;
}

bool overlap(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> sa = a, sb = b;
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  std::vector<int> common;
  std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(common));
  return !common.empty();
}
}  // namespace

bool every_rank_has_a_cpu_of_its_own(const std::vector<std::vector<int>>& cpus_per_rank) {
  std::vector<std::vector<int>> sets;
  int highest = 0;
  for (const auto& s : cpus_per_rank) {
    sets.push_back(known(s));
    for (int c : sets.back()) highest = std::max(highest, c);
  }
  // Kuhn's augmenting paths: owner[c] is the rank CPU c is given to (-1: none yet).
  std::vector<int> owner(static_cast<std::size_t>(highest) + 1, -1);
  std::vector<char> visited;
  std::function<bool(int)> give = [&](int rank) {
    for (int c : sets[static_cast<std::size_t>(rank)]) {
      if (visited[static_cast<std::size_t>(c)]) continue;
      visited[static_cast<std::size_t>(c)] = 1;
      int& o = owner[static_cast<std::size_t>(c)];
      if (o < 0 || give(o)) {
        o = rank;
        return true;
      }
    }
    return false;
  };
  for (int r = 0; r < static_cast<int>(sets.size()); ++r) {
    visited.assign(owner.size(), 0);
    if (!give(r)) return false;
  }
  return true;
}

CpuShare cpu_share(const std::vector<std::vector<int>>& cpus_per_rank, int me) {
  CpuShare share;
  if (me < 0 || me >= static_cast<int>(cpus_per_rank.size())) return share;
  const std::vector<int> mine = known(cpus_per_rank[static_cast<std::size_t>(me)]);
  share.count = 0;
  for (int r = 0; r < static_cast<int>(cpus_per_rank.size()); ++r) {
    if (!overlap(mine, known(cpus_per_rank[static_cast<std::size_t>(r)]))) continue;
    if (r == me) share.index = share.count;
    ++share.count;
  }
  return share;
}

}  // namespace rslicer
