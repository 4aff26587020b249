// The key tables of docs/recipe.md, rendered from the recipe listings (recipe.cpp): both recipes'
// keys merged into one table per section, then the TRL keys rlvr accepts without using them.
#include <cctype>
#include <sstream>

#include "rlvr/core/error.h"
#include "rlvr/train/recipe.h"
#include "rlvr/train/recipe_listing.h"

namespace rlvr {
namespace {

const char* const kBegin =
    "<!-- BEGIN recipe keys: generated from the listings in src/rlvr/train/recipe.cpp by "
    "`rlvr recipe-keys --update docs/recipe.md`; do not edit by hand -->\n";
const char* const kEnd = "<!-- END recipe keys -->\n";
const char* const kTableHead = "| key | type | default | meaning |\n| --- | --- | --- | --- |\n";

// Table cell text: `|` escaped; outside code spans, a `<` that would open an HTML tag
// (`<output_dir>`) as an entity.
std::string cell(const std::string& text) {
  std::string out;
  bool code = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    code ^= c == '`';
    const bool tag = c == '<' && i + 1 < text.size() && (std::isalpha(static_cast<unsigned char>(text[i + 1])) ||
                                                         text[i + 1] == '/');
    out += c == '|' ? "\\|" : !code && tag ? "&lt;" : std::string(1, c);
  }
  return out;
}

// "one of a|b|c" -> "a, b, c"; other types as the listing names them.
std::string type_text(const std::string& type) {
  const std::string one_of = "one of ";
  if (type.compare(0, one_of.size(), one_of) != 0) return type;
  std::string out = type.substr(one_of.size());
  for (size_t at = out.find('|'); at != std::string::npos; at = out.find('|', at)) out.replace(at, 1, ", ");
  return out;
}

const RecipeKeyInfo* find_key(const std::vector<RecipeKeyInfo>& keys, const std::string& key) {
  for (const auto& k : keys)
    if (k.key == key) return &k;
  return nullptr;
}

// One row; `sft` is the same key in the SFT listing (null when it has none).
std::string key_row(const RecipeKeyInfo& k, const RecipeKeyInfo* sft) {
  std::string def = "`" + k.default_value + "`";
  if (sft && sft->default_value != k.default_value) def += " (sft: `" + sft->default_value + "`)";
  std::string doc = k.doc;
  for (size_t i = 0; i < k.aliases.size(); ++i) doc += (i ? ", `" : "; alias `") + k.aliases[i] + "`";
  return "| `" + k.key + "` | " + cell(type_text(k.type)) + " | " + cell(def) + " | " + cell(doc) + " |\n";
}

struct Section {
  std::string title;
  std::vector<const RecipeKeyInfo*> keys;
  std::vector<bool> in_grpo, in_sft;  // per key
};

// Sections in listing order: the GRPO listing's, then those only the SFT listing has.
std::vector<Section> merged_sections(const std::vector<RecipeKeyInfo>& grpo,
                                     const std::vector<RecipeKeyInfo>& sft) {
  std::vector<Section> sections;
  auto add = [&](const RecipeKeyInfo& k) {
    if (sections.empty() || sections.back().title != k.section) {
      for (const auto& s : sections)
        RLVR_CHECK(s.title != k.section, "recipe listing: section '", k.section,
                   "' is split; keep its keys together");
      sections.push_back({k.section, {}, {}, {}});
    }
    sections.back().keys.push_back(&k);
    sections.back().in_grpo.push_back(find_key(grpo, k.key) != nullptr);
    sections.back().in_sft.push_back(find_key(sft, k.key) != nullptr);
  };
  for (const auto& k : grpo) add(k);
  for (const auto& k : sft)
    if (!find_key(grpo, k.key)) add(k);
  return sections;
}

// "### Title", marked when only one command reads the section's keys.
std::string section_heading(const Section& s) {
  for (size_t i = 1; i < s.keys.size(); ++i)
    RLVR_CHECK(s.in_grpo[i] == s.in_grpo[0] && s.in_sft[i] == s.in_sft[0], "recipe listing: key '",
               s.keys[i]->key, "' is read by other commands than the rest of section '", s.title,
               "'; give it its own section");
  const std::string only = !s.in_sft[0] ? " (`rlvr train` only)" : !s.in_grpo[0] ? " (`rlvr sft` only)" : "";
  return "### " + s.title + only + "\n\n";
}

std::string foreign_keys_markdown() {
  std::ostringstream md;
  md << "### TRL keys rlvr accepts without using them\n\n"
        "Each is read, ignored and reported in one notice line at startup (e.g. `recipe.yaml:3: TRL key "
        "'report_to' ignored: metrics go to <output_dir>/metrics.jsonl`). Where accepted values are listed, "
        "rlvr does not implement the TRL feature: any other value is an error rather than a silent change "
        "of training. A key ending in `*` stands for every key with that prefix. Any other key is an error "
        "with a did-you-mean hint.\n\n"
        "| key | accepted values | why rlvr does not use it |\n| --- | --- | --- |\n";
  for (const auto& fk : recipe_detail::foreign_keys()) {
    std::string values = fk.allowed.empty() ? "any" : "";
    for (size_t i = 0; i < fk.allowed.size(); ++i) values += (i ? ", `" : "`") + fk.allowed[i] + "`";
    md << "| `" << fk.key << "` | " << cell(values) << " | " << cell(fk.reason) << " |\n";
  }
  return md.str();
}

}  // namespace

std::string recipe_keys_markdown() {
  const auto grpo = recipe_keys(GrpoRecipe()), sft = recipe_keys(SftRecipe());
  std::ostringstream md;
  md << kBegin << "\n";
  for (const auto& s : merged_sections(grpo, sft)) {
    md << section_heading(s) << kTableHead;
    for (const RecipeKeyInfo* k : s.keys) md << key_row(*k, find_key(sft, k->key));
    md << "\n";
  }
  md << foreign_keys_markdown() << "\n" << kEnd;
  return md.str();
}

std::string update_recipe_keys_markdown(const std::string& text, const std::string& source) {
  const size_t begin = text.find("<!-- BEGIN recipe keys");
  const size_t end = text.find(kEnd, begin == std::string::npos ? 0 : begin);
  RLVR_CHECK(begin != std::string::npos && end != std::string::npos, source,
             ": no recipe key tables to update; it needs a line starting '<!-- BEGIN recipe keys' and a "
             "later line '",
             std::string(kEnd, std::string(kEnd).size() - 1), "'");
  return text.substr(0, begin) + recipe_keys_markdown() + text.substr(end + std::string(kEnd).size());
}

}  // namespace rlvr
