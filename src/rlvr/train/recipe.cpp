// The recipe listings (one per struct) and everything they drive: YAML and --set parsing,
// validation, recipe.json, the startup table, the key tables of docs/recipe.md (recipe_docs.cpp);
// and the data keys as DataOptions.
// Each key is documented here once; defaults live in recipe.h.
#include "rlvr/train/recipe.h"

#include <algorithm>
#include <sstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/train/recipe_listing.h"

namespace rlvr {
namespace recipe_detail {

template <>
const std::vector<std::pair<std::string, LossType>>& enum_names<LossType>() {
  static const std::vector<std::pair<std::string, LossType>> t = {{"grpo", LossType::kGrpo},
                                                                  {"bnpo", LossType::kBnpo},
                                                                  {"dr_grpo", LossType::kDrGrpo},
                                                                  {"dapo", LossType::kDapo}};
  return t;
}
template <>
const std::vector<std::pair<std::string, ScaleRewards>>& enum_names<ScaleRewards>() {
  static const std::vector<std::pair<std::string, ScaleRewards>> t = {
      {"group", ScaleRewards::kGroup},
      {"batch", ScaleRewards::kBatch},
      {"none", ScaleRewards::kNone},
      {"true", ScaleRewards::kGroup},
      {"false", ScaleRewards::kNone}};  // TRL's boolean spellings
  return t;
}
template <>
const std::vector<std::pair<std::string, ScheduleType>>& enum_names<ScheduleType>() {
  static const std::vector<std::pair<std::string, ScheduleType>> t = {
      {"linear", ScheduleType::kLinear},
      {"cosine", ScheduleType::kCosine},
      {"constant", ScheduleType::kConstant},
      {"constant_with_warmup", ScheduleType::kConstantWithWarmup}};
  return t;
}
template <>
const std::vector<std::pair<std::string, DType>>& enum_names<DType>() {
  static const std::vector<std::pair<std::string, DType>> t = {
      {"auto", DType::kAuto}, {"float32", DType::kFloat32}, {"bfloat16", DType::kBFloat16}};
  return t;
}
template <>
const std::vector<std::pair<std::string, DeviceKind>>& enum_names<DeviceKind>() {
  static const std::vector<std::pair<std::string, DeviceKind>> t = {
      {"auto", DeviceKind::kAuto}, {"cpu", DeviceKind::kCpu}, {"cuda", DeviceKind::kCuda}};
  return t;
}
template <>
const std::vector<std::pair<std::string, PromptStyle>>& enum_names<PromptStyle>() {
  static const std::vector<std::pair<std::string, PromptStyle>> t = {{"gsm8k", PromptStyle::kGsm8k},
                                                                     {"code", PromptStyle::kCode},
                                                                     {"chat", PromptStyle::kChat}};
  return t;
}
template <>
const std::vector<std::pair<std::string, DatasetFormat>>& enum_names<DatasetFormat>() {
  static const std::vector<std::pair<std::string, DatasetFormat>> t = {
      {"gsm8k", DatasetFormat::kGsm8k}, {"jsonl", DatasetFormat::kJsonl}};
  return t;
}

}  // namespace recipe_detail

namespace {

using recipe_detail::ForeignKey;
using recipe_detail::Listing;

template <class S>
void add_model_fields(Listing<S>& l) {
  l.section("Model, precision, device")
      .add("model_name_or_path", &TrainRecipeBase::model_name_or_path,
        "HF model folder (config.json, tokenizer.json, *.safetensors); required")
      .add("dtype", &TrainRecipeBase::dtype,
           "weight and compute dtype; auto = the checkpoint's (config.json torch_dtype)", {"torch_dtype"})
      .add("device", &TrainRecipeBase::device,
           "where to train; auto = cuda when available, else cpu")
      .add("gradient_checkpointing", &TrainRecipeBase::gradient_checkpointing,
           "recompute layer activations in backward to save memory; GRPO then runs each "
           "completion with its prompt instead of each prompt once per group (docs/architecture.md)")
      .section("LoRA / QLoRA (TRL ModelConfig names)")
      .add("use_peft", &TrainRecipeBase::use_peft, "train LoRA adapters instead of all weights")
      .add("lora_r", &TrainRecipeBase::lora_r, "LoRA rank")
      .add("lora_alpha", &TrainRecipeBase::lora_alpha,
           "LoRA scaling numerator (scale = lora_alpha / lora_r)")
      .add("lora_dropout", &TrainRecipeBase::lora_dropout, "dropout on the LoRA branch input")
      .add("lora_target_modules", &TrainRecipeBase::lora_target_modules,
           "projection names to adapt (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
           "down_proj) or all-linear")
      .add("load_in_4bit", &TrainRecipeBase::load_in_4bit,
           "QLoRA: keep the frozen decoder Linear weights in 4 bits, as bitsandbytes does (needs "
           "use_peft)")
      .add("bnb_4bit_quant_type", &TrainRecipeBase::bnb_4bit_quant_type, "4-bit code: nf4 or fp4")
      .add("use_bnb_nested_quant", &TrainRecipeBase::use_bnb_nested_quant,
           "QLoRA double quantization: the 4-bit block scales in 8 bits");
}

template <class S>
void add_data_fields(Listing<S>& l) {
  l.section("Data")
      .add("train_dataset_id_or_path", &TrainRecipeBase::train_dataset_id_or_path,
        "training data: a JSONL file, or a dataset folder whose train split is read (train.jsonl, "
        "data/train.jsonl or data/train-*.jsonl; docs/data.md); required")
      .add("test_dataset_id_or_path", &TrainRecipeBase::test_dataset_id_or_path,
           "test data in the same format (a folder gives its test split); checked at startup and "
           "recorded in recipe.json. Training validates on the val_fraction split; evaluate on "
           "the test data with `rlvr eval --data FILE`. Empty = none")
      .add("dataset_format", &TrainRecipeBase::dataset_format,
           "how to read the datasets: gsm8k = the answer field holds a solution ending in "
           "\"#### N\"; jsonl = the answer field is the reference answer itself")
      .add("prompt_field", &TrainRecipeBase::prompt_field, "JSONL field with the problem text")
      .add("answer_field", &TrainRecipeBase::answer_field,
           "JSONL field with the reference answer/solution")
      .add("val_fraction", &TrainRecipeBase::val_fraction,
           "share of the train split held out for validation (seeded by seed)");
}

template <class S>
void add_optim_fields(Listing<S>& l) {
  l.section("Optimisation")
      .add("learning_rate", &TrainRecipeBase::learning_rate, "peak AdamW learning rate")
      .add("num_train_epochs", &TrainRecipeBase::num_train_epochs,
           "passes over the train split when max_steps <= 0")
      .add("max_steps", &TrainRecipeBase::max_steps,
           "optimizer steps; > 0 overrides num_train_epochs")
      .add("per_device_train_batch_size", &TrainRecipeBase::per_device_train_batch_size,
           "sequences per micro-batch per process (GRPO: completions, as in TRL)")
      .add("gradient_accumulation_steps", &TrainRecipeBase::gradient_accumulation_steps,
           "micro-batches per optimizer step")
      .add("lr_scheduler_type", &TrainRecipeBase::lr_scheduler_type,
           "learning-rate schedule (HF semantics)")
      .add("warmup_ratio", &TrainRecipeBase::warmup_ratio,
           "linear warmup as a share of total steps (used when warmup_steps is 0)")
      .add("warmup_steps", &TrainRecipeBase::warmup_steps,
           "linear warmup steps; > 0 overrides warmup_ratio")
      .add("max_grad_norm", &TrainRecipeBase::max_grad_norm,
           "clip the global gradient norm to this; <= 0 disables")
      .add("weight_decay", &TrainRecipeBase::weight_decay, "AdamW decoupled weight decay")
      .add("adam_beta1", &TrainRecipeBase::adam_beta1, "AdamW beta1")
      .add("adam_beta2", &TrainRecipeBase::adam_beta2, "AdamW beta2")
      .add("adam_epsilon", &TrainRecipeBase::adam_epsilon, "AdamW epsilon")
      .add("seed", &TrainRecipeBase::seed,
           "seed for initialisation, data order, validation split and sampling");
}

template <class S>
void add_output_fields(Listing<S>& l) {
  l.section("Output, logging, evaluation")
      .add("output_dir", &TrainRecipeBase::output_dir,
           "run folder: recipe.json, metrics.jsonl, checkpoints, the trained weights")
      .add("overwrite_output_dir", &TrainRecipeBase::overwrite_output_dir,
           "replace the run already in output_dir (its checkpoints, metrics and weights are "
           "deleted first); without it such an output_dir is refused unless --resume")
      .add("logging_steps", &TrainRecipeBase::logging_steps,
           "write metrics every this many optimizer steps")
      .add("save_steps", &TrainRecipeBase::save_steps,
           "checkpoint every this many optimizer steps; 0 = only at the end")
      .add("eval_steps", &TrainRecipeBase::eval_steps,
           "validate every this many optimizer steps and after the last; 0 = never. Greedy, on the "
           "same prompts as training (shared few-shot prefix prefilled once); logs `eval_reward`, "
           "`eval_accuracy` (strict) and `time/eval_s`")
      .add("eval_limit", &TrainRecipeBase::eval_limit,
           "validation problems per evaluation; 0 = all");
}

template <class S>
void add_ddp_fields(Listing<S>& l) {
  l.section("Data parallel (docs/distributed.md)")
      .add("ddp_backend", &TrainRecipeBase::ddp_backend,
           "c10d backend when launched as several processes: auto = nccl on CUDA, gloo on CPU")
      .add("ddp_timeout", &TrainRecipeBase::ddp_timeout,
           "seconds a rank waits for the others (rendezvous and every collective) before it stops "
           "with an error naming the missing rank");
}

void add_prompt_fields(Listing<GrpoRecipe>& l) {
  l.section("Prompts")
      .add("prompt_style", &GrpoRecipe::prompt_style,
           "gsm8k = k-shot Question/Solution prompts; code = zero-shot code tasks: the row's prompt text "
           "and an instruction to answer in one ```{language} block (docs/data.md), num_shots 0; chat = the model's "
           "chat template over [system_prompt], the shots as user/assistant turns and the question "
           "(Instruct models; docs/chat-templates.md)")
      .add("system_prompt", &GrpoRecipe::system_prompt,
           "prompt_style chat: the first (system) turn; empty = none (the template may add its default)")
      .add("chat_template_kwargs", &GrpoRecipe::chat_template_kwargs,
           "extra variables for the chat template (TRL's key), e.g. `{enable_thinking: false}`")
      .add("num_shots", &GrpoRecipe::num_shots,
           "solved examples (from the train split, never the problem itself) before each problem")
      .add("shots_seed", &GrpoRecipe::shots_seed, "seed for drawing the few-shot examples")
      .add("prompt_template", &GrpoRecipe::prompt_template,
           "the problem to solve; {question} is replaced, and {language} by the row's language (python when none)")
      .add("exemplar_template", &GrpoRecipe::exemplar_template,
           "one solved example; {question}, {solution}, {answer} are replaced")
      .add("stop_strings", &GrpoRecipe::stop_strings,
           "generation stops at any of these; they are cut from the completion")
      .add("max_prompt_length", &GrpoRecipe::max_prompt_length,
           "prompt tokens kept (from the left end, TRL semantics); null = no limit")
      .add("max_completion_length", &GrpoRecipe::max_completion_length,
           "tokens generated per completion at most");
}

void add_generation_fields(Listing<GrpoRecipe>& l) {
  l.section("Generation")
      .add("num_generations", &GrpoRecipe::num_generations,
           "completions per prompt (G); the generation batch must divide by it")
      .add("temperature", &GrpoRecipe::temperature,
           "sampling temperature; the loss's log-probs use the same one")
      .add("top_p", &GrpoRecipe::top_p, "nucleus sampling mass in (0, 1]; 1 = off")
      .add("top_k", &GrpoRecipe::top_k, "keep the k most likely tokens; 0 = off")
      .add("min_p", &GrpoRecipe::min_p, "drop tokens below min_p * p(most likely); null = off")
      .add("repetition_penalty", &GrpoRecipe::repetition_penalty, "HF repetition penalty; 1 = off")
      .add("shuffle_dataset", &GrpoRecipe::shuffle_dataset,
           "shuffle the train split each epoch (seeded)");
}

void add_loss_fields(Listing<GrpoRecipe>& l) {
  l.section("GRPO loss and rewards")
      .add("beta", &GrpoRecipe::beta,
           "KL coefficient (k3 estimator against the starting model: LoRA adapters off, or a "
           "frozen copy of the weights when fine-tuning all of them); 0 = no reference pass")
      .add("epsilon", &GrpoRecipe::epsilon, "lower clip: ratios below 1 - epsilon are clipped")
      .add("epsilon_high", &GrpoRecipe::epsilon_high,
           "upper clip: ratios above 1 + epsilon_high are clipped; null = epsilon (DAPO uses "
           "0.28)")
      .add("num_iterations", &GrpoRecipe::num_iterations,
           "optimizer passes over each generation batch (mu)")
      .add("loss_type", &GrpoRecipe::loss_type, "token-loss normalisation (grpo-spec.md section 2)")
      .add("scale_rewards", &GrpoRecipe::scale_rewards,
           "advantage scaling: group std, batch std, or none (Dr. GRPO); true = group, false = "
           "none")
      .add("mask_truncated_completions", &GrpoRecipe::mask_truncated_completions,
           "exclude completions cut at max_completion_length from the loss")
      .add("reward_funcs", &GrpoRecipe::reward_funcs,
           "reward functions by registry name, summed with reward_weights")
      .add("reward_weights", &GrpoRecipe::reward_weights,
           "one weight per reward function; empty = 1.0 each")
      .add("reward_options", &GrpoRecipe::reward_options,
           "options per reward name, e.g. `{regex: {pattern: '^\\d'}}`; see docs/rewards.md");
}

void add_performance_fields(Listing<GrpoRecipe>& l) {
  l.section("Logging and performance")
      .add("log_completions", &GrpoRecipe::log_completions,
           "write sampled prompts/completions/rewards to completions.jsonl every logging step")
      .add("logprob_chunk_tokens", &GrpoRecipe::logprob_chunk_tokens,
           "token rows per chunk of the (rows, V) logits when computing log-probs")
      .add("shared_prefix_min_tokens", &GrpoRecipe::shared_prefix_min_tokens,
           "training forwards compute a prompt prefix common to every sequence of a micro-batch "
           "once when it has at least this many tokens; 0 = always full sequences");
}

const Listing<GrpoRecipe>& grpo_listing() {
  static const Listing<GrpoRecipe> l = [] {
    Listing<GrpoRecipe> l;
    add_model_fields(l);
    add_data_fields(l);
    add_prompt_fields(l);
    add_generation_fields(l);
    add_loss_fields(l);
    add_optim_fields(l);
    add_output_fields(l);
    add_ddp_fields(l);
    add_performance_fields(l);
    return l;
  }();
  return l;
}

const Listing<SftRecipe>& sft_listing() {
  static const Listing<SftRecipe> l = [] {
    Listing<SftRecipe> l;
    add_model_fields(l);
    add_data_fields(l);
    l.section("Sequences").add("max_seq_length", &SftRecipe::max_seq_length,
          "tokens per training sequence; longer ones are truncated", {"max_length"});
    add_optim_fields(l);
    add_output_fields(l);
    add_ddp_fields(l);
    return l;
  }();
  return l;
}

}  // namespace

namespace recipe_detail {
namespace {

// TRL / transformers keys that rlvr reads and ignores, with a notice: training setup.
void add_ignored_setup_keys(std::vector<ForeignKey>& t) {
  t.insert(t.end(), {
      {"attn_implementation", {}, "rlvr has one attention implementation"},
      {"report_to", {}, "metrics go to <output_dir>/metrics.jsonl"},
      {"push_to_hub", {}, "rlvr does not upload"},
      {"hub_*", {}, "rlvr does not upload"},
      {"run_name", {}, "the run is named by output_dir"},
      {"bf16", {}, "set dtype instead"},
      {"fp16", {}, "set dtype instead"},
      {"tf32", {}, "set dtype instead"},
      {"bf16_full_eval", {}, "set dtype instead"},
      {"use_vllm", {}, "rlvr generates with its own batched engine"},
      {"vllm_*", {}, "rlvr generates with its own batched engine"},
      {"ds3_gather_for_generation", {}, "no DeepSpeed in rlvr"},
      {"deepspeed", {}, "no DeepSpeed in rlvr"},
      {"fsdp", {}, "no FSDP in rlvr"},
      {"fsdp_config", {}, "no FSDP in rlvr"},
      {"ddp_find_unused_parameters", {}, "rlvr all-reduces every trainable gradient"},
      {"local_rank", {}, "the launcher sets LOCAL_RANK (docs/distributed.md)"},
      {"logging_dir", {}, "metrics go to <output_dir>/metrics.jsonl"},
      {"logging_strategy", {}, "rlvr logs every logging_steps"},
      {"logging_first_step", {}, "rlvr logs every logging_steps"},
      {"log_level", {}, "logging setting"},
      {"disable_tqdm", {}, "logging setting"},
      {"save_strategy", {}, "rlvr saves every save_steps"},
      {"save_total_limit", {}, "rlvr keeps every checkpoint"},
      {"save_only_model", {}, "checkpoint layout is fixed"},
      {"save_safetensors", {}, "rlvr always writes safetensors"},
      {"eval_strategy", {}, "set eval_steps instead"},
      {"evaluation_strategy", {}, "set eval_steps instead"},
      {"per_device_eval_batch_size", {}, "evaluation batches all problems"},
      {"do_train", {}, "the subcommand decides"},
      {"do_eval", {}, "the subcommand decides"},
  });
}

// Ignored keys about data loading, models and generation.
void add_ignored_model_keys(std::vector<ForeignKey>& t) {
  t.insert(t.end(), {
      {"dataloader_num_workers", {}, "data loading is in-process"},
      {"dataloader_pin_memory", {}, "data loading is in-process"},
      {"dataloader_drop_last", {}, "data loading is in-process"},
      {"dataloader_persistent_workers", {}, "data loading is in-process"},
      {"dataset_num_proc", {}, "data loading is in-process"},
      {"remove_unused_columns", {}, "rlvr keeps the fields it needs"},
      {"model_init_kwargs", {}, "model settings come from the checkpoint's config.json"},
      {"trust_remote_code", {}, "rlvr runs no Python model code"},
      {"model_revision", {}, "rlvr loads local folders"},
      {"use_liger_kernel", {}, "rlvr's log-probs are chunked already"},
      {"cast_lm_head_to_fp32", {}, "rlvr computes log-probs in float32 already"},
      {"torch_compile", {}, "no torch.compile in C++"},
      {"gradient_checkpointing_kwargs", {}, "checkpointing is per layer"},
      {"disable_dropout", {}, "rlvr's model has no dropout outside LoRA"},
      {"generation_batch_size",
       {},
       "rlvr generates per_device_train_batch_size * gradient_accumulation_steps * world_size "
       "completions per step"},
      {"steps_per_generation",
       {},
       "rlvr generates once per optimizer step (gradient_accumulation_steps micro-batches)"},
      {"num_generations_eval", {}, "evaluation decodes greedily, one completion per problem"},
      {"cache_implementation", {}, "the engine has its own KV cache"},
      {"use_transformers_paged", {}, "the engine has its own KV cache"},
      {"generation_kwargs", {}, "set the sampling keys (temperature, top_p, ...) instead"},
      {"chat_template_kwargs", {}, "prompts are plain text templates"},
      {"num_completions_to_print", {}, "see log_completions"},
      {"log_unique_prompts", {}, "see log_completions"},
      {"wandb_log_unique_prompts", {}, "see log_completions"},
      {"lora_task_type", {}, "always CAUSAL_LM"},
      {"data_seed", {}, "seed covers data order"},
      {"resume_from_checkpoint", {}, "use the --resume option of the subcommand"},
  });
}

// TRL features rlvr does not implement: accepted only at their TRL default.
void add_default_only_keys(std::vector<ForeignKey>& t) {
  t.insert(t.end(), {
      {"lr_scheduler_kwargs", {"null"}, "no extra schedule arguments"},
      {"optim", {"adamw_torch", "adamw_torch_fused", "adamw_hf"}, "rlvr implements AdamW only"},
      {"sync_ref_model", {"false"}, "the reference is always the base model"},
      {"importance_sampling_level", {"token"}, "token-level ratios only"},
      {"delta", {"null"}, "no two-sided clipping"},
      {"top_entropy_quantile", {"1.0"}, "no entropy masking"},
      {"multi_objective_aggregation",
       {"sum_then_normalize"},
       "rewards are summed, then normalised"},
      {"off_policy_mask_threshold", {"null"}, "no off-policy masking"},
      {"use_bias_correction_kl", {"false"}, "plain k3 KL only"},
      {"use_dora", {"false"}, "plain LoRA only"},
      {"use_rslora", {"false"}, "scale is lora_alpha / lora_r"},
      {"lora_modules_to_save", {"null"}, "only LoRA weights are trained with use_peft"},
      {"load_in_8bit", {"false"}, "4-bit only (load_in_4bit)"},
  });
}

}  // namespace

const std::vector<ForeignKey>& foreign_keys() {
  static const std::vector<ForeignKey> t = [] {
    std::vector<ForeignKey> t;
    add_ignored_setup_keys(t);
    add_ignored_model_keys(t);
    add_default_only_keys(t);
    return t;
  }();
  return t;
}

}  // namespace recipe_detail

namespace {

using recipe_detail::foreign_keys;

template <class S>
void apply_yaml(const Listing<S>& listing, const std::string& text, const std::string& source, S* r,
                std::vector<std::string>* notices) {
  RLVR_CHECK(r != nullptr, "apply_recipe_yaml: null recipe");
  YAML::Node root = recipe_detail::parse_yaml(text, source);
  if (!root.IsDefined() || root.IsNull()) return;  // an empty file sets nothing
  RLVR_CHECK(root.IsMap(), recipe_detail::where(source, root),
             ": a recipe is a flat map of `key: value` lines, got ", recipe_detail::describe(root));
  std::vector<std::string> seen;
  for (const auto& kv : root) {
    const std::string at = recipe_detail::where(source, kv.first);
    RLVR_CHECK(kv.first.IsScalar(), at, ": recipe keys must be plain names");
    recipe_detail::apply_key(listing, foreign_keys(), kv.first.Scalar(), kv.second, at, *r, notices,
                             &seen);
  }
}

template <class S>
void apply_override(const Listing<S>& listing, const std::string& assignment, S* r,
                    std::vector<std::string>* notices) {
  const size_t eq = assignment.find('=');
  RLVR_CHECK(eq != std::string::npos && eq > 0, "--set ", assignment, ": expected key=value");
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  key.erase(key.find_last_not_of(" \t") + 1);
  key.erase(0, key.find_first_not_of(" \t"));
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    const size_t first = text.find_first_not_of(" \t");
    const bool looks_structured =
        first != std::string::npos && std::string("[{\"'").find(text[first]) != std::string::npos;
    RLVR_CHECK(!looks_structured, "--set ", assignment, ": malformed value: ", e.msg);
    value = YAML::Node(text);  // plain text such as "Question: {question}"
  }
  // A mapping stays a mapping only for mapping keys: "{question}=" is text for a string key.
  const auto* field = listing.find(key);
  if (value.IsMap() && !(field && field->type == "mapping")) value = YAML::Node(text);
  std::vector<std::string> seen;
  recipe_detail::apply_key(listing, foreign_keys(), key, value, "--set " + key, *r, notices, &seen);
}

template <class S>
nlohmann::json to_json(const Listing<S>& listing, const S& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : listing.fields()) j[f.key] = f.get(r);
  return j;
}

