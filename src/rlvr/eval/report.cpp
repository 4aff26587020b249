// Scoring of evaluated problems, results.json / results.md, and the two HTML reports
// (evaluation sweep and training curves). Charts are hand-written SVG with one shared style;
// every text that reaches HTML goes through html_escape.
#include "rlvr/eval/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "rlvr/answer/answer.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

using nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- scoring

ProblemScore score_problem(const std::string& prompt, const std::vector<std::string>& completions,
                           const std::vector<int64_t>& completion_tokens, const std::string& reference,
                           const std::string& protocol) {
  RLVR_CHECK(!completions.empty(), "score_problem: no completions");
  RLVR_CHECK(completion_tokens.size() == completions.size(), "score_problem: ", completions.size(),
             " completions but ", completion_tokens.size(), " token counts");
  RLVR_CHECK(protocol == "honest" || protocol == "published", "unknown eval protocol '", protocol,
             "'; use honest or published");
  ProblemScore s;
  s.n_samples = static_cast<int64_t>(completions.size());
  std::vector<std::optional<std::string>> answers;
  for (size_t i = 0; i < completions.size(); ++i) {
    auto a = extract_strict(completions[i]);
    if (a && answers_match(*a, reference)) ++s.samples_correct;
    answers.push_back(a);
    s.tokens += completion_tokens[i];
  }
  const std::string& first = completions[0];
  s.strict_ok = answers[0] && answers_match(*answers[0], reference);
  auto flex = protocol == "published" ? extract_published(prompt + first) : extract_flexible(first);
  s.flexible_ok = flex && answers_match(*flex, reference);
  s.formatted = has_answer_format(first);
  s.maj_ok = maj_at_k(answers, reference);
  return s;
}

ProblemScore score_verdicts(const std::vector<bool>& correct, const std::vector<int64_t>& completion_tokens) {
  RLVR_CHECK(!correct.empty(), "score_verdicts: no completions");
  RLVR_CHECK(completion_tokens.size() == correct.size(), "score_verdicts: ", correct.size(),
             " verdicts but ", completion_tokens.size(), " token counts");
  ProblemScore s;
  s.n_samples = static_cast<int64_t>(correct.size());
  for (size_t i = 0; i < correct.size(); ++i) {
    s.samples_correct += correct[i];
    s.tokens += completion_tokens[i];
  }
  s.strict_ok = s.flexible_ok = correct[0];
  return s;
}

void summarize_scores(const std::vector<ProblemScore>& problems, EvalRunResult& run) {
  run.n = static_cast<int64_t>(problems.size());
  run.strict_correct = run.flexible_correct = 0;
  int64_t formatted = 0, tokens = 0, completions = 0;
  double pass_sum = 0.0, pass1_sum = 0.0, maj_sum = 0.0;
  run.n_samples = problems.empty() ? 1 : problems[0].n_samples;
  for (const auto& p : problems) {
    RLVR_CHECK(p.n_samples == run.n_samples, "summarize_scores: problems have different sample counts (",
               p.n_samples, " vs ", run.n_samples, ")");
    run.strict_correct += p.strict_ok;
    run.flexible_correct += p.flexible_ok;
    formatted += p.formatted;
    tokens += p.tokens;
    completions += p.n_samples;
    pass_sum += pass_at_k(p.n_samples, p.samples_correct, p.n_samples);
    pass1_sum += pass_at_k(p.n_samples, p.samples_correct, 1);
    maj_sum += p.maj_ok;
  }
  run.strict_ci = wilson_interval(run.strict_correct, run.n);
  run.flexible_ci = wilson_interval(run.flexible_correct, run.n);
  const double n = std::max<double>(1.0, static_cast<double>(run.n));
  run.format_rate = formatted / n;
  run.mean_completion_tokens = completions ? static_cast<double>(tokens) / static_cast<double>(completions) : 0.0;
  const bool multi = run.n_samples > 1;
  run.pass_at_k = multi ? pass_sum / n : kNaN;
  run.maj_at_k = multi && run.judge.empty() ? maj_sum / n : kNaN;
  run.pass_at_1 = pass1_sum / n;
  // Clamped: the means of values in [0, 1] may pass 1 by a rounding step.
  run.pass_at_1_ci = wilson_interval_of_mean(std::min(run.pass_at_1, 1.0), run.n);
  run.pass_at_k_ci = multi ? wilson_interval_of_mean(std::min(run.pass_at_k, 1.0), run.n) : Interval{kNaN, kNaN};
}

// ---------------------------------------------------------------- JSON and Markdown

