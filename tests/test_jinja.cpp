// The Jinja interpreter (src/rlvr/chat/), construct by construct, each against a hand-worked
// rendering (every one also what Python's jinja2 3.1.6 renders with transformers' settings:
// trim_blocks, lstrip_blocks, loop controls, its tojson). Errors: one line naming the template
// and line:column.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rlvr/chat/template.h"
#include "rlvr/core/error.h"

namespace rlvr::jinja {
namespace {

// The variables every case sees.
const Entries& context() {
  static const Entries vars = [] {
    const auto j = nlohmann::ordered_json::parse(R"({
      "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello"}],
      "xs": [3, 1, 2], "s": " Hello World ", "d": {"b": 1, "a": [1, 2]}, "n": 7, "f": 2.5,
      "users": [{"name": "ann", "age": 30}, {"name": "bob"}], "text": "a\nb", "none": null,
      "word": "héllo"})");
    Entries e;
    for (auto it = j.begin(); it != j.end(); ++it) e.emplace_back(it.key(), from_json(it.value()));
    return e;
  }();
  return vars;
}

std::string render(const std::string& src, std::time_t now = 0) {
  RenderOptions opt;
  if (now) opt.now = now;
  return Template(src, "t.jinja").render(context(), opt);
}

// The rlvr::Error a template gives (parsing or rendering), or "" when it renders.
std::string error_of(const std::string& src, const RenderOptions& opt = {}) {
  try {
    Template(src, "t.jinja").render(context(), opt);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define CHECK(src, expected) EXPECT_EQ(render(src), expected) << (src)

TEST(Jinja, TextAndOutput) {
  CHECK(R"J(plain text)J", R"J(plain text)J");
  CHECK(R"J({{ 'a' }}{{ "b" }}{{ 1 }}{{ 2.5 }}{{ none }}{{ true }}{{ False }})J", R"J(ab12.5NoneTrueFalse)J");
  CHECK(R"J({{ [1, 'x', none, [true]] }} {{ {'k': "it's", 'n': 1.0} }} {{ (1,) }})J",
        R"J([1, 'x', None, [True]] {'k': "it's", 'n': 1.0} (1,))J");
  CHECK(R"J({{ undefined_name }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 1e-5 }})J", R"J(|1e+20|0.30000000000000004|1e-05)J");
  CHECK(R"J({{ 'a' 'b' }}{{ 'tab\tnew\nq\'\x41\u00e9' }})J", "abtab\tnew\nq'A\xC3\xA9");
}

TEST(Jinja, WhitespaceControl) {
  // trim_blocks drops the newline after a tag; lstrip_blocks the indentation before one.
  CHECK("{% if true %}\n  yes\n{% endif %}\n  {% if true %}\nok\n  {% endif %}\nend", "  yes\nok\nend");
  CHECK("a  {%- if true -%}  b  {%- endif -%}  c", "abc");
  CHECK("a {{- 'b' -}} c {{ 'd' }} \n", "abc d ");  // the last newline of a template is dropped
  CHECK("  {%+ if true %}x{% endif +%}\ny", "  x\ny");  // + keeps both sides
  CHECK("a\n  {# comment #}\nb {#- c -#} c", "a\nbc");
  CHECK("{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}");
  CHECK("x\r\ny\rz", "x\ny\nz");  // newlines normalised
  CHECK("{{ 'a' }}\n{{ 'b' }}", "a\nb");  // }} keeps its newline
}

TEST(Jinja, Expressions) {
  CHECK(R"J({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }})J",
        R"J(7 9 3 -4 2 3.5 1024)J");
  CHECK(R"J({{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ -n }} {{ not n }})J",
        R"J(ab a1None abab [1, 2] -7 False)J");
  CHECK(R"J({{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 2 == 2.0 }} {{ 'a' != 'b' }} {{ 'el' in 'hello' }} {{ 4 not in xs }})J",
        R"J(True False True True True True)J");
  CHECK(R"J({{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ 'a' if n > 5 else 'b' }} {{ 'a' if n < 5 }}|)J",
        R"J(x y [] a |)J");
  CHECK(R"J({{ 'b' in d }} {{ 'z' in d }} {{ messages[0] in messages }} {{ (1, 2) == [1, 2] }})J",
        R"J(True False True False)J");
  CHECK(R"J({{ "x" + s | trim + "y" }})J", R"J(xHello Worldy)J");  // filters bind tighter than +
}

TEST(Jinja, AttributesItemsAndSlices) {
  CHECK(R"J({{ messages[0].role }} {{ messages[-1]['content'] }} {{ messages[1]["role"] }} {{ xs.0 }})J",
        R"J(system Hello user 3)J");
  CHECK(R"J({{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ 'abcdef'[1:4] }} {{ word[1] }}{{ word[-4:] }})J",
        "[1, 2] [3, 1] [2, 1, 3] [3, 2] bcd \xC3\xA9\xC3\xA9llo");
  CHECK(R"J({{ xs[10] }}|{{ d.missing }}|{{ d['a'][1] }}|{{ none.x }}|{{ d.keys() | list }})J", R"J(||2||['b', 'a'])J");
  // `.items` is the dict's method even when a key is called "items"; ['items'] is the key.
  CHECK(R"J({% set m = {'items': 5} %}{{ m['items'] }} {{ m.items() | list }} {{ m.items is defined }})J",
        R"J(5 [('items', 5)] True)J");
}

TEST(Jinja, ForLoops) {
  CHECK(R"J({% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.length }}{{ loop.first }}{{ loop.last }}|{% endfor %})J",
        R"J(10323TrueFalse|21213FalseFalse|32103FalseTrue|)J");
  CHECK(R"J({% for x in xs %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }}{{ loop.cycle('a', 'b') }} {% endfor %})J",
        R"J(>3>1a 3>1>2b 1>2>a )J");
  CHECK(R"J({% for x in [] %}x{% else %}empty{% endfor %} {% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %})J",
        R"J(empty 3222)J");
  CHECK(R"J({% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %})J",
        R"J(3)J");
  CHECK(R"J({% for k, v in d | items %}{{ k }}={{ v }};{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %} {% for k in d %}{{ k }}{% endfor %})J",
        "b=1;a=[1, 2]; [h][\xC3\xA9] ba");
  CHECK(R"J({% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }} {% endfor %})J",
        R"J(1x2y1 1x2y2 )J");
  // A loop body is a scope: a set inside does not leak, and starts over each iteration.
  CHECK(R"J({% set y = 'o' %}{% for x in xs %}[{{ y }}]{% set y = x %}[{{ y }}]{% endfor %}{{ y }})J",
        R"J([o][3][o][1][o][2]o)J");
}

TEST(Jinja, SetAndNamespace) {
  CHECK(R"J({% set a = 1 %}{% set b, c = 2, 'x' %}{{ a }}{{ b }}{{ c }} {% if true %}{% set a = 5 %}{% endif %}{{ a }})J",
        R"J(12x 5)J");
  CHECK(R"J({% set block %}  Hi {{ n }}  {% endset %}[{{ block }}] {% set up | upper | trim %} a {% endset %}[{{ up }}])J",
        R"J([  Hi 7  ] [A])J");
  CHECK(R"J({% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }} {{ ns.count }})J",
        R"J(True 3)J");
  CHECK(R"J({% with a = 2, b = 3 %}{{ a * b }}{% endwith %}{{ a }}|)J", R"J(6|)J");
}

TEST(Jinja, MacrosAndCallBlocks) {
  CHECK(R"J({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('ann') }} {{ greet('bob', punct='?') }} {{ greet(name='cy') | upper }})J",
        R"J(Hi ann! Hi bob? HI CY!)J");
  CHECK(R"J({% macro fact(k) %}{{ 1 if k <= 1 else k * fact(k - 1) | int }}{% endmacro %}{{ fact(5) }})J", R"J(120)J");
  CHECK(R"J({% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %})J",
        R"J(<b>bold 7</b>)J");
  CHECK(R"J({% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}({{ x * 10 }}){% endcall %})J",
        R"J((10)(20))J");
  CHECK(R"J({% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }})J", R"J(1(2,){'k': 3})J");
}

TEST(Jinja, Filters) {
  CHECK(R"J([{{ s | trim }}] [{{ 'xxaxx' | trim('x') }}] {{ xs | length }} {{ 'hé' | length }} {{ d | count }} {{ undefined_name | length }})J",
        R"J([Hello World] [a] 3 2 2 0)J");
  CHECK(R"J({{ 'aB' | upper }} {{ 'aB' | lower }} {{ 'hello wORLD-x' | title }} {{ 'hello World' | capitalize }})J",
        R"J(AB ab Hello World-X Hello world)J");
  CHECK(R"J({{ xs | first }} {{ xs | last }} {{ 'abc' | first }} {{ d | list }} {{ 'ab' | list }} {{ [] | first }}|)J",
        R"J(3 2 a ['b', 'a'] ['a', 'b'] |)J");
  CHECK(R"J({{ xs | join(', ') }} {{ users | join('/', attribute='name') }} {{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }})J",
        R"J(3, 1, 2 ann/bob a+b+c bba)J");
  CHECK(R"J({{ undefined_name | default('dflt') }} {{ '' | default('e') }}|{{ '' | default('e', true) }} {{ none | d('x') }})J",
        R"J(dflt |e None)J");
  CHECK(R"J({{ users | map(attribute='name') | list }} {{ users | map(attribute='age', default=0) | list }} {{ ['a', 'b'] | map('upper') | join }})J",
        R"J(['ann', 'bob'] [30, 0] AB)J");
  CHECK(R"J({{ xs | select('odd') | list }} {{ xs | reject('odd') | list }} {{ users | selectattr('age') | map(attribute='name') | list }} {{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='role') | join(',') }})J",
        R"J([3, 1] [2] ['ann'] system,assistant)J");
  CHECK(R"J({{ 5 | string ~ 1 }} {{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ 3.9 | int }} {{ '2.5' | float * 2 }} {{ 'y' | float }})J",
        R"J(51 43 4 0 3 5.0 0.0)J");
  CHECK(R"J({{ text | indent(2) }}|{{ text | indent(2, first=true) }}|{{ 'a\n\nb' | indent(1, blank=true) }})J",
        "a\n  b|  a\n  b|a\n \n b");
  CHECK(R"J({{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }} {{ -3 | abs }} {{ 'abc' | reverse }} {{ xs | reverse | list }})J",
        R"J(['a', 'b'] ['a', 'A'] 3 cba [2, 1, 3])J");
  // select, map, items ... give generators, as in jinja2: always true, no length.
  CHECK(R"J({% if [] | select %}true{% endif %} {{ d | items | list }})J", R"J(true [('b', 1), ('a', [1, 2])])J");
}

TEST(Jinja, TojsonAsTransformersConfiguresIt) {
  CHECK(R"J({{ d | tojson }} {{ 'é"\n' | tojson }} {{ [1.0, none, true] | tojson }} {{ {} | tojson(indent=2) }})J",
        "{\"b\": 1, \"a\": [1, 2]} \"\xC3\xA9\\\"\\n\" [1.0, null, true] {}");
  CHECK(R"J({{ d | tojson(indent=2) }})J", "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}");
  CHECK(R"J({{ 'é😀' | tojson(ensure_ascii=true) }} {{ d | tojson(separators=(',', ':'), sort_keys=true) }})J",
        R"J("\u00e9\ud83d\ude00" {"a":[1,2],"b":1})J");
}

TEST(Jinja, Tests) {
  CHECK(R"J({{ n is defined }}{{ nope is defined }}{{ nope is undefined }}{{ none is none }}{{ s is string }}{{ d is mapping }}{{ xs is mapping }})J",
        R"J(TrueFalseTrueTrueTrueTrueFalse)J");
  CHECK(R"J({{ xs is iterable }}{{ s is iterable }}{{ n is iterable }}{{ nope is iterable }}{{ n is number }}{{ f is number }}{{ true is number }})J",
        R"J(TrueTrueFalseTrueTrueTrueTrue)J");
  CHECK(R"J({{ n is integer }}{{ f is float }}{{ true is boolean }}{{ false is false }}{{ 0 is false }}{{ true is true }}{{ xs is sequence }})J",
        R"J(TrueTrueTrueTrueFalseTrueTrue)J");
  CHECK(R"J({{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ 'a' is equalto 'a' }}{{ 2 is eq(3) }}{{ 1 is in xs }}{{ n is not none }}{{ 'ab' is lower }})J",
        R"J(TrueFalseTrueTrueFalseTrueTrueTrue)J");  // jinja2's corners: select / map over a false value give nothing; lower / upper test str(x).
  CHECK(R"J({{ 0 | select | list }}{{ none | map('upper') | list }} {{ 'AB1' is upper }}{{ 1 is lower }}{{ nope is sequence }}{{ 3.0 is odd }}{{ 4.5 is divisibleby 1.5 }})J",
        R"J([][] TrueFalseTrueTrueTrue)J");
}

TEST(Jinja, StringAndDictMethods) {
  CHECK(R"J([{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ '--x--'.strip('-') }}][{{ '\n\nx\n'.lstrip('\n') }}])J",
        "[Hello World][Hello World ][ Hello World][x][x\n]");
  CHECK(R"J({{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'x</think>y'.split('</think>')[-1] }})J",
        R"J(['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] y)J");
  CHECK(R"J({{ s.startswith(' H') }}{{ s.endswith('x') }}{{ 'abc'.startswith(('x', 'a')) }} {{ 'aXa'.upper() }} {{ 'AxA'.lower() }} {{ 'user'.title() }} {{ 'foo_bar baz'.title() }})J",
        R"J(TrueFalseTrue AXA axa User Foo_Bar Baz)J");
  CHECK(R"J({{ 'a-b'.replace('-', '+') }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ ','.join(['a', 'b']) }} {{ 'ab\ncd'.splitlines() }})J",
        R"J(a+b 2 2 a,b ['ab', 'cd'])J");
  CHECK(R"J({{ d.get('b') }} {{ d.get('z') }} {{ d.get('z', 3) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }})J",
        R"J(1 None 3 ['b', 'a'] [1, [1, 2]] [('b', 1), ('a', [1, 2])])J");
}

TEST(Jinja, GlobalFunctions) {
  CHECK(R"J({{ range(3) | list }} {{ range(1, 8, 3) | list }} {{ namespace(a=1).a }} {{ dict(k='v') }})J",
        R"J([0, 1, 2] [1, 4, 7] 1 {'k': 'v'})J");
  EXPECT_EQ(render(R"J({{ strftime_now('%Y-%m-%d %b') }})J", 1721995200), "2024-07-26 Jul");
  EXPECT_EQ(error_of("line one\n  {{ raise_exception('Only user and assistant roles!') }}"),
            "t.jinja:2:6: raise_exception: Only user and assistant roles!");
}

TEST(Jinja, ErrorsNameTheTemplateLineAndColumn) {
  EXPECT_EQ(error_of("{% if true %}x"), "t.jinja:1:15: unexpected end of template: missing '{% endif %}'");
  EXPECT_EQ(error_of("a\n{% include 'x' %}"), "t.jinja:2:4: '{% include %}' is not supported in chat templates");
  EXPECT_EQ(error_of("{{ x | nofilter }}"), "t.jinja:1:8: no filter named 'nofilter'");
  EXPECT_EQ(error_of("{{ x is notatest }}"), "t.jinja:1:9: no test named 'notatest'");
  EXPECT_EQ(error_of("{% frobnicate %}"), "t.jinja:1:4: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{{ 1 + }}"), "t.jinja:1:8: unexpected '}}'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "t.jinja:1:4: unclosed string literal");
  EXPECT_EQ(error_of("{% break %}"), "t.jinja:1:4: 'break' outside of a loop");
  EXPECT_EQ(error_of("{{ nope.attr }}"), "t.jinja:1:8: 'nope' is undefined");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "t.jinja:1:4: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(error_of("{% for m in none %}{% endfor %}"), "t.jinja:1:13: 'NoneType' object is not iterable");
  EXPECT_EQ(error_of("x\xff"), "t.jinja: the template is not valid UTF-8");
}

TEST(Jinja, LimitsStopRunawayTemplates) {
  RenderOptions opt;
  opt.limits.max_steps = 1000;
  opt.limits.max_output = 1 << 16;
  RenderOptions steps;
  steps.limits.max_steps = 1000;
  EXPECT_NE(error_of("{% for i in range(100000) %}{% endfor %}", steps).find("ran more than 1000 steps"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(100000) %}{% endfor %}", opt).find("more than 65536 bytes"), std::string::npos);
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", opt).find("nested deeper than 100"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000 }}", opt).find("more than 65536 bytes"), std::string::npos);
  EXPECT_NE(error_of("{{ ('x' * 10000) | replace('', 'yyyyyyyyyy') }}", opt).find("more than 65536 bytes"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(300) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested more than 256 levels deep"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = [ns] %}").find("cannot hold a namespace"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}").find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace rlvr::jinja
