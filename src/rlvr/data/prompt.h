// The k-shot prompt of grpo-spec.md section 3, built from templates, split into a `prefix`
// (the solved exemplars, shared by a batch so the engine can reuse its KV) and a `suffix`
// (the problem to solve). Text only: no tokenizer here (token counts belong to the caller).
// Chat prompts are the model's chat template (rlvr/chat) rendered over messages.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "rlvr/chat/chat_template.h"
#include "rlvr/data/dataset.h"

namespace rlvr {

struct PromptOptions {
  int64_t shots = 8;               // k solved exemplars before the problem (0: none)
  uint64_t seed = 42;              // picks the exemplars from the few-shot pool
  bool per_problem_shots = false;  // false: one exemplar set for all problems (shared prefix)
  // Placeholders: {question}, {solution} (format_solution without the `..` fix), {answer},
  // {language} (render_template).
  std::string exemplar_template =
      "Question: {question}\nSolution: {solution}.\n#### The final answer is {answer}\n\n";
  std::string query_template = "Question: {question}\nSolution: ";  // {question} only
  bool collapse_double_dots = true;  // published: `..` -> `.` in each rendered text, answer excepted
  std::vector<std::string> stop = {"\n\nQuestion:"};  // default stop sequences for generation
  // Chat prompts (the chat style; a problem whose prompt is a list of messages is one in any
  // style): chat_template rendered over [a system turn], each exemplar as a user turn
  // (query_template) and an assistant turn (exemplar_template, the reply alone), then the problem
  // (its own messages, or a user turn of query_template), with the generation prompt.
  bool chat = false;
  std::shared_ptr<const ChatTemplate> chat_template;  // required by chat prompts
  std::string system_prompt;                          // chat: the first turn when not empty
  ChatTemplate::json chat_template_kwargs = ChatTemplate::json::object();  // extra template variables
};

// Named presets of PromptOptions (prompt_style_options).
enum class PromptStyle { kGsm8k, kCode, kChat };
PromptStyle parse_prompt_style(const std::string& s);  // "gsm8k" | "code" | "chat"; else rlvr::Error
const char* prompt_style_name(PromptStyle s);

// gsm8k: the defaults above. code: no exemplars (shots 0), the row's task text followed by an
// instruction to answer in one fenced block of the row's language, no `..` fix, no stop strings.
// A code style prompt has no exemplars: callers refuse shots > 0 with it. chat: the gsm8k
// exemplars as turns (user "{question}", assistant "{solution}.\n#### The final answer is
// {answer}"), no stop strings (the model's end-of-turn token ends a reply); no chat_template yet.
PromptOptions prompt_style_options(PromptStyle s);

// Whether opts renders any of `problems` with a chat template (opts.chat, or a problem whose
// prompt is a list of messages).
bool needs_chat_template(const PromptOptions& opts, const std::vector<Problem>& problems);
// Sets opts->chat_template to `tokenizer_dir`'s (ChatTemplate::load) when needs_chat_template
// and none is set; an error names the folder and why a template is needed.
void load_chat_template(PromptOptions* opts, const std::vector<Problem>& problems, const std::string& tokenizer_dir);

struct PromptParts {
  // k solved exemplars; identical across problems unless per_problem_shots. A chat prompt's prefix
  // is the system turn and exemplars rendered without the generation prompt, or empty when the
  // template renders them differently in the whole conversation (suffix is then the whole prompt).
  std::string prefix;
  std::string suffix;  // the problem: "Question: {question}\nSolution: "
  std::string full() const { return prefix + suffix; }
};

// Spec section 3 `{solution}`: the reasoning before "#### ", trimmed, lines joined with ". ",
// calculator annotations <<...>> removed, then `..` -> `.` (once, left to right).
std::string format_solution(const Problem& p);
// The same without the `..` fix; templates render this and fix the whole text, as published.
std::string join_solution_lines(const Problem& p);
// Renders one template; `..` -> `.` over everything but the {answer} value when `collapse`.
// {language} is the row's "language" field (code tasks), "python" when it has none.
std::string render_template(const std::string& tmpl, const Problem& p, bool collapse);
// What a perfect completion says after the suffix: the solved exemplar minus its query part,
// trailing whitespace removed (default template: "<solution>.\n#### The final answer is N").
// Chat: the rendered assistant turn (exemplar_template), trailing whitespace removed.
std::string reference_completion(const Problem& p, const PromptOptions& opts);

class PromptBuilder {
 public:
  // fewshot_pool: where exemplars come from (the train split). Throws when the pool has
  // fewer than opts.shots problems.
  PromptBuilder(std::vector<Problem> fewshot_pool, PromptOptions opts);
  // Never uses an exemplar whose question equals p.question. In shared mode every problem
  // gets the same prefix, except a problem that is itself a shared exemplar: its slot goes
  // to the next problem in the seeded order.
  PromptParts build(const Problem& p) const;
  // Pool indices of the exemplars used for p, in prompt order.
  std::vector<int64_t> exemplars_for(const Problem& p) const;
  const PromptOptions& options() const { return opts_; }

 private:
  std::string render_prefix(const std::vector<int64_t>& idx) const;
  ChatTemplate::json chat_messages(const std::vector<int64_t>& idx) const;  // system + exemplar turns
  std::string render_chat(const ChatTemplate::json& messages, bool add_generation_prompt) const;
  PromptParts build_chat(const Problem& p, const std::vector<int64_t>& idx, std::string prefix) const;

  std::vector<Problem> pool_;
  PromptOptions opts_;
  std::vector<int64_t> order_;                     // seeded permutation of the pool (shared mode)
  std::vector<int64_t> shared_;                    // first k of order_
  std::unordered_set<std::string> shared_questions_;
  std::string shared_prefix_;
};

}  // namespace rlvr