template <class S>
std::vector<std::pair<std::string, std::string>> table(const Listing<S>& listing, const S& r) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& f : listing.fields()) rows.emplace_back(f.key, f.get(r).dump());
  return rows;
}

template <class S>
std::vector<RecipeKeyInfo> keys(const Listing<S>& listing) {
  const S defaults;
  std::vector<RecipeKeyInfo> out;
  for (const auto& f : listing.fields())
    out.push_back({f.section, f.key, f.aliases, f.type, f.get(defaults).dump(), f.doc});
  return out;
}

// Checks shared by every recipe.
void validate_base(const TrainRecipeBase& r, int64_t world_size) {
  RLVR_CHECK(world_size >= 1, "world_size must be >= 1, got ", world_size);
  RLVR_CHECK(!r.model_name_or_path.empty(),
             "recipe: model_name_or_path is required (a HF model folder)");
  RLVR_CHECK(!r.train_dataset_id_or_path.empty(), "recipe: train_dataset_id_or_path is required");
  RLVR_CHECK(r.learning_rate >= 0, "recipe: learning_rate must be >= 0, got ", r.learning_rate);
  RLVR_CHECK(r.max_steps > 0 || r.num_train_epochs > 0,
             "recipe: set max_steps > 0 or num_train_epochs > 0");
  RLVR_CHECK(r.per_device_train_batch_size >= 1,
             "recipe: per_device_train_batch_size must be >= 1, got ",
             r.per_device_train_batch_size);
  RLVR_CHECK(r.gradient_accumulation_steps >= 1,
             "recipe: gradient_accumulation_steps must be >= 1, got ",
             r.gradient_accumulation_steps);
  RLVR_CHECK(r.warmup_ratio >= 0 && r.warmup_ratio <= 1,
             "recipe: warmup_ratio must be in [0, 1], got ", r.warmup_ratio);
  RLVR_CHECK(r.warmup_steps >= 0, "recipe: warmup_steps must be >= 0, got ", r.warmup_steps);
  RLVR_CHECK(r.val_fraction >= 0 && r.val_fraction < 1,
             "recipe: val_fraction must be in [0, 1), got ", r.val_fraction);
  RLVR_CHECK(r.weight_decay >= 0, "recipe: weight_decay must be >= 0, got ", r.weight_decay);
  RLVR_CHECK(r.adam_beta1 >= 0 && r.adam_beta1 < 1 && r.adam_beta2 >= 0 && r.adam_beta2 < 1,
             "recipe: adam_beta1 and adam_beta2 must be in [0, 1)");
  RLVR_CHECK(r.adam_epsilon > 0, "recipe: adam_epsilon must be > 0, got ", r.adam_epsilon);
  RLVR_CHECK(r.logging_steps >= 1, "recipe: logging_steps must be >= 1, got ", r.logging_steps);
  RLVR_CHECK(r.save_steps >= 0, "recipe: save_steps must be >= 0, got ", r.save_steps);
  RLVR_CHECK(r.eval_steps >= 0, "recipe: eval_steps must be >= 0, got ", r.eval_steps);
  RLVR_CHECK(r.eval_limit >= 0, "recipe: eval_limit must be >= 0, got ", r.eval_limit);
  RLVR_CHECK(!r.output_dir.empty(), "recipe: output_dir must not be empty");
  RLVR_CHECK(r.ddp_backend == "auto" || r.ddp_backend == "gloo" || r.ddp_backend == "nccl",
             "recipe: ddp_backend: '", r.ddp_backend, "' is not a backend; use auto, gloo or nccl");
  RLVR_CHECK(r.ddp_timeout >= 1, "recipe: ddp_timeout must be >= 1 second, got ", r.ddp_timeout);
  if (r.use_peft) {
    RLVR_CHECK(r.lora_r >= 1, "recipe: lora_r must be >= 1, got ", r.lora_r);
    RLVR_CHECK(r.lora_alpha > 0, "recipe: lora_alpha must be > 0, got ", r.lora_alpha);
    RLVR_CHECK(r.lora_dropout >= 0 && r.lora_dropout < 1,
               "recipe: lora_dropout must be in [0, 1), got ", r.lora_dropout);
    RLVR_CHECK(!r.lora_target_modules.empty(),
               "recipe: lora_target_modules is empty; name the projections to adapt");
  }
  RLVR_CHECK(!r.load_in_4bit || r.use_peft,
             "recipe: load_in_4bit freezes the base weights; set use_peft: true to train adapters "
             "on them");
  RLVR_CHECK(r.bnb_4bit_quant_type == "nf4" || r.bnb_4bit_quant_type == "fp4", "recipe: bnb_4bit_quant_type '",
             r.bnb_4bit_quant_type, "' is not a 4-bit code; use nf4 or fp4");
}

