// Fast read of a tokenizer.json: model.vocab and model.merges go straight into flat vectors
// (a DOM of 150k-entry objects is slow to build), everything else into a small nlohmann DOM.
// It checks JSON syntax and the shape of vocab/merges; meaning is checked by the loader.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace rlvr {

struct TokenizerJson {
  nlohmann::json rest;  // the file without model.vocab / model.merges when those were captured
  bool vocab_captured = false;   // model.vocab was an object of string -> integer
  bool merges_captured = false;  // model.merges was an array of "a b" strings or [a, b] pairs
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// Parses `path`; errors name the file and byte offset.
TokenizerJson read_tokenizer_json(const std::string& path);

}  // namespace rlvr
