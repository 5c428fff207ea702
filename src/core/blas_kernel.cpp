#include "core/blas_kernel.h"

#include <dlfcn.h>
#include <strings.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace rslicer {
namespace {

// Set by the process that re-executes, read by the one it becomes: the core OpenBLAS had picked.
constexpr const char* kReplacedVariable = "RSLICER_BLAS_CORE_REPLACED";

// OpenBLAS's C entry points, looked up at run time: the BLAS behind LibTorch may be another library.
using CharFunction = char* (*)();

std::string call_openblas(const char* symbol) {
  auto function = reinterpret_cast<CharFunction>(dlsym(RTLD_DEFAULT, symbol));
  if (function == nullptr) return "";
  const char* text = function();
  return text ? text : "";
}

// Whether this OpenBLAS has a core's kernels built in (DYNAMIC_ARCH exports one gotoblas_<CORE> table per core).
bool openblas_has_core(const char* name) {
  std::string symbol = "gotoblas_";
  for (const char* p = name; *p; ++p) symbol += static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  return dlsym(RTLD_DEFAULT, symbol.c_str()) != nullptr;
}

bool equals_ignoring_case(std::string_view a, const char* b) {
  return a.size() == std::strlen(b) && strncasecmp(a.data(), b, a.size()) == 0;
}

}  // namespace

CpuIsa cpu_isa() {
  __builtin_cpu_init();
  CpuIsa isa;
  if (__builtin_cpu_supports("avx")) isa.tier = IsaTier::avx;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa.tier = IsaTier::avx2;
  // What OpenBLAS's SkylakeX kernels need.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    isa.tier = IsaTier::avx512;
  isa.avx512_bf16 = isa.tier == IsaTier::avx512 && __builtin_cpu_supports("avx512bf16");
  return isa;
}

IsaTier openblas_core_tier(std::string_view core) {
  for (const char* name : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (equals_ignoring_case(core, name)) return IsaTier::avx512;
  for (const char* name : {"Haswell", "Zen"})
    if (equals_ignoring_case(core, name)) return IsaTier::avx2;
  for (const char* name : {"SandyBridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"})
    if (equals_ignoring_case(core, name)) return IsaTier::avx;
  return IsaTier::sse;
}

std::string BlasKernel::describe() const {
  if (library.empty()) return "BLAS: not OpenBLAS (its kernels are its own choice)";
  std::string line = "BLAS: " + library + ", kernels " + core;
  if (!replaced.empty())
    line += " (OpenBLAS had picked " + replaced + " for this CPU; set OPENBLAS_CORETYPE to choose yourself)";
  else if (std::getenv("OPENBLAS_CORETYPE") != nullptr)
    line += " (OPENBLAS_CORETYPE)";
  return line;
}

BlasKernel blas_kernel() {
  BlasKernel kernel;
  kernel.library = call_openblas("openblas_get_config");
  kernel.core = call_openblas("openblas_get_corename");
  if (const char* replaced = std::getenv(kReplacedVariable); replaced && !kernel.library.empty())
    kernel.replaced = replaced;
  return kernel;
}

BlasKernel select_blas_kernel(char** argv) {
  BlasKernel kernel = blas_kernel();
  // Only a DYNAMIC_ARCH build has other kernels to choose from; a user's choice is theirs.
  if (kernel.library.find("DYNAMIC_ARCH") == std::string::npos || std::getenv("OPENBLAS_CORETYPE") != nullptr)
    return kernel;
  const std::string better = better_openblas_core(kernel.core, cpu_isa(), openblas_has_core);
  if (better.empty()) return kernel;
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
  setenv(kReplacedVariable, kernel.core.c_str(), 1);
  execv("/proc/self/exe", argv);
  // Still here: the process goes on with the kernels it has, and says so once.
  std::cerr << "warning: could not re-execute with OPENBLAS_CORETYPE=" << better << " (" << std::strerror(errno)
            << "), BLAS runs " << kernel.core << " kernels" << std::endl;
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kReplacedVariable);
  return kernel;
}

}  // namespace rslicer