// "2, 4, 8": divisors >= 2 of n, to suggest a num_generations.
std::string divisors_from_two(int64_t n) {
  std::ostringstream os;
  for (int64_t d = 2; d <= n; ++d)
    if (n % d == 0) os << (os.tellp() > 0 ? ", " : "") << d;
  return os.str();
}

}  // namespace

std::vector<RecipeKeyInfo> recipe_keys(const GrpoRecipe&) { return keys(grpo_listing()); }
std::vector<RecipeKeyInfo> recipe_keys(const SftRecipe&) { return keys(sft_listing()); }

void apply_recipe_yaml(const std::string& yaml_text, const std::string& source, GrpoRecipe* r,
                       std::vector<std::string>* notices) {
  apply_yaml(grpo_listing(), yaml_text, source, r, notices);
}
void apply_recipe_yaml(const std::string& yaml_text, const std::string& source, SftRecipe* r,
                       std::vector<std::string>* notices) {
  apply_yaml(sft_listing(), yaml_text, source, r, notices);
}
void apply_recipe_file(const std::string& path, GrpoRecipe* r, std::vector<std::string>* notices) {
  apply_recipe_yaml(read_text_file(path), path, r, notices);
}
void apply_recipe_file(const std::string& path, SftRecipe* r, std::vector<std::string>* notices) {
  apply_recipe_yaml(read_text_file(path), path, r, notices);
}
void apply_recipe_override(const std::string& assignment, GrpoRecipe* r,
                           std::vector<std::string>* notices) {
  apply_override(grpo_listing(), assignment, r, notices);
}
void apply_recipe_override(const std::string& assignment, SftRecipe* r,
                           std::vector<std::string>* notices) {
  apply_override(sft_listing(), assignment, r, notices);
}