namespace {

double accuracy(int64_t correct, int64_t n) { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

const std::map<std::string, std::string>& protocol_notes() {
  static const std::map<std::string, std::string> notes = {
      {"honest",
       "test split, greedy, k-shot exemplars from the train split, stop at \"\\n\\nQuestion:\"; "
       "strict = first number after ####, flexible = last number of the completion"},
      {"published",
       "the published procedure, for comparison only: train-split problems, no stop sequence; "
       "flexible = last number anywhere in prompt + output (can read the prompt's numbers)"}};
  return notes;
}

std::string adapter_label(const EvalRunResult& r) { return r.adapter.empty() ? "base" : r.adapter; }

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(decimals) << v;
  return os.str();
}

std::string pct(double v, int decimals = 1) { return std::isfinite(v) ? fixed(100.0 * v, decimals) + "%" : "-"; }

std::string acc_cell(int64_t correct, int64_t n, const Interval& ci) {
  return pct(accuracy(correct, n)) + " [" + fixed(100.0 * ci.lo, 1) + ", " + fixed(100.0 * ci.hi, 1) + "]";
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// Runs in a stable display order: protocol, model, adapter, shots.
std::vector<EvalRunResult> sorted_runs(std::vector<EvalRunResult> runs) {
  std::stable_sort(runs.begin(), runs.end(), [](const EvalRunResult& a, const EvalRunResult& b) {
    return std::tie(a.protocol, a.model, a.adapter, a.shots) < std::tie(b.protocol, b.model, b.adapter, b.shots);
  });
  return runs;
}

std::set<std::string> protocols_of(const std::vector<EvalRunResult>& runs) {
  std::set<std::string> out;
  for (const auto& r : runs) out.insert(r.protocol);
  return out;
}

bool any_multi_sample(const std::vector<EvalRunResult>& runs) {
  for (const auto& r : runs)
    if (r.n_samples > 1) return true;
  return false;
}

// An interval written as [lo, hi] (null = NaN), or `fallback` when the key is absent (older files).
Interval ci_or(const json& o, const char* key, Interval fallback) {
  if (!o.contains(key)) return fallback;
  auto bound = [&](int i) { return o.at(key).at(i).is_number() ? o.at(key).at(i).get<double>() : kNaN; };
  return {bound(0), bound(1)};
}

}  // namespace

json results_json(const std::vector<EvalRunResult>& runs) {
  json arr = json::array();
  for (const auto& r : runs) {
    auto score = [&](int64_t correct, const Interval& ci) {
      return json{{"correct", correct}, {"accuracy", accuracy(correct, r.n)}, {"ci95", {ci.lo, ci.hi}}};
    };
    arr.push_back({{"model", r.model},
                   {"adapter", r.adapter},
                   {"protocol", r.protocol},
                   {"shots", r.shots},
                   {"n", r.n},
                   {"strict", score(r.strict_correct, r.strict_ci)},
                   {"flexible", score(r.flexible_correct, r.flexible_ci)},
                   {"format_rate", r.format_rate},
                   {"mean_completion_tokens", r.mean_completion_tokens},
                   {"n_samples", r.n_samples},
                   {"pass_at_k", num_or_null(r.pass_at_k)},
                   {"maj_at_k", num_or_null(r.maj_at_k)},
                   {"pass_at_1", r.pass_at_1},
                   {"pass_at_1_ci95", {r.pass_at_1_ci.lo, r.pass_at_1_ci.hi}},
                   {"pass_at_k_ci95", {num_or_null(r.pass_at_k_ci.lo), num_or_null(r.pass_at_k_ci.hi)}},
                   {"judge", r.judge},
                   {"seconds", r.seconds}});
  }
  json notes = json::object();
  for (const auto& p : protocols_of(runs)) {
    auto it = protocol_notes().find(p);
    if (it != protocol_notes().end()) notes[p] = it->second;
  }
  return {{"runs", arr}, {"protocols", notes}};
}

std::vector<EvalRunResult> results_from_json(const json& j) {
  RLVR_CHECK(j.is_object() && j.contains("runs") && j["runs"].is_array(),
             "eval results: expected an object with a \"runs\" array (as written by results_json)");
  std::vector<EvalRunResult> out;
  for (size_t i = 0; i < j["runs"].size(); ++i) {
    const json& o = j["runs"][i];
    try {
      EvalRunResult r;
      r.model = o.at("model").get<std::string>();
      r.adapter = o.at("adapter").get<std::string>();
      r.protocol = o.at("protocol").get<std::string>();
      r.shots = o.at("shots").get<int64_t>();
      r.n = o.at("n").get<int64_t>();
      r.strict_correct = o.at("strict").at("correct").get<int64_t>();
      r.flexible_correct = o.at("flexible").at("correct").get<int64_t>();
      r.strict_ci = {o.at("strict").at("ci95").at(0).get<double>(), o.at("strict").at("ci95").at(1).get<double>()};
      r.flexible_ci = {o.at("flexible").at("ci95").at(0).get<double>(),
                       o.at("flexible").at("ci95").at(1).get<double>()};
      r.format_rate = o.at("format_rate").get<double>();
      r.mean_completion_tokens = o.at("mean_completion_tokens").get<double>();
      r.n_samples = o.value("n_samples", int64_t{1});
      auto opt = [&](const char* key) { return o.contains(key) && o[key].is_number() ? o[key].get<double>() : kNaN; };
      r.pass_at_k = opt("pass_at_k");
      r.maj_at_k = opt("maj_at_k");
      r.pass_at_1 = o.contains("pass_at_1") ? opt("pass_at_1") : accuracy(r.strict_correct, r.n);
      r.pass_at_1_ci = ci_or(o, "pass_at_1_ci95", r.strict_ci);
      r.pass_at_k_ci = ci_or(o, "pass_at_k_ci95", Interval{kNaN, kNaN});
      r.judge = o.value("judge", std::string());
      r.seconds = o.value("seconds", 0.0);
      out.push_back(r);
    } catch (const json::exception& e) {
      fail("eval results: runs[", i, "]: ", e.what());
    }
  }
  return out;
}

namespace {

std::string ci_cell(double v, const Interval& ci) {
  return pct(v) + " [" + fixed(100.0 * ci.lo, 1) + ", " + fixed(100.0 * ci.hi, 1) + "]";
}

// The runs whose answers the GSM8K answer rules scored.
void answer_rule_table(const std::vector<EvalRunResult>& runs, std::ostringstream& md) {
  const bool multi = any_multi_sample(runs);
  md << "| protocol | model | adapter | shots | n | strict acc [95% CI] | flexible acc [95% CI] | format | mean tokens |";
  if (multi) md << " K | pass@K | maj@K |";
  md << " seconds |\n|---|---|---|--:|--:|--:|--:|--:|--:|";
  if (multi) md << "--:|--:|--:|";
  md << "--:|\n";
  for (const auto& r : runs) {
    md << "| " << md_cell(r.protocol == "published" ? "PUBLISHED" : r.protocol) << " | " << md_cell(r.model) << " | "
       << md_cell(adapter_label(r)) << " | " << r.shots << " | " << r.n << " | "
       << acc_cell(r.strict_correct, r.n, r.strict_ci) << " | " << acc_cell(r.flexible_correct, r.n, r.flexible_ci)
       << " | " << pct(r.format_rate) << " | " << fixed(r.mean_completion_tokens, 1) << " |";
    if (multi) md << " " << r.n_samples << " | " << pct(r.pass_at_k) << " | " << pct(r.maj_at_k) << " |";
    md << " " << fixed(r.seconds, 1) << " |\n";
  }
}

// The runs a reward judged (the code tests): pass@1 and pass@K with their intervals.
void judged_table(const std::vector<EvalRunResult>& runs, std::ostringstream& md) {
  md << "| judge | model | adapter | shots | n | pass@1 [95% CI] | K | pass@K [95% CI] | mean tokens | seconds |\n"
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& r : runs)
    md << "| " << md_cell(r.judge) << " | " << md_cell(r.model) << " | " << md_cell(adapter_label(r)) << " | "
       << r.shots << " | " << r.n << " | " << ci_cell(r.pass_at_1, r.pass_at_1_ci) << " | " << r.n_samples << " | "
       << (r.n_samples > 1 ? ci_cell(r.pass_at_k, r.pass_at_k_ci) : "-") << " | "
       << fixed(r.mean_completion_tokens, 1) << " | " << fixed(r.seconds, 1) << " |\n";
}

}  // namespace

