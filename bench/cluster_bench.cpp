// k-means time at equal initialisation: Lloyd from the centroids bench/reference/kmeans_reference.py wrote, on its
// data, one thread. usage: cluster_bench <dir> <rows> <dim> <k>. Prints one JSON line.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/blas_kernel.h"
#include "tuning/clustering.h"

using rslicer::tuning::Matrix;

namespace {
Matrix read_f32(const std::string& path, std::size_t rows, std::size_t cols) {
  Matrix m(rows, cols);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(m.data.data()), static_cast<std::streamsize>(m.data.size() * sizeof(float)));
  if (!f) {
    std::fprintf(stderr, "error: cannot read %zu x %zu floats from %s\n", rows, cols, path.c_str());
    std::exit(2);
  }
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  rslicer::select_blas_kernel(argv);  // the kernels rslicer runs with (core/blas_kernel.h)
  if (argc != 5) {
    std::fprintf(stderr, "error: usage, cluster_bench <dir> <rows> <dim> <k>\n");
    return 2;
  }
  const std::string dir = argv[1];
  const auto rows = std::strtoul(argv[2], nullptr, 10), dim = std::strtoul(argv[3], nullptr, 10), k = std::strtoul(argv[4], nullptr, 10);
  auto x = read_f32(dir + "/x.f32", rows, dim);
  auto init = read_f32(dir + "/init.f32", k, dim);
  const auto t0 = std::chrono::steady_clock::now();
  auto result = rslicer::tuning::kmeans_from(x, init, 300);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"seconds\": %.4f, \"inertia\": %.6g, \"iterations\": %d}\n", seconds, result.inertia, result.iterations);
  return 0;
}