int64_t generation_batch_size(const GrpoRecipe& r, int64_t world_size) {
  return r.per_device_train_batch_size * r.gradient_accumulation_steps * world_size;
}

namespace {

// prompt_style code or chat: the prompt keys still at their gsm8k defaults take the style's values;
// code prompts have no exemplars.
void resolve_prompt_style(GrpoRecipe* r) {
  if (r->prompt_style == PromptStyle::kGsm8k) return;
  RLVR_CHECK(r->prompt_style != PromptStyle::kCode || r->num_shots == 0,
             "recipe: prompt_style code takes no exemplars, but num_shots is ", r->num_shots, "; set num_shots: 0");
  const GrpoRecipe defaults;
  const PromptOptions style = prompt_style_options(r->prompt_style);
  if (r->prompt_template == defaults.prompt_template) r->prompt_template = style.query_template;
  if (r->exemplar_template == defaults.exemplar_template) r->exemplar_template = style.exemplar_template;
  if (r->stop_strings == defaults.stop_strings) r->stop_strings = style.stop;
}

}  // namespace

void validate_recipe(GrpoRecipe* r, int64_t world_size) {
  validate_base(*r, world_size);
  RLVR_CHECK(r->num_generations >= 2,
             "recipe: num_generations must be >= 2 (advantages compare completions of "
             "the same prompt), got ",
             r->num_generations);
  const int64_t gen = generation_batch_size(*r, world_size);
  RLVR_CHECK(gen % r->num_generations == 0,
             "recipe: the generation batch per_device_train_batch_size (",
             r->per_device_train_batch_size, ") * gradient_accumulation_steps (",
             r->gradient_accumulation_steps, ") * world_size (", world_size, ") = ", gen,
             " completions must be divisible by num_generations (", r->num_generations,
             "); valid num_generations: ", divisors_from_two(gen));
  const int64_t per_rank = generation_batch_size(*r, 1);
  RLVR_CHECK(world_size == 1 || per_rank % r->num_generations == 0, "recipe: each of the ", world_size,
             " processes generates per_device_train_batch_size (", r->per_device_train_batch_size,
             ") * gradient_accumulation_steps (", r->gradient_accumulation_steps, ") = ", per_rank,
             " completions, which must be whole groups of num_generations (", r->num_generations,
             "); valid num_generations: ", divisors_from_two(per_rank));
  RLVR_CHECK(r->max_completion_length >= 1, "recipe: max_completion_length must be >= 1, got ",
             r->max_completion_length);
  RLVR_CHECK(!r->max_prompt_length || *r->max_prompt_length >= 1,
             "recipe: max_prompt_length must be >= 1 or null, got ",
             r->max_prompt_length.value_or(0));
  RLVR_CHECK(r->num_shots >= 0, "recipe: num_shots must be >= 0, got ", r->num_shots);
  resolve_prompt_style(r);
  RLVR_CHECK(r->temperature > 0, "recipe: temperature must be > 0, got ", r->temperature);
  RLVR_CHECK(r->top_p > 0 && r->top_p <= 1, "recipe: top_p must be in (0, 1], got ", r->top_p);
  RLVR_CHECK(r->top_k >= 0, "recipe: top_k must be >= 0 (0 = off), got ", r->top_k);
  RLVR_CHECK(!r->min_p || (*r->min_p >= 0 && *r->min_p <= 1),
             "recipe: min_p must be in [0, 1] or null");
  RLVR_CHECK(r->repetition_penalty > 0, "recipe: repetition_penalty must be > 0, got ",
             r->repetition_penalty);
  RLVR_CHECK(r->beta >= 0, "recipe: beta must be >= 0, got ", r->beta);
  RLVR_CHECK(r->epsilon >= 0 && r->epsilon < 1, "recipe: epsilon must be in [0, 1), got ",
             r->epsilon);
  if (!r->epsilon_high) r->epsilon_high = r->epsilon;  // TRL: epsilon_high defaults to epsilon
  RLVR_CHECK(*r->epsilon_high >= 0, "recipe: epsilon_high must be >= 0, got ", *r->epsilon_high);
  RLVR_CHECK(r->num_iterations >= 1, "recipe: num_iterations must be >= 1, got ",
             r->num_iterations);
  RLVR_CHECK(!r->reward_funcs.empty(),
             "recipe: reward_funcs is empty; name at least one reward function");
  RLVR_CHECK(r->reward_weights.empty() || r->reward_weights.size() == r->reward_funcs.size(),
             "recipe: reward_weights has ", r->reward_weights.size(),
             " entries but reward_funcs has ", r->reward_funcs.size());
  for (const auto& s : r->stop_strings)
    RLVR_CHECK(!s.empty(), "recipe: stop_strings contains an empty string");
  RLVR_CHECK(r->logprob_chunk_tokens >= 1, "recipe: logprob_chunk_tokens must be >= 1, got ",
             r->logprob_chunk_tokens);
  RLVR_CHECK(r->shared_prefix_min_tokens >= 0, "recipe: shared_prefix_min_tokens must be >= 0, got ",
             r->shared_prefix_min_tokens);
}

