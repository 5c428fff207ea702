// Which BLAS kernels this process runs its matrix products with. LibTorch's CPU matmuls go to the system BLAS,
// on Debian OpenBLAS built with DYNAMIC_ARCH: it picks its kernels from the CPU model number while it loads. A CPU
// newer than the library is unknown to it and gets its generic fallback, the Prescott (SSE3) kernels of 2004: on
// this project's CI VM (Xeon model 207, Emerald Rapids, AVX-512) with Debian 12's OpenBLAS 0.3.21 that made every
// GEMM 2-3x slower than the Cooperlake kernels the same library has, and the whole training step 2.2x slower.
// OpenBLAS's own remedy is OPENBLAS_CORETYPE, read only while it loads, so a process that finds itself on kernels
// below what its CPU runs sets it and executes itself again (the same pid, arguments and environment, before MPI
// or any thread starts). A user's OPENBLAS_CORETYPE is always kept: set it to choose the kernels yourself.
#pragma once

#include <string>
#include <string_view>

namespace rslicer {

// Vector instruction sets, in the order the BLAS kernels use them.
enum class IsaTier { sse = 0, avx = 1, avx2 = 2, avx512 = 3 };

struct CpuIsa {
  IsaTier tier = IsaTier::sse;
  bool avx512_bf16 = false;  // Cooper Lake and later: OpenBLAS's Cooperlake kernels
};

// This CPU, from cpuid.
CpuIsa cpu_isa();

// The instruction set an OpenBLAS core's kernels use, from its name as openblas_get_corename() or
// OPENBLAS_CORETYPE spell it (any case); sse for names it does not know.
IsaTier openblas_core_tier(std::string_view core);

// The OpenBLAS core to ask for on `cpu` when the library runs `current`: the best core for the CPU that the library
// has (`has_core(name)`), or "" when none uses a wider instruction set than `current`.
template <typename HasCore>
std::string better_openblas_core(std::string_view current, const CpuIsa& cpu, HasCore has_core) {
  struct Candidate { const char* name; IsaTier tier; bool needs_bf16; };
  static constexpr Candidate candidates[] = {{"Cooperlake", IsaTier::avx512, true},
                                             {"SkylakeX", IsaTier::avx512, false},
                                             {"Haswell", IsaTier::avx2, false},
                                             {"SandyBridge", IsaTier::avx, false}};
  const IsaTier current_tier = openblas_core_tier(current);
  for (const auto& c : candidates) {
    if (c.tier > cpu.tier || (c.needs_bf16 && !cpu.avx512_bf16)) continue;
    if (c.tier <= current_tier) return "";
    if (has_core(c.name)) return c.name;
  }
  return "";
}

struct BlasKernel {
  std::string library;   // "OpenBLAS 0.3.21 ..." (openblas_get_config()), or "" when the BLAS is not OpenBLAS
  std::string core;      // the kernels in use ("Cooperlake"), "" when not OpenBLAS
  std::string replaced;  // the core OpenBLAS had picked itself when this process chose `core`, else ""
  std::string describe() const;  // one line for logs and `rslicer --version`
};

// The BLAS kernels of this process, as they are.
BlasKernel blas_kernel();

// Call first in main(), with main's argv, before MPI or any thread starts: re-executes the program with
// OPENBLAS_CORETYPE set when OpenBLAS runs kernels below this CPU's and the variable is unset (see above), and
// returns what the BLAS runs with. Never throws: when it cannot re-execute, the process goes on as it was.
BlasKernel select_blas_kernel(char** argv);

}  // namespace rslicer
