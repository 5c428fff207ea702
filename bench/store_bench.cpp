// Random-window read rate of a window store: `reads` windows chosen uniformly at random (seeded), read one by one.
// usage: store_bench <store.h5> <reads>   prints {"windows_per_s": R, "events_per_s": E}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "data/window_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "error: usage, store_bench <store.h5> <reads>\n");
    return 2;
  }
  rslicer::data::WindowStoreReader store(argv[1]);
  const long reads = std::atol(argv[2]);
  std::mt19937_64 rng(7);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t events = 0;
  for (long i = 0; i < reads; ++i) {
    auto w = store.read_window(rng() % store.windows().size());
    events += w.metrics.size() + w.spans.size() + w.logs.size();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"windows_per_s\": %.1f, \"events_per_s\": %.0f}\n", reads / s, events / s);
  return 0;
}
