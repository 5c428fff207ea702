// SHA-256 digests (OpenSSL's EVP), as lowercase hex: checkpoint shards and tensors are verified with them.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace rslicer {

std::string sha256_hex(const void* data, std::size_t size);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace rslicer
