// Problems (question, solution, reference answer, the whole row) loaded from GSM8K or generic
// JSONL files or from a split of a dataset folder, and the seeded validation split. Parsing only: prompts live
// in prompt.h, order in cursor.h. Malformed lines raise rlvr::Error naming file and line, or are
// skipped and counted.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace rlvr {

struct Problem {
  std::string question;      // the problem text as in the file
  std::string solution_raw;  // GSM8K: the whole "answer" field (reasoning, then "#### N")
  std::string answer;        // reference: text after the last "####", trimmed (or the answer field)
  std::string row = "{}";    // the whole dataset line, one JSON object (every field reaches rewards)
  // TRL's conversational format: the prompt field as a JSON list of {"role", "content"} messages
  // (rendered with the model's chat template; `question` is then the last message's content).
  // Empty for a text prompt.
  std::string messages;
};

enum class DataFormat { kAuto, kGsm8k, kJsonl };
DataFormat parse_data_format(const std::string& s);  // "auto" | "gsm8k" | "jsonl"

struct DataOptions {
  DataFormat format = DataFormat::kAuto;  // auto: gsm8k when the answer has "####", else jsonl
  std::string question_field;             // empty: "question", else "prompt" when present
  std::string answer_field = "answer";    // reference answer (GSM8K: reasoning + "#### N")
  std::string solution_field;             // jsonl only, optional: worked solution for exemplars
  bool skip_malformed = false;            // true: skip bad lines and count them; false: rlvr::Error
  int64_t limit = -1;                     // keep the first `limit` problems (-1: all)
  std::string split;                      // a folder path reads this split ("train", "test");
                                          // empty: a folder is an error
  std::string format_option = "--format";  // how the caller's user sets `format`, for error hints
                                           // ("--format", or "dataset_format:" in a recipe)
};

// The JSONL files of one split of a dataset path. A file is itself. A folder laid out like a
// Hugging Face dataset repository gives the first of these that exists, shards in name order:
// <split>.jsonl, data/<split>.jsonl, data/<split>-*.jsonl, <split>-*.jsonl. A folder without
// any is one rlvr::Error naming the folder, the split and the names looked for.
std::vector<std::string> dataset_split_files(const std::string& path, const std::string& split);

// Splits a GSM8K answer field: reference = text after the last "####", trimmed.
// Returns false when there is no "####" (a malformed GSM8K line).
bool parse_gsm8k_answer(const std::string& answer_field, std::string* reference);

// Loads one JSON object per non-empty line of `path` (a file, or a folder's opts.split files in
// order), each line kept whole in Problem::row. A line without the answer field is malformed,
// unless it is a code task (it has "tests" or "test_cases"): its answer is then empty.
// `skipped` (optional) receives the number of malformed lines skipped when opts.skip_malformed.
std::vector<Problem> load_problems(const std::string& path, const DataOptions& opts,
                                   int64_t* skipped = nullptr);

// Every field of p's dataset row as a JSON object (empty for a problem not read from a file).
nlohmann::json problem_fields(const Problem& p);

// One GSM8K JSONL line {"question", "answer": solution_raw} (no newline): what load_problems reads.
std::string gsm8k_json_line(const Problem& p);
// Writes the problems as GSM8K JSONL (replacing the file).
void write_gsm8k_jsonl(const std::string& path, const std::vector<Problem>& problems);

// Seeded split: round(val_fraction * n) problems go to validation. Both parts keep the
// file order. Returns (train, validation).
std::pair<std::vector<Problem>, std::vector<Problem>> split_validation(std::vector<Problem> all,
                                                                       double val_fraction,
                                                                       uint64_t seed);

}  // namespace rlvr
