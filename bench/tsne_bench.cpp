// t-SNE time and KL divergence on the points bench/reference/tsne_reference.py wrote (one thread).
// usage: tsne_bench <dir> <rows> <dim>. Prints one JSON line.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/blas_kernel.h"
#include "tuning/tsne.h"

int main(int argc, char** argv) {
  rslicer::select_blas_kernel(argv);  // the kernels rslicer runs with (core/blas_kernel.h)
  if (argc != 4) {
    std::fprintf(stderr, "error: usage, tsne_bench <dir> <rows> <dim>\n");
    return 2;
  }
  const auto rows = std::strtoul(argv[2], nullptr, 10), dim = std::strtoul(argv[3], nullptr, 10);
  rslicer::tuning::Matrix x(rows, dim);
  std::ifstream f(std::string(argv[1]) + "/tsne_x.f32", std::ios::binary);
  f.read(reinterpret_cast<char*>(x.data.data()), static_cast<std::streamsize>(x.data.size() * sizeof(float)));
  if (!f) {
    std::fprintf(stderr, "error: cannot read %lu x %lu floats from %s/tsne_x.f32\n", rows, dim, argv[1]);
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = rslicer::tuning::tsne(x);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"seconds\": %.4f, \"kl\": %.6f}\n", seconds, r.kl_divergence);
  return 0;
}
