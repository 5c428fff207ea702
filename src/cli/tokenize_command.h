// `rslicer tokenize [tokenizer=PATH] [--special|--embedding]`: one line of ids per stdin line.
#pragma once

#include <string>

namespace rslicer::cli {

struct TokenizeArgs {
  std::string tokenizer;  // "tokenizer=PATH" or a path; empty: the installed Qwen3 tokenizer
  bool special = false;    // add the post-processor's special tokens
  bool embedding = false;  // as for embedding: <|endoftext|> last
};

int run_tokenize(const TokenizeArgs& args);

}  // namespace rslicer::cli
