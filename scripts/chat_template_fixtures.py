#!/usr/bin/env python3
"""Expected renderings of the real chat templates, made with Python's jinja2 configured as
transformers' apply_chat_template configures it, for tests/test_chat_template.cpp (which needs
neither Python nor jinja2).

    python3 scripts/chat_template_fixtures.py [../shared/data/chat-templates/templates.json]

writes tests/fixtures/chat/cases.json (the conversations) and tests/fixtures/chat/expected.jsonl:
one line per (template, case) with the rendered "text", or the "error" it raised and whether
the template raised it itself ("raised": true, raise_exception) or failed ("raised": false).

The environment is transformers' (utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
tojson = json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False),
raise_exception, strftime_now; the render call passes messages, tools, documents,
add_generation_prompt, the special tokens and the extra variables. strftime_now reads a fixed
clock here (2024-07-26 12:00 UTC) so the fixtures do not change from day to day.
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

assert jinja2.__version__ == "3.1.6", f"made with jinja2 3.1.6, found {jinja2.__version__}"

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "chat")
FIXED_NOW = 1721995200  # 2024-07-26 12:00:00 UTC: the same date in every time zone within +-11 h


class Raised(Exception):
    pass


def environment():
    def raise_exception(message):
        raise Raised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(FIXED_NOW).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
                "days": {"type": "integer", "description": "Days ahead"},
            },
            "required": ["city"],
        },
    },
}
CALL = {"id": "call12345", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}
CALL_STRING_ARGS = {"id": "call12345", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
SPECIAL = ("Quotes ' and \" and a backslash \\ -- {{ not jinja }} {% neither %}\n"
           "  indented line\ttab\n\nUnicode: é, 中文, emoji 🙂, RTL שלום, nbsp\u00a0, line sep\u2028end  ")


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


SYSTEM = {"role": "system", "content": "You are a careful assistant. Answer briefly."}
CASES = [
    {"name": "user", "messages": [user("What is 2 + 3?")], "add_generation_prompt": True},
    {"name": "system_user", "messages": [SYSTEM, user("What is 2 + 3?")], "add_generation_prompt": True},
    {"name": "system_user_no_generation_prompt", "messages": [SYSTEM, user("What is 2 + 3?")]},
    {"name": "multi_turn", "add_generation_prompt": True,
     "messages": [user("Hi!"), assistant("Hello. How can I help?"), user("Add 2 and 3.")]},
    {"name": "system_multi_turn_no_generation_prompt",
     "messages": [SYSTEM, user("Hi!"), assistant("Hello."), user("Add 2 and 3."), assistant("5")]},
    {"name": "special_characters", "add_generation_prompt": True,
     "messages": [user(SPECIAL), assistant("  Réponse: «oui» 🙂\n"), user("\n\nAnd 'again'?\n")]},
    {"name": "empty_content", "add_generation_prompt": True, "messages": [user("")]},
    {"name": "no_messages", "add_generation_prompt": True, "messages": []},
    {"name": "tools", "add_generation_prompt": True, "tools": [WEATHER],
     "messages": [SYSTEM, user("Weather in Zürich?")]},
    {"name": "tool_calls", "add_generation_prompt": True, "tools": [WEATHER],
     "messages": [user("Weather in Zürich?"), {"role": "assistant", "content": "", "tool_calls": [CALL]},
                  {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
                   "content": "{\"temperature\": 21}"}]},
    {"name": "tool_calls_string_arguments", "add_generation_prompt": True, "tools": [WEATHER],
     "messages": [user("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [CALL_STRING_ARGS]},
                  {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "sunny"},
                  assistant("It is sunny in Paris.")]},
    {"name": "thinking_disabled", "add_generation_prompt": True, "vars": {"enable_thinking": False},
     "messages": [user("2+3?"), assistant("<think>\nadd them\n</think>\n\n5"), user("3+4?")]},
    {"name": "date_string", "add_generation_prompt": True, "vars": {"date_string": "01 Jan 2025"},
     "messages": [SYSTEM, user("What day is it?")]},
    {"name": "content_parts", "add_generation_prompt": True,
     "messages": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                  {"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image"}]}]},
]


def render(env, entry, case):
    variables = dict(messages=case["messages"], tools=case.get("tools"), documents=None,
                     add_generation_prompt=case.get("add_generation_prompt", False))
    variables.update(entry.get("special_tokens", {}))
    variables.update(case.get("vars", {}))
    try:
        return {"text": env.from_string(entry["template"]).render(**variables)}
    except Raised as e:
        return {"error": str(e), "raised": True}
    except Exception as e:  # a template that fails on this conversation (TypeError, UndefinedError ...)
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data",
                                                                 "chat-templates", "templates.json")
    templates = json.load(open(source, encoding="utf-8"))["templates"]
    env = environment()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"fixed_now": FIXED_NOW, "cases": CASES}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    counts = {"text": 0, "raised": 0, "failed": 0}
    with open(os.path.join(OUT, "expected.jsonl"), "w", encoding="utf-8") as f:
        for entry in templates:
            for case in CASES:
                result = render(env, entry, case)
                counts["text" if "text" in result else "raised" if result["raised"] else "failed"] += 1
                line = {"template": entry["model"], "case": case["name"], **result}
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(templates)} templates x {len(CASES)} cases: {counts}")


if __name__ == "__main__":
    main()
