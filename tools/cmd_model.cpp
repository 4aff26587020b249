// Model commands: init-model, info, generate, merge. Thin adapters: parse flags, call the library,
// print JSON lines.
#include <sys/resource.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "cli_common.h"
#include "out_dir.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/engine/engine.h"
#include "rlvr/loader/merge.h"

namespace rlvr::cli {

namespace {

std::vector<int64_t> parse_ids(const std::string& s, const std::string& flag) {
  std::vector<int64_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      RLVR_CHECK(used == item.size(), "");
    } catch (...) {
      fail(flag, ": '", item, "' is not a token id (expected comma-separated integers)");
    }
  }
  return ids;
}

// The prompts of a --prompts-file: {"prompt": text} or {"prompt_ids": [...]} per line.
std::vector<std::vector<int64_t>> read_prompts_file(const LoadedModel& lm, const std::string& path) {
  std::vector<std::vector<int64_t>> prompts;
  auto lines = read_jsonl_file(path);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& j = lines[i];
    std::string where = path + ": entry " + std::to_string(i + 1);
    if (j.contains("prompt_ids")) {
      try {
        prompts.push_back(j["prompt_ids"].get<std::vector<int64_t>>());
      } catch (...) {
        fail(where, ": prompt_ids must be a list of integers");
      }
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      prompts.push_back(encode_prompt(lm, j["prompt"].get<std::string>(), where));
    } else {
      fail(where, ": needs \"prompt\" (text) or \"prompt_ids\" (list of ids)");
    }
  }
  RLVR_CHECK(!prompts.empty(), path, ": no prompts");
  return prompts;
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

void add_init_model(CLI::App& app) {
  struct Opts {
    std::string config, out, dtype = "float32";
    uint64_t seed = 0;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("init-model", "Write a randomly initialised HF model directory "
                                               "(config.json + model.safetensors) from a config");
  cmd->add_option("--config", o->config, "HF-style config.json (Qwen2 or Llama)")->required();
  cmd->add_option("--out", o->out, "output directory")->required();
  cmd->add_option("--seed", o->seed, "random seed (same seed, same weights)");
  cmd->add_option("--dtype", o->dtype, "stored dtype: float32 | bfloat16");
  cmd->add_flag("--force", o->force, "overwrite the model already in --out");
  cmd->callback([o] {
    refuse_overwrite(o->out, {"config.json", "model.safetensors", "model.safetensors.index.json"}, o->force);
    ModelConfig cfg = ModelConfig::from_json(read_json_file(o->config), o->config);
    const Stopwatch clock;
    CausalLM m = make_random_model(cfg, o->seed);
    save_model(m, o->out, parse_dtype(o->dtype));
    const double s = clock.seconds();
    std::cerr << "wrote " << o->out << ": " << cfg.num_parameters() << " parameters, "
              << o->dtype << ", " << s << " s\n";
  });
}

// Weight bytes by how they are stored: each parameter dtype, and a 4-bit model's codes and their
// statistics (absmax, nested absmax, maps) apart.
struct WeightBytes {
  int64_t params = 0;
  std::map<std::string, int64_t> by_storage;
  int64_t total() const {
    int64_t t = 0;
    for (const auto& [k, v] : by_storage) t += v;
    return t;
  }
  nlohmann::json by_storage_mb() const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : by_storage) j[k] = v / 1048576.0;
    return j;
  }
};

