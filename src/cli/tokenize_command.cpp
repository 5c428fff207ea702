#include "cli/tokenize_command.h"

#include <iostream>
#include <string>

#include "data/tokenizer.h"

namespace rslicer::cli {

int run_tokenize(const TokenizeArgs& args) {
  std::string path = args.tokenizer;
  if (path.rfind("tokenizer=", 0) == 0) path = path.substr(10);
  const data::Tokenizer tok = data::Tokenizer::from_file(path.empty() ? data::default_tokenizer_path() : std::filesystem::path(path));
  std::string line, out;
  while (std::getline(std::cin, line)) {
    auto ids = args.embedding ? tok.encode_for_embedding(line, 0)
               : args.special ? tok.encode_with_special_tokens(line)
                              : tok.encode(line);
    out.clear();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ' ';
      out += std::to_string(ids[i]);
    }
    std::cout << out << '\n';
  }
  return 0;
}

}  // namespace rslicer::cli
