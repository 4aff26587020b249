// The `code` reward (reward_code.h): options, one sandbox job per completion, the rule.
#include "rlvr/rewards/reward_code.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>

#include "rlvr/core/error.h"
#include "rlvr/rewards/code_harness.h"
#include "rlvr/rewards/code_text.h"
#include "rlvr/rewards/reward_builtin.h"

namespace rlvr {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::map<std::string, CodeLanguage> builtin_languages() {
  std::map<std::string, CodeLanguage> m;
  m["python"] = {
      "solution.py",
      {"python3", "-I", "-c",
       "import sys\ncompile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')", "solution.py"},
      {"python3", "-I", "solution.py"},
      {"python", "py", "python3"},
      {}};
  m["cpp"] = {"solution.cpp",
              {"g++", "-std=c++17", "-O1", "-o", "solution", "solution.cpp"},
              {"./solution"},
              {"cpp", "c++", "cc", "cxx"},
              {}};
  return m;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// An argv: an array of strings, or one string run by /bin/sh -c.
std::vector<std::string> argv_option(const std::string& what, const nlohmann::json& j) {
  if (j.is_string()) return {"/bin/sh", "-c", j.get<std::string>()};
  RLVR_CHECK(j.is_array() && !j.empty(), what,
             " must be a non-empty array of strings or one shell string");
  std::vector<std::string> out;
  for (const auto& a : j) {
    RLVR_CHECK(a.is_string(), what, " items must be strings");
    out.push_back(a.get<std::string>());
  }
  return out;
}

std::vector<std::string> strings_option(const std::string& what, const nlohmann::json& j) {
  RLVR_CHECK(j.is_array(), what, " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& a : j) {
    RLVR_CHECK(a.is_string(), what, " items must be strings");
    out.push_back(a.get<std::string>());
  }
  return out;
}

// One entry of the "languages" table; an entry named like a built-in replaces its keys.
CodeLanguage language_option(const std::string& where, const nlohmann::json& j, CodeLanguage l) {
  RLVR_CHECK(j.is_object(), where, " must be an object {file, compile, run, fences, ro_binds}");
  for (const auto& [k, v] : j.items()) {
    const std::string what = where + "." + k;
    if (k == "file") {
      RLVR_CHECK(v.is_string() && !v.get<std::string>().empty(), what, " must be a file name");
      l.file = v.get<std::string>();
    } else if (k == "compile") {
      l.compile = v.is_null() ? std::vector<std::string>{} : argv_option(what, v);
    } else if (k == "run") {
      l.run = argv_option(what, v);
    } else if (k == "fences") {
      l.fences = strings_option(what, v);
      for (auto& f : l.fences) f = lower(f);
    } else if (k == "ro_binds") {
      l.ro_binds = strings_option(what, v);
    } else {
      fail(what, ": unknown key; valid: file, compile, run, fences, ro_binds");
    }
  }
  RLVR_CHECK(!l.file.empty() && !l.run.empty(), where, " needs \"file\" and \"run\"");
  return l;
}

double number_option(const std::string& name, const nlohmann::json& o, const char* key, double lo,
                     double def) {
  if (!o.contains(key)) return def;
  RLVR_CHECK(o[key].is_number() && o[key].get<double>() >= lo, "reward '", name, "': ", key,
             " must be a number >= ", lo);
  return o[key].get<double>();
}

int64_t int_option(const std::string& name, const nlohmann::json& o, const char* key, int64_t lo,
                   int64_t hi, int64_t def) {
  if (!o.contains(key)) return def;
  const bool ok =
      o[key].is_number_integer() && o[key].get<int64_t>() >= lo && o[key].get<int64_t>() <= hi;
  RLVR_CHECK(ok, "reward '", name, "': ", key, " must be a whole number in [", lo, ", ", hi, "]");
  return o[key].get<int64_t>();
}

bool bool_option(const std::string& name, const nlohmann::json& o, const char* key, bool def) {
  if (!o.contains(key)) return def;
  RLVR_CHECK(o[key].is_boolean(), "reward '", name, "': ", key, " must be true or false");
  return o[key].get<bool>();
}

std::string string_option(const std::string& name, const nlohmann::json& o, const char* key,
                          const std::vector<std::string>& allowed, const std::string& def) {
  if (!o.contains(key)) return def;
  RLVR_CHECK(o[key].is_string(), "reward '", name, "': ", key, " must be a string");
  const std::string v = o[key].get<std::string>();
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  RLVR_CHECK(allowed.empty() || std::find(allowed.begin(), allowed.end(), v) != allowed.end(),
             "reward '", name, "': ", key, " '", v, "' is not one of ", list);
  return v;
}

}  // namespace

CodeRewardOptions code_reward_options(const std::string& name, const nlohmann::json& o) {
  reward_detail::check_option_keys(
      name, o,
      {"timeout_s", "memory_mb", "compile_timeout_s", "compile_memory_mb", "workers", "partial",
       "mode", "require_fence", "language", "languages", "sandbox"});
  const nlohmann::json j = o.is_object() ? o : nlohmann::json::object();
  CodeRewardOptions c;
  c.timeout_s = number_option(name, j, "timeout_s", 0.001, c.timeout_s);
  c.memory_mb = int_option(name, j, "memory_mb", 16, 1 << 24, c.memory_mb);
  c.compile_timeout_s = number_option(name, j, "compile_timeout_s", 0.001, c.compile_timeout_s);
  c.compile_memory_mb = int_option(name, j, "compile_memory_mb", 16, 1 << 24, c.compile_memory_mb);
  c.workers = static_cast<int>(int_option(name, j, "workers", 0, 4096, c.workers));
  c.partial = number_option(name, j, "partial", 0, c.partial);
  RLVR_CHECK(c.partial <= 1, "reward '", name, "': partial must be in [0, 1]");
  c.fraction = string_option(name, j, "mode", {"all", "fraction"}, "all") == "fraction";
  c.require_fence = bool_option(name, j, "require_fence", true);
  c.isolation =
      sandbox::isolation_from_name(string_option(name, j, "sandbox", {"bwrap", "none"}, "bwrap"));
  c.languages = builtin_languages();
  if (j.contains("languages")) {
    RLVR_CHECK(j["languages"].is_object(), "reward '", name,
               "': languages must be an object {name: {file, compile, run, fences}}");
    for (const auto& [lang, entry] : j["languages"].items()) {
      const std::string key = lower(lang);
      CodeLanguage base =
          c.languages.count(key) ? c.languages[key] : CodeLanguage{"", {}, {}, {key}, {}};
      c.languages[key] = language_option("reward '" + name + "': languages." + lang, entry, base);
    }
  }
  c.language = lower(string_option(name, j, "language", {}, "python"));
  RLVR_CHECK(c.languages.count(c.language), "reward '", name, "': language '", c.language,
             "' is not python, cpp or in the languages table");
  return c;
}

double code_score(bool ran, size_t passed, size_t total, const CodeRewardOptions& o) {
  if (!ran || total == 0) return 0.0;
  if (passed >= total) return 1.0;
  if (!o.fraction) return o.partial;
  return o.partial + (1.0 - o.partial) * static_cast<double>(passed) / static_cast<double>(total);
}

// ---- one completion: its sandbox job, then its score ----

namespace {

const nlohmann::json* field(const nlohmann::json& f, const char* key, const char* alias = nullptr) {
  if (!f.is_object()) return nullptr;
  if (f.contains(key)) return &f[key];
  if (alias && f.contains(alias)) return &f[alias];
  return nullptr;
}

// The row's Python tests (`tests` / MBPP's `test_list`, `test_setup` / `test_setup_code`); the
// reason when they are malformed, else "".
std::string read_tests(const nlohmann::json& f, std::vector<std::string>* tests,
                       std::string* setup) {
  const nlohmann::json* t = field(f, "tests", "test_list");
  if (!t->is_array() || t->empty())
    return "\"tests\" must be a non-empty list of Python statements";
  for (const auto& x : *t) {
    if (!x.is_string()) return "\"tests\" items must be strings";
    tests->push_back(x.get<std::string>());
  }
  const nlohmann::json* su = field(f, "test_setup", "test_setup_code");
  if (su && !su->is_null() && !su->is_string()) return "\"test_setup\" must be a string";
  if (su && su->is_string()) *setup = su->get<std::string>();
  return "";
}

// The row's stdin/stdout pairs; the reason when they are malformed, else "".
std::string read_cases(const nlohmann::json& f, std::vector<std::string>* inputs,
                       std::vector<std::string>* outputs) {
  const nlohmann::json& c = *field(f, "test_cases");
  const char* shape =
      "\"test_cases\" must be a non-empty list of {\"input\": \"...\", \"output\": \"...\"}";
  if (!c.is_array() || c.empty()) return shape;
  for (const auto& x : c) {
    if (!x.is_object() || !x.contains("output") || !x["output"].is_string()) return shape;
    if (x.contains("input") && !x["input"].is_string()) return shape;
    inputs->push_back(x.value("input", std::string()));
    outputs->push_back(x["output"].get<std::string>());
  }
  return "";
}

sandbox::Step make_step(std::vector<std::string> argv, std::string in, double timeout_s,
                        int64_t memory_mb, bool required) {
  sandbox::Step st;
  st.argv = std::move(argv);
  st.stdin_data = std::move(in);
  st.limits.timeout_s = timeout_s;
  st.limits.memory_mb = memory_mb;
  st.required = required;
  return st;
}

// One completion's job and how to read its outcomes.
struct CodeTask {
  enum class Kind { kNotApplicable, kNoProgram, kBadRow, kHarness, kCases } kind = Kind::kNoProgram;
  std::string why;                    // kBadRow: what is wrong with the row
  sandbox::Job job;                   // kHarness, kCases
  HarnessTokens tokens;               // kHarness
  std::vector<std::string> expected;  // kCases: the expected stdout of each run step
  bool compiles = false;              // kCases: the job starts with a compile step
  size_t total = 0;                   // the number of tests
};

void harness_job(const std::string& program, const std::string& setup,
                 const std::vector<std::string>& tests, const CodeRewardOptions& o, CodeTask* t) {
  t->kind = CodeTask::Kind::kHarness;
  t->total = tests.size();
  t->tokens = make_harness_tokens(tests.size());
  sandbox::Step st =
      make_step({"python3", "-I", "-c", python_test_harness()},
                harness_payload(program, setup, tests, t->tokens), o.timeout_s, o.memory_mb, true);
  st.result_channel = true;
  t->job.steps.push_back(std::move(st));
}

void cases_job(const std::string& program, const CodeLanguage& l, std::vector<std::string> inputs,
               const CodeRewardOptions& o, CodeTask* t) {
  t->kind = CodeTask::Kind::kCases;
  t->total = inputs.size();
  t->job.files.push_back({l.file, program, false});
  t->job.ro_binds = l.ro_binds;
  t->compiles = !l.compile.empty();
  if (t->compiles) {  // the compiler writes the binary into the job directory for the runs
    t->job.steps.push_back(
        make_step(l.compile, "", o.compile_timeout_s, o.compile_memory_mb, true));
    t->job.steps.back().keep_files = true;
  }
  for (auto& in : inputs) {
    t->job.steps.push_back(make_step(l.run, std::move(in), o.timeout_s, o.memory_mb, false));
    t->job.steps.back().stop_on_timeout = true;  // a loop costs one timeout; later cases fail
  }
}

// The row's language, checked against the table and the kind of tests ("" when fine).
std::string row_language(const RewardSample& s, bool has_tests, const CodeRewardOptions& o,
                         std::string* lang) {
  *lang = o.language;
  if (const nlohmann::json* l = field(s.fields, "language"))
    *lang = l->is_string() ? lower(l->get<std::string>()) : l->dump();
  if (!o.languages.count(*lang))
    return "language '" + *lang + "' is not python, cpp or in the option \"languages\"";
  if (has_tests && *lang != "python")
    return "\"tests\" are Python statements, but the row's language is " + *lang +
           " (use test_cases)";
  return "";
}

CodeTask plan(const RewardSample& s, const CodeRewardOptions& o) {
  CodeTask t;
  const bool has_tests = field(s.fields, "tests", "test_list") != nullptr;
  if (!has_tests && !field(s.fields, "test_cases")) {
    t.kind = CodeTask::Kind::kNotApplicable;
    return t;
  }
  std::string lang, setup;
  std::vector<std::string> tests, inputs;
  t.why = row_language(s, has_tests, o, &lang);
  if (t.why.empty())
    t.why = has_tests ? read_tests(s.fields, &tests, &setup)
                      : read_cases(s.fields, &inputs, &t.expected);
  if (!t.why.empty()) {
    t.kind = CodeTask::Kind::kBadRow;
    return t;
  }
  const CodeLanguage& l = o.languages.at(lang);
  std::optional<std::string> program = extract_program(s.completion, l.fences, o.require_fence);
  if (!program) return t;  // kNoProgram
  if (has_tests)
    harness_job(*program, setup, tests, o, &t);
  else
    cases_job(*program, l, std::move(inputs), o, &t);
  return t;
}

// Scores a job's outcomes and counts what happened; `why` is set on a failure of the sandbox.
double judge(const CodeTask& t, const std::vector<sandbox::Outcome>& outs,
             const CodeRewardOptions& o, CodeCounters* n, std::string* why) {
  for (const auto& r : outs)
    if (r.sandbox_error) {
      ++n->sandbox_errors;
      *why = "the sandbox failed: " + r.error;
      return 0.0;
    }
  const size_t first_run = t.compiles ? 1 : 0;
  if (t.compiles && (outs.empty() || !outs[0].ok())) {
    ++n->compile_errors;
    return 0.0;
  }
  bool timed_out = false, memory = false;
  for (size_t i = first_run; i < outs.size(); ++i) {
    timed_out |= outs[i].timed_out;
    memory |= outs[i].memory_killed;
  }
  n->timeouts += timed_out;
  n->memory_kills += memory;
  if (t.kind == CodeTask::Kind::kHarness) {
    const HarnessReport r = read_harness_report(outs.empty() ? "" : outs[0].channel, t.tokens);
    n->compile_errors += r.syntax_error;
    return code_score(r.ran, r.passed, t.total, o);
  }
  bool ran = false;
  size_t passed = 0;
  for (size_t i = first_run; i < outs.size(); ++i) {
    ran |= outs[i].ok();
    passed += outs[i].ok() && outputs_match(outs[i].out, t.expected[i - first_run]);
  }
  return code_score(ran, passed, t.total, o);
}

}  // namespace

CodeReward::CodeReward(std::string name, CodeRewardOptions opts)
    : name_(std::move(name)), opts_(std::move(opts)), pool_(opts_.workers, opts_.isolation) {
  if (opts_.isolation == sandbox::Isolation::kBwrap) {
    const std::string why = sandbox::bwrap_unavailable_reason();
    RLVR_CHECK(why.empty(), "reward '", name_, "': ", why);
  } else {
    std::fprintf(stderr,
                 "warning: reward '%s': sandbox: none runs model-written programs without "
                 "isolation (only rlimits and the timeout); use it for trusted code only\n",
                 name_.c_str());
  }
}

std::vector<double> CodeReward::score(const std::vector<RewardSample>& batch) {
  std::vector<CodeTask> tasks;
  std::vector<sandbox::Job> jobs;
  std::vector<size_t> job_of(batch.size(), SIZE_MAX);
  for (size_t i = 0; i < batch.size(); ++i) {
    tasks.push_back(plan(batch[i], opts_));
    if (!tasks[i].job.steps.empty()) {
      job_of[i] = jobs.size();
      jobs.push_back(std::move(tasks[i].job));
    }
  }
  const std::vector<std::vector<sandbox::Outcome>> results = pool_.run_all(jobs);
  std::vector<double> out(batch.size(), 0.0);
  for (size_t i = 0; i < batch.size(); ++i) {
    const CodeTask& t = tasks[i];
    std::string why = t.why;
    if (t.kind == CodeTask::Kind::kNotApplicable)
      out[i] = kNaN;
    else if (job_of[i] != SIZE_MAX)
      out[i] = judge(t, results[job_of[i]], opts_, &counts_, &why);
    if (why.empty()) continue;
    ++counts_.errors;
    if (first_error_.empty()) {
      first_error_ = why;
      std::fprintf(stderr, "warning: reward '%s': %s (scored 0; counted in rewards/%s/errors)\n",
                   name_.c_str(), why.c_str(), name_.c_str());
    }
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> CodeReward::counters() const {
  return {{"timeouts", counts_.timeouts},
          {"memory_kills", counts_.memory_kills},
          {"compile_errors", counts_.compile_errors},
          {"sandbox_errors", counts_.sandbox_errors}};
}

namespace reward_detail {

std::unique_ptr<RewardFunction> make_code(const std::string& name, const nlohmann::json& o) {
  return std::make_unique<CodeReward>(name, code_reward_options(name, o));
}

}  // namespace reward_detail

}  // namespace rlvr