std::string results_markdown(const std::vector<EvalRunResult>& runs_in) {
  std::vector<EvalRunResult> by_rules, judged;
  for (const auto& r : sorted_runs(runs_in)) (r.judge.empty() ? by_rules : judged).push_back(r);
  std::ostringstream md;
  if (!by_rules.empty() || judged.empty()) answer_rule_table(by_rules, md);
  if (!by_rules.empty() && !judged.empty()) md << "\n";
  if (!judged.empty()) judged_table(judged, md);
  md << "\n";
  for (const auto& p : protocols_of(by_rules)) {
    auto it = protocol_notes().find(p);
    md << "- **" << md_cell(p) << "**: " << md_cell(it != protocol_notes().end() ? it->second : "(no description)")
       << "\n";
  }
  if (!judged.empty())
    md << "- **judge**: a completion is correct when each named reward gives 1.0 (code: every test passes); "
          "pass@1 = mean over problems of correct / K, pass@K unbiased (Chen et al. 2021), 95% Wilson "
          "intervals over the problems\n";
  return md.str();
}

// ---------------------------------------------------------------- HTML and SVG

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// Colour-blind-safe palette (Okabe and Ito 2008), darkest first.
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};

struct Series {
  std::string name;
  std::string color;
  bool dashed = false;
  bool band = false;         // draw lo/hi as a shaded band instead of whiskers
  bool faint = false;        // thin translucent line without markers (raw values under a smoothed line)
  std::vector<double> x, y;  // same length; x sorted ascending
  std::vector<double> lo, hi;  // empty, or same length as y
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<std::string> categories;  // non-empty: x are category indices 0..C-1
  bool percent = false;                 // y in [0, 1] shown as %
  bool y_from_zero = false;
  double y_include = kNaN;              // a value the y range must reach (to share a scale)
  int width = 360, height = 230;
  bool legend = true;
};

// A 1-2-5 step covering `range` with about `target` intervals.
double nice_step(double range, int target) {
  double raw = range / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag;
  double step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return step * mag;
}

// A tick label for `v` on an axis of step `step`, with the decimals the step needs, so that
// neighbouring ticks read differently at any scale: k and M above 1e4, the SI prefixes µ, n, p, f
// and a below 1e-3 (4e-8 s reads 40n).
std::string fmt_num(double v, double step) {
  if (std::fabs(v) < step * 1e-6) v = 0.0;
  double scale = 1.0;
  std::string suffix;
  const double big = std::max(std::fabs(v), step);
  if (big >= 1e6) {
    scale = 1e6, suffix = "M";
  } else if (big >= 1e4) {
    scale = 1e3, suffix = "k";
  } else if (big < 1e-3) {
    static const char* const kSmall[] = {"\u00b5", "n", "p", "f", "a"};
    size_t i = 0;
    for (scale = 1e-6; i + 1 < std::size(kSmall) && big < scale; ++i) scale *= 1e-3;
    suffix = v == 0.0 ? "" : kSmall[i];
  }
  double s = step / scale;
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(s) + 1e-9)));
  return fixed(v / scale, std::min(decimals, 15)) + suffix;
}

std::string fmt_tick(double v, double step, bool percent) {
  return percent ? fmt_num(v * 100.0, step * 100.0) + "%" : fmt_num(v, step);
}

// Shortest round-trip-ish value text for tooltips.
std::string fmt_value(double v, bool percent) {
  if (percent) return fixed(100.0 * v, 1) + "%";
  if (std::fabs(v) >= 1e4) return fixed(v, 0);  // no scientific notation for large values
  std::ostringstream os;
  os << std::setprecision(4) << v;
  return os.str();
}

std::string svg_text(double x, double y, const std::string& text, const std::string& attrs) {
  std::ostringstream os;
  os << "<text x=\"" << fixed(x, 1) << "\" y=\"" << fixed(y, 1) << "\" " << attrs << ">" << html_escape(text)
     << "</text>";
  return os.str();
}

// Shortens `text` to at most `max_chars` characters with a middle ellipsis (SVG text does not
// wrap); counts UTF-8 code points so a cut never splits one.
std::string fit_text(const std::string& text, size_t max_chars) {
  std::vector<size_t> starts;  // byte offset of each code point
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() <= max_chars || max_chars < 5) return text;
  const size_t head = (max_chars - 1) / 2, tail = max_chars - 1 - head;
  return text.substr(0, starts[head]) + "\u2026" + text.substr(starts[starts.size() - tail]);
}

