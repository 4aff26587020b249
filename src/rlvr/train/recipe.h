// Training recipes: flat YAML with TRL key names (grpo-spec.md section 5), `--set key=value`
// overrides, validation, the startup table and recipe.json. One listing per struct (recipe.cpp)
// drives all of these; docs/recipe.md documents every key. Torch-free; modes are enums here.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rlvr/rl/grpo_types.h"
#include "rlvr/train/schedule.h"

namespace rlvr {

enum class DType { kAuto, kFloat32, kBFloat16 };
enum class DeviceKind { kAuto, kCpu, kCuda };
enum class DatasetFormat { kGsm8k, kJsonl };

// Keys shared by `rlvr grpo` and `rlvr sft`. Defaults follow TRL / transformers TrainingArguments.
struct TrainRecipeBase {
  // model
  std::string model_name_or_path;  // HF model directory (config.json + safetensors); required
  DType dtype = DType::kAuto;      // weight/compute dtype; auto = bfloat16 on CUDA, float32 on CPU
  DeviceKind device = DeviceKind::kAuto;  // auto = cuda when available, else cpu
  bool gradient_checkpointing = true;     // recompute activations in backward (TRL default true)
  // PEFT / quantisation (TRL ModelConfig)
  bool use_peft = false;       // train LoRA adapters instead of all weights
  int64_t lora_r = 16;         // LoRA rank
  double lora_alpha = 32;      // LoRA scale numerator: scaling = lora_alpha / lora_r
  double lora_dropout = 0.05;  // dropout on the LoRA input
  // module names to adapt, or "all-linear"; PEFT's default for Qwen2
  std::vector<std::string> lora_target_modules = {"q_proj", "v_proj"};
  bool load_in_4bit = false;                // QLoRA: base weights in 4-bit
  std::string bnb_4bit_quant_type = "nf4";  // only nf4
  bool use_bnb_nested_quant = false;        // double quantisation of the 4-bit scales
  // data
  std::string train_dataset_id_or_path;  // GSM8K folder/file or JSONL file; required
  std::string test_dataset_id_or_path;   // evaluation split; empty = none
  DatasetFormat dataset_format = DatasetFormat::kGsm8k;
  std::string prompt_field = "question";  // JSONL field holding the problem
  std::string answer_field = "answer";    // JSONL field holding the reference answer
  double val_fraction = 0.1;              // share of the train split held out for validation
  // optimisation (AdamW)
  double learning_rate = 5e-5;    // peak learning rate (each recipe struct sets TRL's default)
  double num_train_epochs = 3.0;  // passes over the train split (when max_steps <= 0)
  int64_t max_steps = -1;         // optimizer steps; > 0 overrides num_train_epochs
  // sequences (GRPO: completions) per micro-batch per process
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;  // micro-batches per optimizer step
  ScheduleType lr_scheduler_type = ScheduleType::kLinear;
  double warmup_ratio = 0.0;   // warmup as a share of total steps (when warmup_steps == 0)
  int64_t warmup_steps = 0;    // warmup steps; > 0 overrides warmup_ratio
  double max_grad_norm = 1.0;  // global gradient-norm clip; <= 0 disables
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  int64_t seed = 42;
  // output
  std::string output_dir = "trainer_output";
  bool overwrite_output_dir = false;  // replace the run already in output_dir (else refused)
  int64_t logging_steps = 10;  // metrics every this many optimizer steps
  int64_t save_steps = 500;    // checkpoint every this many steps; 0 = only at the end
  int64_t eval_steps = 0;      // validation every this many steps; 0 = never during training
  int64_t eval_limit = 0;      // validation problems per evaluation; 0 = all
};

struct GrpoRecipe : TrainRecipeBase {
  GrpoRecipe() { learning_rate = 1e-6; }  // TRL GRPOConfig default
  // prompts (grpo-spec.md section 3)
  int64_t num_shots = 8;    // solved examples before each problem
  int64_t shots_seed = 42;  // seed for drawing the examples from the train split
  std::string prompt_template = "Question: {question}\nSolution: ";
  std::string exemplar_template =
      "Question: {question}\nSolution: {solution}.\n#### The final answer is {answer}\n\n";
  std::vector<std::string> stop_strings = {"\n\nQuestion:"};
  std::optional<int64_t> max_prompt_length = 512;  // tokens kept from the left end; null = no limit
  int64_t max_completion_length = 256;
  // generation
  int64_t num_generations = 8;  // G completions per prompt
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;            // 0 = off
  std::optional<double> min_p;  // null = off
  double repetition_penalty = 1.0;
  bool shuffle_dataset = true;
  // GRPO loss
  double beta = 0.0;  // KL coefficient; 0 = no reference pass
  double epsilon = 0.2;
  std::optional<double> epsilon_high;  // null = epsilon (resolved by validate_recipe)
  int64_t num_iterations = 1;          // updates per generation batch (mu)
  LossType loss_type = LossType::kDapo;
  ScaleRewards scale_rewards = ScaleRewards::kGroup;
  bool mask_truncated_completions = false;
  std::vector<std::string> reward_funcs = {"gsm8k_format", "gsm8k_correct"};
  std::vector<double> reward_weights;  // empty = 1.0 each
  // per reward name, its options, e.g. {regex: {pattern: "^\\d"}, judge: {type: external, command: [...]}}
  nlohmann::json reward_options = nlohmann::json::object();
  // logging / performance
  bool log_completions = false;        // write sampled completions beside the metrics
  int64_t logprob_chunk_tokens = 512;  // rows per chunk of the (rows, V) logits in the loss
  // Training forwards compute a prompt prefix common to every sequence of a micro-batch once when
  // it has at least this many tokens (the few-shot block); 0 = always full sequences.
  int64_t shared_prefix_min_tokens = 32;
};

struct SftRecipe : TrainRecipeBase {
  SftRecipe() { learning_rate = 2e-5; }  // TRL SFTConfig default
  int64_t max_seq_length = 1024;         // tokens per training sequence (TRL max_length)
};

// What the listing knows about one key: for --help, docs checks and the startup table.
struct RecipeKeyInfo {
  std::string key;
  std::vector<std::string> aliases;
  std::string type;  // "integer", "number", "boolean", "string", "list of strings", "one of a|b"
  std::string default_value;  // JSON text of the default
  std::string doc;            // one line
};
std::vector<RecipeKeyInfo> recipe_keys(const GrpoRecipe&);
std::vector<RecipeKeyInfo> recipe_keys(const SftRecipe&);

// Applies a flat YAML map (text) to `r`. `source` names the origin in errors (a file path).
// TRL keys rlvr does not use append a one-line notice to `notices`; unknown keys, wrong types and
// malformed YAML throw rlvr::Error naming the source, line and key.
void apply_recipe_yaml(const std::string& yaml_text, const std::string& source, GrpoRecipe* r,
                       std::vector<std::string>* notices);
void apply_recipe_yaml(const std::string& yaml_text, const std::string& source, SftRecipe* r,
                       std::vector<std::string>* notices);
void apply_recipe_file(const std::string& path, GrpoRecipe* r, std::vector<std::string>* notices);
void apply_recipe_file(const std::string& path, SftRecipe* r, std::vector<std::string>* notices);
// One `--set key=value`; the value is read as a YAML scalar or flow list ("[a, b]"); text that
// is not valid YAML is taken as a plain string.
void apply_recipe_override(const std::string& assignment, GrpoRecipe* r,
                           std::vector<std::string>* notices);
void apply_recipe_override(const std::string& assignment, SftRecipe* r,
                           std::vector<std::string>* notices);

// Checks ranges and cross-key rules and resolves defaults (epsilon_high). world_size: processes.
void validate_recipe(GrpoRecipe* r, int64_t world_size);
void validate_recipe(SftRecipe* r, int64_t world_size);
// Completions generated per optimizer step: per_device_train_batch_size *
// gradient_accumulation_steps * world_size.
int64_t generation_batch_size(const GrpoRecipe& r, int64_t world_size);

// File (may be empty: defaults only) + overrides in order + validation.
GrpoRecipe load_grpo_recipe(const std::string& path, const std::vector<std::string>& overrides,
                            int64_t world_size, std::vector<std::string>* notices);
SftRecipe load_sft_recipe(const std::string& path, const std::vector<std::string>& overrides,
                          int64_t world_size, std::vector<std::string>* notices);

// Every key with its value (recipe.json in the run directory); parses back with apply_recipe_yaml.
nlohmann::json recipe_to_json(const GrpoRecipe& r);
nlohmann::json recipe_to_json(const SftRecipe& r);
// "key | value" rows in listing order, values as JSON text.
std::vector<std::pair<std::string, std::string>> recipe_table(const GrpoRecipe& r);
std::vector<std::pair<std::string, std::string>> recipe_table(const SftRecipe& r);
// The rows as an aligned two-column text table, one row per line.
std::string format_recipe_table(const std::vector<std::pair<std::string, std::string>>& rows);

// Whether `--resume` may continue a run with a different value of this key without `--set` naming
// it: keys that do not change the run's math (logging, saving, evaluation, output, performance
// switches with exact results, and the length of the run: max_steps, num_train_epochs).
bool resume_may_change(const std::string& key);

const char* dtype_name(DType d);
const char* device_kind_name(DeviceKind d);
const char* dataset_format_name(DatasetFormat f);

}  // namespace rlvr
