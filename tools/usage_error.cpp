// Usage errors in rlvr's form (usage_error.h). CLI11 leaves what it could not place in
// remaining() of the command it was parsing, and the parse's selected commands in
// get_subcommands(): the messages are built from those, not from CLI11's texts, except for the
// option a conversion or a missing value is about, which only CLI11's text names.
#include "usage_error.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "rlvr/core/spelling.h"

namespace rlvr::cli {

namespace {

using Apps = std::vector<const CLI::App*>;

// The commands the parse selected, from the top: rlvr, bench, generate.
Apps selected_chain(const CLI::App& root) {
  Apps chain{&root};
  while (!chain.back()->get_subcommands().empty())
    chain.push_back(chain.back()->get_subcommands().front());
  return chain;
}

// "rlvr bench generate": the words that select `app`.
std::string path_of(const CLI::App* app) {
  std::string path;
  for (; app->get_parent() != nullptr; app = app->get_parent()) path = " " + app->get_name() + path;
  return "rlvr" + path;
}

// " for 'rlvr bench'"; "" for the top level.
std::string for_app(const CLI::App& app) {
  return app.get_parent() == nullptr ? "" : " for '" + path_of(&app) + "'";
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;  // CLI11's option groups are subcommands without a name
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
    names.push_back(sub->get_name());
  return names;
}

// A flag's name without its dashes: "model" for --model.
std::string bare(const std::string& flag) {
  return flag.substr(std::min(flag.find_first_not_of('-'), flag.size()));
}

// The flag of `app` that `flag` most likely misspells, compared without dashes ("-m" is no typo
// of "-h", "-model" is one of "--model"); "" when none is close.
std::string closest_flag(const CLI::App& app, const std::string& flag) {
  std::vector<std::string> names, bare_names;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
  }
  for (const std::string& n : names) bare_names.push_back(bare(n));
  const std::string near = closest_name(bare(flag), bare_names);
  for (const std::string& n : names)
    if (!near.empty() && bare(n) == near) return n;
  return "";
}

std::string did_you_mean(const std::string& near) {
  return near.empty() ? "" : "; did you mean '" + near + "'?";
}

std::string unknown_command(const CLI::App& app, const std::string& word) {
  const std::vector<std::string> names = command_names(app);
  std::string fix = did_you_mean(closest_name(word, names));
  if (fix.empty())
    fix =
        "; the commands are " + joined(names) + " ('" + path_of(&app) + " --help' describes them)";
  return "unknown command '" + word + "'" + for_app(app) + fix;
}

// The positional of `app` that the flag `flag` names (--run-dir for run_dir), or null.
const CLI::Option* positional_named(const CLI::App& app, const std::string& flag) {
  auto snake = [](std::string s) {
    for (char& c : s) c = c == '-' ? '_' : c;
    return s;
  };
  const std::string name = snake(bare(flag));
  for (const CLI::Option* o : app.get_options())
    if (o->get_lnames().empty() && o->get_snames().empty() && snake(o->get_name()) == name)
      return o;
  return nullptr;
}

std::string unknown_flag(const CLI::App& app, const std::string& arg) {
  const std::string flag = arg.substr(0, arg.find('='));
  const std::string path = path_of(&app);
  std::string fix = did_you_mean(closest_flag(app, flag));
  if (const CLI::Option* p = positional_named(app, flag))
    fix = "; " + p->get_name() + " takes no flag: " + path + " <" + p->get_name() + ">";
  if (fix.empty()) fix = "; '" + path + " --help' lists the flags";
  return "unknown flag '" + flag + "'" + for_app(app) + fix;
}

// The first argument that no selected command took, as an error; "" when there is none.
std::string unknown_argument(const Apps& chain) {
  for (const CLI::App* app : chain) {
    const std::vector<std::string> rest = app->remaining();
    if (rest.empty()) continue;
    const std::string& arg = rest.front();
    if (arg.size() > 1 && arg[0] == '-') return unknown_flag(*app, arg);
    if (!command_names(*app).empty()) return unknown_command(*app, arg);
    return "unexpected argument '" + arg + "'" + for_app(*app) + "; '" + path_of(app) +
           " --help' shows what it takes";
  }
  return "";
}

std::string usage_of(const CLI::Option& o) {
  if (o.get_lnames().empty() && o.get_snames().empty()) return "<" + o.get_name() + ">";
  const std::string value = o.get_option_text().empty() ? o.get_type_name() : o.get_option_text();
  return o.get_name() + (value.empty() ? "" : " " + value);  // a flag has no value
}

// The first required option or subcommand that the selected commands lack; "" when none is.
std::string missing_requirement(const Apps& chain) {
  for (const CLI::App* app : chain) {
    const std::string path = path_of(app);
    for (const CLI::Option* o : app->get_options()) {
      if (!o->get_required() || o->count() > 0) continue;
      const std::string what =
          o->get_description().empty() ? "" : " (" + o->get_description() + ")";
      return "missing " + o->get_name() + " for '" + path + "'" + what + "; add it: " + path + " " +
             usage_of(*o);
    }
    if (app->get_require_subcommand_min() > 0 && app->get_subcommands().empty())
      return "missing command for '" + path + "'; add one of: " + joined(command_names(*app));
  }
  return "";
}

std::string value_words(const std::string& type) {
  if (type == "INT") return "a whole number";
  if (type == "UINT") return "a whole number >= 0";
  if (type == "FLOAT") return "a number";
  if (type.empty()) return "true or false";  // a flag's --decode=VALUE
  return "a value";
}

// The option of the selected commands that CLI11's message `what` is about (it reads
// lead + the option's name + tail + the rest), with its command; the rest goes to *rest.
std::pair<const CLI::App*, const CLI::Option*> option_in(const Apps& chain, const std::string& what,
                                                         const std::string& lead,
                                                         const std::string& tail,
                                                         std::string* rest) {
  for (const CLI::App* app : chain)
    for (const CLI::Option* o : app->get_options()) {
      const std::string head = lead + o->get_name() + tail;
      if (what.rfind(head, 0) != 0) continue;
      *rest = what.substr(head.size());
      return {app, o};
    }
  return {nullptr, nullptr};
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A value that does not convert ("Could not convert: --limit = abc") or a flag without its value
// ("--limit: 1 required INT missing"); "" for other messages.
std::string bad_value(const Apps& chain, const std::string& what) {
  std::string rest;
  auto [app, o] = option_in(chain, what, "Could not convert: ", " = ", &rest);
  std::string problem = ", not '" + rest + "'";
  if (o == nullptr) {
    std::tie(app, o) = option_in(chain, what, "", ": ", &rest);
    if (o == nullptr || !ends_with(rest, " missing")) return "";
    problem = " and none was given";
  }
  const std::string& dflt = o->get_default_str();
  const std::string fix =
      dflt.empty() ? "; give it as " + usage_of(*o) : "; e.g. " + o->get_name() + " " + dflt;
  return o->get_name() + " of '" + path_of(app) + "' takes " + value_words(o->get_type_name()) +
         problem + fix;
}

}  // namespace

std::string usage_error(const CLI::App& app, const CLI::ParseError& e) {
  const Apps chain = selected_chain(app);
  for (const std::string& m :
       {unknown_argument(chain), bad_value(chain, e.what()), missing_requirement(chain)})
    if (!m.empty()) return m;
  const std::string path = path_of(chain.back());
  return path + ": " + e.what() + "; see '" + path + " --help'";
}

void finish_options(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) {
    o->capture_default_str();
    if (o->get_default_str() == "{}") o->default_str("");  // an empty list: nothing to show
    if (o->get_type_name() != "UINT") continue;
    // Validators run before the conversion, which would wrap "-5" round to 2^64 - 5.
    o->check(CLI::Validator(
        [name = o->get_name()](std::string& v) -> std::string {
          if (!v.empty() && v[0] == '-')
            throw CLI::ConversionError(name, std::vector<std::string>{v});
          return "";
        },
        ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) finish_options(*sub);
}

}  // namespace rlvr::cli
