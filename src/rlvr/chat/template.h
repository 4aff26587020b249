// A Jinja template as transformers renders chat templates (Python's jinja2 in an immutable
// sandbox, trim_blocks, lstrip_blocks, the loop controls, tojson = json.dumps keeping non-ASCII,
// raise_exception, strftime_now). Parsed once, rendered many times; torch-free.
// See docs/chat-templates.md for what is supported.
#pragma once
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "rlvr/chat/value.h"

namespace rlvr::jinja {

struct Stmt;

// Guards against templates that never end (fuzzing, or a mistake): each is an rlvr::Error.
struct Limits {
  size_t max_output = size_t{256} << 20;  // bytes of any string the template builds
  uint64_t max_steps = 50'000'000;        // loop iterations, macro calls, range() items, unique() comparisons
  int max_calls = 100;                    // nested macro calls
  int max_depth = 1000;                   // nested blocks and expressions being evaluated
};

struct RenderOptions {
  Limits limits;
  // The clock strftime_now() reads (local time); unset: the current time.
  std::optional<std::time_t> now;
};

class Template {
 public:
  // Parses `source`; `name` (a file name) prefixes every error with its line:column.
  // Unknown syntax, tags, filters or tests fail here.
  Template(const std::string& source, std::string name);
  // Renders with `vars` as the template's variables. A template that calls raise_exception(msg)
  // or fails (an undefined value used, a type error) throws rlvr::Error
  // "<name>:<line>:<col>: <message>".
  std::string render(const Entries& vars, const RenderOptions& opt = {}) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
};

}  // namespace rlvr::jinja
