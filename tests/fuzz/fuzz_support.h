// Fuzz harness support: the readers take paths, so each input is written to a per-process
// scratch file with the extension that selects the reader under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace lucent::fuzz {

// Writes the bytes to /tmp/lucent-fuzz-<pid><extension> and returns the path.
std::filesystem::path scratch_file(const uint8_t* data, size_t size, const std::string& extension);

// Silences logging and pins LibTorch to one thread (libFuzzer runs one input at a time).
void quiet_once();

}  // namespace lucent::fuzz