// Plot geometry: margins, axis ranges and steps, and the data-to-pixel maps.
struct Frame {
  double ml = 0, mr = 14, mt = 28, mb = 42;  // margins: left (fits the y tick labels), right, top, bottom
  double pw = 0, ph = 0;                     // plot area
  double x0 = 0, x1 = 1, xstep = 1, y0 = 0, y1 = 1, ystep = 1;
  int ny = 0;  // y tick intervals
  int legend_rows = 0;
  double total_h = 0;  // chart height plus the legend under it
  bool categorical = false, empty = false;
  double px(double x) const { return ml + (x - x0) / (x1 - x0) * pw; }
  double py(double y) const { return mt + (1.0 - (y - y0) / (y1 - y0)) * ph; }
};

struct Extent {
  double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
  bool empty = false;
};

// The finite points' extent (whiskers and bands included), widened by the chart's y rules.
Extent data_extent(const Chart& c) {
  Extent e;
  for (const auto& s : c.series) {
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      e.xmin = std::min(e.xmin, s.x[i]), e.xmax = std::max(e.xmax, s.x[i]);
      double lo = s.lo.empty() ? s.y[i] : s.lo[i], hi = s.hi.empty() ? s.y[i] : s.hi[i];
      e.ymin = std::min({e.ymin, s.y[i], lo}), e.ymax = std::max({e.ymax, s.y[i], hi});
    }
  }
  e.empty = e.xmin > e.xmax;
  if (e.empty) e.xmin = 0, e.xmax = 1, e.ymin = 0, e.ymax = 1;
  if (c.y_from_zero) e.ymin = std::min(e.ymin, 0.0), e.ymax = std::max(e.ymax, 0.0);
  if (std::isfinite(c.y_include))
    e.ymin = std::min(e.ymin, c.y_include), e.ymax = std::max(e.ymax, c.y_include);
  return e;
}

// Y axis: ticks on multiples of a 1-2-5 step; no negative ticks for a metric that never is.
void set_y_axis(const Chart& c, Extent e, Frame& f) {
  const bool nonnegative = e.ymin >= 0.0;
  if (e.ymax - e.ymin < 1e-12) {
    double pad = std::fabs(e.ymax) > 0 ? std::fabs(e.ymax) * 0.1 : 1.0;
    e.ymin -= pad, e.ymax += pad;
  }
  f.ystep = nice_step(e.ymax - e.ymin, 5);
  f.y0 = std::floor(e.ymin / f.ystep + 1e-9) * f.ystep;
  f.y1 = std::ceil(e.ymax / f.ystep - 1e-9) * f.ystep;
  if (c.percent) f.y0 = std::max(f.y0, 0.0), f.y1 = std::min(f.y1, 1.0);
  if (nonnegative) f.y0 = std::max(f.y0, 0.0);
  f.ny = static_cast<int>(std::lround((f.y1 - f.y0) / f.ystep));
}

// X axis: categories sit at 0..C-1; numbers get a 1-2-5 step.
void set_x_axis(const Chart& c, const Extent& e, Frame& f) {
  f.categorical = !c.categories.empty();
  f.x0 = e.xmin, f.x1 = e.xmax, f.xstep = 1;
  if (f.categorical) {
    f.x0 = -0.5, f.x1 = static_cast<double>(c.categories.size()) - 0.5;
  } else {
    if (f.x1 - f.x0 < 1e-12) f.x0 -= 1, f.x1 += 1;
    f.xstep = nice_step(f.x1 - f.x0, 6);
  }
}

Frame chart_frame(const Chart& c) {
  Frame f;
  f.legend_rows = c.legend && c.series.size() > 1 ? static_cast<int>(c.series.size()) : 0;
  const double legend_h = f.legend_rows * 17.0 + (f.legend_rows ? 6.0 : 0.0);
  f.total_h = c.height + legend_h;
  const Extent e = data_extent(c);
  f.empty = e.empty;
  set_y_axis(c, e, f);
  // The left margin fits the widest y tick label (about 6.5 px per character at 11 px).
  size_t widest = 0;
  for (int i = 0; i <= f.ny; ++i)
    widest = std::max(widest, fmt_tick(f.y0 + i * f.ystep, f.ystep, c.percent).size());
  f.ml = 12 + 6.5 * static_cast<double>(widest) + (c.y_label.empty() ? 0 : 16);
  f.pw = c.width - f.ml - f.mr, f.ph = c.height - f.mt - f.mb;
  set_x_axis(c, e, f);
  return f;
}

// The svg element, its title, the grid with y ticks and the x ticks.
void draw_grid(std::ostream& o, const Chart& c, const Frame& f) {
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << c.width << "\" height=\""
    << fixed(f.total_h, 0) << "\" viewBox=\"0 0 " << c.width << " " << fixed(f.total_h, 0) << "\" role=\"img\">\n";
  o << "<title>" << html_escape(c.title) << "</title>\n";
  o << svg_text(8, 17, fit_text(c.title, static_cast<size_t>((c.width - 16) / 8.0)), "class=\"ct\"") << "\n";
  for (int i = 0; i <= f.ny; ++i) {
    const double v = f.y0 + i * f.ystep, yy = f.py(v);
    o << "<line class=\"grid\" x1=\"" << fixed(f.ml, 1) << "\" x2=\"" << fixed(f.ml + f.pw, 1) << "\" y1=\""
      << fixed(yy, 1) << "\" y2=\"" << fixed(yy, 1) << "\"/>";
    o << svg_text(f.ml - 6, yy + 4, fmt_tick(v, f.ystep, c.percent), "class=\"tk\" text-anchor=\"end\"") << "\n";
  }
  auto xtick = [&](double v, const std::string& label) {
    double xx = f.px(v);
    o << "<line class=\"axis\" x1=\"" << fixed(xx, 1) << "\" x2=\"" << fixed(xx, 1) << "\" y1=\""
      << fixed(f.mt + f.ph, 1) << "\" y2=\"" << fixed(f.mt + f.ph + 4, 1) << "\"/>";
    o << svg_text(xx, f.mt + f.ph + 16, label, "class=\"tk\" text-anchor=\"middle\"") << "\n";
  };
  if (f.categorical) {
    for (size_t i = 0; i < c.categories.size(); ++i) xtick(static_cast<double>(i), c.categories[i]);
  } else {
    const double first = std::ceil(f.x0 / f.xstep - 1e-9);
    for (int i = 0; (first + i) * f.xstep <= f.x1 + f.xstep * 1e-6; ++i)
      xtick((first + i) * f.xstep, fmt_num((first + i) * f.xstep, f.xstep));
  }
}

