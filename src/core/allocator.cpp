#include "core/allocator.h"

#include <malloc.h>
#include <sys/resource.h>

#include <limits>
#include <string>

#include "core/error.h"

namespace rslicer {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSLICER_SANITIZED_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RSLICER_SANITIZED_MALLOC 1
#endif
#endif

bool allocator_policy_takes_effect() {
#ifdef RSLICER_SANITIZED_MALLOC
  return false;
#else
  return true;
#endif
}

void apply_allocator_policy(const AllocatorPolicy& policy, const std::string& config_key) {
  if (!allocator_policy_takes_effect()) return;
  // mallopt takes an int; a setting also turns off glibc's dynamic adjustment of both thresholds.
  auto set = [&config_key](int option, std::size_t bytes, const char* name) {
    if (bytes == 0) return;
    if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()) || mallopt(option, static_cast<int>(bytes)) != 1)
      throw ConfigError("glibc refused " + std::string(name) + " = " + std::to_string(bytes) + " bytes",
                        config_key + "." + name, "0 (glibc's default) or a size from 1 to 2047 MiB");
  };
  set(M_MMAP_THRESHOLD, policy.mmap_threshold_bytes, "mmap_threshold_mb");
  set(M_TRIM_THRESHOLD, policy.trim_threshold_bytes, "trim_threshold_mb");
}

long minor_page_faults() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

}  // namespace rslicer