WeightBytes weight_bytes(const CausalLMImpl& m) {
  WeightBytes w;
  for (const auto& p : m.parameters()) {
    w.params += p.numel();
    w.by_storage[dtype_name(p.scalar_type())] += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (const auto& [name, q] : m.quantized_weights()) {
    w.params += q->out * q->in;
    w.by_storage[std::string("4-bit ") + quant::quant_type_name(q->type) + " codes"] += q->code_bytes();
    w.by_storage["4-bit statistics"] += q->statistic_bytes();
  }
  return w;
}

void add_info(CLI::App& app) {
  struct Opts {
    ModelFlags model;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("info", "Describe a model: architecture, parameters, dtype, memory");
  add_model_flags(cmd, o->model, false);
  cmd->callback([o] {
    const Stopwatch clock;
    LoadedModel lm = load_for_cli(o->model);
    const double load_s = clock.seconds();
    const auto& c = lm.model->config();
    const WeightBytes w = weight_bytes(*lm.model);
    nlohmann::json j = {{"model", o->model.dir},
                        {"model_type", c.model_type},
                        {"hidden_size", c.hidden_size},
                        {"layers", c.num_hidden_layers},
                        {"heads", c.num_attention_heads},
                        {"kv_heads", c.num_key_value_heads},
                        {"head_dim", c.head_dim},
                        {"intermediate_size", c.intermediate_size},
                        {"vocab_size", c.vocab_size},
                        {"tie_word_embeddings", c.tie_word_embeddings},
                        {"attention_bias", c.attention_bias},
                        {"rope_theta", c.rope_theta},
                        {"parameters", w.params},
                        {"dtype", dtype_name(lm.dtype)},
                        {"load_in_4bit", lm.model->is_4bit()},
                        {"weights_mb", w.total() / 1048576.0},
                        {"weights_mb_by_storage", w.by_storage_mb()},
                        {"load_s", load_s},
                        {"peak_rss_mb", peak_rss_mb()}};
    std::cout << j.dump(2) << "\n";
  });
}

void add_generate(CLI::App& app) {
  struct Opts {
    ModelFlags model;
    std::string prompt, prompts_file, prompt_ids;
    int64_t n = 1, max_new_tokens = 64, top_k = 0, max_batch_seqs = 0, max_cache_mb = 0;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, repetition_penalty = 1.0;
    uint64_t seed = 0;
    std::vector<std::string> stop;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("generate", "Sample completions; one JSON line per completion");
  add_model_flags(cmd, o->model, true);
  cmd->add_option("--prompt", o->prompt, "prompt text (needs the model's tokenizer)");
  cmd->add_option("--prompts-file", o->prompts_file,
                  "JSONL with {\"prompt\": text} or {\"prompt_ids\": [...]} per line");
  cmd->add_option("--prompt-ids", o->prompt_ids, "comma-separated prompt token ids");
  cmd->add_option("--n", o->n, "completions per prompt");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "tokens to generate at most");
  cmd->add_option("--temperature", o->temperature, ">= 0; 0 = greedy");
  cmd->add_option("--top-p", o->top_p, "nucleus sampling mass in (0, 1] (1 = off)");
  cmd->add_option("--top-k", o->top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--min-p", o->min_p, "drop tokens below min_p * max prob, in [0, 1] (0 = off)");
  cmd->add_option("--repetition-penalty", o->repetition_penalty, "HF repetition penalty, > 0 (1 = off)");
  cmd->add_option("--seed", o->seed, "sampling seed (per-completion streams derive from it)");
  cmd->add_option("--stop", o->stop, "stop string (repeatable); excluded from the text");
  cmd->add_option("--max-batch-seqs", o->max_batch_seqs, "decode at most M sequences at once");
  cmd->add_option("--max-cache-mb", o->max_cache_mb, "KV-cache budget per wave in MiB");
  cmd->callback([o] {
    int given = !o->prompt.empty() + !o->prompts_file.empty() + !o->prompt_ids.empty();
    RLVR_CHECK(given == 1, "generate: give exactly one of --prompt, --prompts-file, --prompt-ids");
    GenerateRequest req;
    req.sampling = {o->temperature, o->top_k, o->top_p, o->min_p, o->repetition_penalty};
    check_sampling(req.sampling);
    LoadedModel lm = load_for_cli(o->model);
    if (!o->prompt_ids.empty()) req.prompts.push_back(parse_ids(o->prompt_ids, "--prompt-ids"));
    if (!o->prompt.empty()) req.prompts.push_back(encode_prompt(lm, o->prompt, "--prompt"));
    if (!o->prompts_file.empty()) req.prompts = read_prompts_file(lm, o->prompts_file);
    req.n = o->n;
    req.max_new_tokens = o->max_new_tokens;
    req.seed = o->seed;
    req.eos_ids = lm.eos_ids;
    req.stop_strings = o->stop;
    req.max_batch_seqs = o->max_batch_seqs;
    req.max_cache_mb = o->max_cache_mb;
    if (lm.has_tokenizer()) req.decode = stream_decoding(*lm.tokenizer);
    bool stream = req.prompts.size() == 1 && o->n == 1 && lm.has_tokenizer() && isatty(1);
    if (stream) req.on_token = streamer(lm, std::cout);
    Engine engine(lm.model);
    auto comps = engine.generate(req);
    if (stream) std::cout << "\n";
    for (const auto& c : comps) {
      nlohmann::json j = {{"prompt_index", c.prompt_index},
                          {"completion_index", c.completion_index},
                          {"completion_ids", c.ids},
                          {"logprobs", c.logprobs},
                          {"finish_reason", finish_reason_name(c.finish)}};
      j["text"] = lm.has_tokenizer() ? nlohmann::json(c.text) : nlohmann::json(nullptr);
      std::cout << j.dump() << "\n";
    }
  });
}

void add_merge(CLI::App& app) {
  auto o = std::make_shared<MergeOptions>();
  auto* cmd = app.add_subcommand(
      "merge",
      "Merge a PEFT LoRA adapter into its base model and write a full HF model directory (config.json, "
      "model.safetensors without LoRA tensors, the base's tokenizer files) that loads without --adapter. "
      "The merge (W += B A * lora_alpha / r) runs in float32 on the original weights: --model must be the "
      "unquantized checkpoint, never a 4-bit one");
  cmd->add_option("--model", o->base, "the base model directory the adapter was trained on (unquantized)")
      ->required();
  cmd->add_option("--adapter", o->adapter, "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
      ->required();
  cmd->add_option("--out", o->out, "output directory: new or empty")->required();
  cmd->add_option("--dtype", o->dtype,
                  "stored dtype: auto | float32 | bfloat16 | float16 (auto: the base checkpoint's torch_dtype)");
  cmd->callback([o] { merge_adapter(*o, [](const std::string& line) { std::cerr << line << "\n"; }); });
}

}  // namespace

void add_model_commands(CLI::App& app, CLI::App& bench) {
  add_init_model(app);
  add_info(app);
  add_generate(app);
  add_merge(app);
  add_bench_generate(bench);
}

}  // namespace rlvr::cli