// The axis lines, their labels, and "no data" on an empty chart.
void draw_axes(std::ostream& o, const Chart& c, const Frame& f) {
  const double ml = f.ml, mt = f.mt, pw = f.pw, ph = f.ph;
  o << "<line class=\"axis\" x1=\"" << ml << "\" x2=\"" << ml << "\" y1=\"" << mt << "\" y2=\"" << fixed(mt + ph, 1)
    << "\"/><line class=\"axis\" x1=\"" << ml << "\" x2=\"" << fixed(ml + pw, 1) << "\" y1=\"" << fixed(mt + ph, 1)
    << "\" y2=\"" << fixed(mt + ph, 1) << "\"/>\n";
  o << svg_text(ml + pw / 2, mt + ph + 34, c.x_label, "class=\"al\" text-anchor=\"middle\"") << "\n";
  if (!c.y_label.empty())
    o << "<text class=\"al\" text-anchor=\"middle\" transform=\"translate(13," << fixed(mt + ph / 2, 1)
      << ") rotate(-90)\">" << html_escape(c.y_label) << "</text>\n";
  if (f.empty) o << svg_text(ml + pw / 2, mt + ph / 2, "no data", "class=\"tk\" text-anchor=\"middle\"") << "\n";
}

// A series' lo/hi range as a shaded polygon (points `idx`, the finite ones).
void draw_band(std::ostream& o, const Series& s, const Frame& f, const std::vector<size_t>& idx) {
  o << "<polygon fill=\"" << s.color << "\" fill-opacity=\"0.15\" stroke=\"none\" points=\"";
  for (size_t i : idx) o << fixed(f.px(s.x[i]), 1) << "," << fixed(f.py(std::min(s.hi[i], f.y1)), 1) << " ";
  for (auto it = idx.rbegin(); it != idx.rend(); ++it)
    o << fixed(f.px(s.x[*it]), 1) << "," << fixed(f.py(std::max(s.lo[*it], f.y0)), 1) << " ";
  o << "\"/>\n";
}

// Point i of a series, shifted `off` px sideways: its whisker (a range not drawn as a band) and,
// when `marker`, a dot with a tooltip.
void draw_point(std::ostream& o, const Chart& c, const Frame& f, const Series& s, size_t i, double off,
                bool marker) {
  const double xx = f.px(s.x[i]) + off;
  std::string tip = s.name + " @ " + (f.categorical ? c.categories[static_cast<size_t>(s.x[i])] + " " + c.x_label
                                                    : c.x_label + " " + fmt_value(s.x[i], false));
  tip += ": " + fmt_value(s.y[i], c.percent);
  if (!s.lo.empty() && !s.hi.empty() && !s.band) {
    const double a = f.py(s.lo[i]), b = f.py(s.hi[i]);
    o << "<path stroke=\"" << s.color << "\" stroke-width=\"1.3\" fill=\"none\" d=\"M" << fixed(xx, 1) << ","
      << fixed(a, 1) << "V" << fixed(b, 1) << "M" << fixed(xx - 4, 1) << "," << fixed(a, 1) << "h8M"
      << fixed(xx - 4, 1) << "," << fixed(b, 1) << "h8\"/>";
    tip += " [" + fmt_value(s.lo[i], c.percent) + ", " + fmt_value(s.hi[i], c.percent) + "]";
  }
  if (marker)
    o << "<circle cx=\"" << fixed(xx, 1) << "\" cy=\"" << fixed(f.py(s.y[i]), 1) << "\" r=\""
      << (f.categorical ? 3.5 : 2.2) << "\" fill=\"" << s.color << "\"><title>" << html_escape(tip)
      << "</title></circle>\n";
}

// Series si: band, line, whiskers and markers. Categorical charts dodge series sideways so
// whiskers do not overlap.
void draw_series(std::ostream& o, const Chart& c, const Frame& f, size_t si) {
  const Series& s = c.series[si];
  const size_t ns = c.series.size();
  const double slot = f.categorical ? f.pw / static_cast<double>(c.categories.size()) : 0.0;
  const double dodge = f.categorical && ns > 1 ? std::min(9.0, slot * 0.5 / static_cast<double>(ns)) : 0.0;
  const double off = dodge * (static_cast<double>(si) - (static_cast<double>(ns) - 1.0) / 2.0);
  std::vector<size_t> idx;  // the finite points
  for (size_t i = 0; i < s.y.size(); ++i)
    if (std::isfinite(s.y[i])) idx.push_back(i);
  if (idx.empty()) return;
  if (!s.lo.empty() && !s.hi.empty() && s.band && idx.size() > 1) draw_band(o, s, f, idx);
  o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\""
    << (s.faint ? 1 : f.categorical ? 2 : 1.8) << "\"" << (s.faint ? " stroke-opacity=\"0.3\"" : "")
    << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
  for (size_t i : idx) o << fixed(f.px(s.x[i]) + off, 1) << "," << fixed(f.py(s.y[i]), 1) << " ";
  o << "\"/>\n";
  const bool markers = !s.faint && (f.categorical || idx.size() <= 60);
  for (size_t i : idx) draw_point(o, c, f, s, i, off, markers);
}