void validate_recipe(SftRecipe* r, int64_t world_size) {
  validate_base(*r, world_size);
  RLVR_CHECK(r->max_seq_length >= 1, "recipe: max_seq_length must be >= 1, got ",
             r->max_seq_length);
}

GrpoRecipe load_grpo_recipe(const std::string& path, const std::vector<std::string>& overrides,
                            int64_t world_size, std::vector<std::string>* notices) {
  GrpoRecipe r;
  if (!path.empty()) apply_recipe_file(path, &r, notices);
  for (const auto& o : overrides) apply_recipe_override(o, &r, notices);
  validate_recipe(&r, world_size);
  return r;
}

SftRecipe load_sft_recipe(const std::string& path, const std::vector<std::string>& overrides,
                          int64_t world_size, std::vector<std::string>* notices) {
  SftRecipe r;
  if (!path.empty()) apply_recipe_file(path, &r, notices);
  for (const auto& o : overrides) apply_recipe_override(o, &r, notices);
  validate_recipe(&r, world_size);
  return r;
}

nlohmann::json recipe_to_json(const GrpoRecipe& r) { return to_json(grpo_listing(), r); }
nlohmann::json recipe_to_json(const SftRecipe& r) { return to_json(sft_listing(), r); }
std::vector<std::pair<std::string, std::string>> recipe_table(const GrpoRecipe& r) {
  return table(grpo_listing(), r);
}
std::vector<std::pair<std::string, std::string>> recipe_table(const SftRecipe& r) {
  return table(sft_listing(), r);
}

