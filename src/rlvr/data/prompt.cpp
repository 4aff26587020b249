// Prompt rendering (grpo-spec.md section 3) and exemplar selection for PromptBuilder.
#include "rlvr/data/prompt.h"

#include <algorithm>

#include "rlvr/core/error.h"
#include "rlvr/data/shuffle.h"
#include "rlvr/data/text.h"

namespace rlvr {

using namespace rlvr::data;  // NOLINT: module-private helpers

namespace {

// Removes every <<...>> span (shortest match, as the regex <<.*?>>).
std::string remove_annotations(const std::string& s) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = s.find("<<", pos);
    if (open == std::string::npos) break;
    size_t close = s.find(">>", open + 2);
    if (close == std::string::npos) break;
    out.append(s, pos, open - pos);
    pos = close + 2;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string collapse_dots(const std::string& s) { return replace_all(s, "..", "."); }

// The row's "language" field (code tasks); "python" when absent or not a string.
std::string row_language(const Problem& p) {
  const nlohmann::json f = problem_fields(p);
  auto it = f.find("language");
  return it != f.end() && it->is_string() ? it->get<std::string>() : "python";
}

}  // namespace

std::string join_solution_lines(const Problem& p) {
  size_t cut = p.solution_raw.find("#### ");
  std::string reasoning = trim(p.solution_raw.substr(0, cut));
  std::string joined;
  auto lines = split(reasoning, "\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) joined += ". ";
    joined += lines[i];
  }
  return remove_annotations(joined);
}

std::string format_solution(const Problem& p) { return collapse_dots(join_solution_lines(p)); }

std::string render_template(const std::string& tmpl, const Problem& p, bool collapse) {
  std::string out, run;
  auto flush = [&] {
    out += collapse ? collapse_dots(run) : run;
    run.clear();
  };
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl.compare(i, 10, "{question}") == 0) {
      run += p.question;
      i += 10;
    } else if (tmpl.compare(i, 10, "{solution}") == 0) {
      run += join_solution_lines(p);
      i += 10;
    } else if (tmpl.compare(i, 10, "{language}") == 0) {
      run += row_language(p);
      i += 10;
    } else if (tmpl.compare(i, 8, "{answer}") == 0) {
      flush();
      out += p.answer;
      i += 8;
    } else {
      run += tmpl[i++];
    }
  }
  flush();
  return out;
}

PromptStyle parse_prompt_style(const std::string& s) {
  if (s == "gsm8k") return PromptStyle::kGsm8k;
  if (s == "code") return PromptStyle::kCode;
  if (s == "chat") return PromptStyle::kChat;
  fail("unknown prompt style '", s, "'; use gsm8k, code or chat");
}

const char* prompt_style_name(PromptStyle s) {
  return s == PromptStyle::kCode ? "code" : s == PromptStyle::kChat ? "chat" : "gsm8k";
}

PromptOptions prompt_style_options(PromptStyle s) {
  PromptOptions o;
  if (s == PromptStyle::kGsm8k) return o;
  if (s == PromptStyle::kChat) {
    o.chat = true;
    o.exemplar_template = "{solution}.\n#### The final answer is {answer}";
    o.query_template = "{question}";
    o.stop.clear();
    return o;
  }
  o.shots = 0;
  o.exemplar_template.clear();
  o.query_template = "{question}\n\nGive the complete solution in one ```{language} code block.\n";
  o.collapse_double_dots = false;
  o.stop.clear();
  return o;
}

bool needs_chat_template(const PromptOptions& opts, const std::vector<Problem>& problems) {
  return opts.chat ||
         std::any_of(problems.begin(), problems.end(), [](const Problem& p) { return !p.messages.empty(); });
}

void load_chat_template(PromptOptions* opts, const std::vector<Problem>& problems, const std::string& tokenizer_dir) {
  if (opts->chat_template || !needs_chat_template(*opts, problems)) return;
  try {
    opts->chat_template = std::make_shared<const ChatTemplate>(ChatTemplate::load(tokenizer_dir));
  } catch (const Error& e) {
    fail(opts->chat ? "the chat prompt style" : "a problem whose prompt is a list of messages",
         " renders with the model's chat template: ", e.what());
  }
}

std::string reference_completion(const Problem& p, const PromptOptions& opts) {
  std::string ex = render_template(opts.exemplar_template, p, opts.collapse_double_dots);
  std::string q = opts.chat ? "" : render_template(opts.query_template, p, opts.collapse_double_dots);
  RLVR_CHECK(ex.compare(0, q.size(), q) == 0,
             "reference_completion: the exemplar template does not start with the query template");
  std::string rest = ex.substr(q.size());
  size_t e = rest.find_last_not_of(" \t\n\r");
  return e == std::string::npos ? "" : rest.substr(0, e + 1);
}

