// Tokenizer throughput: encode every line of a file (one text per line), timed around the encode loop only.
// usage: tokenizer_bench <tokenizer.json> <lines.txt>   prints {"tokens": N, "seconds": S}
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "data/tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "error: usage, tokenizer_bench <tokenizer.json> <lines.txt>\n");
    return 2;
  }
  auto tok = rslicer::data::Tokenizer::from_file(argv[1]);
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t tokens = 0;
  for (const auto& l : lines) tokens += tok.encode(l).size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"tokens\": %zu, \"seconds\": %.6f}\n", tokens, seconds);
  return 0;
}