// The legend under the plot, one entry per line.
void draw_legend(std::ostream& o, const Chart& c, const Frame& f) {
  for (int i = 0; i < f.legend_rows; ++i) {
    const Series& s = c.series[static_cast<size_t>(i)];
    const double ly = c.height + 4 + i * 17.0;
    o << "<line x1=\"" << f.ml << "\" x2=\"" << f.ml + 22 << "\" y1=\"" << fixed(ly, 1) << "\" y2=\"" << fixed(ly, 1)
      << "\" stroke=\"" << s.color << "\" stroke-width=\"2.5\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
      << "/>"
      << svg_text(f.ml + 28, ly + 4, fit_text(s.name, static_cast<size_t>((c.width - f.ml - 34) / 7.4)), "class=\"lg\"")
      << "<title>" << html_escape(s.name) << "</title>\n";
  }
}

std::string render_chart(const Chart& c) {
  const Frame f = chart_frame(c);
  std::ostringstream o;
  draw_grid(o, c, f);
  draw_axes(o, c, f);
  for (size_t si = 0; si < c.series.size(); ++si) draw_series(o, c, f, si);
  draw_legend(o, c, f);
  o << "</svg>\n";
  return o.str();
}

const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;font-size:13px;margin-bottom:10px}
.charts{display:flex;flex-wrap:wrap;gap:10px 14px}
svg.chart{background:#fff;border:1px solid #e3e3e3;border-radius:4px}
svg .ct{font-size:13px;font-weight:600;fill:#222}svg .tk{font-size:11px;fill:#555}
svg .al{font-size:11.5px;fill:#333}svg .lg{font-size:12px;fill:#222}
svg .grid{stroke:#ececec;stroke-width:1}svg .axis{stroke:#888;stroke-width:1}
table{border-collapse:collapse;font-size:13px;margin-top:6px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f5f5f5}td.l,th.l{text-align:left}td.l{white-space:normal}.scroll{overflow-x:auto}
tr.published td{background:#fff8e6}
.note{font-size:13px;color:#444;margin:8px 0}.tag{font-weight:600}
.pub{background:#fff3cd;border:1px solid #f0d98c;padding:1px 5px;border-radius:3px}
</style>
)";

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html_escape(title) +
         "</title>\n" + kStyle + "</head>\n<body>\n" + body + "</body>\n</html>\n";
}

}  // namespace

// ---------------------------------------------------------------- evaluation report

namespace {
// Escaped text that may wrap after each '/' (long model and adapter paths).
std::string path_cell(const std::string& text) {
  std::string out;
  for (char c : html_escape(text)) {
    out += c;
    if (c == '/') out += "<wbr>";
  }
  return out;
}
}  // namespace

namespace {

// Strict and flexible accuracy against shots (evenly spaced categories), one series per
// (model, adapter, protocol), one colour per (model, adapter): the published protocol draws dashed.
struct AccuracyCharts {
  Chart strict, flexible;
};

AccuracyCharts empty_accuracy_charts(const std::vector<std::string>& shot_labels) {
  AccuracyCharts a;
  a.strict.title = "Strict accuracy (first number after ####), 95% Wilson interval";
  a.flexible.title = "Flexible accuracy (last number), 95% Wilson interval";
  for (Chart* c : {&a.strict, &a.flexible}) {
    c->x_label = "shots";
    c->y_label = "accuracy";
    c->categories = shot_labels;
    c->percent = true;
    c->y_from_zero = true;
    c->width = 545;
    c->height = 320;
  }
  return a;
}

AccuracyCharts accuracy_charts(const std::vector<EvalRunResult>& runs) {
  std::set<int64_t> shot_set;
  std::set<std::string> models;
  for (const auto& r : runs) shot_set.insert(r.shots), models.insert(r.model);
  std::vector<int64_t> shots(shot_set.begin(), shot_set.end());
  std::vector<std::string> cats;
  for (auto s : shots) cats.push_back(std::to_string(s));
  AccuracyCharts a = empty_accuracy_charts(cats);
  std::map<std::pair<std::string, std::string>, std::string> colors;
  std::map<std::string, size_t> series_index;
  for (const auto& r : runs) {
    std::string name = (models.size() > 1 ? r.model + " + " : "") + adapter_label(r);
    name += r.protocol == "published" ? "  [PUBLISHED protocol]" : "  [" + r.protocol + "]";
    auto it = series_index.find(name);
    if (it == series_index.end()) {
      auto ck = std::make_pair(r.model, r.adapter);
      if (!colors.count(ck)) colors[ck] = kPalette[colors.size() % (sizeof(kPalette) / sizeof(kPalette[0]))];
      Series s;
      s.name = name;
      s.color = colors[ck];
      s.dashed = r.protocol == "published";
      a.strict.series.push_back(s);
      a.flexible.series.push_back(s);
      it = series_index.emplace(name, a.strict.series.size() - 1).first;
    }
    const double xi = static_cast<double>(std::lower_bound(shots.begin(), shots.end(), r.shots) - shots.begin());
    auto add = [&](Series& s, int64_t correct, const Interval& ci) {
      s.x.push_back(xi);
      s.y.push_back(accuracy(correct, r.n));
      s.lo.push_back(ci.lo);
      s.hi.push_back(ci.hi);
    };
    add(a.strict.series[it->second], r.strict_correct, r.strict_ci);
    add(a.flexible.series[it->second], r.flexible_correct, r.flexible_ci);
  }
  // One y scale for both charts so strict and flexible compare by eye.
  double top = 0.0;
  for (const auto& r : runs) top = std::max({top, r.strict_ci.hi, r.flexible_ci.hi});
  a.strict.y_include = a.flexible.y_include = top;
  return a;
}

std::string results_table_html(const std::vector<EvalRunResult>& runs) {
  const bool multi = any_multi_sample(runs);
  std::ostringstream b;
  b << "<h2>Results</h2>\n<div class=\"scroll\"><table>\n<tr><th class=\"l\">protocol</th><th class=\"l\">model</th><th "
       "class=\"l\">adapter</th><th>shots</th><th>n</th><th>strict</th><th>strict 95% CI</th><th>flexible</th>"
       "<th>flexible 95% CI</th><th>format</th><th>mean tokens</th>";
  if (multi) b << "<th>K</th><th>pass@K</th><th>maj@K</th>";
  b << "<th>seconds</th></tr>\n";
  for (const auto& r : runs) {
    auto ci = [](const Interval& i) { return fixed(100.0 * i.lo, 1) + " – " + fixed(100.0 * i.hi, 1); };
    b << "<tr" << (r.protocol == "published" ? " class=\"published\"" : "") << "><td class=\"l\">"
      << html_escape(r.protocol == "published" ? "PUBLISHED" : r.protocol) << "</td><td class=\"l\">"
      << path_cell(r.model) << "</td><td class=\"l\">" << path_cell(adapter_label(r)) << "</td><td>" << r.shots
      << "</td><td>" << r.n << "</td><td>" << pct(accuracy(r.strict_correct, r.n)) << "</td><td>"
      << ci(r.strict_ci) << "</td><td>" << pct(accuracy(r.flexible_correct, r.n)) << "</td><td>"
      << ci(r.flexible_ci) << "</td><td>" << pct(r.format_rate) << "</td><td>" << fixed(r.mean_completion_tokens, 1)
      << "</td>";
    if (multi) b << "<td>" << r.n_samples << "</td><td>" << pct(r.pass_at_k) << "</td><td>" << pct(r.maj_at_k) << "</td>";
    b << "<td>" << fixed(r.seconds, 1) << "</td></tr>\n";
  }
  b << "</table></div>\n";
  return b.str();
}

}  // namespace

std::string eval_report_fragment(const std::vector<EvalRunResult>& runs_in) {
  const auto runs = sorted_runs(runs_in);
  const AccuracyCharts charts = accuracy_charts(runs);
  std::ostringstream b;
  b << "<h2>Accuracy vs shots</h2>\n<div class=\"charts\">\n"
    << render_chart(charts.strict) << render_chart(charts.flexible) << "</div>\n";
  for (const auto& p : protocols_of(runs)) {
    auto it = protocol_notes().find(p);
    b << "<p class=\"note\"><span class=\"" << (p == "published" ? "pub" : "tag") << "\">" << html_escape(p)
      << "</span>: " << html_escape(it != protocol_notes().end() ? it->second : "(no description)") << "</p>\n";
  }
  b << results_table_html(runs);
  return b.str();
}

std::string eval_report_html(const std::vector<EvalRunResult>& runs) {
  std::ostringstream b;
  b << "<h1>rlvr evaluation: GSM8K</h1>\n<div class=\"sub\">" << runs.size()
    << " runs; accuracies in percent with 95% Wilson score intervals</div>\n"
    << eval_report_fragment(runs);
  return page("rlvr evaluation", b.str());
}

void write_eval_outputs(const std::string& out_dir, const std::vector<EvalRunResult>& runs) {
  make_dirs(out_dir);
  write_json_file(join_path(out_dir, "results.json"), results_json(runs));
  write_text_file(join_path(out_dir, "results.md"), results_markdown(runs));
  write_text_file(join_path(out_dir, "report.html"), eval_report_html(runs));
}

// ---------------------------------------------------------------- training report

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Metric keys in display order: the named groups of grpo-spec section 7 first, then the rest.
std::vector<std::string> ordered_metrics(const std::set<std::string>& keys) {
  std::vector<std::string> out;
  std::set<std::string> used = {"step"};
  auto take = [&](const std::string& k) {
    if (keys.count(k) && !used.count(k)) out.push_back(k), used.insert(k);
  };
  auto take_prefix = [&](const std::string& prefix, const std::string& suffix) {
    for (const auto& k : keys)
      if (starts_with(k, prefix) && ends_with(k, suffix)) take(k);
  };
  take("reward");
  take_prefix("rewards/", "/mean");
  take("kl");
  take("completions/mean_length");
  take_prefix("clip_ratio/", "");
  take("loss");
  take_prefix("throughput/", "");
  // Standard deviations drawn as bands are not charted on their own.
  used.insert("reward_std");
  for (const auto& k : keys)
    if (starts_with(k, "rewards/") && ends_with(k, "/mean")) used.insert(k.substr(0, k.size() - 5) + "/std");
  for (const auto& k : keys) take(k);
  return out;
}

// Moving-average window for n points: 1 (no smoothing) up to 30 points, then about n/25, odd.
size_t smoothing_window(size_t n) {
  if (n <= 30) return 1;
  return std::max<size_t>(3, n / 25) | 1;
}

// Centered moving average; the window shrinks symmetrically at the ends.
std::vector<double> moving_average(const std::vector<double>& v, size_t window) {
  std::vector<double> out(v.size());
  const size_t half = window / 2;
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t h = std::min({half, i, v.size() - 1 - i});
    double sum = 0.0;
    for (size_t j = i - h; j <= i + h; ++j) sum += v[j];
    out[i] = sum / static_cast<double>(2 * h + 1);
  }
  return out;
}

// Name of the +-std companion of a metric, or "" when it has none.
std::string std_key(const std::string& k) {
  if (k == "reward") return "reward_std";
  if (starts_with(k, "rewards/") && ends_with(k, "/mean")) return k.substr(0, k.size() - 5) + "/std";
  return "";
}

// The numeric keys of the metrics rows; checks every row has a numeric "step".
std::set<std::string> numeric_keys(const std::vector<json>& rows) {
  std::set<std::string> keys;
  for (size_t i = 0; i < rows.size(); ++i) {
    RLVR_CHECK(rows[i].is_object() && rows[i].contains("step") && rows[i]["step"].is_number(),
               "training report: metrics row ", i + 1, " has no numeric \"step\"");
    for (auto it = rows[i].begin(); it != rows[i].end(); ++it)
      if (it.value().is_number()) keys.insert(it.key());
  }
  return keys;
}

// "N logged rows, steps A to B; M metrics" under the title.
std::string training_subtitle(const std::vector<json>& rows, size_t n_metrics) {
  double first_step = 0, last_step = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    double st = rows[i]["step"].get<double>();
    if (i == 0 || st < first_step) first_step = st;
    if (i == 0 || st > last_step) last_step = st;
  }
  std::ostringstream b;
  b << rows.size() << " logged rows";
  if (!rows.empty()) b << ", steps " << fmt_value(first_step, false) << " to " << fmt_value(last_step, false);
  b << "; " << n_metrics << " metrics";
  return b.str();
}

// Metric `k` over the rows in step order (`order`: step, row index), finite values only; with a
// +-std band when its std companion was logged.
Series metric_series(const std::vector<json>& rows, const std::vector<std::pair<double, size_t>>& order,
                     const std::string& k, const std::set<std::string>& keys) {
  Series s;
  s.name = k;
  s.color = kPalette[0];
  const std::string sk = std_key(k);
  s.band = !sk.empty() && keys.count(sk);
  for (const auto& [st, i] : order) {
    const json& row = rows[i];
    if (!row.contains(k) || !row[k].is_number()) continue;
    const double v = row[k].get<double>();
    if (!std::isfinite(v)) continue;
    s.x.push_back(st);
    s.y.push_back(v);
    if (s.band) {
      double sd = row.contains(sk) && row[sk].is_number() ? row[sk].get<double>() : 0.0;
      s.lo.push_back(v - sd);
      s.hi.push_back(v + sd);
    }
  }
  return s;
}

// One metric's chart; noisy long runs draw the raw values faint and a moving average on top
// (band smoothed too). Sets *smoothed when it does.
Chart metric_chart(Series s, bool* smoothed) {
  const bool band = s.band;
  Chart c;
  c.title = s.name + (s.y.empty() ? "" : "  (last " + fmt_value(s.y.back(), false) + ")");
  c.x_label = "step";
  c.y_label = band ? "mean ± std" : "";
  c.legend = false;
  const size_t window = smoothing_window(s.y.size());
  if (window > 1) {
    Series smooth = s;
    smooth.y = moving_average(s.y, window);
    if (band) smooth.lo = moving_average(s.lo, window), smooth.hi = moving_average(s.hi, window);
    s.faint = true;
    s.band = false;
    s.lo.clear(), s.hi.clear();
    c.series.push_back(std::move(s));
    c.series.push_back(std::move(smooth));
    *smoothed = true;
  } else {
    c.series.push_back(std::move(s));
  }
  return c;
}

// The named groups of grpo-spec section 7 come first; the rest go under "Other metrics".
bool is_named_metric(const std::string& k) {
  return k == "reward" || k == "kl" || k == "completions/mean_length" || k == "loss" || starts_with(k, "rewards/") ||
         starts_with(k, "clip_ratio/") || starts_with(k, "throughput/");
}

}  // namespace

std::string training_report_html(const std::vector<json>& rows, const std::string& title,
                                 const std::string& extra_html) {
  const std::set<std::string> keys = numeric_keys(rows);
  const auto metrics = ordered_metrics(keys);
  std::ostringstream b;
  b << "<h1>" << html_escape(title) << "</h1>\n<div class=\"sub\">" << training_subtitle(rows, metrics.size())
    << "</div>\n";
  std::vector<std::pair<double, size_t>> order;  // rows by step
  for (size_t i = 0; i < rows.size(); ++i) order.emplace_back(rows[i]["step"].get<double>(), i);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& c) { return a.first < c.first; });
  bool others_open = false, smoothed_any = false;
  b << "<h2>Training curves</h2>\n";
  if (metrics.empty()) b << "<p class=\"note\">No numeric metrics logged yet.</p>\n";
  b << "<div class=\"charts\">\n";
  for (const std::string& k : metrics) {
    if (!is_named_metric(k) && !others_open) {
      b << "</div>\n<h2>Other metrics</h2>\n<div class=\"charts\">\n";
      others_open = true;
    }
    b << render_chart(metric_chart(metric_series(rows, order, k, keys), &smoothed_any));
  }
  b << "</div>\n";
  if (smoothed_any)
    b << "<p class=\"note\">Faint lines are the logged values; dark lines a centered moving average over about "
         "4% of the logged steps.</p>\n";
  b << extra_html;
  return page(title, b.str());
}

std::vector<json> read_metrics_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RLVR_CHECK(in.good(), path, ": cannot open; a run directory holds metrics.jsonl once training has logged a step");
  std::vector<json> rows;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(line);
    } catch (const json::parse_error& e) {
      // nlohmann's text counts lines within this one line; keep only its reason after "column N: ".
      std::string why = e.what();
      size_t col = why.find("column ");
      size_t colon = col == std::string::npos ? std::string::npos : why.find(": ", col);
      if (colon != std::string::npos) why = why.substr(colon + 2);
      fail(path, ":", lineno, ":", e.byte, ": invalid JSON (", why, "); each line must be one JSON object");
    } catch (const json::exception& e) {  // e.g. a number out of range ("1e999")
      fail(path, ":", lineno, ": invalid JSON (", e.what(), "); each line must be one JSON object");
    }
    RLVR_CHECK(row.is_object(), path, ":", lineno, ": expected a JSON object, got ", row.type_name());
    RLVR_CHECK(row.contains("step") && row["step"].is_number(), path, ":", lineno,
               ": missing numeric \"step\" key; every metrics row needs one");
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace rlvr