PromptBuilder::PromptBuilder(std::vector<Problem> fewshot_pool, PromptOptions opts)
    : pool_(std::move(fewshot_pool)), opts_(std::move(opts)) {
  RLVR_CHECK(opts_.shots >= 0, "prompt shots must be >= 0, got ", opts_.shots);
  RLVR_CHECK(static_cast<int64_t>(pool_.size()) >= opts_.shots, "few-shot pool has ",
             pool_.size(), " problems but shots = ", opts_.shots,
             "; use a larger pool (the train split) or fewer shots");
  RLVR_CHECK(opts_.query_template.find("{question}") != std::string::npos,
             "prompt query template must contain {question}");
  order_ = permutation(static_cast<int64_t>(pool_.size()), derive_seed(opts_.seed, 0x5307u));
  shared_.assign(order_.begin(), order_.begin() + opts_.shots);
  for (int64_t i : shared_) shared_questions_.insert(pool_[i].question);
  shared_prefix_ = render_prefix(shared_);
}

std::vector<int64_t> PromptBuilder::exemplars_for(const Problem& p) const {
  const int64_t k = opts_.shots;
  std::vector<int64_t> out;
  if (!opts_.per_problem_shots) {
    if (!shared_questions_.count(p.question)) return shared_;
    for (int64_t i : order_) {
      if (static_cast<int64_t>(out.size()) == k) break;
      if (pool_[i].question != p.question) out.push_back(i);
    }
  } else {
    // Partial Fisher-Yates seeded by the question: the same problem always gets the same set.
    std::vector<int64_t> idx(pool_.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    SplitMix64 g(derive_seed(opts_.seed, fnv1a64(p.question)));
    for (size_t i = 0; i < idx.size() && static_cast<int64_t>(out.size()) < k; ++i) {
      size_t j = i + static_cast<size_t>(g.below(idx.size() - i));
      std::swap(idx[i], idx[j]);
      if (pool_[idx[i]].question != p.question) out.push_back(idx[i]);
    }
  }
  RLVR_CHECK(static_cast<int64_t>(out.size()) == k, "few-shot pool has only ", out.size(),
             " problems other than the one asked; need shots = ", k);
  return out;
}

std::string PromptBuilder::render_prefix(const std::vector<int64_t>& idx) const {
  if (opts_.chat) {
    const ChatTemplate::json shared = chat_messages(idx);
    return shared.empty() ? "" : render_chat(shared, /*add_generation_prompt=*/false);
  }
  std::string prefix;
  for (int64_t i : idx)
    prefix += render_template(opts_.exemplar_template, pool_[i], opts_.collapse_double_dots);
  return prefix;
}

ChatTemplate::json PromptBuilder::chat_messages(const std::vector<int64_t>& idx) const {
  using json = ChatTemplate::json;
  json m = json::array();
  if (!opts_.system_prompt.empty()) m.push_back({{"role", "system"}, {"content", opts_.system_prompt}});
  for (int64_t i : idx) {
    m.push_back({{"role", "user"}, {"content", render_template(opts_.query_template, pool_[i], opts_.collapse_double_dots)}});
    m.push_back({{"role", "assistant"}, {"content", reference_completion(pool_[i], opts_)}});
  }
  return m;
}

std::string PromptBuilder::render_chat(const ChatTemplate::json& messages, bool add_generation_prompt) const {
  RLVR_CHECK(opts_.chat_template != nullptr, "a chat prompt needs the model's chat template, and none was loaded");
  ChatTemplate::Chat chat;
  chat.messages = messages;
  chat.add_generation_prompt = add_generation_prompt;
  chat.extra = opts_.chat_template_kwargs;
  return opts_.chat_template->render(chat);
}

// The whole conversation rendered with the generation prompt; `prefix` (the shared turns
// rendered alone) is kept only when the whole begins with it.
PromptParts PromptBuilder::build_chat(const Problem& p, const std::vector<int64_t>& idx, std::string prefix) const {
  RLVR_CHECK(opts_.chat || idx.empty(), "a problem whose prompt is a list of messages is rendered as is with the ",
             "chat template, without exemplars; set the shots to 0, or use the chat prompt style");
  ChatTemplate::json messages = opts_.chat ? chat_messages(idx) : ChatTemplate::json::array();
  if (p.messages.empty()) {
    messages.push_back({{"role", "user"}, {"content", render_template(opts_.query_template, p, opts_.collapse_double_dots)}});
  } else {
    for (auto& m : ChatTemplate::json::parse(p.messages)) messages.push_back(std::move(m));
  }
  const std::string full = render_chat(messages, /*add_generation_prompt=*/true);
  PromptParts parts;
  if (full.compare(0, prefix.size(), prefix) == 0) parts.prefix = std::move(prefix);
  parts.suffix = full.substr(parts.prefix.size());
  return parts;
}

PromptParts PromptBuilder::build(const Problem& p) const {
  const bool shared = !opts_.per_problem_shots && !shared_questions_.count(p.question);
  const std::vector<int64_t> idx = shared ? shared_ : exemplars_for(p);
  std::string prefix = shared ? shared_prefix_ : render_prefix(idx);
  if (opts_.chat || !p.messages.empty()) return build_chat(p, idx, std::move(prefix));
  return PromptParts{std::move(prefix), render_template(opts_.query_template, p, opts_.collapse_double_dots)};
}

}  // namespace rlvr
