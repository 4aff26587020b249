// `rlvr recipe-keys`: the recipe key tables of docs/recipe.md, generated from the recipe listings.
#include <cstdio>

#include "commands.h"
#include "rlvr/core/files.h"
#include "rlvr/train/recipe.h"

namespace rlvr::cli {

void add_recipe_commands(CLI::App& app, CLI::App&) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("recipe-keys",
                                 "Print every recipe key (type, default, meaning) as the Markdown tables of "
                                 "docs/recipe.md");
  cmd->add_option("--update", *file,
                  "rewrite the tables between the BEGIN/END recipe keys markers of this Markdown file "
                  "(docs/recipe.md)");
  cmd->callback([file] {
    if (file->empty()) {
      std::printf("%s", recipe_keys_markdown().c_str());
      return;
    }
    write_text_file(*file, update_recipe_keys_markdown(read_text_file(*file), *file));
    std::fprintf(stderr, "%s: recipe key tables updated\n", file->c_str());
  });
}

}  // namespace rlvr::cli