std::string format_recipe_table(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 3;
  for (const auto& [k, v] : rows) width = std::max(width, k.size());
  std::ostringstream os;
  os << "key" << std::string(width - 3, ' ') << " | value\n";
  for (const auto& [k, v] : rows)
    os << k << std::string(width - k.size(), ' ') << " | " << v << "\n";
  return os.str();
}

DataOptions data_options(const TrainRecipeBase& r, const std::string& split) {
  DataOptions d;
  d.format = r.dataset_format == DatasetFormat::kGsm8k ? DataFormat::kGsm8k : DataFormat::kJsonl;
  d.question_field = r.prompt_field;
  d.answer_field = r.answer_field;
  d.split = split;
  d.format_option = "dataset_format:";
  return d;
}

void check_test_dataset(const TrainRecipeBase& r) {
  if (r.test_dataset_id_or_path.empty()) return;
  for (const auto& f : dataset_split_files(r.test_dataset_id_or_path, "test"))
    RLVR_CHECK(file_exists(f), "recipe: test_dataset_id_or_path: ", f,
               ": no such file; name a JSONL file or a dataset folder");
}

bool resume_may_change(const std::string& key) {
  static const std::vector<std::string> free_keys = {
      "output_dir", "overwrite_output_dir", "logging_steps", "save_steps", "eval_steps",
      "eval_limit", "test_dataset_id_or_path", "log_completions", "logprob_chunk_tokens",
      "shared_prefix_min_tokens", "gradient_checkpointing", "device", "max_steps",
      "num_train_epochs", "ddp_backend", "ddp_timeout"};
  return std::find(free_keys.begin(), free_keys.end(), key) != free_keys.end();
}

const char* dtype_name(DType d) {
  for (const auto& [n, v] : recipe_detail::enum_names<DType>())
    if (v == d) return n.c_str();
  return "?";
}
}  // namespace rlvr
