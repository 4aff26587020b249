// The evaluator: k-shot prompts for a set of problems, tokenized and batched by the one prompt
// request builder (engine/prompt_request.h: the few-shot block is the engine's shared prefix),
// then scoring into one EvalRunResult plus one JSON row per completion, the problems split across
// the data-parallel ranks. Used by `rlvr eval` and by the trainer's validation. No files here:
// write_eval_outputs (report.h) and the caller do the writing.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlvr/data/dataset.h"
#include "rlvr/data/prompt.h"
#include "rlvr/dist/comm.h"
#include "rlvr/engine/engine.h"
#include "rlvr/engine/prompt_request.h"
#include "rlvr/eval/report.h"
#include "rlvr/rewards/reward.h"
#include "rlvr/tokenizer/tokenizer.h"

namespace rlvr {

struct EvalOptions {
  // Shots, exemplar seed, templates and stop strings (prompt.shots, prompt.seed, prompt.stop).
  PromptOptions prompt;
  std::string protocol = "honest";  // "honest" (grpo-spec 6) | "published" (grpo-spec 1: no stop,
                                    // flexible = last number of prompt + output)
  int64_t n_samples = 1;            // K completions per problem (pass@K, maj@K when K > 1)
  double temperature = 0.0;         // 0 = greedy; K > 1 needs temperature > 0
  double top_p = 1.0;               // nucleus mass when sampling (1 = off)
  int64_t max_new_tokens = 256;     // completion tokens at most
  int64_t max_batch_seqs = 0;       // sequences per engine call (problems * K); 0 = all at once
  uint64_t seed = 0;                // sampling seed (unused when greedy)
  int64_t max_prompt_length = 0;    // prompt tokens kept from the right end; 0 = no limit
  std::string model_label;          // EvalRunResult.model
  std::string adapter_label;        // EvalRunResult.adapter ("" = base model)
  // Rewards that decide correctness instead of the GSM8K answer rules (e.g. `code`): a completion
  // is correct when each gives 1.0. Not owned; each rank scores its own share. Empty = the rules.
  std::vector<RewardFunction*> judges;
};

// The RewardSample of one completion of p: prompt, completion, reference answer and every field
// of p's dataset row. The one way a reward sees a problem (training, validation, evaluation).
RewardSample reward_sample(const Problem& p, const std::string& prompt, const std::string& completion);

struct EvalOutput {
  EvalRunResult result;
  // One per problem x sample, in problem order then sample order: {"model", "adapter",
  // "protocol", "shots", "problem_index", "sample_index", "question", "reference",
  // "prompt_tokens", "completion", "completion_tokens", "finish_reason", "strict_answer",
  // "flexible_answer", "strict_correct", "flexible_correct", "formatted"} (answers null when none);
  // with judges also "rewards" ({name: value}, null = not applicable) and "correct".
  std::vector<nlohmann::json> completions;
  PromptIds prompt_ids;  // the token ids each problem was prompted with (tokenize_prompts)
};

// Each reward's cumulative counts so far, summed over the ranks of `comm` (one all-gather; the
// ranks may report different counter names). Training logs them; `rlvr eval` prints them.
struct RewardCounts {
  std::vector<double> errors;              // per function: errors()
  std::map<std::string, double> counters;  // "rewards/<name>/<counter>" for each of counters()
};
RewardCounts reward_counts(const std::vector<std::unique_ptr<RewardFunction>>& funcs, dist::Comm& comm);

// Evaluates `problems` at opt.prompt.shots exemplars drawn from `fewshot_pool` (never the
// problem itself). Problems sharing a prefix go to the engine together (in waves of
// max_batch_seqs sequences); progress(done, total) is called after each wave. Throws
// rlvr::Error on bad options (unknown protocol, K < 1, K > 1 with temperature 0, no problems).
//
// Data parallel: every rank of `comm` calls it with the same arguments; each generates a
// contiguous share of the problems (the first P % world ranks one more; a rank may have none),
// problem i sampling on random stream i, and the rows are all-gathered, so every rank returns
// what one process returns (result.seconds: the slowest rank's). progress runs on rank 0 only,
// its share's count scaled to all problems (the shares are equal to within one).
EvalOutput evaluate(Engine& engine, const Tokenizer& tok, const std::vector<Problem>& problems,
                    const std::vector<Problem>& fewshot_pool, const EvalOptions& opt,
                    const std::function<void(int64_t done, int64_t total)>& progress = {},
                    dist::Comm& comm = dist::world());

}  // namespace rlvr
